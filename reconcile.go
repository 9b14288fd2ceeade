package posbridge

import (
	"context"
	"errors"
)

// reconcileOrder runs one due check of one order.
func (e *Engine) reconcileOrder(ctx context.Context, o Order) {
	cause := Cause{Actor: ActorReconciler, Action: "check"}
	switch {
	case o.Status == StatusFailed || o.Status == StatusCanceled:
		e.closeFinal(ctx, o, false)
		return
	case o.Status == StatusPaid:
		e.reschedule(ctx, o, Fact{Due: DueNone}, cause)
		return
	case o.Status == StatusAtTerminal || o.Status == StatusCreated:
		// The sale's owner is gone (it would hold the claim): treat it as a
		// restart would.
		after, err := e.update(ctx, o.No, Cause{Actor: ActorReconciler, Action: "resume", Detail: "stuck at " + string(o.Status)}, func(o *Order) error {
			if _, err := o.Apply(Input{Kind: InputResume}, e.now()); err != nil {
				return err
			}
			if o.Status == StatusVerifying {
				if _, err := o.Apply(Input{Kind: InputWaitOver}, e.now()); err != nil {
					return err
				}
			}
			if o.Open() {
				e.plan(o, Fact{Due: DueNow}, e.now())
			}
			return nil
		})
		if l := e.lanes.get(o.Lane); l != nil && err == nil && after.Open() {
			e.terminalFollowUp(ctx, l, o.No)
		}
		return
	}
	after, _, err := e.verify(ctx, o, false, cause)
	if err != nil {
		n := e.rec.failed(o.No)
		e.reschedule(ctx, o, Fact{Due: DueBackoff, Failures: n}, Cause{Actor: ActorReconciler, Action: "check failed", Detail: errorClass(err) + ": " + err.Error()})
		return
	}
	e.rec.succeeded(o.No)
	if !after.Open() {
		return
	}
	if after.Status == StatusVerifying && e.now().Before(after.VerifyUntil) {
		// Its fast verification owns it until the window ends; check again then.
		e.reschedule(ctx, after, Fact{Due: DueAt, At: after.VerifyUntil}, cause)
		return
	}
	if after.Reason == ReasonPartiallyPaid {
		// Money arrived, not the sale: never expired or canceled here;
		// watched until a person settles it.
		e.reschedule(ctx, after, Fact{Due: DueWatch}, cause)
		return
	}
	if e.hostedExpired(after) {
		e.expireHosted(ctx, after)
		return
	}
	checks := after.ScheduledChecks + 1
	if e.exhausted(after, checks) {
		// Every check is spent: record it, then query once more and cancel
		// (or park it, when the gateway does not know it and the terminal
		// may have charged it).
		e.update(ctx, o.No, Cause{Actor: ActorReconciler, Action: "checks exhausted", Detail: "gateway says not paid; closing"}, func(o *Order) error {
			if !o.Open() || o.ScheduledChecks >= checks {
				return ErrNoChange
			}
			o.ScheduledChecks = checks
			return nil
		})
		// A gateway that can send the callback again is asked first (a lost
		// callback); closeOrder still queries before closing anything.
		e.askResend(ctx, o.No)
		closed, err := e.closeOrder(ctx, o.No, Cause{Actor: ActorReconciler, Action: "expire", Detail: "not confirmed after every check"}, ReasonExpired, false)
		if err != nil && (closed.No == "" || closed.Open()) {
			n := e.rec.failed(o.No)
			e.reschedule(ctx, o, Fact{Due: DueBackoff, Failures: n}, Cause{Actor: ActorReconciler, Action: "expire failed", Detail: err.Error()})
		}
		return
	}
	e.update(ctx, o.No, Cause{Actor: ActorReconciler, Action: "schedule", Detail: "gateway says not paid yet"}, func(o *Order) error {
		if !o.Open() {
			return ErrNoChange
		}
		if o.Status == StatusVerifying {
			o.Apply(Input{Kind: InputWaitOver}, e.now())
		}
		o.ScheduledChecks = checks
		e.plan(o, Fact{Due: DueNextStep, Checks: checks}, e.now())
		return nil
	})
}

