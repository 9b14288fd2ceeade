package posbridge

import "context"

// PayRequest asks for a payment on a lane.
type PayRequest struct {
	Lane           string
	Amount         Money
	Reference      string  // the POS's own reference (receipt number), free text up to 128 bytes
	IdempotencyKey string  // optional; a repeat with the same key and request returns the same payment
	Replaces       OrderNo // optional; an earlier open order of the lane to cancel first (query first)
	By             By
}

// RefundParams asks for a refund of a paid order.
type RefundParams struct {
	Amount         Money  // in the order's currency; an empty currency means the order's
	IdempotencyKey string // optional; a repeat with the same key and request returns the same refund
	// CardPresent refunds on the lane's terminal with the customer's card
	// (ecrhub.pay.order trans_type 3) instead of through the gateway.
	CardPresent bool
}

// By says who asks for an action, for the audit log.
type By struct {
	Actor  Actor  // ActorAPI or ActorCashier
	Who    string // client address or cashier name
	Reason string // required for overrides and refunds, optional elsewhere
}

// PaymentService is everything the local API and the cashier page use:
// the payments, the event log and the health. *Engine implements it.
type PaymentService interface {
	Payments
	EventLog
	Health
}

// Payments is what a POS and a cashier do with payments. *Engine implements
// it. Errors are *Error values with the codes of error.go.
type Payments interface {
	// Pay stores the order, commits it as at_terminal and starts the sale in
	// the background; it returns without waiting for the customer.
	// ELANEBUSY if the lane has a payment in progress, EIDEMPOTENCY if the
	// key was used with another request, EINVALID for a bad request.
	// replayed reports that the key was used before with the same request:
	// o is the payment made then, and nothing new was started.
	Pay(ctx context.Context, r PayRequest) (o Order, replayed bool, err error)
	// Await blocks until the order is final or pending (the cashier's wait
	// is over) or ctx ends, and returns it as it is then.
	Await(ctx context.Context, no OrderNo) (Order, error)
	// Payment returns one order, or ENOTFOUND.
	Payment(ctx context.Context, no OrderNo) (Order, error)
	// Payments lists orders, newest first.
	Payments(ctx context.Context, f OrderFilter) (OrderPage, error)
	// Cancel cancels an open order: query the gateway first, close the sale
	// on the terminal if it is open, cancel at the gateway. If the gateway
	// shows it paid, it becomes paid instead. EFINAL for a final order.
	Cancel(ctx context.Context, no OrderNo, by By) (Order, error)
	// Verify checks an order with the gateway now.
	Verify(ctx context.Context, no OrderNo, by By) (Order, error)
	// Retry sends the same order number to the terminal again, only while the
	// order is open, the lane is free and the gateway says it is unpaid.
	Retry(ctx context.Context, no OrderNo, by By) (Order, error)
	// Override records that the cashier checked the terminal and saw the
	// payment succeed (by.Reason required). The order stays under
	// verification and needs attention until the gateway confirms.
	Override(ctx context.Context, no OrderNo, by By) (Order, error)
	// Refund refunds part or all of a paid order through the gateway, never
	// more than is refundable. With an idempotency key, a repeat of the same
	// request (order, amount, by.Reason) returns the refund made the first
	// time, with replayed true; the same key with another request is
	// EIDEMPOTENCY.
	Refund(ctx context.Context, no OrderNo, p RefundParams, by By) (r Refund, replayed bool, err error)
	// Void voids a paid payment of today on its lane's terminal, the whole
	// amount, before the terminal's batch is settled and while it has no
	// refund (ECONFLICT with the reason otherwise). It returns the void, a
	// refund of method terminal_void, stored before the terminal is asked;
	// its status follows. ELANEBUSY while the lane has a payment. A repeat
	// with the same idempotency key returns the first void, replayed true.
	Void(ctx context.Context, no OrderNo, p VoidParams, by By) (r Refund, replayed bool, err error)
	// Refunds lists an order's refunds.
	Refunds(ctx context.Context, no OrderNo) ([]Refund, error)
	// Lanes returns every lane's link and current payment.
	Lanes(ctx context.Context) ([]LaneStatus, error)
}

// EventLog is the committed events, in order: what the event stream and the
// outbox replay. *Engine implements it.
type EventLog interface {
	// EventsSince returns stored events after seq, at most limit.
	EventsSince(ctx context.Context, seq int64, limit int) ([]Event, error)
	// LastSeq returns the newest stored event's seq (0 when none).
	LastSeq(ctx context.Context) (int64, error)
	// Subscribe returns live events; see Bus.
	Subscribe(size int) *Subscription
}

// Health is what readiness and metrics ask. *Engine implements it.
type Health interface {
	// Ready reports whether the store answers.
	Ready(ctx context.Context) error
	// Stats returns counters for metrics.
	Stats(ctx context.Context) (Stats, error)
}

// Stats are the engine's counters and gauges, read by the metrics endpoint.
type Stats struct {
	PaymentsByStatus map[Status]int    // orders per status (all time)
	NeedsAttention   int               // orders flagged for a person
	ReconcileBacklog int               // open orders waiting for a scheduled check
	Verifications    uint64            // gateway queries made
	GatewayErrors    map[string]uint64 // by class: "unknown_outcome", "retryable", "not_found", "final"
	Notifications    map[string]uint64 // by result: "applied", "duplicate", "mismatch", "unknown_order", "not_applicable"
}

// Instruction is the sentence the cashier must follow for an order, in English.
func Instruction(o Order) string {
	if s, ok := qrInstruction(o); ok {
		return s
	}
	switch o.Status {
	case StatusCreated, StatusAtTerminal:
		return "Waiting for the customer on the terminal"
	case StatusVerifying:
		return "Checking the payment with the bank — please wait"
	case StatusPending:
		if o.Reason == ReasonPartiallyPaid {
			// Before an override: the gateway's word that the sale is short
			// outweighs a cashier's "the terminal showed it paid".
			return "Only part of the payment arrived — not paid in full; do not take payment again; tell the supervisor"
		}
		if o.Override != nil {
			return "Marked paid after checking the terminal — still being confirmed"
		}
		if o.Reason == ReasonUnconfirmed {
			return "Not confirmed by the bank — the customer may have been charged; tell the supervisor"
		}
		return "Not confirmed yet — do not take payment again"
	case StatusPaid:
		if o.NeedsAttention {
			return "Payment successful — it was confirmed late; tell the supervisor"
		}
		return "Payment successful"
	case StatusFailed, StatusCanceled:
		if o.NeedsAttention {
			// Closed on the terminal's word alone, or the sources disagree:
			// the customer may have been charged.
			return "Not confirmed as unpaid — do not take payment again until a supervisor has checked"
		}
		if o.Status == StatusCanceled {
			return "Payment canceled — the customer was not charged"
		}
		if o.Reason == ReasonTerminalDown || o.Reason == ReasonNotSent {
			return "Payment not completed — the terminal was not reachable; the customer was not charged"
		}
		return "Payment not completed"
	}
	return ""
}
