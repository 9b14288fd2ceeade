package payby

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
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

// NotifyHandler serves POST /notify/payby: it verifies the sign header over
// the raw body before parsing anything, refuses a notify_timestamp outside
// the window, decodes the notification, hands it to the service and answers
// the plain body SUCCESS only when the service returned nil. Forged, stale,
// malformed and oversized requests get a 4xx, are counted and reach nothing;
// a service error gets a 500 so that PayBy retries.
type NotifyHandler struct {
	key     *rsa.PublicKey
	window  time.Duration
	maxBody int64
	clock   posbridge.Clock
	svc     posbridge.NotificationService
	log     *slog.Logger

	accepted, forged, stale, malformed, oversized, serviceErrors atomic.Uint64
}

// NewNotifyHandler returns a handler applying notifications through svc.
// A missing or bad key file is an error naming it.
func NewNotifyHandler(cfg NotifyConfig, svc posbridge.NotificationService) (*NotifyHandler, error) {
	if svc == nil {
		return nil, errors.New("payby notify: a notification service is required")
	}
	key := cfg.GatewayKey
	if key == nil {
		if cfg.GatewayKeyFile == "" {
			return nil, errors.New("payby notify: gateway public key file is required")
		}
		var err error
		if key, err = gateway.LoadPublicKey(cfg.GatewayKeyFile); err != nil {
			return nil, fmt.Errorf("payby notify: %w", err)
		}
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultNotifyWindow
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultNotifyMaxBody
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &NotifyHandler{key: key, window: cfg.Window, maxBody: cfg.MaxBody, clock: cfg.Clock, svc: svc,
		log: cfg.Logger.With(posbridge.LogKeyComponent, "notify", posbridge.LogKeyGateway, "payby")}, nil
}

// Stats returns the handler's counters.
func (h *NotifyHandler) Stats() gateway.NotifyStats {
	return gateway.NotifyStats{
		Accepted:      h.accepted.Load(),
		Forged:        h.forged.Load(),
		Stale:         h.stale.Load(),
		Malformed:     h.malformed.Load(),
		Oversized:     h.oversized.Load(),
		ServiceErrors: h.serviceErrors.Load(),
	}
}

// ServeHTTP handles one notification.
func (h *NotifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.malformed.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, r, fmt.Errorf("%w: over %d bytes", gateway.ErrOversized, h.maxBody))
			return
		}
		h.refuse(w, r, fmt.Errorf("%w: read body: %w", gateway.ErrMalformed, err))
		return
	}
	n, err := VerifyNotification(h.key, body, r.Header.Get("sign"), h.clock.Now(), h.window)
	if errors.Is(err, gateway.ErrStale) {
		// Signed by the gateway but outside the window: a late retry (PayBy
		// retries for hours, possibly with its first timestamp) or a replay.
		// Handed over marked stale: its content is not trusted, it only
		// makes the engine ask the gateway about the order.
		h.stale.Add(1)
		h.log.Info("stale notification verified by query", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo)
		n.Stale = true
		err = nil
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if err := h.svc.ApplyNotification(r.Context(), n); err != nil {
		h.serviceErrors.Add(1)
		h.log.Error("notification not applied", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo, posbridge.LogKeyError, err)
		http.Error(w, "FAIL", http.StatusInternalServerError)
		return
	}
	h.accepted.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "SUCCESS")
}

func (h *NotifyHandler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, gateway.ErrOversized):
		h.oversized.Add(1)
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, gateway.ErrForged):
		h.forged.Add(1)
		status = http.StatusUnauthorized
	case errors.Is(err, gateway.ErrStale):
		h.stale.Add(1)
	default:
		h.malformed.Add(1)
	}
	h.log.Warn("notification refused", posbridge.LogKeyAddr, r.RemoteAddr, posbridge.LogKeyError, err)
	http.Error(w, "FAIL", status)
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
