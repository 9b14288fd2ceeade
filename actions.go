package posbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (e *Engine) load(ctx context.Context, no OrderNo) (Order, error) {
	if err := no.Validate(); err != nil {
		return Order{}, &Error{Code: EINVALID, Field: "order_no", Message: "Not a valid order number.", Err: err}
	}
	o, err := e.store.Order(ctx, no)
	if errors.Is(err, ErrNotFound) {
		return o, &Error{Code: ENOTFOUND, Message: fmt.Sprintf("No payment %s.", no), Err: err}
	}
	return o, err
}

func byCause(by By, action string) Cause {
	return Cause{Actor: by.Actor, Who: by.Who, Action: action, Detail: by.Reason}
}

// Cancel implements PaymentService.
func (e *Engine) Cancel(ctx context.Context, no OrderNo, by By) (Order, error) {
	o, err := e.load(ctx, no)
	if err != nil {
		return o, err
	}
	switch o.Status {
	case StatusPaid:
		return o, &Error{Code: EFINAL, Message: "This payment went through; refund it instead."}
	case StatusFailed, StatusCanceled:
		return o, &Error{Code: EFINAL, Message: "This payment is already closed; the customer was not charged."}
	}
	if e.onTerminal(o) {
		// The customer may be tapping right now: ask the terminal to close
		// the sale and let the sale's own answer say what happened.
		if o, done, err := e.closeOnTerminal(ctx, o); done {
			return o, err
		}
	}
	o, err = e.closeOrder(ctx, no, byCause(by, "cancel"), ReasonCanceledByClerk, true)
	if err != nil {
		return o, err
	}
	if o.Status == StatusPaid {
		return o, &Error{Code: EFINAL, Message: "This payment went through while it was being canceled; do not take payment again."}
	}
	return o, nil
}

// cancelWait bounds how long Cancel waits for a closed sale's answer.
const cancelWait = 15 * time.Second

// closeOnTerminal sends ecrhub.pay.close for an order whose sale is on the
// terminal and waits up to cancelWait for the sale's result. done is false
// when the sale ended with an answer that still needs closing at the
// gateway (the caller goes on with closeOrder).
//
// It waits for the sale to leave the terminal, not for the order to be
// final: a "not charged" answer leaves the order verifying for
// FastPollFor, and closeOrder (gateway first) is what settles it now. The
// driver ends a sale whose close was answered 000 by querying the
// terminal, so the wait is about one round trip even when the terminal
// never answers the closed sale itself.
func (e *Engine) closeOnTerminal(ctx context.Context, o Order) (Order, bool, error) {
	e.closeTerminal(ctx, e.lanes.get(o.Lane), o.No)
	wctx, cancel := context.WithTimeout(ctx, cancelWait)
	got, err := func() (Order, error) {
		sub := e.Bus.Subscribe(maxAwaitSubscriptions)
		defer func() { sub.Close() }()
		for {
			o, err := e.load(wctx, o.No)
			if err != nil || !o.Open() || o.Status != StatusCreated && o.Status != StatusAtTerminal && !e.onTerminal(o) {
				return o, err
			}
			select {
			case <-wctx.Done():
				return o, nil
			case _, ok := <-sub.C:
				if !ok {
					sub = e.Bus.Subscribe(maxAwaitSubscriptions)
				}
			}
		}
	}()
	cancel()
	switch {
	case err != nil:
		return got, true, err
	case got.Status == StatusPaid:
		return got, true, &Error{Code: EFINAL, Message: "This payment went through before it could be canceled; do not take payment again."}
	case !got.Open():
		return got, true, nil
	case e.onTerminal(got) || got.Status == StatusAtTerminal:
		return got, true, &Error{Code: ECONFLICT, Message: "The terminal is closing the sale; its result will show in a moment."}
	}
	return got, false, nil
}

// Verify implements PaymentService. A final order is verified too: a payment
// the gateway proves wins over a local failed or canceled status.
func (e *Engine) Verify(ctx context.Context, no OrderNo, by By) (Order, error) {
	o, err := e.load(ctx, no)
	if err != nil {
		return o, err
	}
	o, _, err = e.verify(ctx, o, true, byCause(by, "verify now"))
	if err != nil {
		return o, &Error{Code: EUNAVAILABLE, Message: "The gateway could not be reached; the payment will be checked again automatically.", Err: err}
	}
	return o, nil
}

// claimWait bounds how long a cashier's action waits for a check in
// progress (one gateway call) to end before it answers "busy".
const claimWait = 10 * time.Second

