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
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
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
