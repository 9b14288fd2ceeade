package posbridge

import (
	"errors"
	"fmt"
	"time"
)

// Errors that Transition wraps in a *TransitionError.
var (
	// ErrOrderFinal: the order is final and the input may not change it. For
	// late or duplicated information (a notification after a cancel was
	// confirmed, a terminal answer after the gateway decided) callers treat it
	// as "nothing to do".
	ErrOrderFinal = errors.New("order is final")
	// ErrNotAllowed: the input makes no sense in the order's status (a
	// terminal answer for an order never sent, a retry of a created order).
	ErrNotAllowed = errors.New("transition not allowed")
)

// InputKind names what happened to an order. Values are persisted in audit rows.
type InputKind string

// Inputs to the order state machine (docs/architecture.md).
const (
	InputSend          InputKind = "send"           // the sale is about to be sent to the terminal
	InputTerminal      InputKind = "terminal"       // the terminal exchange ended with Input.Outcome
	InputGatewayPaid   InputKind = "gateway_paid"   // the gateway proves the order paid (query or verified notification)
	InputGatewayFailed InputKind = "gateway_failed" // the gateway says the order failed or was closed
	// InputTerminalUnavailable: the sale could not be written to the
	// terminal at all (not one byte), so the customer cannot have paid.
	InputTerminalUnavailable InputKind = "terminal_unavailable"
	InputGatewayUnpaid       InputKind = "gateway_unpaid" // the gateway says not paid yet, or does not know the order
	InputWaitOver            InputKind = "wait_over"      // the cashier's verification window ended unconfirmed
	InputCanceled            InputKind = "canceled"       // posbridge closed the order at the gateway (Input.Reason says why)
	InputRetry               InputKind = "retry"          // the same order number is sent to the terminal again
	InputResume              InputKind = "resume"         // found open after a restart
	// InputGatewayPartial: the gateway received part of the amount
	// (GatewayPartiallyPaid). Never paid: an open order goes pending,
	// flagged partially_paid; a closed one keeps its status, flagged.
	InputGatewayPartial InputKind = "gateway_partial"
	// InputHostedOpen: the gateway opened the hosted order of a QR lane
	// (its page's URL is known); the customer pays on their phone while
	// the gateway is asked. Proof of nothing.
	InputHostedOpen InputKind = "hosted_open"
)

// InputKinds lists every input kind.
var InputKinds = []InputKind{InputSend, InputTerminal, InputGatewayPaid, InputGatewayFailed, InputGatewayUnpaid, InputWaitOver, InputCanceled, InputRetry, InputResume, InputTerminalUnavailable, InputGatewayPartial, InputHostedOpen}

// Input is one thing that happened to an order.
type Input struct {
	Kind    InputKind
	Outcome Outcome // for InputTerminal
	Reason  Reason  // for InputCanceled and InputGatewayFailed; a default is used when empty
}

// Inputs lists every distinct input: each kind, and InputTerminal with each outcome.
func Inputs() []Input {
	var in []Input
	for _, k := range InputKinds {
		if k == InputTerminal {
			for _, o := range Outcomes {
				in = append(in, Input{Kind: k, Outcome: o})
			}
			continue
		}
		in = append(in, Input{Kind: k})
	}
	return in
}

func (in Input) String() string {
	if in.Kind == InputTerminal {
		return string(in.Kind) + ":" + string(in.Outcome)
	}
	return string(in.Kind)
}

// Result is what Transition decides.
type Result struct {
	To             Status
	Reason         Reason // the order's reason after the input; unchanged when empty
	NeedsAttention bool   // set needs_attention (never cleared by a transition)
	Changed        bool   // false when the input leaves the order as it was
}

// TransitionError is a refused input. Err is ErrOrderFinal or ErrNotAllowed.
type TransitionError struct {
	From  Status
	Input Input
	Err   error
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s on %s order: %v", e.Input, e.From, e.Err)
}

func (e *TransitionError) Unwrap() error { return e.Err }