// Retry implements PaymentService: the customer tries again for an order
// that is open and unpaid at the gateway. A CodePay terminal refuses a
// number it has seen (113), so the same number goes out again only when the
// terminal has no record of it; otherwise the order is closed (query first,
// then cancel) and a new payment replaces it, for the same amount and
// reference. A terminal that reports the sale approved stops the retry.
func (e *Engine) Retry(ctx context.Context, no OrderNo, by By) (Order, error) {
	o, err := e.load(ctx, no)
	if err != nil {
		return o, err
	}
	if !o.Open() {
		return o, &Error{Code: EFINAL, Message: "This payment is final; start a new one if needed."}
	}
	if o.TerminalOutcome == OutcomeApproved {
		return o, &Error{Code: ECONFLICT, Message: "The terminal reported this payment approved; it is being confirmed with the gateway. Do not take payment again."}
	}
	if err := e.refuseQRRetry(o); err != nil {
		return o, err
	}
	l := e.lanes.get(o.Lane)
	if l == nil {
		return o, &Error{Code: EINVALID, Message: fmt.Sprintf("Lane %s is not configured.", o.Lane)}
	}
	tok := e.claims.wait(ctx, e.Clock, no, claimWait)
	if tok == 0 {
		return o, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Payment %s is being checked; try again in a moment.", no)}
	}
	if !e.lanes.startRetry(l, no) {
		e.claims.release(no, tok)
		return o, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Lane %s is busy.", o.Lane)}
	}
	started := false
	defer func() {
		if !started {
			e.freeTerminal(l, no)
			e.claims.release(no, tok)
		}
	}()
	busy, err := e.store.ListOrders(ctx, OrderFilter{Lane: o.Lane, Statuses: []Status{StatusCreated, StatusAtTerminal, StatusVerifying}, Limit: 10})
	if err != nil {
		return o, err
	}
	for _, b := range busy.Orders {
		if b.No != no {
			return o, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Lane %s is taking payment %s.", o.Lane, b.No)}
		}
	}
	g, err := e.queryGateway(ctx, no, true)
	switch {
	case errors.Is(err, ErrGatewayNotFound), err == nil && g.Status == GatewayCreated:
	case err != nil:
		return o, &Error{Code: EUNAVAILABLE, Message: "The gateway could not be reached; a retry needs its answer first.", Err: err}
	default:
		o, err = e.applyGateway(ctx, no, byCause(by, "retry refused"), g, false)
		if err != nil {
			return o, err
		}
		return o, &Error{Code: EFINAL, Message: fmt.Sprintf("The gateway says this payment is %s; it cannot be retried.", g.Status)}
	}
	// The acquirer may not have reported a payment yet: the terminal must
	// say it did not charge this number before anything is sent again.
	r, qerr := e.queryTerminal(ctx, l, no)
	switch {
	case qerr != nil:
		return o, &Error{Code: EUNAVAILABLE, Message: "The terminal did not answer; a retry needs its word that the customer was not charged.", Err: qerr}
	case r.Outcome == OutcomeApproved:
		return o, &Error{Code: ECONFLICT, Message: "The terminal reports this payment approved; it is being confirmed with the gateway. Do not take payment again."}
	case !r.Outcome.NotCharged():
		return o, &Error{Code: ELANEBUSY, Message: "The terminal is still handling this payment."}
	case r.NoRecord && err == nil:
		// The gateway has the order (the terminal reported the sale), but
		// the terminal no longer knows it: it restarted and lost its
		// table. It would take the same number again and could charge twice.
		return o, &Error{Code: ECONFLICT, Message: "The terminal lost its record of this payment (it restarted); it cannot be retried safely. Wait for the gateway to confirm it."}
	case !r.NoRecord:
		// The terminal knows this number and would refuse it: replace the
		// order with a new one (closing it first).
		e.freeTerminal(l, no)
		e.claims.release(no, tok)
		started = true
		n, _, err := e.Pay(ctx, PayRequest{Lane: o.Lane, Amount: o.Amount, Reference: o.Reference, Replaces: no, By: by})
		return n, err
	}
	now := e.now()
	o, err = e.update(ctx, no, byCause(by, "retry"), func(o *Order) error {
		if _, err := o.Apply(Input{Kind: InputRetry}, now); err != nil {
			return err
		}
		o.Attempts++
		e.plan(o, Fact{Due: DueSaleDeadline}, now)
		return nil
	})
	if err != nil {
		var te *TransitionError
		if errors.As(err, &te) {
			return o, &Error{Code: ECONFLICT, Message: fmt.Sprintf("A %s payment cannot be retried.", te.From), Err: err}
		}
		return o, err
	}
	started = true
	e.lanes.setLast(l, no)
	e.wg.Go(func() { e.runSale(l, o, tok) })
	return o, nil
}

// Override implements PaymentService.
func (e *Engine) Override(ctx context.Context, no OrderNo, by By) (Order, error) {
	if strings.TrimSpace(by.Reason) == "" {
		return Order{}, &Error{Code: EINVALID, Field: "reason", Message: "Say why: what did the terminal show?"}
	}
	o, err := e.load(ctx, no)
	if err != nil {
		return o, err
	}
	if o.Status != StatusVerifying && o.Status != StatusPending {
		return o, &Error{Code: ECONFLICT, Message: fmt.Sprintf("Only a payment being confirmed can be marked as checked; this one is %s.", o.Status)}
	}
	if o.Reason == ReasonPartiallyPaid {
		return o, &Error{Code: ECONFLICT, Message: "The bank reports that only part of this payment arrived; it cannot be marked as paid. Tell the supervisor."}
	}
	now := e.now()
	o, err = e.update(ctx, no, byCause(by, "checked on the terminal"), func(o *Order) error {
		if o.Status != StatusVerifying && o.Status != StatusPending {
			return ErrNoChange
		}
		o.Override = &Override{By: by.Who, Reason: by.Reason, At: now}
		if !o.NeedsAttention {
			o.NeedsAttention, o.Attention = true, string(ReasonCashierOverride)
		}
		e.plan(o, Fact{Due: DueNoLaterThanFirstStep}, now)
		return nil
	})
	e.wake()
	return o, err
}
