package posbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// refundHash identifies a refund request for idempotency.
func refundHash(no OrderNo, amount Money, reason string) string {
	h := sha256.New()
	fmt.Fprintf(h, "refund\x00%s\x00%d\x00%s\x00%s", no, amount.Minor, amount.Currency, reason)
	return hex.EncodeToString(h.Sum(nil))
}

// Refund implements PaymentService.
func (e *Engine) Refund(ctx context.Context, no OrderNo, p RefundParams, by By) (Refund, error) {
	if err := validKey(p.IdempotencyKey); err != nil {
		return Refund{}, err
	}
	o, err := e.load(ctx, no)
	if err != nil {
		return Refund{}, err
	}
	amount := p.Amount
	if amount.Currency == "" {
		amount.Currency = o.Amount.Currency
	}
	if p.CardPresent {
		return e.reverseOnTerminal(ctx, o, RefundTerminalRefund, amount, p.IdempotencyKey, by)
	}
	hash := refundHash(no, amount, by.Reason)
	if p.IdempotencyKey != "" {
		// Before anything else: a replay of a refund that used up the
		// order is still the same refund, not "more than refundable".
		if r, done, err := e.refundReplay(ctx, no, p.IdempotencyKey, hash, ""); done {
			return r, err
		}
	}
	if o.Status != StatusPaid {
		return Refund{}, &Error{Code: ECONFLICT, Message: "Only a paid payment can be refunded."}
	}
	now := e.now()
	rno, err := NewOrderNo(now, "R", e.Random)
	if err != nil {
		return Refund{}, err
	}
	r := &Refund{No: rno, OrderNo: no, Amount: amount, Status: RefundRequested, Reason: by.Reason, Actor: by.Who, CreatedAt: now, UpdatedAt: now,
		IdempotencyKey: p.IdempotencyKey, RequestHash: hash}
	ev, err := e.store.CreateRefund(ctx, r, byCause(by, "refund"))
	var used *IdempotencyError
	switch {
	case errors.As(err, &used):
		// Another request with the key committed first.
		r, _, err := e.refundReplay(ctx, no, p.IdempotencyKey, hash, used.RequestHash)
		return r, err
	case errors.Is(err, ErrRefundExceeded), errors.Is(err, ErrCurrencyMismatch), errors.Is(err, ErrZeroAmount):
		return Refund{}, &Error{Code: EINVALID, Field: "amount", Message: "The amount is more than can be refunded.", Err: err}
	case err != nil:
		return Refund{}, fmt.Errorf("store refund: %w", err)
	}
	e.Bus.Publish(ev)
	out, err := e.submitRefund(ctx, *r, true)
	if !out.Status.Final() {
		// The reconciler follows it from now on; asleep until its next
		// scheduled check (hours away for a watched order), it must be
		// told.
		e.wake()
	}
	return out, err
}

// refundReplay returns the refund of order no made earlier with key, or a
// conflict when key was used with a different request (or for another
// order). done is false when no refund of the order has the key and
// usedHash, the hash the store reported for the key, is empty.
func (e *Engine) refundReplay(ctx context.Context, no OrderNo, key, hash, usedHash string) (Refund, bool, error) {
	conflict := &Error{Code: EIDEMPOTENCY, Field: "Idempotency-Key",
		Message: "This idempotency key was used for a different refund request."}
	refunds, err := e.store.Refunds(ctx, no)
	if err != nil {
		return Refund{}, true, fmt.Errorf("look up refund idempotency key: %w", err)
	}
	for _, r := range refunds {
		if r.IdempotencyKey != key {
			continue
		}
		if r.RequestHash != hash {
			return Refund{}, true, conflict
		}
		return r, true, nil
	}
	if usedHash != "" {
		return Refund{}, true, conflict // the key belongs to a refund of another order
	}
	return Refund{}, false, nil
}

// submitRefund sends a requested refund to the gateway (idempotent by refund
// number) and applies the answer.
func (e *Engine) submitRefund(ctx context.Context, r Refund, foreground bool) (Refund, error) {
	if r.Method.OnTerminal() {
		// Made on the terminal: sending it to the gateway too would
		// refund the customer twice. Only ask about it.
		return e.verifyTerminalRefund(ctx, r, Cause{Actor: ActorGatewayQuery}, foreground)
	}
	start := e.now()
	var g GatewayRefund
	ran, err := e.gw.call(ctx, foreground, false, func() (err error) {
		g, err = e.gateway.Refund(ctx, RefundRequest{RefundNo: r.No, OrderNo: r.OrderNo, Amount: r.Amount, Reason: r.Reason})
		return err
	})
	if !ran {
		return r, err
	}
	e.recordCheck(ctx, r.OrderNo, CheckRefund, "refund "+string(r.No)+" "+r.Amount.String(), start, resultText(string(g.Status), err), err)
	switch {
	case err == nil:
		return e.applyRefund(ctx, r.No, g, Cause{Actor: ActorGatewayQuery})
	case errors.Is(err, ErrUnknownOutcome), errors.Is(err, ErrRetryable):
		// Stays requested; the reconciler asks again with the same number.
		e.wake()
		return r, nil
	default:
		return e.applyRefund(ctx, r.No, GatewayRefund{Status: GatewayRefundFailed, FailMsg: err.Error()}, Cause{Actor: ActorGatewayQuery})
	}
}

