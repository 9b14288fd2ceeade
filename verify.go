package posbridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func (e *Engine) recordCheck(ctx context.Context, no OrderNo, kind CheckKind, req string, start time.Time, result string, err error) {
	c := Check{OrderNo: no, Kind: kind, At: start, Request: req, Result: result, Err: err != nil, Latency: e.now().Sub(start)}
	if err := e.store.RecordCheck(ctx, c); err != nil && ctx.Err() == nil {
		e.Logger.Warn("record check", LogKeyOrder, no, LogKeyError, err)
	}
}

// queryGateway asks the gateway about an order and records the call.
func (e *Engine) queryGateway(ctx context.Context, no OrderNo, foreground bool) (GatewayOrder, error) {
	start := e.now()
	var g GatewayOrder
	ran, err := e.gw.call(ctx, foreground, true, func() (err error) {
		g, err = e.gateway.QueryOrder(ctx, no)
		return err
	})
	if !ran {
		return g, err
	}
	e.recordCheck(ctx, no, CheckQuery, "query", start, resultText(string(g.Status), err), err)
	return g, err
}

func (e *Engine) cancelGateway(ctx context.Context, no OrderNo, foreground bool) (GatewayOrder, error) {
	start := e.now()
	var g GatewayOrder
	ran, err := e.gw.call(ctx, foreground, false, func() (err error) {
		g, err = e.gateway.CancelOrder(ctx, no)
		return err
	})
	if !ran {
		return g, err
	}
	e.recordCheck(ctx, no, CheckCancel, "cancel", start, resultText(string(g.Status), err), err)
	return g, err
}

// closeTerminal sends ecrhub.pay.close for an order and records the call.
func (e *Engine) closeTerminal(ctx context.Context, l *lane, no OrderNo) error {
	if l.term == nil {
		return errNoTerminal
	}
	start := e.now()
	err := l.term.CloseOrder(ctx, no)
	e.recordCheck(ctx, no, CheckTerminalClose, "ecrhub.pay.close", start, resultText("closed", err), err)
	return err
}

// queryTerminal sends ecrhub.pay.query for an order and records the call.
func (e *Engine) queryTerminal(ctx context.Context, l *lane, no OrderNo) (TerminalResult, error) {
	if l.term == nil {
		return TerminalResult{}, errNoTerminal
	}
	start := e.now()
	r, err := l.term.Query(ctx, no)
	e.recordCheck(ctx, no, CheckTerminalQuery, "ecrhub.pay.query", start, resultText(string(r.Outcome)+" "+r.Code, err), err)
	return r, err
}

// Watching orders closed without the gateway's word: how often and for how long.
const (
	// DefaultSlowCheckEvery is the longest wait between two questions about
	// an order shown not paid (under watch) or unconfirmed: see watchDelay.
	DefaultSlowCheckEvery = 24 * time.Hour
	// DefaultWatchFor is how long after its creation an order closed on
	// "the gateway does not know it" is still asked about, so that a
	// payment the acquirer reports late is found.
	DefaultWatchFor = 7 * 24 * time.Hour
)

// gatewayInput turns what the gateway says about o into a state-machine
// input. A failure the terminal declined first keeps "declined" as reason.
func gatewayInput(o Order, g GatewayOrder) Input {
	switch {
	case g.Status.Paid():
		return Input{Kind: InputGatewayPaid}
	case g.Status == GatewayPartiallyPaid:
		return Input{Kind: InputGatewayPartial}
	case g.Status == GatewayFailed:
		if o.TerminalOutcome == OutcomeDeclined {
			return Input{Kind: InputGatewayFailed, Reason: ReasonDeclined}
		}
		return Input{Kind: InputGatewayFailed}
	default:
		return Input{Kind: InputGatewayUnpaid}
	}
}

