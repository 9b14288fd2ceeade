package codepay

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
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

// NotifyHandler serves POST /notify/codepay: it verifies the RSA2 signature
// over the sorted fields before trusting anything, decodes the transaction,
// hands it to the service and answers the plain body "success" only when
// the service returned nil (stored and applied). A forged notification gets
// 401, a malformed one 400, an oversized one 413; none reaches the service.
// A service error gets a 500 so that CodePay retries. A notification signed
// by CodePay but outside the timestamp window is handed over marked stale:
// its content is not trusted, it only makes the engine query the order.
type NotifyHandler struct {
	key        *rsa.PublicKey
	merchantNo string
	window     time.Duration
	maxBody    int64
	clock      posbridge.Clock
	svc        posbridge.NotificationService
	log        *slog.Logger

	accepted, forged, stale, malformed, oversized, serviceErrors atomic.Uint64
}

// NewNotifyHandler returns a handler applying notifications through svc.
// A missing or bad key file is an error naming it.
func NewNotifyHandler(cfg NotifyConfig, svc posbridge.NotificationService) (*NotifyHandler, error) {
	if svc == nil {
		return nil, errors.New("codepay notify: a notification service is required")
	}
	key := cfg.GatewayKey
	if key == nil {
		if cfg.GatewayKeyFile == "" {
			return nil, errors.New("codepay notify: gateway public key file is required")
		}
		var err error
		if key, err = gateway.LoadPublicKey(cfg.GatewayKeyFile); err != nil {
			return nil, fmt.Errorf("codepay notify: %w", err)
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
	return &NotifyHandler{key: key, merchantNo: cfg.MerchantNo, window: cfg.Window, maxBody: cfg.MaxBody, clock: cfg.Clock, svc: svc,
		log: cfg.Logger.With(posbridge.LogKeyComponent, "notify", posbridge.LogKeyGateway, "codepay")}, nil
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
	n, err := VerifyNotification(h.key, body, h.clock.Now(), h.window)
	if err == nil && h.merchantNo != "" && n.merchantNo != h.merchantNo {
		err = fmt.Errorf("%w: merchant_no %q is not ours", gateway.ErrMalformed, n.merchantNo)
	}
	if errors.Is(err, gateway.ErrStale) {
		h.stale.Add(1)
		h.log.Info("stale notification verified by query", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo)
		n.Stale = true
		err = nil
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	h.log.Info("notification received", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo, "status", notifyStatus(n.Notification))
	if err := h.svc.ApplyNotification(r.Context(), n.Notification); err != nil {
		h.serviceErrors.Add(1)
		h.log.Error("notification not applied", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo, posbridge.LogKeyError, err)
		http.Error(w, "fail", http.StatusInternalServerError)
		return
	}
	h.accepted.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, Ack)
}

func notifyStatus(n posbridge.Notification) string {
	if n.Kind == posbridge.NotifyRefund {
		return string(n.Refund)
	}
	return string(n.Status)
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
	default:
		h.malformed.Add(1)
	}
	h.log.Warn("notification refused", posbridge.LogKeyAddr, r.RemoteAddr, posbridge.LogKeyError, err)
	http.Error(w, "fail", status)
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
