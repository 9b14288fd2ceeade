package posbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// requestHash identifies a payment request for idempotency.
func requestHash(r PayRequest) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s\x00%s", r.Lane, r.Amount.Minor, r.Amount.Currency, r.Reference, r.Replaces)
	return hex.EncodeToString(h.Sum(nil))
}

// Pay implements Payments.
func (e *Engine) Pay(ctx context.Context, r PayRequest) (Order, bool, error) {
	l := e.lanes.get(r.Lane)
	if l == nil {
		return Order{}, false, &Error{Code: EINVALID, Field: "lane", Message: fmt.Sprintf("Unknown lane %q.", r.Lane)}
	}
	if err := r.Validate(); err != nil {
		return Order{}, false, err
	}
	hash := requestHash(r)
	if r.IdempotencyKey != "" {
		if o, done, err := e.idempotentReplay(ctx, r.IdempotencyKey, hash); done {
			return o, err == nil, err
		}
	}

	// Reserve the lane before anything is stored, so two requests cannot both
	// reach the terminal.
	busy, ok := e.reserveLane(ctx, l)
	if !ok {
		if busy == "" {
			return Order{}, false, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Lane %s is starting another payment.", r.Lane)}
		}
		return Order{}, false, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Lane %s is taking payment %s.", r.Lane, busy)}
	}
	reserved := true
	defer func() {
		if reserved {
			e.lanes.unreserve(l)
		}
	}()

	if err := e.checkLaneFree(ctx, r); err != nil {
		return Order{}, false, err
	}
	if err := e.closePrevious(ctx, l); err != nil {
		return Order{}, false, err
	}

	now := e.now()
	no, err := NewOrderNo(now, r.Lane, e.Random)
	if err != nil {
		return Order{}, false, err
	}
	// The number is claimed before it is stored, so the reconciler leaves
	// it alone while this call owns it; the check stored with it is what
	// frees the lane if this call cannot finish (a failed write).
	tok := e.claims.claim(no)
	claimed := true
	defer func() {
		if claimed {
			e.claims.release(no, tok)
			e.wake()
		}
	}()
	o := &Order{
		No: no, Lane: r.Lane, Amount: r.Amount, Reference: r.Reference, Status: StatusCreated,
		CreatedAt: now, UpdatedAt: now, Refunded: Money{Currency: r.Amount.Currency},
		IdempotencyKey: r.IdempotencyKey, RequestHash: hash,
	}
	// Checked at once should this call not finish: it frees the lane.
	e.plan(o, Fact{Due: DueNow}, now)
	create := Cause{Actor: r.By.Actor, Who: r.By.Who, Action: "create", Detail: "payment requested"}
	if l.qr != nil {
		ev, err := e.store.CreateOrder(ctx, o, create)
		if err != nil {
			return e.createFailed(ctx, r.IdempotencyKey, hash, err)
		}
		e.Bus.Publish(ev)
		sent, err := e.payQR(ctx, l, o, tok)
		if err != nil {
			return Order{}, false, err
		}
		claimed = false // runQR owns the claim now; the reservation ends here
		return sent, false, nil
	}

	// The lane names the order before at_terminal is committed, so a cancel
	// that commits after it sees the sale as on the terminal (closeOrder).
	e.lanes.activate(l, no)

	// Write-ahead: at_terminal is committed before the first byte goes out,
	// in the commit that creates the order (one fsync for both).
	send := OrderStep{Cause: Cause{Actor: ActorEngine, Action: "send", Detail: "sale sent to the terminal"}, Apply: func(o *Order) error {
		if _, err := o.Apply(Input{Kind: InputSend}, now); err != nil {
			return err
		}
		o.Attempts++
		e.plan(o, Fact{Due: DueSaleDeadline}, now)
		return nil
	}}
	created, sentEv, err := e.store.CreateOrderThen(ctx, o, create, send)
	if err != nil {
		// Nothing was stored, nothing sent: the lane is free again.
		return e.createFailed(ctx, r.IdempotencyKey, hash, err)
	}
	e.Bus.Publish(created)
	if sentEv.Seq == 0 || o.Status != StatusAtTerminal {
		// The store wrote the creation alone: nothing may go to the
		// terminal that is not marked sent. The check stored with the
		// order closes it as not sent and frees the lane.
		return Order{}, false, fmt.Errorf("order %s was stored but not marked at the terminal", no)
	}
	e.Bus.Publish(sentEv)
	sent := *o
	e.lanes.started(l, no)
	reserved, claimed = false, false
	e.wg.Go(func() { e.runSale(l, sent, tok) })
	return sent, false, nil
}

// createFailed answers a Pay whose order could not be stored: the earlier
// payment when another request took its idempotency key meanwhile.
func (e *Engine) createFailed(ctx context.Context, key, hash string, err error) (Order, bool, error) {
	var used *IdempotencyError
	if !errors.As(err, &used) {
		return Order{}, false, fmt.Errorf("store order: %w", err)
	}
	if used.RequestHash != hash {
		return Order{}, false, idempotencyConflict(used.OrderNo)
	}
	o, done, err := e.idempotentReplay(ctx, key, hash)
	if !done {
		// Taken by a write of the same commit batch that is not committed
		// yet (and so not readable): the same request, a moment ago.
		return Order{}, false, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Payment %s with this idempotency key is being started; try again in a moment.", used.OrderNo)}
	}
	return o, err == nil, err
}

