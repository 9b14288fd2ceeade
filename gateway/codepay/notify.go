package codepay

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// Defaults of NotifyConfig.
const (
	DefaultNotifyMaxBody = 64 << 10
	// DefaultNotifyWindow is CodePay's 15-minute timestamp window.
	DefaultNotifyWindow = 15 * time.Minute
)

// Ack is the plain body CodePay needs within 5 s, or it retries.
const Ack = "success"

// NotifyConfig configures a NotifyHandler. The gateway key (file or value) is required.
type NotifyConfig struct {
	GatewayKeyFile string
	GatewayKey     *rsa.PublicKey // used instead of GatewayKeyFile when set
	// MerchantNo, when set, must equal a notification's merchant_no.
	MerchantNo string
	Window     time.Duration   // timestamp may be this far from now; DefaultNotifyWindow when zero
	MaxBody    int64           // DefaultNotifyMaxBody when zero
	Clock      posbridge.Clock // SystemClock when nil
	Logger     *slog.Logger
}

// NotifyHandler serves POST /notify/codepay (gateway.NotifyServer): it
// verifies the RSA2 signature over the sorted fields before trusting
// anything, checks the merchant, decodes the transaction, hands it to the
// service and answers the plain body "success" only when the service
// returned nil (stored and applied). A notification signed by CodePay but
// outside the timestamp window is handed over marked stale.
type NotifyHandler struct {
	*gateway.NotifyServer
}

// NewNotifyHandler returns a handler applying notifications through svc.
// A missing or bad key file is an error naming it.
func NewNotifyHandler(cfg NotifyConfig, svc posbridge.NotificationService) (*NotifyHandler, error) {
	key, err := gateway.NotifyKey("codepay", cfg.GatewayKey, cfg.GatewayKeyFile)
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
		Gateway: "codepay", Ack: Ack, Fail: "fail", MaxBody: cfg.MaxBody, Clock: cfg.Clock, Logger: cfg.Logger, LogReceived: true,
		Verify: func(body []byte, _ http.Header, now time.Time) (posbridge.Notification, error) {
			v, err := VerifyNotification(key, body, now, cfg.Window)
			if err == nil && cfg.MerchantNo != "" && v.merchantNo != cfg.MerchantNo {
				err = fmt.Errorf("%w: merchant_no %q is not ours", gateway.ErrMalformed, v.merchantNo)
			}
			return v.Notification, err
		},
	}, svc)
	if err != nil {
		return nil, err
	}
	return &NotifyHandler{srv}, nil
}

// Verified is a decoded notification and the merchant it names.
type Verified struct {
	posbridge.Notification
	merchantNo string
}

// MerchantNo returns the notification's merchant_no.
func (v Verified) MerchantNo() string { return v.merchantNo }

// VerifyNotification checks and decodes a notification: a flat JSON object
// holding a transaction's fields (as order.query reports them) plus
// notify_id, timestamp (epoch ms), sign_type and sign. The signature over
// the sorted fields comes first (gateway.ErrForged); then the fields
// (gateway.ErrMalformed); then timestamp within window of now
// (gateway.ErrStale, with the decoded notification). trans_type 3 is a
// refund (merchant_order_no is the refund's own number), anything else a
// sale. Without a notify_id the id is a hash of the signed string, which
// CodePay's retries of the same notification share.
func VerifyNotification(key *rsa.PublicKey, body []byte, now time.Time, window time.Duration) (Verified, error) {
	p, err := ParseParams(body)
	if err != nil {
		// Unreadable: nothing can be verified, so nothing is trusted.
		return Verified{}, fmt.Errorf("%w: %w", gateway.ErrForged, err)
	}
	if err := p.Verify(key); err != nil {
		return Verified{}, fmt.Errorf("%w: %w", gateway.ErrForged, err)
	}
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", gateway.ErrMalformed, fmt.Sprintf(format, args...))
	}
	if st := p.String("sign_type"); st != "" && !strings.EqualFold(st, "RSA2") {
		return Verified{}, malformed("sign_type %q", st)
	}
	var t Trans
	b, _ := json.Marshal(p)
	if err := json.Unmarshal(b, &t); err != nil {
		return Verified{}, malformed("fields: %v", err)
	}
	stamp := strings.TrimSpace(p.String("timestamp"))
	ms, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || ms <= 0 {
		return Verified{}, malformed("timestamp %q: want epoch milliseconds", stamp)
	}
	sent := time.UnixMilli(ms)
	id := p.String("notify_id")
	if id == "" {
		sum := sha256.Sum256([]byte(p.Canonical()))
		id = "sign-sha256-" + hex.EncodeToString(sum[:16])
	}
	if len(id) > 64 {
		return Verified{}, malformed("notify_id longer than 64")
	}
	n := posbridge.Notification{
		Gateway:    "codepay",
		ID:         id,
		SentAt:     sent,
		Body:       append([]byte(nil), body...),
		ReceivedAt: now,
	}
	if strings.TrimSpace(string(t.TransType)) == strconv.Itoa(TransTypeRefund) {
		g, err := t.Refund()
		if err != nil {
			return Verified{}, malformed("refund: %v", err)
		}
		if !ValidOrderNo(string(g.OrderNo)) {
			return Verified{}, malformed("refund: orig_merchant_order_no %q", g.OrderNo)
		}
		n.Kind, n.OrderNo, n.OrigNo, n.GatewayNo, n.Refund, n.Amount =
			posbridge.NotifyRefund, g.RefundNo, g.OrderNo, g.GatewayNo, g.Status, g.Amount
	} else {
		g, err := t.Order()
		if err != nil {
			return Verified{}, malformed("order: %v", err)
		}
		n.Kind, n.OrderNo, n.GatewayNo, n.Status, n.Revoked, n.Amount, n.Card =
			posbridge.NotifyOrder, g.OrderNo, g.GatewayNo, g.Status, g.Revoked, g.Amount, g.Card
	}
	v := Verified{Notification: n, merchantNo: p.String("merchant_no")}
	if d := now.Sub(sent); d > window || d < -window {
		return v, fmt.Errorf("%w: sent %s, now %s", gateway.ErrStale, sent.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return v, nil
}