// Transition is the order state machine: pure and total over every (status,
// input) pair. Final statuses never change, with one exception: when the
// gateway proves a payment, truth wins and a failed or canceled order becomes
// paid with needs_attention. A paid order is never made failed or canceled.
func Transition(from Status, in Input) (Result, error) {
	same := Result{To: from}
	refuse := func(err error) (Result, error) {
		return Result{}, &TransitionError{From: from, Input: in, Err: err}
	}
	if !from.Valid() {
		return refuse(fmt.Errorf("%w: unknown status %q", ErrNotAllowed, from))
	}
	if in.Kind == InputGatewayPaid {
		switch from {
		case StatusPaid:
			return same, nil
		case StatusFailed, StatusCanceled:
			return Result{To: StatusPaid, Reason: ReasonPaidAfterClose, NeedsAttention: true, Changed: true}, nil
		default:
			return Result{To: StatusPaid, Changed: true}, nil
		}
	}
	if in.Kind == InputGatewayPartial {
		return partialTransition(from)
	}
	if from.Final() {
		switch {
		case in.Kind == InputGatewayFailed && from != StatusPaid,
			in.Kind == InputCanceled && from != StatusPaid:
			// Already closed: a second "closed" changes nothing.
			return same, nil
		}
		return refuse(ErrOrderFinal)
	}
	switch in.Kind {
	case InputSend:
		if from == StatusCreated {
			return Result{To: StatusAtTerminal, Changed: true}, nil
		}
	case InputRetry:
		if from == StatusVerifying || from == StatusPending {
			return Result{To: StatusAtTerminal, Reason: ReasonNone, Changed: true}, nil
		}
	case InputTerminal:
		switch from {
		case StatusAtTerminal:
			switch in.Outcome {
			case OutcomeCanceledByUser:
				// The one answer that means unpaid without asking the gateway.
				return Result{To: StatusFailed, Reason: ReasonCanceledByUser, Changed: true}, nil
			case OutcomeApproved, OutcomeDeclined, OutcomeUnknown, OutcomeTimeout, OutcomeClosedOnRequest:
				// Any other answer, a decline included, is verified with the
				// gateway: a terminal error code is not proof of no charge.
				return Result{To: StatusVerifying, Changed: true}, nil
			}
		case StatusVerifying, StatusPending:
			// A late terminal answer (after a resume or a query) is
			// information; only the gateway moves a verified order.
			return same, nil
		}
	case InputGatewayFailed:
		return Result{To: StatusFailed, Reason: orReason(in.Reason, ReasonGatewayFailed), Changed: true}, nil
	case InputTerminalUnavailable:
		if from == StatusAtTerminal {
			return Result{To: StatusFailed, Reason: ReasonTerminalDown, Changed: true}, nil
		}
	case InputGatewayUnpaid:
		return same, nil
	case InputWaitOver:
		switch from {
		case StatusVerifying:
			return Result{To: StatusPending, Changed: true}, nil
		case StatusPending:
			return same, nil
		}
	case InputCanceled:
		return Result{To: StatusCanceled, Reason: orReason(in.Reason, ReasonCanceledByClerk), Changed: true}, nil
	case InputHostedOpen:
		switch from {
		case StatusAtTerminal:
			return Result{To: StatusVerifying, Changed: true}, nil
		case StatusVerifying, StatusPending:
			return same, nil // the gateway's repeat of an order already open
		}
	case InputResume:
		switch from {
		case StatusCreated:
			// at_terminal is committed before the first byte is sent, so a
			// created order never reached the terminal.
			return Result{To: StatusFailed, Reason: ReasonNotSent, Changed: true}, nil
		case StatusAtTerminal:
			return Result{To: StatusVerifying, Changed: true}, nil
		case StatusVerifying, StatusPending:
			return same, nil
		}
	}
	return refuse(ErrNotAllowed)
}

func orReason(r, def Reason) Reason {
	if r == ReasonNone {
		return def
	}
	return r
}

// Apply runs Transition for o's status and, when it is allowed, updates o's
// status, reason and attention flag (and PaidAt on the way to paid). It
// returns whether o changed.
func (o *Order) Apply(in Input, now time.Time) (bool, error) {
	r, err := Transition(o.Status, in)
	if err != nil {
		return false, err
	}
	if !r.Changed {
		return false, nil
	}
	if in.Kind == InputTerminal {
		o.TerminalOutcome = in.Outcome
	}
	if in.Kind == InputRetry {
		// The previous attempt's answer says nothing about the next one.
		o.TerminalOutcome, o.TerminalNo = "", ""
	}
	o.Status = r.To
	if r.Reason != ReasonNone || r.To == StatusAtTerminal {
		o.Reason = r.Reason
	}
	if r.NeedsAttention {
		o.NeedsAttention = true
		// A cashier's "checked on the terminal" note is the lesser news: a
		// gateway "paid" would clear it (learn), leaving a capture after the
		// close unflagged, and the shop must refund that.
		if o.Attention == "" || o.Attention == string(ReasonCashierOverride) {
			o.Attention = string(r.Reason)
		}
	}
	if r.To == StatusPaid && o.PaidAt.IsZero() {
		o.PaidAt = now
	}
	// The schedule needs no settings for these facts.
	switch {
	case r.To == StatusPaid:
		*o = Scheduler{}.Next(*o, Fact{Due: DueNone}, now)
	case r.Reason == ReasonPartiallyPaid:
		// Money arrived but not the sale: asked about on the watch cadence
		// (a late top-up or repair at the gateway shows), never closed.
		*o = Scheduler{}.Next(*o, Fact{Due: DueWatch}, now)
	case r.To.Final() && (o.Reason == ReasonNotSent || o.Reason == ReasonTerminalDown):
		*o = Scheduler{}.Next(*o, Fact{Due: DueNone}, now) // never reached the terminal: nothing to watch for
	case r.To.Final():
		// Shown not paid: the gateway is asked again daily for a week, so a
		// payment the acquirer reports late is found (then paid, flagged).
		*o = Scheduler{}.Next(*o, Fact{Due: DueWatch}, now)
	}
	return true, nil
}