// exhausted reports whether an order has had every check its mode allows.
func (e *Engine) exhausted(o Order, checks int) bool {
	if e.Reconcile.Mode == ReconcileSweep {
		return checks >= e.Reconcile.SweepMaxChecks || e.now().Sub(o.CreatedAt) >= e.Reconcile.SweepWindow
	}
	return checks >= len(e.Reconcile.Schedule)
}

func (e *Engine) reschedule(ctx context.Context, o Order, f Fact, cause Cause) {
	now := e.now()
	at := e.sched().Next(o, f, now).NextCheckAt
	_, err := e.update(ctx, o.No, cause, func(o *Order) error {
		before := o.NextCheckAt
		e.plan(o, f, now)
		if o.NextCheckAt.Equal(before) {
			return ErrNoChange
		}
		return nil
	})
	if err != nil {
		// The stored check stays in the past: without a hold the loop would
		// run it again at once, hammering the gateway while the database
		// refuses writes. Hold it in memory until the backoff has passed.
		e.rec.holdAtLeast(o.No, at)
		return
	}
	e.rec.unhold(o.No)
}

// closeFinal makes sure a failed or canceled order can never be paid later,
// and watches it: it asks the gateway first, cancels an order the gateway
// still has open, and keeps asking daily until DefaultWatchFor after the
// order was created, so that a payment the acquirer reports late (even
// after the gateway closed the order) is found. A payment found wins
// (paid, needs attention).
func (e *Engine) closeFinal(ctx context.Context, o Order, foreground bool) {
	cause := Cause{Actor: ActorReconciler, Action: "close at gateway", Detail: "order " + string(o.Status)}
	retry := func(err error) {
		n := e.rec.failed(o.No)
		e.reschedule(ctx, o, Fact{Due: DueBackoff, Failures: n}, Cause{Actor: ActorReconciler, Action: "close at gateway failed", Detail: err.Error()})
	}
	watch := func(detail string, g GatewayOrder) {
		e.rec.succeeded(o.No)
		now := e.now()
		if now.Sub(o.CreatedAt) >= DefaultWatchFor {
			detail = joinDetail(detail, "watch over")
		}
		_, err := e.update(ctx, o.No, Cause{Actor: ActorReconciler, Action: "watch", Detail: joinDetail(cause.Detail, detail)}, func(o *Order) error {
			changed := learn(o, g)
			before := o.NextCheckAt
			e.plan(o, Fact{Due: DueWatchOrStop}, now)
			if !changed && o.NextCheckAt.Equal(before) {
				return ErrNoChange
			}
			return nil
		})
		if err != nil {
			e.reschedule(ctx, o, Fact{Due: DueWatchOrStop}, cause) // holds the order back if the write keeps failing
		}
	}
	g, err := e.queryGateway(ctx, o.No, foreground)
	switch {
	case errors.Is(err, ErrGatewayNotFound):
		watch("the gateway does not know the order", GatewayOrder{})
		return
	case err != nil:
		retry(err)
		return
	case g.Status.Paid():
		e.rec.succeeded(o.No)
		e.applyGateway(ctx, o.No, Cause{Actor: ActorReconciler, Action: "close at gateway", Detail: "the gateway says " + string(g.Status)}, g, false)
		return
	case g.Status == GatewayFailed:
		watch("the gateway says failed", g)
		return
	case g.Status == GatewayPartiallyPaid:
		// Money arrived after the close: flagged with what was received
		// (partialTransition keeps the status), never canceled, watched.
		e.applyGateway(ctx, o.No, Cause{Actor: ActorReconciler, Action: "close at gateway", Detail: "the gateway says " + string(g.Status)}, g, false)
		watch("the gateway says partially paid", g)
		return
	}
	// The gateway has it open: cancel it.
	g, err = e.cancelGateway(ctx, o.No, foreground)
	switch {
	case err == nil, errors.Is(err, ErrOrderClosed):
		watch("canceled at the gateway", g)
	default:
		// Paid between the query and the cancel (ErrOrderPaid), or no
		// answer: the next check asks first and finds out.
		retry(err)
	}
}
