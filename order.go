package posbridge

import "time"

// Status is where an order stands. Values are persisted and sent over the API
// as these strings; never renumber or rename them.
type Status string

// Order statuses, in the order a payment normally passes through them.
const (
	StatusCreated    Status = "created"     // stored, nothing sent to the terminal yet
	StatusAtTerminal Status = "at_terminal" // committed before the first byte of the sale goes out
	StatusVerifying  Status = "verifying"   // the terminal answered (or not); the gateway is being asked while the cashier waits
	StatusPending    Status = "pending"     // not confirmed yet; the reconciler keeps checking
	StatusPaid       Status = "paid"        // the gateway confirmed the payment (final)
	StatusFailed     Status = "failed"      // not charged (final)
	StatusCanceled   Status = "canceled"    // closed by posbridge or the cashier at the gateway (final)
)

// Statuses lists every status, for tables and validation.
var Statuses = []Status{StatusCreated, StatusAtTerminal, StatusVerifying, StatusPending, StatusPaid, StatusFailed, StatusCanceled}

// Final reports whether s is paid, failed or canceled.
func (s Status) Final() bool {
	return s == StatusPaid || s == StatusFailed || s == StatusCanceled
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Outcome is what a terminal exchange amounted to, before the gateway is asked.
type Outcome string

// Terminal outcomes (docs/architecture.md).
const (
	OutcomeApproved       Outcome = "approved"         // the terminal says charged; still verified
	OutcomeDeclined       Outcome = "declined"         // the terminal says not charged; verified with the gateway before it is final
	OutcomeCanceledByUser Outcome = "canceled_by_user" // the customer or operator canceled on the terminal (code 110)
	OutcomeUnknown        Outcome = "unknown"          // an answer that does not say whether money moved
	OutcomeTimeout        Outcome = "timeout"          // no ACK, no answer, link lost or terminal rebooted mid-sale
	// OutcomeClosedOnRequest: the terminal ended the sale because posbridge
	// asked it to (ecrhub.pay.close, for a cashier's cancel) before the
	// customer paid: it answered the sale 102, or accepted the close (000)
	// and then said not charged. The operator's cancellation, like 110.
	OutcomeClosedOnRequest Outcome = "closed_on_request"
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{OutcomeApproved, OutcomeDeclined, OutcomeCanceledByUser, OutcomeUnknown, OutcomeTimeout, OutcomeClosedOnRequest}

// NotCharged reports whether o is a clear "not charged" answer.
func (o Outcome) NotCharged() bool {
	return o == OutcomeDeclined || o == OutcomeCanceledByUser || o == OutcomeClosedOnRequest
}

// Reason says why an order ended or is stuck; empty while nothing needs saying.
type Reason string

// Reasons recorded on orders.
const (
	ReasonNone            Reason = ""
	ReasonDeclined        Reason = "declined"            // terminal declined
	ReasonCanceledByUser  Reason = "canceled_by_user"    // customer/operator canceled on the terminal
	ReasonCanceledByClerk Reason = "canceled_by_cashier" // the cashier or the POS canceled
	ReasonGatewayFailed   Reason = "gateway_failed"      // the gateway reports the order failed or closed
	ReasonExpired         Reason = "expired"             // checks ran out; canceled at the gateway
	ReasonNotSent         Reason = "not_sent"            // never reached the terminal (crash or link down before sending)
	ReasonTerminalDown    Reason = "terminal_unavailable"
	ReasonAmountMismatch  Reason = "amount_mismatch"  // a notification disagreed with the stored order
	ReasonPaidAfterClose  Reason = "paid_after_close" // the gateway proved a payment on a closed order
	ReasonCashierOverride Reason = "cashier_override" // the cashier checked the terminal and vouched for it
	ReasonCancelRefused   Reason = "cancel_refused"   // the gateway refused to cancel because it is paid
	ReasonInterrupted     Reason = "interrupted"      // the sale was cut off (timeout, lost link, restart); the terminal closed it and says not charged
	// ReasonUnconfirmed: every scheduled check ran out while the gateway did
	// not know the order, and the terminal did not say "not charged". The
	// order stays pending, flagged, with a daily check; it no longer holds
	// its lane.
	ReasonUnconfirmed Reason = "unconfirmed"
	// ReasonCancelSent: a cancel was sent to the gateway for this open
	// order and its answer was lost, so the gateway may have closed it. A
	// payment reported afterwards was captured on an order the shop tried
	// to close: it is flagged paid_after_close, for a person to look at.
	ReasonCancelSent Reason = "cancel_sent"
	// ReasonPartiallyPaid: the gateway received part of the amount (a
	// customer-phone payment that fell short). Never shown as paid: the
	// order stays pending, flagged with the amount received, watched daily,
	// its lane free, until a person collects the rest or refunds it.
	ReasonPartiallyPaid Reason = "partially_paid"
)

// Card is what posbridge keeps of the card: never more than brand and last four.
type Card struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

// Override records a cashier's "checked on the terminal" statement: who, why
// and when. It never replaces verification with the gateway.
type Override struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Order is one payment request at one lane and everything known about it.
// Only the store creates and persists orders; only Transition changes Status.
type Order struct {
	No              OrderNo
	Lane            string
	Amount          Money
	Reference       string // the POS's own reference, free text
	Status          Status
	Reason          Reason
	TerminalOutcome Outcome // empty until the terminal answered or was given up on
	NeedsAttention  bool
	Attention       string    // why a person should look, when NeedsAttention
	Checks          int       // gateway queries made for the order so far (shown to the cashier)
	ScheduledChecks int       // checks the reconciler made on its schedule: its place in the schedule
	NextCheckAt     time.Time // zero when no check is scheduled (final orders)
	VerifyUntil     time.Time // end of the fast verification while the cashier waits
	CreatedAt       time.Time
	UpdatedAt       time.Time
	PaidAt          time.Time
	Card            Card
	Refunded        Money  // succeeded refunds; same currency as Amount
	GatewayNo       string // the gateway's own order number, once known
	TerminalNo      string // the terminal's transaction number, once known
	IdempotencyKey  string
	RequestHash     string // hash of the request that created the order, for idempotency
	Attempts        int    // sales sent to the terminal for this order number (1, or more after a retry)
	Override        *Override
	Version         int64 // optimistic concurrency; bumped by every stored change
	// PaymentURL is the gateway's hosted page for an order the customer
	// pays on their phone (a QR lane); empty for terminal sales and until
	// the gateway has opened the order. Opening it proves nothing.
	PaymentURL string
	// PaymentExpiresAt is when the gateway closes a hosted order unpaid
	// (and posbridge closes it: query first, then cancel); zero for
	// terminal sales.
	PaymentExpiresAt time.Time
}

// Open reports whether the order is not final.
func (o *Order) Open() bool { return !o.Status.Final() }

// HoldsLane reports whether o keeps its lane from taking a new payment: it
// is open, unless it is pending and flagged (unconfirmed, or partially paid),
// which is checked daily while the customer is long gone. A new payment
// while one that holds the lane may still be charged could charge twice.
// Store.ListOrders' OrderFilter.HoldsLane selects exactly these.
func (o *Order) HoldsLane() bool {
	if o.Status == StatusPending && (o.Reason == ReasonUnconfirmed || o.Reason == ReasonPartiallyPaid) {
		return false
	}
	return o.Open()
}
