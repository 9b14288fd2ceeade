package posbridge

import (
	"context"
	"errors"
	"time"
)

// Actor says who or what caused a change; persisted in audit rows.
type Actor string

// Actors.
const (
	ActorEngine       Actor = "engine"
	ActorTerminal     Actor = "terminal"
	ActorGatewayQuery Actor = "gateway_query"
	ActorNotification Actor = "notification"
	ActorReconciler   Actor = "reconciler"
	ActorCashier      Actor = "cashier"
	ActorAPI          Actor = "api"
	ActorRecovery     Actor = "recovery"
)

// Cause is the audit record of a change: who did what and why.
type Cause struct {
	Actor  Actor
	Who    string // the person or client, when known (cashier name, API client address)
	Action string // what was done, e.g. "terminal outcome", "query", "cancel"
	Detail string // why, or what was seen (free text; never card data or secrets)
	// Applies, when set, is the inbox entry this change applies: the store
	// marks it applied in the same transaction, also when the change turns
	// out to be no change, so a notification is never marked applied
	// without its effect, nor its effect written without the mark.
	Applies *InboxMark
	// Receives, when set beside Applies, is the inbox entry this change
	// applies, not yet stored: the store inserts it, applied with
	// Applies.Result (Applies.ID is ignored), in the same transaction as the
	// change, so a notification costs one commit. If an entry with its
	// gateway and notification id is already stored, nothing at all is
	// written and the error wraps ErrNotificationStored.
	Receives *InboxEntry
}

// ErrNotificationStored is returned (wrapped) by a change whose
// Cause.Receives is already in the inbox: a delivery seen before, to be
// handled through ReceiveNotification.
var ErrNotificationStored = errors.New("notification already in the inbox")

// InboxMark marks an inbox entry applied, and says how.
type InboxMark struct {
	ID     int64
	Result string
}

// AuditEntry is a stored audit row.
type AuditEntry struct {
	ID      int64
	OrderNo OrderNo
	At      time.Time
	Cause   Cause
	From    Status
	To      Status
	Version int64
}

// CheckKind names a call made for an order to the gateway or the terminal.
type CheckKind string

// Check kinds.
const (
	CheckQuery         CheckKind = "query"
	CheckCancel        CheckKind = "cancel"
	CheckRefund        CheckKind = "refund"
	CheckRefundQuery   CheckKind = "refund_query"
	CheckTerminalQuery CheckKind = "terminal_query"
	CheckTerminalClose CheckKind = "terminal_close"
	CheckCreate        CheckKind = "create" // a hosted (QR) order opened at the gateway
)

// Check is one call made for an order: what was asked, what came back, how long it took.
type Check struct {
	ID      int64
	OrderNo OrderNo
	Kind    CheckKind
	At      time.Time
	Request string // a short description of the request (no secrets)
	Result  string // the status seen, or the error text
	Err     bool
	Latency time.Duration
}

// OrderFilter selects orders for ListOrders. Zero fields do not filter.
type OrderFilter struct {
	Statuses       []Status
	Lane           string
	From, To       time.Time // CreatedAt in [From, To)
	NeedsAttention *bool
	IdempotencyKey string // the order created with this key
	// HoldsLane keeps only the orders that hold their lane (Order.HoldsLane).
	HoldsLane bool
	Cursor    string // from a previous page's NextCursor
	Limit     int    // at most this many (store default when 0)
}

// OrderPage is one page of orders, newest first.
type OrderPage struct {
	Orders     []Order
	NextCursor string // empty on the last page
}

// InboxEntry is a notification as received, before and after it is applied.
type InboxEntry struct {
	ID             int64
	Gateway        string
	NotificationID string
	Kind           NotificationKind
	OrderNo        OrderNo
	Status         string
	// Notification is the verified notification as decoded, redacted
	// (Notification.Redacted): what applying it needs after a restart. Nil
	// for entries stored by versions that kept no decoded copy.
	Notification *Notification
	Verified     bool
	ReceivedAt   time.Time
	AppliedAt    time.Time // zero until applied
	Result       string    // what applying it did ("applied", "duplicate", "mismatch", "unknown order", ...)
}

// ErrIdempotencyKeyUsed is wrapped in an *IdempotencyError.
var ErrIdempotencyKeyUsed = errors.New("idempotency key already used")

// IdempotencyError is returned by CreateOrder when the key is taken; it names
// the order created with it and that request's hash.
type IdempotencyError struct {
	Key         string
	OrderNo     OrderNo
	RequestHash string
}

func (e *IdempotencyError) Error() string {
	return "idempotency key " + e.Key + " used by order " + string(e.OrderNo)
}

func (e *IdempotencyError) Unwrap() error { return ErrIdempotencyKeyUsed }

// OrderStep is a change to an order written in the same commit as the write
// before it (Store.CreateOrderThen): what UpdateOrder's cause and fn are.
type OrderStep struct {
	Cause Cause
	Apply func(*Order) error
}

// ScheduledCheck is an order's next scheduled check.
type ScheduledCheck struct {
	No OrderNo
	At time.Time
}

