package sandbox

// The Pay Protocol front end (research/gateway-api.md §3, §4 item 18): a
// separate fake with its own orders, since Pay Protocol's customers pay on
// its hosted page, never on the card terminal. The API lives under /api/mer
// (base URL http://HOST/api/mer), every request checked for X-PAY-KEY and
// X-PAY-SIGN = Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath +
// body)) over the exact bytes received, with X-PAY-TIMESTAMP (Unix seconds)
// within ±60 s:
//
//	POST /api/mer/payment/createPaymentOrder   idempotent on outTradeNo
//	GET  /api/mer/payment/detail?outTradeNo=
//	GET  /api/mer/payment/notify?outTradeNo=   the callback again (final orders)
//	POST /api/mer/refund/createRefundOrder      waits for approval
//	GET  /api/mer/refund/detail?outRefundNo=
//	GET  /api/mer/refund/notify?outRefundNo=
//
// The hosted page is GET /pay/{outPaymentNo} (the paymentUrl): the customer
// pays in full or types an amount (0.5× to 1.2× of the order's; less than
// the amount is "partially paid"). The control API (JSON):
//
//	GET  /_sandbox/payprotocol/orders               every order
//	POST /_sandbox/payprotocol/orders/{no}/pay      {"amount":"6.00"} (omitted: in full)
//	POST /_sandbox/payprotocol/orders/{no}/fail     the payment fails
//	POST /_sandbox/payprotocol/orders/{no}/expire   the page expires unpaid
//	GET  /_sandbox/payprotocol/refunds              every refund
//	POST /_sandbox/payprotocol/refunds/{no}/approve the back office approves: success
//	POST /_sandbox/payprotocol/refunds/{no}/reject  the back office rejects
//	POST /_sandbox/payprotocol/refunds/{no}/fail    the transfer fails
//	PUT  /_sandbox/payprotocol/notifier             {"duplicates","drop","notifyUrl"}
//	GET  /_sandbox/payprotocol/notifications        every callback and its attempts
//	POST /_sandbox/payprotocol/faults               {"path","code","http","times"}
//
// The HMAC here is written independently of gateway/payprotocol so that
// the two check each other.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
)

// Pay Protocol defaults.
const (
	DefaultPayProtocolKey    = "sandbox-pay-key"
	DefaultPayProtocolExpiry = 15 * time.Minute
	// PayProtocolAPIPath is the API's prefix (base URL http://HOST/api/mer).
	PayProtocolAPIPath = "/api/mer"
	ppWindow           = 60 * time.Second
	ppMaxBody          = 64 << 10
)

// DefaultPayProtocolRetrySchedule is the wait after each failed callback
// attempt: attempts at 0, 15 s and 30 s as published, then three more at
// assumed intervals (six in all).
var DefaultPayProtocolRetrySchedule = []time.Duration{15 * time.Second, 15 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute}

// Pay Protocol statuses as the sandbox reports them.
const (
	PPUnpaid         = "unpaid"
	PPPaid           = "paid"
	PPPartiallyPaid  = "partially paid"
	PPFailed         = "payment failed"
	PPRefundPending  = "pending"
	PPRefundSuccess  = "success"
	PPRefundFailure  = "failure"
	PPRefundRejected = "rejected"
)

// PayProtocolConfig configures a PayProtocol sandbox. A key and secret are
// made up when empty.
type PayProtocolConfig struct {
	APIKey        string
	Secret        []byte
	Clock         posbridge.Clock // SystemClock when nil
	HTTPClient    *http.Client    // for callbacks; http.DefaultClient when nil
	NotifyURL     string          // where callbacks go for orders that name none
	RetrySchedule []time.Duration // DefaultPayProtocolRetrySchedule when nil
	// Expiry is how long an order's page stays payable when the order asks
	// for no expireTime; DefaultPayProtocolExpiry when zero.
	Expiry time.Duration
	Logger *slog.Logger
}

// PPOrder is a snapshot of a Pay Protocol order.
type PPOrder struct {
	OutTradeNo     string          `json:"outTradeNo"`
	OutPaymentNo   string          `json:"outPaymentNo"`
	Status         string          `json:"paymentStatus"`
	Amount         posbridge.Money `json:"-"`
	Paid           posbridge.Money `json:"-"` // what the customer paid (zero unless paid)
	Refunded       posbridge.Money `json:"-"` // refunds pending or succeeded
	Description    string          `json:"description"`
	NotifyURL      string          `json:"notifyUrl,omitempty"`
	RedirectionURL string          `json:"redirectionUrl,omitempty"`
	ChainID        int64           `json:"chainId"`
	CreatedAt      time.Time       `json:"createdAt"`
	ExpiresAt      time.Time       `json:"expiresAt"`
	PaidAt         time.Time       `json:"paidAt,omitzero"`
	Charges        int             `json:"charges"`
}

// PPRefund is a snapshot of a Pay Protocol refund.
type PPRefund struct {
	OutRefundNo string          `json:"outRefundNo"`
	RefundNo    string          `json:"refundNo"`
	OutTradeNo  string          `json:"outTradeNo"`
	Status      string          `json:"refundStatus"`
	Amount      posbridge.Money `json:"-"`
	Reason      string          `json:"reason,omitempty"`
	NotifyURL   string          `json:"notifyUrl,omitempty"`
}

