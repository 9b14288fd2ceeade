package posbridge

import (
	"context"
	"errors"
	"time"
)

// farFuture asks DueChecks for the earliest scheduled check, whenever it is.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// reconcileLoop runs ReconcileOnce whenever a check falls due or the engine
// is woken (a notification, a terminal reconnect, a pending order), and
// otherwise sleeps until the next scheduled check. It never polls.
func (e *Engine) reconcileLoop() {
	ctx := e.ctx
	failing := 0
	for {
		next, err := e.ReconcileOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := e.ReconcileInterval
		if err != nil {
			failing++
			if failing <= maxConsecutiveLogged {
				e.Logger.Error("reconcile", LogKeyError, err)
			}
			wait = e.backoff(failing)
		} else {
			if failing > 0 {
				e.Logger.Info("reconcile recovered", LogKeyCount, failing)
			}
			failing = 0
			if !next.IsZero() {
				wait = max(next.Sub(e.now()), 0)
			}
		}
		t := e.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.kick:
		case <-t.C():
		}
		t.Stop()
	}
}

func (e *Engine) backoff(failures int) time.Duration {
	return e.sched().backoff(failures)
}

// ReconcileOnce checks every order whose check is due, and the open refunds
// when their check is due. It returns when the next check is scheduled (zero
// when nothing is). Orders a foreground goroutine owns are left to it.
func (e *Engine) ReconcileOnce(ctx context.Context) (time.Time, error) {
	for {
		due, err := e.store.DueChecks(ctx, e.now(), reconcileBatch)
		if err != nil {
			return time.Time{}, err
		}
		progressed := false
		for _, o := range due {
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
			if until, held := e.heldUntil(o.No); held && e.now().Before(until) {
				continue
			}
			tok := e.claim(o.No)
			if tok == 0 {
				continue
			}
			progressed = true
			e.reconcileOrder(ctx, o)
			e.release(o.No, tok)
			e.holdIfStuck(ctx, o)
		}
		if !progressed || len(due) < reconcileBatch {
			break
		}
	}
	if err := e.reconcileRefunds(ctx); err != nil {
		return time.Time{}, err
	}
	e.mu.Lock()
	skip := len(e.inflight) + len(e.held)
	e.mu.Unlock()
	next, err := e.store.DueChecks(ctx, farFuture, 1+skip)
	if err != nil {
		return time.Time{}, err
	}
	var at time.Time
	for _, o := range next {
		cand := o.NextCheckAt
		if until, held := e.heldUntil(o.No); held && e.now().Before(until) {
			cand = until
		} else if e.isInflight(o.No) {
			continue
		}
		if at.IsZero() || cand.Before(at) {
			at = cand
		}
	}
	if e.hasOpenRefunds(ctx) {
		if refunds := e.now().Add(DefaultRefundCheck); at.IsZero() || refunds.Before(at) {
			at = refunds
		}
	}
	return at, nil
}

func (e *Engine) inflightList() []OrderNo {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := make([]OrderNo, 0, len(e.inflight))
	for no := range e.inflight {
		l = append(l, no)
	}
	return l
}

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
		n := e.failed(o.No)
		e.reschedule(ctx, o, Fact{Due: DueBackoff, Failures: n}, Cause{Actor: ActorReconciler, Action: "check failed", Detail: errorClass(err) + ": " + err.Error()})
		return
	}
	e.succeeded(o.No)
	if !after.Open() {
		return
	}
	if after.Status == StatusVerifying && e.now().Before(after.VerifyUntil) {
		// Its fast verification owns it until the window ends; check again then.
		e.reschedule(ctx, after, Fact{Due: DueAt, At: after.VerifyUntil}, cause)
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
		closed, err := e.closeOrder(ctx, o.No, Cause{Actor: ActorReconciler, Action: "expire", Detail: "not confirmed after every check"}, ReasonExpired, false)
		if err != nil && (closed.No == "" || closed.Open()) {
			n := e.failed(o.No)
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

// failed counts a consecutive gateway error for an order and returns the count.
func (e *Engine) failed(no OrderNo) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures[no]++
	return e.failures[no]
}

// succeeded forgets an order's consecutive gateway errors.
func (e *Engine) succeeded(no OrderNo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.failures, no)
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		// The stored check stays in the past: without a hold the loop would
		// run it again at once, hammering the gateway while the database
		// refuses writes. Hold it in memory until the backoff has passed.
		until := e.now().Add(e.backoffLocked(o.No))
		if at.After(until) {
			until = at
		}
		e.held[o.No] = until
		return
	}
	delete(e.held, o.No)
}

// holdIfStuck holds an order back in memory when its check changed nothing
// stored (a write failed): its check is still due, and without the hold the
// loop would run it again at once, spinning while the database refuses.
func (e *Engine) holdIfStuck(ctx context.Context, o Order) {
	cur, err := e.store.Order(ctx, o.No)
	if err == nil && (cur.Version != o.Version || cur.NextCheckAt.IsZero() || cur.NextCheckAt.After(e.now())) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// A hold that ends now is over too: keeping it would retry at once,
	// at the same instant, for as long as the write keeps failing.
	if until, held := e.held[o.No]; !held || !until.After(e.now()) {
		e.failures[o.No]++
		e.held[o.No] = e.now().Add(e.backoffLocked(o.No))
	}
}

// heldUntil reports until when a failed reschedule holds an order back.
func (e *Engine) heldUntil(no OrderNo) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.held[no]
	return t, ok
}

func (e *Engine) backoffLocked(no OrderNo) time.Duration {
	return e.backoff(max(e.failures[no], 1))
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
		n := e.failed(o.No)
		e.reschedule(ctx, o, Fact{Due: DueBackoff, Failures: n}, Cause{Actor: ActorReconciler, Action: "close at gateway failed", Detail: err.Error()})
	}
	watch := func(detail string, g GatewayOrder) {
		e.succeeded(o.No)
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
		e.succeeded(o.No)
		e.applyGateway(ctx, o.No, Cause{Actor: ActorReconciler, Action: "close at gateway", Detail: "the gateway says " + string(g.Status)}, g, false)
		return
	case g.Status == GatewayFailed:
		watch("the gateway says failed", g)
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
