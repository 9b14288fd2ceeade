package posbridge

import (
	"context"
	"errors"
	"time"
)

// Error classes of gateway calls. Gateway adapters return errors that match
// exactly one of these with errors.Is, so the engine can branch without
// knowing the gateway.
var (
	// ErrUnknownOutcome: a transport error, timeout, non-2xx, malformed or
	// badly signed answer, or a gateway "system error": a mutation may or may
	// not have happened. Query before acting again.
	ErrUnknownOutcome = errors.New("gateway outcome unknown")
	// ErrRetryable: the gateway refused for now (rate limit, unavailable);
	// nothing happened; try again after a backoff.
	ErrRetryable = errors.New("gateway asks to retry")
	// ErrGatewayNotFound: the gateway does not know the order or refund.
	ErrGatewayNotFound = errors.New("gateway does not know the order")
	// ErrGatewayFinal: any other refusal; the error carries the code.
	ErrGatewayFinal = errors.New("gateway refused")
	// ErrOrderPaid: a cancel was refused because the order is paid or settled.
	// Also matches ErrGatewayFinal.
	ErrOrderPaid = errors.New("gateway order is paid")
	// ErrOrderClosed: a cancel found the order already failed or closed.
	// Also matches ErrGatewayFinal.
	ErrOrderClosed = errors.New("gateway order already closed")
)

// GatewayStatus is an order's status at the gateway.
type GatewayStatus string

// Gateway order statuses.
const (
	GatewayCreated GatewayStatus = "created" // exists, not paid
	GatewayPaid    GatewayStatus = "paid"
	GatewaySettled GatewayStatus = "settled" // paid and settled
	GatewayFailed  GatewayStatus = "failed"  // canceled, expired, declined or revoked before settlement
	// GatewayPartiallyPaid: the customer paid less than the order's amount
	// and the gateway accepted it (Pay Protocol takes 0.5× to 1.2× of the
	// amount on-chain). Money arrived, but not the sale: never Paid, never
	// failed; the order needs a person (collect the rest or refund).
	GatewayPartiallyPaid GatewayStatus = "partially_paid"
)

// Paid reports whether s proves a payment.
func (s GatewayStatus) Paid() bool { return s == GatewayPaid || s == GatewaySettled }

// GatewayOrder is an order as the gateway reports it.
type GatewayOrder struct {
	OrderNo   OrderNo
	GatewayNo string
	Status    GatewayStatus
	Revoked   bool
	Amount    Money // the order's amount at the gateway
	// Received is what the gateway actually received, when it says (zero
	// otherwise); for GatewayPartiallyPaid it is less than Amount.
	Received Money
	PaidAt   time.Time
	Card     Card
	FailCode string
	FailMsg  string
}

// RefundRequest asks the gateway to refund part or all of a paid order.
type RefundRequest struct {
	RefundNo OrderNo
	OrderNo  OrderNo
	Amount   Money
	Reason   string
}

// GatewayRefundStatus is a refund's status at the gateway.
type GatewayRefundStatus string

// Gateway refund statuses.
const (
	GatewayRefundCreated GatewayRefundStatus = "created" // accepted, not final
	GatewayRefundSuccess GatewayRefundStatus = "success"
	GatewayRefundFailed  GatewayRefundStatus = "failed"
)

// GatewayRefund is a refund as the gateway reports it.
type GatewayRefund struct {
	RefundNo  OrderNo
	OrderNo   OrderNo
	GatewayNo string
	Status    GatewayRefundStatus
	Amount    Money
	FailMsg   string
}

// Gateway is the payment gateway's cloud API. Every call honours ctx and has
// its own timeout; errors match one of the classes above.
type Gateway interface {
	// Name is the gateway kind ("payby").
	Name() string
	// QueryOrder returns the gateway's view of an order, or ErrGatewayNotFound.
	QueryOrder(ctx context.Context, no OrderNo) (GatewayOrder, error)
	// CancelOrder closes an unpaid order so it can never be paid. Refused
	// with ErrOrderPaid when it is paid or settled, ErrOrderClosed when it
	// already failed, ErrGatewayNotFound when the gateway never saw it.
	CancelOrder(ctx context.Context, no OrderNo) (GatewayOrder, error)
	// Refund asks for a refund; a repeat with the same RefundNo and amount
	// returns the same refund.
	Refund(ctx context.Context, r RefundRequest) (GatewayRefund, error)
	// QueryRefund returns the gateway's view of a refund.
	QueryRefund(ctx context.Context, refundNo OrderNo) (GatewayRefund, error)
}

// NotificationKind says what a notification is about.
type NotificationKind string

// Notification kinds.
const (
	NotifyOrder    NotificationKind = "order"
	NotifyRefund   NotificationKind = "refund"
	NotifyTransfer NotificationKind = "transfer" // bank-card transfers: recorded and acknowledged only
)

// Notification is a gateway callback whose signature and timestamp the
// gateway adapter has verified, decoded.
type Notification struct {
	Gateway   string // "payby"
	ID        string // the gateway's notification id (notify_id)
	Kind      NotificationKind
	OrderNo   OrderNo // merchant order number (the refund's own number for refunds)
	OrigNo    OrderNo // for refunds: the refunded order
	GatewayNo string
	Status    GatewayStatus       // for orders
	Refund    GatewayRefundStatus // for refunds
	Revoked   bool
	Amount    Money
	// Received is what the gateway received for the order, when it says
	// (GatewayPartiallyPaid: less than Amount); zero otherwise.
	Received Money
	Card     Card
	SentAt   time.Time // the gateway's notify_timestamp
	// Body is the raw, verified body. It is kept in memory only: it may
	// carry a card number, so it is never stored or logged.
	Body       []byte
	ReceivedAt time.Time
	// Stale: the signature is good but notify_timestamp is outside the
	// gateway's window (a late retry or a replay). Its content is not
	// applied; it only makes the engine ask the gateway about the order.
	Stale bool
}

// Redacted returns n as it may be stored: without the raw body, and with
// nothing of the card beyond brand and last four.
func (n Notification) Redacted() Notification {
	n.Body = nil
	n.Card = Card{Brand: n.Card.Brand, Last4: n.Card.Last4}
	return n
}

// NotificationService applies verified notifications. The gateway's HTTP
// handler acknowledges a notification only after ApplyNotification returned
// nil, which it does only once the notification is durably stored and applied
// (or recorded as not applicable).
type NotificationService interface {
	ApplyNotification(ctx context.Context, n Notification) error
}