func refundStatus(s GatewayRefundStatus) RefundStatus {
	switch s {
	case GatewayRefundSuccess:
		return RefundSucceeded
	case GatewayRefundFailed:
		return RefundFailed
	default:
		return RefundPending
	}
}

// applyRefund applies the gateway's word on a refund. cause names who said
// it (and, for a notification, the inbox entry it applies).
func (e *Engine) applyRefund(ctx context.Context, no OrderNo, g GatewayRefund, cause Cause) (Refund, error) {
	to := refundStatus(g.Status)
	cause.Action, cause.Detail = joinDetail(cause.Action, "refund "+string(to)), g.FailMsg
	r, ev, err := e.store.UpdateRefund(ctx, no, cause, func(r *Refund) error {
		// The gateway's word wins over a failed refund (the store allows
		// failed → succeeded); a succeeded one never changes.
		if r.Status == to || r.Status == RefundSucceeded || r.Status == RefundFailed && to != RefundSucceeded {
			return ErrNoChange
		}
		r.Status = to
		if g.GatewayNo != "" {
			r.GatewayNo = g.GatewayNo
		}
		if to == RefundFailed && g.FailMsg != "" {
			r.Reason = g.FailMsg
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if ev.Seq != 0 {
		e.Bus.Publish(ev)
	}
	return r, nil
}

// applyRefundNotification applies a refund notification after checking it
// against the stored refund: the refund must exist, belong to the order the
// notification names, and have its amount and currency. A mismatch is
// refused, audited and flagged on the order, never applied.
func (e *Engine) applyRefundNotification(ctx context.Context, in InboxEntry) (string, error) {
	n := in.Notification
	refunds, err := e.store.Refunds(ctx, n.OrigNo)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	var stored *Refund
	for i := range refunds {
		if refunds[i].No == n.OrderNo {
			stored = &refunds[i]
		}
	}
	if stored == nil {
		// Unknown refund, or a refund of another order than the one named.
		if _, err := e.store.Order(ctx, n.OrigNo); err == nil {
			return e.refuseRefundNotification(ctx, in, n.OrigNo, fmt.Sprintf("notification names refund %s, which order %s does not have", n.OrderNo, n.OrigNo))
		}
		return e.markOnly(ctx, in, NotifyUnknownOrder)
	}
	if n.Amount != stored.Amount {
		return e.refuseRefundNotification(ctx, in, stored.OrderNo, fmt.Sprintf("refund notification says %s, refund %s is %s", n.Amount, stored.No, stored.Amount))
	}
	cause := Cause{Actor: ActorNotification, Who: in.Gateway + " " + in.NotificationID, Action: "refund notification",
		Applies: &InboxMark{ID: in.ID, Result: NotifyApplied}, Receives: receives(in)}
	if _, err := e.applyRefund(ctx, n.OrderNo, GatewayRefund{RefundNo: n.OrderNo, GatewayNo: n.GatewayNo, Status: n.Refund}, cause); err != nil {
		return "", err
	}
	return NotifyApplied, nil
}

// refuseRefundNotification records a refund notification that disagrees
// with the stored refund: audited and flagged on the order, not applied.
func (e *Engine) refuseRefundNotification(ctx context.Context, in InboxEntry, orderNo OrderNo, detail string) (string, error) {
	cause := Cause{Actor: ActorNotification, Who: in.Gateway + " " + in.NotificationID, Action: "refund notification refused", Detail: detail,
		Applies: &InboxMark{ID: in.ID, Result: NotifyMismatch}, Receives: receives(in)}
	_, err := e.update(ctx, orderNo, cause, func(o *Order) error {
		o.NeedsAttention, o.Attention = true, "a refund notification disagreed with the stored refund"
		return nil
	})
	return NotifyMismatch, err
}

// DefaultFailedRefundCheck is how often refunds that failed in the last
// DefaultWatchFor are asked about again.
const DefaultFailedRefundCheck = time.Hour

// checkRefunds re-submits requested refunds and queries pending ones that
// due says are due, and, with withFailed, the ones that failed in the last
// DefaultWatchFor.
func (e *Engine) checkRefunds(ctx context.Context, withFailed bool, due func(Refund) bool) error {
	now := e.now()
	open, err := e.store.OpenRefunds(ctx)
	if err != nil {
		return err
	}
	if withFailed {
		// A refund the gateway refused may have gone through after all
		// (an error after the fact): ask about recent failures, hourly.
		failed, err := e.store.FailedRefundsSince(ctx, now.Add(-DefaultWatchFor))
		if err != nil {
			return err
		}
		open = append(open, failed...)
	}
	for _, r := range open {
		if r.Status == RefundRequested {
			// submitRefund only asks about a refund made on the terminal.
			e.submitRefund(ctx, r, false)
			continue
		}
		if !due(r) {
			continue
		}
		if r.Method.OnTerminal() {
			// A void shows at the gateway as its order revoked, not as a
			// refund (terminalrefund.go).
			e.verifyTerminalRefund(ctx, r, Cause{Actor: ActorReconciler}, false)
			continue
		}
		start := e.now()
		g, err := e.gateway.QueryRefund(ctx, r.No)
		e.recordCheck(ctx, r.OrderNo, CheckRefundQuery, "refund query "+string(r.No), start, resultText(string(g.Status), err), err)
		if err == nil {
			e.applyRefund(ctx, r.No, g, Cause{Actor: ActorReconciler})
		}
	}
	return nil
}

func (e *Engine) hasOpenRefunds(ctx context.Context) bool {
	open, err := e.store.OpenRefunds(ctx)
	return err == nil && len(open) > 0
}

// Refunds implements PaymentService.
func (e *Engine) Refunds(ctx context.Context, no OrderNo) ([]Refund, error) {
	if _, err := e.load(ctx, no); err != nil {
		return nil, err
	}
	return e.store.Refunds(ctx, no)
}

// Payment implements PaymentService.
func (e *Engine) Payment(ctx context.Context, no OrderNo) (Order, error) { return e.load(ctx, no) }

// Payments implements PaymentService.
func (e *Engine) Payments(ctx context.Context, f OrderFilter) (OrderPage, error) {
	return e.store.ListOrders(ctx, f)
}

// Await implements PaymentService.
func (e *Engine) Await(ctx context.Context, no OrderNo) (Order, error) {
	sub := e.Bus.Subscribe(maxAwaitSubscriptions)
	defer sub.Close()
	for {
		o, err := e.load(ctx, no)
		if err != nil || o.Status != StatusCreated && o.Status != StatusAtTerminal && o.Status != StatusVerifying {
			return o, err
		}
		select {
		case <-ctx.Done():
			return o, nil
		case _, ok := <-sub.C:
			if !ok {
				sub = e.Bus.Subscribe(maxAwaitSubscriptions)
			}
		}
	}
}

// Lanes implements PaymentService.
func (e *Engine) Lanes(ctx context.Context) ([]LaneStatus, error) {
	out := make([]LaneStatus, 0, len(e.lanes.ids))
	for _, id := range e.lanes.ids {
		l := e.lanes.get(id)
		cur := e.lanes.shown(l)
		ls := LaneStatus{ID: id}
		if l.qr != nil {
			ls.Link, ls.QR = qrLink(), true
		} else {
			ls.Link = l.term.Link()
		}
		if cur != "" {
			if o, err := e.store.Order(ctx, cur); err == nil {
				ls.Payment = &o
			}
		}
		out = append(out, ls)
	}
	return out, nil
}

// LinkChanged tells the engine a lane's terminal link changed. A link coming
// up wakes the reconciler; every change is published as a lane event.
func (e *Engine) LinkChanged(laneID string, st LinkStatus) {
	if e.lanes.get(laneID) == nil {
		return
	}
	seq := int64(0)
	if e.ctx != nil {
		seq, _ = e.store.LastSeq(e.ctx)
	}
	e.Bus.Publish(Event{Seq: seq, Type: EventLane, At: e.now(), Lane: &LaneStatus{ID: laneID, Link: st}})
	if st.State == LinkUp {
		e.wake()
	}
}

// EventsSince implements EventLog.
func (e *Engine) EventsSince(ctx context.Context, seq int64, limit int) ([]Event, error) {
	return e.store.EventsSince(ctx, seq, limit)
}

// LastSeq implements EventLog.
func (e *Engine) LastSeq(ctx context.Context) (int64, error) { return e.store.LastSeq(ctx) }

// Subscribe implements PaymentService.
func (e *Engine) Subscribe(size int) *Subscription { return e.Bus.Subscribe(size) }

// Ready implements PaymentService.
func (e *Engine) Ready(ctx context.Context) error {
	if err := e.store.Ping(ctx); err != nil {
		return &Error{Code: EUNAVAILABLE, Message: "The database is not ready.", Err: err}
	}
	return nil
}

// Stats implements PaymentService.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	st := Stats{PaymentsByStatus: map[Status]int{}, GatewayErrors: map[string]uint64{}, Notifications: map[string]uint64{}}
	counts, err := e.store.CountOrders(ctx)
	if err != nil {
		return st, err
	}
	st.PaymentsByStatus = counts.ByStatus
	st.NeedsAttention = counts.NeedsAttention
	st.ReconcileBacklog = counts.Scheduled
	st.Verifications = e.gw.queries.Load()
	e.gw.errors.Range(func(k, v any) bool { st.GatewayErrors[k.(string)] = v.(interface{ Load() uint64 }).Load(); return true })
	e.notifyResults.Range(func(k, v any) bool { st.Notifications[k.(string)] = v.(interface{ Load() uint64 }).Load(); return true })
	return st, nil
}
