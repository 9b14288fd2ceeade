// Package sandbox is a faithful local fake of the PayBy and CodePay gateways
// (research/gateway-api.md §1 and §4): its own RSA key pairs, the order and
// refund state machines, idempotent create, the cancel, revoke and refund
// rules, the ±15-minute requestTime window, request signatures checked over
// the exact bytes received, signed responses, a notifier with PayBy's retry
// schedule on a posbridge.Clock, fault injection per path, and a control API.
// It is the single truth about money in tests, the demo and the simulation:
// Charges counts how often each order was charged.
//
// Serve Handler on any listener. The PayBy API is under /sgs/api (so the
// client's base URL is http://HOST/sgs/api):
//
//	POST /sgs/api/acquire2/placeOrder, /getOrder, /cancelOrder, /revokeOrder,
//	     /refund/placeOrder, /refund/getOrder
//
// The control API is under /_sandbox (JSON in and out; amounts are decimal
// strings or numbers; errors are 400 invalid, 404 unknown, 409 not allowed in
// the current state):
//
//	POST   /_sandbox/payby/orders                 record an order made on a terminal:
//	       {"merchantOrderNo","amount","currency","status":"CREATED|PAID_SUCCESS|FAILURE",
//	        "kind":"sale|refund|void","origMerchantOrderNo","card":{"brand","last4"}}
//	GET    /_sandbox/payby/orders                 every order with status and charges
//	GET    /_sandbox/payby/orders/{no}            one order
//	POST   /_sandbox/payby/orders/{no}/pay        the customer pays (optional {"card":{...}})
//	POST   /_sandbox/payby/orders/{no}/fail       the payment fails
//	POST   /_sandbox/payby/orders/{no}/settle     PAID_SUCCESS → SETTLED
//	POST   /_sandbox/payby/orders/{no}/expire     CREATED → FAILURE (expired)
//	GET    /_sandbox/payby/refunds                every refund
//	POST   /_sandbox/payby/refunds/{no}/settle    CREATED → REFUNDED_SETTLED
//	POST   /_sandbox/payby/refunds/{no}/succeed   → SUCCESS
//	POST   /_sandbox/payby/refunds/{no}/fail      → FAILURE
//	GET    /_sandbox/charges                      {"merchantOrderNo": times charged}
//	POST   /_sandbox/faults                       {"path":"/acquire2/getOrder" or "*","kind",
//	       "code","msg","unsigned","delay" (nanoseconds),"times"}; see FaultKind
//	GET    /_sandbox/faults, DELETE /_sandbox/faults
//	PUT    /_sandbox/notifier                     {"duplicates","outOfOrder","notifyUrl"}
//	POST   /_sandbox/notifier/flush               release held (out-of-order) notifications
//	GET    /_sandbox/notifications                every notification and its deliveries
//	GET    /_sandbox/requests                     every API request the sandbox saw
//	POST   /_sandbox/payby/orders/{no}/paying     CodePay: the customer is paying (trans_status 0)
//	PUT    /_sandbox/codepay/terminal             CodePay: {"online":false} takes the terminal offline
//	PUT    /_sandbox/codepay/customer             CodePay: what the customer does with cloud sales:
//	       {"action":"approve|decline|cancel|ignore","delay" (nanoseconds),"card":{"brand","last4"}}
//
// The CodePay API (research §2) is POST /api/entry (base URL http://HOST),
// dispatching on the body's method: wisehub.cloud.pay.order,
// wisehub.cloud.pay.close, order.query, order.refund.submit,
// order.refund.query and order.revoker, over the same orders. Faults for
// it are set by method name ("order.query").
//
// Pay Protocol is a separate fake with its own orders (PayProtocol, in
// payprotocol.go): its customers pay on a hosted page, never on the
// terminal.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/payby"
)

// DefaultPartnerID is the merchant id the sandbox accepts unless told otherwise.
const DefaultPartnerID = "200000000888"

// Key file names used by LoadOrCreateKeys.
const (
	MerchantPrivateKeyFile = "payby-merchant-private.pem"
	MerchantPublicKeyFile  = "payby-merchant-public.pem"
	GatewayPrivateKeyFile  = "payby-gateway-private.pem"
	GatewayPublicKeyFile   = "payby-gateway-public.pem"
)