// learn copies what the gateway knows into the order; it reports whether
// anything changed. An amount that disagrees with the order, and a failure
// of a sale the terminal approved, are flagged: the sources disagree.
func learn(o *Order, g GatewayOrder) bool {
	changed := false
	if g.GatewayNo != "" && o.GatewayNo != g.GatewayNo {
		o.GatewayNo, changed = g.GatewayNo, true
	}
	if g.Card.Last4 != "" && o.Card != g.Card {
		o.Card, changed = g.Card, true
	}
	if g.Status.Paid() && g.Amount.Currency != "" && g.Amount != o.Amount && !o.NeedsAttention {
		o.NeedsAttention, o.Attention, changed = true, fmt.Sprintf("gateway reports %s paid for an order of %s", g.Amount, o.Amount), true
	}
	if g.Status == GatewayPartiallyPaid && o.Status != StatusPaid {
		// The received amount is what a person needs, whatever was noted
		// before: the sale is short of money that did arrive.
		if want := PartialAttention(g.Received, o.Amount); !o.NeedsAttention || o.Attention != want {
			o.NeedsAttention, o.Attention, changed = true, want, true
		}
	}
	if g.Status.Paid() && g.Received.Currency == o.Amount.Currency && g.Received.Minor > o.Amount.Minor && !o.NeedsAttention {
		o.NeedsAttention, o.Attention, changed = true, OverpaidAttention(g.Received, o.Amount), true
	}
	if g.Status == GatewayFailed && o.TerminalOutcome == OutcomeApproved && !o.NeedsAttention {
		o.NeedsAttention, o.Attention, changed = true, "the terminal approved this sale but the gateway says it failed", true
	}
	if g.Status.Paid() && o.Override != nil && o.Attention == string(ReasonCashierOverride) {
		// The cashier said so and the gateway agrees: nothing left to look at.
		o.NeedsAttention, o.Attention, changed = false, "", true
	}
	if g.Status.Paid() && o.Reason == ReasonUnconfirmed {
		o.Reason, changed = ReasonNone, true
	}
	if g.Status.Paid() && o.Reason == ReasonCancelSent {
		o.Reason, changed = ReasonPaidAfterClose, true
		if !o.NeedsAttention {
			o.NeedsAttention, o.Attention = true, string(ReasonPaidAfterClose)
		}
	}
	return changed
}

// applyGateway applies what the gateway says about an order: the transition,
// what it knows of the card and numbers, and the flags for disagreements.
// counted adds the query to the order's checks.
func (e *Engine) applyGateway(ctx context.Context, no OrderNo, cause Cause, g GatewayOrder, counted bool) (Order, error) {
	if cause.Action == "" {
		cause.Action = "gateway says " + string(g.Status)
	}
	return e.update(ctx, no, cause, func(o *Order) error { return e.learnFromGateway(o, g, counted) })
}

// learnFromGateway changes o by what the gateway says of it (applyGateway's
// change): ErrNoChange when that is nothing new, a *TransitionError when o
// refuses it.
func (e *Engine) learnFromGateway(o *Order, g GatewayOrder, counted bool) error {
	changed, err := o.Apply(gatewayInput(*o, g), e.now())
	if err != nil && !errors.Is(err, ErrOrderFinal) {
		return err
	}
	if learn(o, g) {
		changed = true
	}
	if counted {
		o.Checks++
		changed = true
	}
	if !changed {
		return ErrNoChange
	}
	return nil
}