// Store keeps orders, refunds, checks, the notification inbox, events and
// audit rows. Every method that changes an order does so in one transaction
// that also appends an Event (with the next Seq) and an audit row.
type Store interface {
	// CreateOrder inserts o (status created) with its event and audit row.
	// When o.IdempotencyKey is already used it returns an *IdempotencyError
	// and stores nothing. It sets o.Version and returns the event.
	CreateOrder(ctx context.Context, o *Order, cause Cause) (Event, error)
	// CreateOrderThen is CreateOrder followed, in the same commit, by
	// UpdateOrder(o.No, then.Cause, then.Apply): two events and audit rows,
	// one fsync. Nothing is written when either fails; then.Apply returning
	// ErrNoChange writes the creation alone. o becomes what was stored last.
	CreateOrderThen(ctx context.Context, o *Order, cause Cause, then OrderStep) (created, changed Event, err error)
	// Order returns the order, or ErrNotFound.
	Order(ctx context.Context, no OrderNo) (Order, error)
	// UpdateOrder loads the order, calls fn on it, and, unless fn returns an
	// error, writes it if its version is unchanged, with an event and an audit
	// row, in one transaction. fn returning ErrNoChange writes nothing and
	// returns the order as loaded with a zero Event and a nil error; any other
	// error is returned as is, and nothing is written. ErrNotFound if absent.
	// fn may be called more than once, each time on a fresh copy of the
	// order (the last call's result is what is written), so it must change
	// nothing but the order it is given, and a result it hands out besides
	// the order is the last call's; what it reads besides the order (the
	// clock, the engine's lanes) may be read a moment before the write. It
	// must not call the store: it may run in the write's turn.
	UpdateOrder(ctx context.Context, no OrderNo, cause Cause, fn func(*Order) error) (Order, Event, error)
	// ListOrders returns orders matching f, newest first, one page at a time.
	ListOrders(ctx context.Context, f OrderFilter) (OrderPage, error)
	// OrdersToResume returns the orders a start must act on, oldest first:
	// every order created, at the terminal or verifying, and every pending
	// order without a check scheduled (one with a check is the
	// reconciler's).
	OrdersToResume(ctx context.Context) ([]Order, error)
	// DueChecks returns up to limit orders whose NextCheckAt is set and not
	// after now, earliest first, using the next_check_at index: open orders
	// to verify, and final orders still to be closed at the gateway.
	DueChecks(ctx context.Context, now time.Time, limit int) ([]Order, error)
	// NextChecks returns the numbers and NextCheckAt of up to limit orders
	// with a check scheduled, earliest first (the reconciler's next wake).
	NextChecks(ctx context.Context, limit int) ([]ScheduledCheck, error)
	// EventsSince returns up to limit stored events with Seq > seq, in order.
	EventsSince(ctx context.Context, seq int64, limit int) ([]Event, error)
	// LastSeq returns the highest stored event Seq (0 when none).
	LastSeq(ctx context.Context) (int64, error)
	// Audit returns the audit rows of an order, oldest first.
	Audit(ctx context.Context, no OrderNo) ([]AuditEntry, error)

	// RecordCheck stores a call made for an order.
	RecordCheck(ctx context.Context, c Check) error
	// Checks returns the calls made for an order, oldest first.
	Checks(ctx context.Context, no OrderNo) ([]Check, error)

	// ReceiveNotification stores a notification in the inbox. If one with the
	// same gateway and notification id is already there, it returns that
	// entry and duplicate=true and stores nothing.
	ReceiveNotification(ctx context.Context, e InboxEntry) (stored InboxEntry, duplicate bool, err error)
	// MarkNotificationApplied records that an inbox entry was applied, and how.
	MarkNotificationApplied(ctx context.Context, id int64, at time.Time, result string) error
	// UnappliedNotifications returns inbox entries not yet applied, oldest first.
	UnappliedNotifications(ctx context.Context, limit int) ([]InboxEntry, error)

	// CreateRefund inserts a refund (status requested) after checking, in the
	// same transaction, that the order is paid and that the amount fits in
	// what is refundable (ErrRefundExceeded otherwise). It appends an event.
	// When r.IdempotencyKey is already used by a refund it returns an
	// *IdempotencyError (its OrderNo is that refund's number) and stores
	// nothing; this is checked before the order and the amount.
	CreateRefund(ctx context.Context, r *Refund, cause Cause) (Event, error)
	// UpdateRefund changes a refund like UpdateOrder changes an order. When
	// the refund becomes succeeded, the order's Refunded grows by its amount
	// in the same transaction.
	UpdateRefund(ctx context.Context, no OrderNo, cause Cause, fn func(*Refund) error) (Refund, Event, error)
	// Refunds returns an order's refunds, oldest first.
	Refunds(ctx context.Context, orderNo OrderNo) ([]Refund, error)
	// OpenRefunds returns refunds that are not final, oldest first.
	OpenRefunds(ctx context.Context) ([]Refund, error)
	// FailedRefundsSince returns failed refunds last changed at or after
	// since, oldest first.
	FailedRefundsSince(ctx context.Context, since time.Time) ([]Refund, error)

	// CountOrders counts orders by status, needing attention, and scheduled.
	CountOrders(ctx context.Context) (OrderCounts, error)

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
}

// OrderCounts are the store's counts of orders, for metrics.
type OrderCounts struct {
	ByStatus       map[Status]int
	NeedsAttention int
	Scheduled      int // orders with a next check scheduled
}