// DefaultRetrySchedule is PayBy's notification retry schedule (§1.9).
var DefaultRetrySchedule = []time.Duration{2 * time.Minute, 10 * time.Minute, 10 * time.Minute,
	60 * time.Minute, 120 * time.Minute, 360 * time.Minute, 900 * time.Minute}

// DefaultRequestWindow is how far requestTime may be from the sandbox clock.
const DefaultRequestWindow = 15 * time.Minute

// Errors of the Go and control API.
var (
	ErrNotFound = errors.New("sandbox: no such order or refund")
	ErrConflict = errors.New("sandbox: not allowed in the current state")
	ErrInvalid  = errors.New("sandbox: invalid request")
)

// PayBy order and refund statuses as the sandbox reports them.
const (
	StatusCreated = "CREATED"
	StatusPaid    = "PAID_SUCCESS"
	StatusSettled = "SETTLED"
	StatusFailure = "FAILURE"

	RefundCreated = "CREATED"
	RefundSettled = "REFUNDED_SETTLED"
	RefundSuccess = "SUCCESS"
	RefundFailure = "FAILURE"
)

// Keys are the two key pairs of a PayBy integration: the merchant's (the
// sandbox verifies requests with its public half) and the gateway's (the
// sandbox signs responses and notifications with it).
type Keys struct {
	Merchant *rsa.PrivateKey
	Gateway  *rsa.PrivateKey
}

// GenerateKeys returns two fresh RSA-2048 key pairs.
func GenerateKeys() (Keys, error) {
	m, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("generate merchant key: %w", err)
	}
	g, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("generate gateway key: %w", err)
	}
	return Keys{Merchant: m, Gateway: g}, nil
}

// LoadOrCreateKeys loads the key pairs from dir (the *KeyFile names), or
// generates and writes them, owner-only, when the private key files are
// absent. The public key files are always (re)written from the private keys.
func LoadOrCreateKeys(dir string) (Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("create key dir %s: %w", dir, err)
	}
	load := func(name string) (*rsa.PrivateKey, error) {
		file := filepath.Join(dir, name)
		k, err := gateway.LoadPrivateKey(file)
		if errors.Is(err, os.ErrNotExist) {
			if k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				return nil, fmt.Errorf("generate %s: %w", file, err)
			}
			pemBytes, err := gateway.EncodePrivateKeyPEM(k)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(file, pemBytes, 0o600); err != nil {
				return nil, fmt.Errorf("write %s: %w", file, err)
			}
			return k, nil
		}
		return k, err
	}
	var keys Keys
	var err error
	if keys.Merchant, err = load(MerchantPrivateKeyFile); err != nil {
		return Keys{}, err
	}
	if keys.Gateway, err = load(GatewayPrivateKeyFile); err != nil {
		return Keys{}, err
	}
	for name, k := range map[string]*rsa.PrivateKey{MerchantPublicKeyFile: keys.Merchant, GatewayPublicKeyFile: keys.Gateway} {
		pemBytes, err := gateway.EncodePublicKeyPEM(&k.PublicKey)
		if err != nil {
			return Keys{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), pemBytes, 0o600); err != nil {
			return Keys{}, fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
		}
	}
	return keys, nil
}