// PPFault makes the next Times calls to Path (e.g. "/payment/detail", or
// "*") fail without changing anything: HTTP status HTTP (200 when zero)
// with code Code, or, with HTTP 502, an HTML body.
type PPFault struct {
	Path  string `json:"path"`
	Code  int    `json:"code"`
	HTTP  int    `json:"http"`
	Times int    `json:"times"`
}

// PPNotifierOptions switch the callback sender's misbehaviour.
type PPNotifierOptions struct {
	Duplicates bool   `json:"duplicates"` // every callback is sent twice
	Drop       bool   `json:"drop"`       // callbacks are recorded, never sent (lost)
	NotifyURL  string `json:"notifyUrl,omitempty"`
}

// PPDelivery is one callback and how its delivery went.
type PPDelivery struct {
	ID         int       `json:"id"`
	URL        string    `json:"url"`
	Kind       string    `json:"kind"` // "payment" or "refund"
	No         string    `json:"no"`   // outTradeNo or outRefundNo
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	Delivered  bool      `json:"delivered"`
	GaveUp     bool      `json:"gaveUp"`
	Dropped    bool      `json:"dropped,omitempty"`
	NextAt     time.Time `json:"nextAt,omitzero"`
	LastResult string    `json:"lastResult,omitempty"`
	body       []byte
}

// PayProtocol is a running fake Pay Protocol. Its methods are safe for
// concurrent use. Close stops its callback sender.
type PayProtocol struct {
	key      string
	secret   []byte
	clock    posbridge.Clock
	client   *http.Client
	schedule []time.Duration
	expiry   time.Duration
	log      *slog.Logger
	handler  http.Handler
	kick     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu         sync.Mutex
	orders     map[string]*PPOrder // by outTradeNo
	byPayment  map[string]*PPOrder // by outPaymentNo
	refunds    map[string]*PPRefund
	seq        int64
	deliveries []*PPDelivery
	faults     []PPFault
	notifyURL  string
	duplicates bool
	drop       bool
}

// NewPayProtocol returns a PayProtocol sandbox and starts its callback sender.
func NewPayProtocol(cfg PayProtocolConfig) (*PayProtocol, error) {
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultPayProtocolKey
	}
	if len(cfg.Secret) == 0 {
		cfg.Secret = []byte("sandbox-secret-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.RetrySchedule == nil {
		cfg.RetrySchedule = DefaultPayProtocolRetrySchedule
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultPayProtocolExpiry
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &PayProtocol{key: cfg.APIKey, secret: cfg.Secret, clock: cfg.Clock, client: cfg.HTTPClient, schedule: cfg.RetrySchedule,
		expiry: cfg.Expiry, log: cfg.Logger.With(posbridge.LogKeyComponent, "sandbox", posbridge.LogKeyGateway, "payprotocol"),
		kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		orders: map[string]*PPOrder{}, byPayment: map[string]*PPOrder{}, refunds: map[string]*PPRefund{}, notifyURL: cfg.NotifyURL}
	p.handler = p.routes()
	p.wg.Go(p.run)
	return p, nil
}

// Close stops the callback sender and waits for it; undelivered callbacks
// are dropped. The handler keeps answering.
func (p *PayProtocol) Close() error {
	p.cancel()
	p.wg.Wait()
	return nil
}

// Handler serves the API, the hosted pages and the control API.
func (p *PayProtocol) Handler() http.Handler { return p.handler }

// APIKey returns the key requests must carry.
func (p *PayProtocol) APIKey() string { return p.key }

// Secret returns the HMAC secret (a copy).
func (p *PayProtocol) Secret() []byte { return append([]byte(nil), p.secret...) }

// SetNotifier switches the callback sender's misbehaviour.
func (p *PayProtocol) SetNotifier(o PPNotifierOptions) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.duplicates, p.drop = o.Duplicates, o.Drop
	if o.NotifyURL != "" {
		p.notifyURL = o.NotifyURL
	}
}

// SetFault adds a fault.
func (p *PayProtocol) SetFault(f PPFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	p.faults = append(p.faults, f)
}

// Order returns a snapshot of the order outTradeNo.
func (p *PayProtocol) Order(no string) (PPOrder, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[no]
	if !ok {
		return PPOrder{}, false
	}
	p.expireLocked(o)
	return *o, true
}

// Orders returns every order, oldest first.
func (p *PayProtocol) Orders() []PPOrder {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PPOrder, 0, len(p.orders))
	for _, o := range p.orders {
		p.expireLocked(o)
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OutPaymentNo < out[j].OutPaymentNo })
	return out
}

// Refunds returns every refund.
func (p *PayProtocol) Refunds() []PPRefund {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PPRefund, 0, len(p.refunds))
	for _, r := range p.refunds {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RefundNo < out[j].RefundNo })
	return out
}

// Deliveries returns every callback and its attempts, oldest first.
func (p *PayProtocol) Deliveries() []PPDelivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PPDelivery, len(p.deliveries))
	for i, d := range p.deliveries {
		out[i] = *d
	}
	return out
}

// Charges returns how often each order was paid (never more than once).
func (p *PayProtocol) Charges() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for no, o := range p.orders {
		if o.Charges > 0 {
			out[no] = o.Charges
		}
	}
	return out
}

// ppSign is X-PAY-SIGN, computed here apart from gateway/payprotocol.
func ppSign(secret []byte, ts, method, path string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts + method + path))
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

var errPPAuth = errors.New("signature")