// idempotencyConflict is the error for a key used by payment no for another
// request.
func idempotencyConflict(no OrderNo) error {
	return &Error{Code: EIDEMPOTENCY, Field: "Idempotency-Key",
		Message: fmt.Sprintf("This idempotency key was used for payment %s with a different request.", no)}
}

// laneEndWait bounds how long a new payment (or a void, or a card-present
// refund) waits for the terminal call of a sale already final to end.
const laneEndWait = 5 * time.Second

// reserveLane reserves l's terminal for a new call. A sale on it that is
// final already (the gateway confirmed it while the sale was on the
// terminal) is ending: the lane is free in a moment, so the cashier's next
// action waits for it, up to laneEndWait. busy names the sale holding the
// lane when it is not reserved.
func (e *Engine) reserveLane(ctx context.Context, l *lane) (busy OrderNo, ok bool) {
	busy, ok = e.lanes.reserve(l)
	if !ok && busy != "" {
		if o, err := e.store.Order(ctx, busy); err == nil && !o.Open() {
			busy, ok = e.lanes.reserveWithin(ctx, e.Clock, l, laneEndWait)
		}
	}
	return busy, ok
}

// idempotentReplay returns the order created earlier with key, or a conflict
// when it was created by a different request. done is false when the key is unused.
func (e *Engine) idempotentReplay(ctx context.Context, key, hash string) (Order, bool, error) {
	page, err := e.store.ListOrders(ctx, OrderFilter{Limit: 1, IdempotencyKey: key})
	if err != nil {
		return Order{}, true, fmt.Errorf("look up idempotency key: %w", err)
	}
	if len(page.Orders) == 0 {
		return Order{}, false, nil
	}
	o := page.Orders[0]
	if o.RequestHash != hash {
		return Order{}, true, idempotencyConflict(o.No)
	}
	return o, true, nil
}

// checkLaneFree refuses a payment while an earlier order of the lane is not
// confirmed, unless the request replaces it — in which case the earlier order
// is closed first (query first), and a payment it turns out to have taken
// stops the new one.
func (e *Engine) checkLaneFree(ctx context.Context, r PayRequest) error {
	page, err := e.store.ListOrders(ctx, OrderFilter{Lane: r.Lane, HoldsLane: true, Limit: 10})
	if err != nil {
		return fmt.Errorf("list open orders of lane %s: %w", r.Lane, err)
	}
	for _, o := range page.Orders {
		if !o.HoldsLane() {
			continue
		}
		if o.No != r.Replaces {
			return &Error{Code: ELANEBUSY, Message: fmt.Sprintf(
				"Payment %s on lane %s is not confirmed yet. Do not take payment again: wait, or replace it (which cancels it first).", o.No, r.Lane)}
		}
	}
	if r.Replaces == "" {
		return nil
	}
	prev, err := e.store.Order(ctx, r.Replaces)
	if err != nil {
		return &Error{Code: EINVALID, Field: "replaces", Message: fmt.Sprintf("No payment %s to replace.", r.Replaces), Err: err}
	}
	if prev.Lane != r.Lane {
		return &Error{Code: EINVALID, Field: "replaces", Message: "The payment to replace is on another lane."}
	}
	switch prev.Status {
	case StatusPaid:
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("Payment %s was paid; it cannot be replaced.", prev.No)}
	case StatusFailed, StatusCanceled:
		return nil
	}
	closed, err := e.closeOrder(ctx, prev.No, Cause{Actor: r.By.Actor, Who: r.By.Who, Action: "replace", Detail: "canceled before a replacement"}, ReasonCanceledByClerk, true)
	if err != nil {
		return err
	}
	if closed.Status == StatusPaid {
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("Payment %s went through; do not take payment again.", prev.No)}
	}
	return nil
}

// paidLateHold is how long a lane's last order, found paid after it was
// shown not paid, stops a new payment on the lane: the cashier is about to
// take payment again from a customer who has paid.
const paidLateHold = 2 * time.Minute

// closePrevious closes the lane's most recent order at the gateway before a
// new payment starts, when it failed and is not closed there yet (query
// first, then cancel). A payment found there (now, or by the reconciler a
// moment ago) stops the new payment with a conflict. A gateway that cannot
// be reached does not: the reconciler closes the old order later.
func (e *Engine) closePrevious(ctx context.Context, l *lane) error {
	prev := e.lanes.lastOf(l)
	if prev == "" {
		return nil
	}
	o, err := e.store.Order(ctx, prev)
	if err != nil {
		return nil
	}
	if (o.Status == StatusFailed || o.Status == StatusCanceled) && !o.NextCheckAt.IsZero() {
		// Its sale's goroutine may still hold it for a moment after the
		// order became final (or a check does): wait, rather than start a
		// new payment with the previous order still open at the gateway.
		if tok := e.claims.wait(ctx, e.Clock, prev, claimWait); tok != 0 {
			e.closeFinal(ctx, o, true)
			e.claims.release(prev, tok)
		}
		if o, err = e.store.Order(ctx, prev); err != nil {
			return nil
		}
	}
	if o.Status == StatusPaid && o.Reason == ReasonPaidAfterClose && e.now().Sub(o.PaidAt) < paidLateHold {
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("Payment %s went through after all; do not take payment again.", o.No)}
	}
	return nil
}