// Config configures a Sandbox. The zero value works: default partner id,
// fresh keys, the system clock, PayBy's retry schedule.
type Config struct {
	PartnerID string // the Partner-Id requests must carry; DefaultPartnerID when empty
	Keys      Keys   // generated when either key is nil
	Clock     posbridge.Clock
	// HTTPClient posts notifications; http.DefaultClient when nil.
	HTTPClient *http.Client
	// NotifyURL receives notifications of orders that name no notifyUrl
	// (orders made on a terminal); none are sent when empty.
	NotifyURL     string
	RetrySchedule []time.Duration // DefaultRetrySchedule when nil
	RequestWindow time.Duration   // DefaultRequestWindow when zero
	// RecreateFinalReturnsOrder makes an identical placeOrder for a paid,
	// failed or settled order return the order instead of 62001/62002/62003
	// (research §1.8 leaves this open).
	RecreateFinalReturnsOrder bool
	// ExpireAfter, when positive, lets CREATED orders expire on their own
	// (FAILURE with failCode ORDER_EXPIRED, notified): orders made by
	// placeOrder at their expiredTime, orders made on a terminal this long
	// after they were recorded. Zero: only Expire expires an order.
	ExpireAfter time.Duration
	// SettleAfter, when positive, settles a PAID_SUCCESS order this long
	// after it was paid (no notification, as PayBy). Zero: only Settle does.
	SettleAfter time.Duration
	// RefundSucceedAfter, when positive, makes a refund that is not final
	// succeed this long after it was created (notified). Zero: only
	// SucceedRefund does.
	RefundSucceedAfter time.Duration
	// CaptureAfterClose makes a paid sale record for an order that was
	// closed by a cancel or by expiry (not revoked, not declined) pay it:
	// the acquirer took the money on the terminal before the gateway closed
	// the order, and the gateway reports the capture when it arrives
	// (PayBy's documents do not say; a real acquirer cannot un-take money).
	// False: such a record is refused with ErrConflict.
	CaptureAfterClose bool
	// ListRefundsWithoutOrigin leaves originMerchantOrderNo out of the
	// refund list's items, as PayBy's documented item does.
	ListRefundsWithoutOrigin bool
	// DayLocation is the time zone of the dates of the list calls
	// (queryOrderPage, queryRefundOrderPage); UTC when nil.
	DayLocation *time.Location
	// Gateway is whose orders the terminal's sales are ("payby", the
	// default, or "codepay"): it decides the form of their notifications.
	// Orders made through an API are notified in that API's form.
	Gateway string
	// CodePayAppID and CodePayMerchantNo are what CodePay requests must
	// carry; DefaultCodePayAppID and DefaultCodePayMerchantNo when empty.
	// CodePay requests are signed with Keys.Merchant (the app key) and
	// answered with Keys.Gateway.
	CodePayAppID      string
	CodePayMerchantNo string
	// CodePayRetrySchedule is the CodePay notifier's schedule;
	// DefaultCodePayRetrySchedule when nil.
	CodePayRetrySchedule []time.Duration
	Logger               *slog.Logger
}

// Sandbox is a running fake PayBy gateway. Its methods are safe for
// concurrent use. Close stops the notifier.
type Sandbox struct {
	partnerID string
	keys      Keys
	clock     posbridge.Clock
	window    time.Duration
	recreate  bool
	log       *slog.Logger
	notifier  *notifier
	handler   http.Handler
	capture   bool
	timed     clockwork
	dayLoc    *time.Location
	noOrigin  bool

	mu          sync.Mutex
	orders      map[string]*order // by merchantOrderNo
	batches     int               // CodePay batch closes so far (batch.go)
	ordersByNo  map[string]*order // by PayBy orderNo
	refunds     map[string]*refund
	refundsByNo map[string]*refund
	seq         int64
	faults      map[string][]Fault
	requests    []Request
	charges     map[string]int
	notifyURL   string

	gw         string // Config.Gateway
	cpAppID    string
	cpMerchant string
	cpOffline  bool // the CodePay terminal is offline (SetTerminalOnline)
	customer   CloudCustomer

	payPageBase string // SetPayPageURL
}