// verify asks the gateway about an order and applies the answer. known is
// false when the gateway does not know the order (not proof of anything).
func (e *Engine) verify(ctx context.Context, o Order, foreground bool, cause Cause) (Order, GatewayOrder, error) {
	g, err := e.queryGateway(ctx, o.No, foreground)
	if errors.Is(err, ErrGatewayNotFound) {
		return o, GatewayOrder{}, nil // not at the gateway (yet): unpaid
	}
	if err != nil {
		return o, g, err
	}
	cause.Detail = joinDetail(cause.Detail, "gateway says "+string(g.Status))
	after, err := e.applyGateway(ctx, o.No, cause, g, true)
	return after, g, err
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// evidence is how sure posbridge is that a customer was not charged for an
// order the gateway does not know.
type evidence int

const (
	noEvidence     evidence = iota // the terminal approved, or gave no clear word
	weakEvidence                   // the terminal says not charged, which only the gateway can confirm
	strongEvidence                 // never sent, or canceled by the customer or operator (110, or closed on the cashier's request)
)

// notChargedEvidence judges an order the gateway does not know, from the
// terminal's answer to the sale and its answer to a query now (q, when qok).
// Only "canceled by user" (110) is unpaid on the terminal's word; any other
// "not charged" (a decline code, a closed or unknown transaction) is weak:
// the order may be closed, but flagged, and watched for a late payment. A
// sale the terminal ever approved is never closed without the gateway.
func notChargedEvidence(o Order, q TerminalResult, qok bool) evidence {
	switch {
	case o.TerminalOutcome == OutcomeApproved || qok && q.Outcome == OutcomeApproved:
		return noEvidence
	case o.PaymentURL != "":
		// The gateway opened this hosted order and its page was shown: a
		// gateway that no longer knows it proves nothing.
		return noEvidence
	case o.Attempts == 0 || o.TerminalOutcome == OutcomeCanceledByUser || o.TerminalOutcome == OutcomeClosedOnRequest:
		return strongEvidence
	case o.TerminalOutcome.NotCharged() || qok && q.Outcome.NotCharged():
		return weakEvidence
	}
	return noEvidence
}

// closeOrder makes sure an open order can never be paid: query the gateway
// first, close the sale on the terminal, then cancel at the gateway. A
// payment found on the way wins: the order becomes paid and closeOrder
// returns it with a nil error.
//
// When the gateway does not know the order, "not found" is not proof of no
// charge: the order is closed only on the terminal's word that it did not
// charge it (notChargedEvidence), and is then watched daily for
// DefaultWatchFor. Without that word, strict callers (a cashier) get an
// error and the order stays open; the reconciler giving up (strict=false)
// parks it as unconfirmed: pending, flagged, checked daily, the lane free.
func (e *Engine) closeOrder(ctx context.Context, no OrderNo, cause Cause, reason Reason, strict bool) (Order, error) {
	o, err := e.store.Order(ctx, no)
	if err != nil {
		return o, err
	}
	if !o.Open() {
		return o, nil
	}
	if !e.beginClose(o) {
		// The customer can still tap: closing now could record "canceled"
		// for a charge the gateway has not heard of yet, with no check left.
		return o, &Error{Code: ELANEBUSY, Message: "The sale is still on the terminal. Cancel it on the terminal, or wait for its result."}
	}
	defer e.endClose(no)
	foreground := cause.Actor == ActorCashier || cause.Actor == ActorAPI
	unavailable := func(err error) (Order, error) {
		return o, &Error{Code: EUNAVAILABLE, Message: "The gateway cannot be reached to confirm the payment is closed; try again.", Err: err}
	}
	withDetail := func(d string) Cause {
		return Cause{Actor: cause.Actor, Who: cause.Who, Action: cause.Action, Detail: joinDetail(cause.Detail, d)}
	}
	cancelLost := func(err error) (Order, error) {
		// The gateway may have closed it: remember, so that a payment it
		// reports later is flagged, not taken as an ordinary one.
		e.update(ctx, no, withDetail("cancel sent, answer lost: "+err.Error()), func(o *Order) error {
			if !o.Open() || o.Reason == ReasonCancelSent {
				return ErrNoChange
			}
			o.Reason = ReasonCancelSent
			return nil
		})
		return unavailable(err)
	}
	// Query first: a paid order must never be "canceled".
	g, err := e.queryGateway(ctx, no, foreground)
	switch {
	case err == nil && g.Status != GatewayCreated:
		return e.applyGateway(ctx, no, withDetail("gateway says "+string(g.Status)), g, false)
	case err != nil && !errors.Is(err, ErrGatewayNotFound):
		return unavailable(err)
	}
	knownAtGateway := err == nil

	// Close the sale on the terminal, so the customer can no longer pay it
	// there, and ask it what happened.
	var q TerminalResult
	qok := false
	if l := e.lanes.get(o.Lane); l != nil && o.Attempts > 0 {
		e.closeTerminal(ctx, l, no)
		var qerr error
		q, qerr = e.queryTerminal(ctx, l, no)
		qok = qerr == nil
	}
	if approved := o.TerminalOutcome == OutcomeApproved || qok && q.Outcome == OutcomeApproved; approved {
		// The terminal charged the customer: the gateway (which has the
		// order unpaid, or not at all) will hear of it from the acquirer.
		// Never cancel on that.
		o, _ = e.update(ctx, no, Cause{Actor: ActorTerminal, Action: "terminal query", Detail: "terminal reports approved; the gateway has not confirmed it"}, func(o *Order) error {
			if o.TerminalOutcome == OutcomeApproved && o.NeedsAttention {
				return ErrNoChange
			}
			o.TerminalOutcome = OutcomeApproved
			if !o.NeedsAttention {
				o.NeedsAttention, o.Attention = true, "terminal reports a payment the gateway has not confirmed yet"
			}
			return nil
		})
		if strict {
			return o, &Error{Code: ECONFLICT, Message: "The terminal reports this payment approved; it cannot be canceled. It is being confirmed with the gateway."}
		}
		return e.park(ctx, no, withDetail("the terminal reports approved; the gateway has not confirmed it"))
	}

	if knownAtGateway {
		g, err = e.cancelGateway(ctx, no, foreground)
		switch {
		case err == nil:
			lost := qok && q.NoRecord && o.Attempts > 0 && !o.TerminalOutcome.NotCharged()
			declined := o.TerminalOutcome == OutcomeDeclined
			return e.applyInput(ctx, no, cause, Input{Kind: InputCanceled, Reason: reason}, func(o *Order) bool {
				changed := learn(o, g)
				switch {
				case o.NeedsAttention:
				case lost:
					// The terminal reported the sale to the gateway, then
					// lost it: nobody can say the customer was not charged.
					o.NeedsAttention, o.Attention, changed = true, "canceled at the gateway, but the terminal lost its record of the sale; a late payment will show here", true
				case declined:
					// The terminal's decline was never confirmed by the
					// gateway, and terminals have declined sales they charged.
					o.NeedsAttention, o.Attention, changed = true, "canceled at the gateway on the terminal's decline, which the gateway never confirmed; a late payment will show here", true
				}
				return changed
			})
		case errors.Is(err, ErrOrderPaid), errors.Is(err, ErrOrderClosed):
			// Refused: learn why from the gateway itself.
			g, qerr := e.queryGateway(ctx, no, foreground)
			if qerr != nil {
				return unavailable(qerr)
			}
			if g.Status == GatewayFailed {
				return e.applyInputLearn(ctx, no, withDetail("cancel refused; gateway says failed"), Input{Kind: InputCanceled, Reason: reason}, g)
			}
			return e.update(ctx, no, withDetail("cancel refused; gateway says "+string(g.Status)), func(o *Order) error {
				changed, err := o.Apply(gatewayInput(*o, g), e.now())
				if err != nil && !errors.Is(err, ErrOrderFinal) {
					return err
				}
				changed = learn(o, g) || changed
				if g.Status.Paid() && !o.NeedsAttention {
					o.NeedsAttention, o.Attention, changed = true, string(ReasonCancelRefused), true
				}
				if !changed {
					return ErrNoChange
				}
				return nil
			})
		case errors.Is(err, ErrGatewayNotFound):
			// Vanished between query and cancel: treat as unknown at the gateway.
		case errors.Is(err, ErrGatewayFinal):
			// Refused, and nothing done (Pay Protocol has no cancel: the
			// order closes when its page expires): an answer, not a lost
			// one. The order stays open and checked; a payment made on it
			// meanwhile is an ordinary payment.
			return o, &Error{Code: ECONFLICT, Message: "The gateway refused to cancel this payment; it stays open until the gateway closes it. Do not take payment again before then.", Err: err}
		case errors.Is(err, ErrRetryable):
			// Refused for now, nothing done (a rate limit; CodePay's "being
			// paid"): not a lost answer either.
			return unavailable(err)
		default:
			return cancelLost(err)
		}
	}

	ev := notChargedEvidence(o, q, qok)
	if ev == noEvidence {
		if strict {
			return o, &Error{Code: EUNAVAILABLE, Message: "Neither the gateway nor the terminal can confirm that this payment is closed. Check the terminal, then try again."}
		}
		return e.park(ctx, no, withDetail("gateway does not know the order; the terminal did not say not charged"))
	}
	if ev == weakEvidence && strict {
		// A cashier's cancel or replacement: the gateway cannot close an
		// order it has not heard of, so a late acquirer could still charge
		// it after a new payment is taken. Terminals have declined sales
		// they charged; only the end of the schedule closes on that word.
		return o, &Error{Code: EUNAVAILABLE, Message: "The terminal says the customer was not charged, but the bank has not heard of this payment yet and could still report it paid. It is being checked; try again in a few minutes."}
	}
	// Checked again inside the commit: a sale that started since the check
	// above must not be closed on the word of a gateway that has not seen it.
	return e.update(ctx, no, withDetail("gateway does not know the order"), func(o *Order) error {
		if e.onTerminal(*o) {
			return &Error{Code: ELANEBUSY, Message: "The sale is on the terminal again. Cancel it on the terminal, or wait for its result."}
		}
		changed, err := o.Apply(Input{Kind: InputCanceled, Reason: reason}, e.now())
		if errors.Is(err, ErrOrderFinal) {
			return ErrNoChange
		}
		if err != nil {
			return err
		}
		if !changed {
			return ErrNoChange
		}
		// The acquirer may still report a payment: keep asking for a while.
		e.plan(o, Fact{Due: DueWatch}, e.now())
		if ev == weakEvidence && !o.NeedsAttention {
			o.NeedsAttention, o.Attention = true, "closed on the terminal's word that the customer was not charged; the gateway never confirmed it"
		}
		return nil
	})
}

// applyInputLearn applies in and what the gateway said in one commit.
func (e *Engine) applyInputLearn(ctx context.Context, no OrderNo, cause Cause, in Input, g GatewayOrder) (Order, error) {
	return e.applyInput(ctx, no, cause, in, func(o *Order) bool { return learn(o, g) })
}

// park keeps an order the gateway does not know and the terminal may have
// charged: pending, flagged, asked about daily until the gateway knows it.
// It no longer holds its lane (the customer is long gone).
func (e *Engine) park(ctx context.Context, no OrderNo, cause Cause) (Order, error) {
	now := e.now()
	return e.update(ctx, no, cause, func(o *Order) error {
		if !o.Open() {
			return ErrNoChange
		}
		if o.Status == StatusVerifying {
			if _, err := o.Apply(Input{Kind: InputWaitOver}, now); err != nil {
				return err
			}
		}
		o.Reason = ReasonUnconfirmed
		if !o.NeedsAttention {
			o.NeedsAttention, o.Attention = true, "not confirmed by the gateway after every check; the terminal may have charged the customer"
		}
		e.plan(o, Fact{Due: DueWatch}, now)
		return nil
	})
}
