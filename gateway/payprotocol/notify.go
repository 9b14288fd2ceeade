package payprotocol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	// DefaultNotifyPath is where posbridge serves Pay Protocol's callbacks.
	DefaultNotifyPath = "/notify/payprotocol"
)

// Ack is the plain body Pay Protocol needs, or it retries.
const Ack = "success"

// NotifyConfig configures a NotifyHandler. APIKey and the secret (file or
// value) are required.
type NotifyConfig struct {
	APIKey     string
	SecretFile string
	Secret     []byte // used instead of SecretFile when set
	// SignPath is the requestPath the callbacks are signed with: the path
	// of the notify URL Pay Protocol posts to (it may differ from the local
	// path behind a proxy); DefaultNotifyPath when empty.
	SignPath string
	Window   time.Duration   // Window (60 s) when zero
	MaxBody  int64           // DefaultNotifyMaxBody when zero
	Clock    posbridge.Clock // SystemClock when nil
	Logger   *slog.Logger
}

// NotifyHandler serves POST /notify/payprotocol (gateway.NotifyServer): it
// verifies X-PAY-KEY and X-PAY-SIGN over the exact body before trusting
// anything, refuses a timestamp more than 60 s away (a replay: Pay
// Protocol signs each attempt afresh), decodes the payment or refund, hands
// it to the service (which checks it against the stored order) and answers
// the plain body "success" only when the service returned nil.
type NotifyHandler struct {
	*gateway.NotifyServer
}

// NewNotifyHandler returns a handler applying callbacks through svc.
func NewNotifyHandler(cfg NotifyConfig, svc posbridge.NotificationService) (*NotifyHandler, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("payprotocol notify: API key is required")
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		var err error
		if secret, err = LoadSecret(cfg.SecretFile); err != nil {
			return nil, fmt.Errorf("payprotocol notify: %w", err)
		}
	}
	if cfg.SignPath == "" {
		cfg.SignPath = DefaultNotifyPath
	}
	if cfg.Window <= 0 {
		cfg.Window = Window
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultNotifyMaxBody
	}
	srv, err := gateway.NewNotifyServer(gateway.NotifyServerConfig{
		Gateway: "payprotocol", Ack: Ack, Fail: "fail", MaxBody: cfg.MaxBody, Clock: cfg.Clock, Logger: cfg.Logger, RefuseStale: true, LogReceived: true,
		Verify: func(body []byte, h http.Header, now time.Time) (posbridge.Notification, error) {
			return VerifyNotification(cfg.APIKey, secret, cfg.SignPath, h, body, now, cfg.Window)
		},
	}, svc)
	if err != nil {
		return nil, err
	}
	return &NotifyHandler{srv}, nil
}

// callback is either kind of callback body: a payment (paymentStatus) or a
// refund (refundStatus), as /payment/detail and /refund/detail report them.
type callback struct {
	Payment
	OutRefundNo  string          `json:"outRefundNo"`
	RefundNo     string          `json:"refundNo"`
	RefundStatus string          `json:"refundStatus"`
	RefundAmount json.RawMessage `json:"refundAmount"`
	Reason       string          `json:"reason"`
}

// VerifyNotification checks and decodes a callback: the headers first
// (gateway.ErrForged for a missing or wrong key or signature), then the
// body (gateway.ErrMalformed), then the timestamp (gateway.ErrStale, with
// the decoded notification). A body with refundStatus is a refund
// (OrderNo is the refund's own number, OrigNo the order's), any other a
// payment. Pay Protocol sends no notification id: the id is a hash of the
// body, which its retries and duplicates of one callback share.
func VerifyNotification(key string, secret []byte, signPath string, h http.Header, body []byte, now time.Time, window time.Duration) (posbridge.Notification, error) {
	sent, err := Verify(h, key, secret, now, window, http.MethodPost, signPath, body)
	stale := errors.Is(err, ErrStaleStamp)
	if err != nil && !stale {
		return posbridge.Notification{}, fmt.Errorf("%w: %w", gateway.ErrForged, err)
	}
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", gateway.ErrMalformed, fmt.Sprintf(format, args...))
	}
	var cb callback
	if err := decodeStrict(body, &cb); err != nil {
		return posbridge.Notification{}, malformed("body: %v", err)
	}
	sum := sha256.Sum256(body)
	n := posbridge.Notification{
		Gateway:    "payprotocol",
		ID:         "pp-" + hex.EncodeToString(sum[:16]),
		SentAt:     sent,
		Body:       append([]byte(nil), body...),
		ReceivedAt: now,
	}
	switch {
	case cb.RefundStatus != "" && cb.PaymentStatus != "":
		return posbridge.Notification{}, malformed("both paymentStatus and refundStatus")
	case cb.RefundStatus != "":
		r := RefundOrder{OutRefundNo: cb.OutRefundNo, OutTradeNo: cb.OutTradeNo, RefundNo: cb.RefundNo, RefundStatus: cb.RefundStatus,
			QuoteCurrencySymbol: cb.QuoteCurrencySymbol, RefundAmount: cb.RefundAmount, Reason: cb.Reason}
		g, err := r.Refund()
		if err != nil {
			return posbridge.Notification{}, malformed("refund: %v", err)
		}
		n.Kind, n.OrderNo, n.OrigNo, n.GatewayNo, n.Refund, n.Amount =
			posbridge.NotifyRefund, g.RefundNo, g.OrderNo, g.GatewayNo, g.Status, g.Amount
	default:
		g, err := cb.Payment.Order()
		if err != nil {
			return posbridge.Notification{}, malformed("payment: %v", err)
		}
		n.Kind, n.OrderNo, n.GatewayNo, n.Status, n.Amount, n.Received =
			posbridge.NotifyOrder, g.OrderNo, g.GatewayNo, g.Status, g.Amount, g.Received
	}
	if stale {
		return n, fmt.Errorf("%w: %w", gateway.ErrStale, err)
	}
	return n, nil
}
