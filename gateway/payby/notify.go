package payby

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// Defaults of NotifyConfig.
const (
	DefaultNotifyMaxBody = 64 << 10
	DefaultNotifyWindow  = 15 * time.Minute
)

// NotifyConfig configures a NotifyHandler. The gateway key (file or value) is required.
type NotifyConfig struct {
	GatewayKeyFile string
	GatewayKey     *rsa.PublicKey  // used instead of GatewayKeyFile when set
	Window         time.Duration   // notify_timestamp may be this far from now; DefaultNotifyWindow when zero
	MaxBody        int64           // DefaultNotifyMaxBody when zero
	Clock          posbridge.Clock // SystemClock when nil
	Logger         *slog.Logger
}

// NotifyHandler serves POST /notify/payby (gateway.NotifyServer): it
// verifies the sign header over the raw body before parsing anything,
// decodes the notification, hands it to the service and answers the plain
// body SUCCESS only when the service returned nil. A signed notification
// whose notify_timestamp is outside the window is handed over marked stale.
type NotifyHandler struct {
	*gateway.NotifyServer
}

// NewNotifyHandler returns a handler applying notifications through svc.
// A missing or bad key file is an error naming it.
func NewNotifyHandler(cfg NotifyConfig, svc posbridge.NotificationService) (*NotifyHandler, error) {
	key, err := gateway.NotifyKey("payby", cfg.GatewayKey, cfg.GatewayKeyFile)
	if err != nil {
		return nil, err
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultNotifyWindow
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultNotifyMaxBody
	}
	srv, err := gateway.NewNotifyServer(gateway.NotifyServerConfig{
		Gateway: "payby", Ack: "SUCCESS", Fail: "FAIL", MaxBody: cfg.MaxBody, Clock: cfg.Clock, Logger: cfg.Logger,
		Verify: func(body []byte, h http.Header, now time.Time) (posbridge.Notification, error) {
			return VerifyNotification(key, body, h.Get("sign"), now, cfg.Window)
		},
	}, svc)
	if err != nil {
		return nil, err
	}
	return &NotifyHandler{srv}, nil
}

// notifyBody is a PayBy notification (research §1.9, §1.9a).
type notifyBody struct {
	NotifyID              flexString             `json:"notify_id"`
	NotifyTimestamp       flexString             `json:"notify_timestamp"`
	AcquireOrder          *AcquireOrder          `json:"acquireOrder"`
	RefundOrder           *RefundOrder           `json:"refundOrder"`
	TransferBankCardOrder *TransferBankCardOrder `json:"transferBankCardOrder"`
}

// VerifyNotification checks and decodes a notification: the signature sign
// over body exactly as received (gateway.ErrForged), then the JSON and its
// fields (gateway.ErrMalformed), then notify_timestamp within window of now
// (gateway.ErrStale). Exactly one of acquireOrder, refundOrder and
// transferBankCardOrder must be present. A bank-card transfer notification
// without notify_timestamp is accepted (PayBy documents it as a bare
// transferBankCardOrder); it is only recorded, never applied to an order.
func VerifyNotification(key *rsa.PublicKey, body []byte, sign string, now time.Time, window time.Duration) (posbridge.Notification, error) {
	if err := gateway.VerifySHA256(key, body, sign); err != nil {
		return posbridge.Notification{}, fmt.Errorf("%w: %w", gateway.ErrForged, err)
	}
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", gateway.ErrMalformed, fmt.Sprintf(format, args...))
	}
	var nb notifyBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&nb); err != nil {
		return posbridge.Notification{}, malformed("json: %v", err)
	}
	if dec.More() {
		return posbridge.Notification{}, malformed("trailing data after the object")
	}
	present := 0
	for _, p := range []bool{nb.AcquireOrder != nil, nb.RefundOrder != nil, nb.TransferBankCardOrder != nil} {
		if p {
			present++
		}
	}
	if present != 1 {
		return posbridge.Notification{}, malformed("want exactly one of acquireOrder, refundOrder, transferBankCardOrder; got %d", present)
	}
	sent, err := parseTime(nb.NotifyTimestamp)
	if err != nil {
		return posbridge.Notification{}, malformed("notify_timestamp: %v", err)
	}
	if sent.IsZero() && nb.TransferBankCardOrder == nil {
		return posbridge.Notification{}, malformed("notify_timestamp missing")
	}
	if nb.NotifyID == "" && nb.TransferBankCardOrder == nil {
		return posbridge.Notification{}, malformed("notify_id missing")
	}
	if nb.NotifyID == "" {
		// Transfer notifications may come without an id: the verified
		// body's hash is stable across PayBy's retries of the same bytes.
		sum := sha256.Sum256(body)
		nb.NotifyID = flexString("body-sha256-" + hex.EncodeToString(sum[:16]))
	}
	n := posbridge.Notification{
		Gateway:    "payby",
		ID:         string(nb.NotifyID),
		SentAt:     sent,
		Body:       bytes.Clone(body),
		ReceivedAt: now,
	}
	switch {
	case nb.AcquireOrder != nil:
		g, err := nb.AcquireOrder.Gateway()
		if err != nil {
			return posbridge.Notification{}, malformed("%v", err)
		}
		n.Kind, n.OrderNo, n.GatewayNo, n.Status, n.Revoked, n.Amount, n.Card =
			posbridge.NotifyOrder, g.OrderNo, g.GatewayNo, g.Status, g.Revoked, g.Amount, g.Card
	case nb.RefundOrder != nil:
		g, err := nb.RefundOrder.Gateway()
		if err != nil {
			return posbridge.Notification{}, malformed("%v", err)
		}
		if !ValidMerchantOrderNo(string(g.OrderNo)) {
			return posbridge.Notification{}, malformed("refundOrder: originMerchantOrderNo %q", g.OrderNo)
		}
		n.Kind, n.OrderNo, n.OrigNo, n.GatewayNo, n.Refund, n.Amount =
			posbridge.NotifyRefund, g.RefundNo, g.OrderNo, g.GatewayNo, g.Status, g.Amount
	default:
		t := nb.TransferBankCardOrder
		status, ok := transferStatuses[t.Status]
		if !ok {
			return posbridge.Notification{}, malformed("transferBankCardOrder: unknown status %q", t.Status)
		}
		if !ValidMerchantOrderNo(t.MerchantOrderNo) {
			return posbridge.Notification{}, malformed("transferBankCardOrder: merchantOrderNo %q", t.MerchantOrderNo)
		}
		amount, err := t.Amount.Parse()
		if err != nil {
			return posbridge.Notification{}, malformed("transferBankCardOrder amount: %v", err)
		}
		n.Kind, n.OrderNo, n.GatewayNo, n.Status, n.Amount = posbridge.NotifyTransfer, posbridge.OrderNo(t.MerchantOrderNo), string(t.OrderNo), status, amount
	}
	if !sent.IsZero() {
		if d := now.Sub(sent); d > window || d < -window {
			return n, fmt.Errorf("%w: sent %s, now %s", gateway.ErrStale, sent.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	return n, nil
}