// New returns a Sandbox and starts its notifier.
func New(cfg Config) (*Sandbox, error) {
	if cfg.PartnerID == "" {
		cfg.PartnerID = DefaultPartnerID
	}
	if cfg.Keys.Merchant == nil || cfg.Keys.Gateway == nil {
		k, err := GenerateKeys()
		if err != nil {
			return nil, err
		}
		if cfg.Keys.Merchant == nil {
			cfg.Keys.Merchant = k.Merchant
		}
		if cfg.Keys.Gateway == nil {
			cfg.Keys.Gateway = k.Gateway
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.RetrySchedule == nil {
		cfg.RetrySchedule = DefaultRetrySchedule
	}
	if cfg.RequestWindow == 0 {
		cfg.RequestWindow = DefaultRequestWindow
	}
	if cfg.CodePayRetrySchedule == nil {
		cfg.CodePayRetrySchedule = DefaultCodePayRetrySchedule
	}
	if cfg.CodePayAppID == "" {
		cfg.CodePayAppID = DefaultCodePayAppID
	}
	if cfg.CodePayMerchantNo == "" {
		cfg.CodePayMerchantNo = DefaultCodePayMerchantNo
	}
	switch cfg.Gateway {
	case "":
		cfg.Gateway = "payby"
	case "payby", "codepay":
	default:
		return nil, fmt.Errorf("%w: gateway %q, want payby or codepay", ErrInvalid, cfg.Gateway)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DayLocation == nil {
		cfg.DayLocation = time.UTC
	}
	s := &Sandbox{
		dayLoc:      cfg.DayLocation,
		noOrigin:    cfg.ListRefundsWithoutOrigin,
		partnerID:   cfg.PartnerID,
		keys:        cfg.Keys,
		clock:       cfg.Clock,
		window:      cfg.RequestWindow,
		recreate:    cfg.RecreateFinalReturnsOrder,
		log:         cfg.Logger.With(posbridge.LogKeyComponent, "sandbox", posbridge.LogKeyGateway, "payby"),
		orders:      map[string]*order{},
		ordersByNo:  map[string]*order{},
		refunds:     map[string]*refund{},
		refundsByNo: map[string]*refund{},
		faults:      map[string][]Fault{},
		charges:     map[string]int{},
		notifyURL:   cfg.NotifyURL,
		capture:     cfg.CaptureAfterClose,
		timed:       clockwork{expireAfter: cfg.ExpireAfter, settleAfter: cfg.SettleAfter, refundAfter: cfg.RefundSucceedAfter},
		gw:          cfg.Gateway,
		cpAppID:     cfg.CodePayAppID,
		cpMerchant:  cfg.CodePayMerchantNo,
	}
	s.notifier = newNotifier(s, cfg.HTTPClient, cfg.RetrySchedule, cfg.CodePayRetrySchedule)
	s.handler = s.routes()
	s.notifier.open()
	s.startClockwork()
	return s, nil
}

// Close stops the notifier and waits for it; undelivered notifications are
// dropped. The handler keeps answering API calls.
func (s *Sandbox) Close() error {
	s.stopClockwork()
	s.notifier.close()
	return nil
}

// Handler serves the PayBy API under /sgs/api and the control API under /_sandbox.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Keys returns the sandbox's key pairs (the merchant's private key is what a
// client signs with; the gateway's public key is what it verifies with).
func (s *Sandbox) Keys() Keys { return s.keys }

// PartnerID returns the merchant id the sandbox accepts.
func (s *Sandbox) PartnerID() string { return s.partnerID }

// SetNotifyURL sets where notifications go for orders that name no notifyUrl.
func (s *Sandbox) SetNotifyURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyURL = url
}

// Order is a snapshot of an order in the sandbox.
type Order struct {
	MerchantOrderNo string          `json:"merchantOrderNo"`
	OrderNo         string          `json:"orderNo"`
	Status          string          `json:"status"`
	Revoked         bool            `json:"revoked"`
	Amount          posbridge.Money `json:"-"`
	Paid            posbridge.Money `json:"-"` // zero unless it was paid
	Refunded        posbridge.Money `json:"-"` // refunds created or succeeded
	Charges         int             `json:"charges"`
	Card            posbridge.Card  `json:"card"`
	FailCode        string          `json:"failCode,omitempty"`
	NotifyURL       string          `json:"notifyUrl,omitempty"`
	CreatedAt       time.Time       `json:"createdAt"`
	PaidAt          time.Time       `json:"paidAt,omitzero"`
	// ClosedAt is when the order first failed (canceled, expired or
	// declined); a capture after it (CaptureAfterClose) pays it later.
	ClosedAt time.Time `json:"closedAt,omitzero"`
	// PaySceneCode is placeOrder's (DYNQR for a QR payment); empty for
	// orders made on a terminal.
	PaySceneCode string `json:"paySceneCode,omitempty"`
}

// Refund is a snapshot of a refund in the sandbox.
type Refund struct {
	RefundMerchantOrderNo string          `json:"refundMerchantOrderNo"`
	OrderNo               string          `json:"orderNo"`
	OriginMerchantOrderNo string          `json:"originMerchantOrderNo"`
	Status                string          `json:"status"`
	Amount                posbridge.Money `json:"-"`
	Internal              bool            `json:"internal"` // made by a revoke of a settled order
	CreatedAt             time.Time       `json:"createdAt"`
}

// Order returns the order with merchantOrderNo no.
func (s *Sandbox) Order(no string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return Order{}, false
	}
	return s.view(o), true
}

// Orders returns every order, oldest first.
func (s *Sandbox) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	out := make([]Order, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, s.view(o))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderNo < out[j].OrderNo })
	return out
}

// Refunds returns every refund, oldest first.
func (s *Sandbox) Refunds() []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	out := make([]Refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		out = append(out, r.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderNo < out[j].OrderNo })
	return out
}

// Charges returns how many times each merchantOrderNo went to PAID_SUCCESS.
// Anything above 1 is a double charge.
func (s *Sandbox) Charges() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.charges))
	for k, v := range s.charges {
		out[k] = v
	}
	return out
}

// Request is one PayBy API request the sandbox saw and what it answered.
type Request struct {
	Path        string    `json:"path"`
	At          time.Time `json:"at"`
	PartnerID   string    `json:"partnerId"`
	SignOK      bool      `json:"signOk"`
	Body        string    `json:"body"`
	ApplyStatus string    `json:"applyStatus"`
	Code        string    `json:"code"`
	Fault       FaultKind `json:"fault,omitempty"`
}

// Requests returns every API request seen, in order.
func (s *Sandbox) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// FaultKind is what an injected fault does to a call.
type FaultKind string

// Fault kinds. Only FaultCode and FaultHTTP502 leave the state untouched;
// every other kind processes the call (and commits its change) first, so
// that the client's "query before acting again" is exercised.
const (
	FaultCode      FaultKind = "code"      // answer Code/Msg (signed unless Unsigned), change nothing
	FaultHTTP502   FaultKind = "http502"   // answer HTTP 502 with an HTML body, change nothing
	FaultDelay     FaultKind = "delay"     // commit, then answer after Delay or when the client gives up
	FaultDrop      FaultKind = "drop"      // commit, then close the connection without an answer
	FaultUnsigned  FaultKind = "unsigned"  // commit, answer without the sign header
	FaultBadSign   FaultKind = "badsign"   // commit, answer with a signature of other bytes
	FaultMalformed FaultKind = "malformed" // commit, answer truncated JSON (signed)
	FaultCommit500 FaultKind = "commit500" // commit, answer 500 SYSTEM_ERROR
	FaultCommit504 FaultKind = "commit504" // commit, answer 504 SERVICE_TIMEOUT
)

// Fault is one injected misbehaviour for the next Times calls (1 when 0) of a path.
type Fault struct {
	Kind     FaultKind     `json:"kind"`
	Code     string        `json:"code,omitempty"`
	Msg      string        `json:"msg,omitempty"`
	Unsigned bool          `json:"unsigned,omitempty"`
	Delay    time.Duration `json:"delay,omitempty"` // nanoseconds in JSON
	Times    int           `json:"times,omitempty"`
}

// SetFault queues f for path ("/acquire2/getOrder", relative to /sgs/api, or
// "*" for any path). Faults of a path apply in the order they were set.
func (s *Sandbox) SetFault(path string, f Fault) error {
	switch f.Kind {
	case FaultCode:
		if f.Code == "" {
			return fmt.Errorf("%w: fault %q needs a code", ErrInvalid, f.Kind)
		}
	case FaultHTTP502, FaultDelay, FaultDrop, FaultUnsigned, FaultBadSign, FaultMalformed, FaultCommit500, FaultCommit504:
	default:
		return fmt.Errorf("%w: unknown fault kind %q", ErrInvalid, f.Kind)
	}
	if path != "*" && !knownPath(path) {
		return fmt.Errorf("%w: unknown path %q", ErrInvalid, path)
	}
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], f)
	return nil
}

// ClearFaults removes every queued fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string][]Fault{}
}

// Faults returns the queued faults by path.
func (s *Sandbox) Faults() map[string][]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]Fault{}
	for k, v := range s.faults {
		out[k] = append([]Fault(nil), v...)
	}
	return out
}

// takeFault pops the next fault for path; s.mu must be held.
func (s *Sandbox) takeFault(path string) (Fault, bool) {
	for _, p := range []string{path, "*"} {
		q := s.faults[p]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		q[0].Times--
		if q[0].Times <= 0 {
			q = q[1:]
		}
		if len(q) == 0 {
			delete(s.faults, p)
		} else {
			s.faults[p] = q
		}
		return f, true
	}
	return Fault{}, false
}

// NotifierOptions switch the notifier's misbehaviours.
type NotifierOptions struct {
	// Duplicates sends every notification three times: as is, again with the
	// same notify_id, and again with a new notify_id.
	Duplicates bool `json:"duplicates"`
	// OutOfOrder holds new notifications back until FlushNotifications (or
	// until it is switched off), then delivers them newest first.
	OutOfOrder bool `json:"outOfOrder"`
	// KeepTimestamp makes every retry of a notification carry its first
	// attempt's notify_timestamp (freshly signed), so a retry made more
	// than the receiver's window later is stale. False: each attempt
	// carries the time it is made.
	KeepTimestamp bool `json:"keepTimestamp"`
}

// SetNotifier sets the notifier's switches.
func (s *Sandbox) SetNotifier(o NotifierOptions) { s.notifier.set(o) }

// FlushNotifications releases held notifications, newest first.
func (s *Sandbox) FlushNotifications() { s.notifier.flush() }

// Notifications returns every notification and its delivery state.
func (s *Sandbox) Notifications() []Delivery { return s.notifier.list() }

// Replay sends a delivered notification again now, byte for byte as first
// delivered (same notify_id, same notify_timestamp, so it is stale once the
// receiver's window has passed), once and without retries: an old
// notification replayed by PayBy or by an attacker who kept it.
// ErrNotFound when no delivered notification has that id.
func (s *Sandbox) Replay(notifyID string) error { return s.notifier.replay(notifyID) }

// Pay makes the customer pay a CREATED order in full, with card (which may be
// zero). ErrNotFound, or ErrConflict when it is not CREATED.
func (s *Sandbox) Pay(no string, card posbridge.Card) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return fmt.Errorf("pay %s: %w", no, ErrNotFound)
	}
	if o.status != StatusCreated {
		return fmt.Errorf("pay %s in %s: %w", no, o.status, ErrConflict)
	}
	s.pay(o, card)
	return nil
}

// Fail makes a CREATED order's payment fail.
func (s *Sandbox) Fail(no string) error {
	return s.closeCreated(no, "DECLINED", "payment declined")
}

// Expire lets a CREATED order expire.
func (s *Sandbox) Expire(no string) error {
	return s.closeCreated(no, "ORDER_EXPIRED", "order expired")
}

func (s *Sandbox) closeCreated(no, code, des string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return fmt.Errorf("close %s: %w", no, ErrNotFound)
	}
	if o.status != StatusCreated {
		return fmt.Errorf("close %s in %s: %w", no, o.status, ErrConflict)
	}
	s.fail(o, code, des)
	return nil
}

// Settle moves a PAID_SUCCESS order to SETTLED.
func (s *Sandbox) Settle(no string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return fmt.Errorf("settle %s: %w", no, ErrNotFound)
	}
	if o.status != StatusPaid {
		return fmt.Errorf("settle %s in %s: %w", no, o.status, ErrConflict)
	}
	o.status = StatusSettled
	return nil
}

// SettleRefund moves a CREATED refund to REFUNDED_SETTLED.
func (s *Sandbox) SettleRefund(no string) error {
	return s.moveRefund(no, RefundSettled)
}

// SucceedRefund makes a refund that is not final succeed.
func (s *Sandbox) SucceedRefund(no string) error { return s.moveRefund(no, RefundSuccess) }

// FailRefund makes a refund that is not final fail.
func (s *Sandbox) FailRefund(no string) error { return s.moveRefund(no, RefundFailure) }

func (s *Sandbox) moveRefund(no, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	r, ok := s.refunds[no]
	if !ok {
		return fmt.Errorf("refund %s: %w", no, ErrNotFound)
	}
	if r.status == RefundSuccess || r.status == RefundFailure || (to == RefundSettled && r.status != RefundCreated) {
		return fmt.Errorf("refund %s from %s to %s: %w", no, r.status, to, ErrConflict)
	}
	r.status = to
	if to == RefundFailure {
		r.failCode, r.failDes = "REFUND_FAILED", "refund failed"
	}
	if to == RefundSuccess || to == RefundFailure {
		s.notifyRefund(r)
	}
	return nil
}

// Record tells the sandbox about an order made on a terminal, as the
// terminal's acquirer would (posbridge.Acquirer). A sale creates the order if
// needed and moves it to paid or failed; repeating a record is harmless. A
// refund creates a refund of r.OrigNo; a void revokes r.OrigNo. ErrInvalid
// for a bad record, ErrNotFound for an unknown original, ErrConflict when the
// record contradicts what the sandbox knows (another amount, paid after failed).
func (s *Sandbox) Record(ctx context.Context, r posbridge.AcquirerRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	no := string(r.OrderNo)
	if !payby.ValidMerchantOrderNo(no) {
		return fmt.Errorf("%w: merchant order number %q", ErrInvalid, no)
	}
	if _, ok := posbridge.CurrencyExponent(r.Amount.Currency); !ok || r.Amount.Minor <= 0 {
		return fmt.Errorf("%w: amount %s", ErrInvalid, r.Amount)
	}
	switch r.Status {
	case posbridge.GatewayCreated, posbridge.GatewayPaid, posbridge.GatewayFailed:
	default:
		return fmt.Errorf("%w: status %q", ErrInvalid, r.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	switch r.Kind {
	case "", "sale":
		return s.recordSale(no, r)
	case "refund":
		return s.recordRefund(no, r)
	case "void":
		o, ok := s.orders[string(r.OrigNo)]
		if !ok {
			return fmt.Errorf("void of %s: %w", r.OrigNo, ErrNotFound)
		}
		if r.Status == posbridge.GatewayPaid && !o.revoked {
			if o.codepay && o.status == StatusSettled {
				// After batch.close a sale can only be refunded (batch.go).
				return fmt.Errorf("void of %s: its batch is closed: %w", r.OrigNo, ErrConflict)
			}
			if code := s.revoke(o); code != "" {
				return fmt.Errorf("void of %s: code %s: %w", r.OrigNo, code, ErrConflict)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: kind %q", ErrInvalid, r.Kind)
}

func (s *Sandbox) recordSale(no string, r posbridge.AcquirerRecord) error {
	o, ok := s.orders[no]
	if !ok {
		o = s.newOrder(no, r.Amount)
		o.product = "In-store Payment"
		o.codepay = s.gw == "codepay"
	} else if o.amount != r.Amount {
		return fmt.Errorf("order %s is %s, record says %s: %w", no, o.amount, r.Amount, ErrConflict)
	}
	switch r.Status {
	case posbridge.GatewayPaid:
		switch o.status {
		case StatusCreated:
			s.pay(o, r.Card)
		case StatusFailure:
			if s.capture && !o.revoked && (o.failCode == "CANCELLED" || o.failCode == "ORDER_EXPIRED") {
				o.failCode, o.failDes = "", ""
				s.pay(o, r.Card)
				return nil
			}
			return fmt.Errorf("order %s failed, record says paid: %w", no, ErrConflict)
		}
	case posbridge.GatewayFailed:
		switch o.status {
		case StatusCreated:
			s.fail(o, "DECLINED", "declined on the terminal")
		case StatusPaid, StatusSettled:
			return fmt.Errorf("order %s paid, record says failed: %w", no, ErrConflict)
		}
	}
	return nil
}

func (s *Sandbox) recordRefund(no string, r posbridge.AcquirerRecord) error {
	o, ok := s.orders[string(r.OrigNo)]
	if !ok {
		return fmt.Errorf("refund of %s: %w", r.OrigNo, ErrNotFound)
	}
	status := map[posbridge.GatewayStatus]string{posbridge.GatewayCreated: RefundCreated,
		posbridge.GatewayPaid: RefundSuccess, posbridge.GatewayFailed: RefundFailure}[r.Status]
	if rf, ok := s.refunds[no]; ok {
		if rf.origin != o || rf.amount != r.Amount {
			return fmt.Errorf("refund %s differs: %w", no, ErrConflict)
		}
		if rf.status == RefundCreated || rf.status == RefundSettled {
			if status != RefundCreated {
				rf.status = status
				s.notifyRefund(rf)
			}
		}
		return nil
	}
	if code := s.refundable(o, r.Amount); code != "" {
		return fmt.Errorf("refund of %s: code %s: %w", r.OrigNo, code, ErrConflict)
	}
	rf := s.newRefund(no, o, r.Amount)
	if status != RefundCreated {
		rf.status = status
		s.notifyRefund(rf)
	}
	return nil
}
