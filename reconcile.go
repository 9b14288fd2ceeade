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
	d := DefaultRetryBackoff
	for i := 1; i < failures && d < e.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, e.MaxBackoff)
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
			if !e.claim(o.No) {
				continue
			}
			progressed = true
			e.reconcileOrder(ctx, o)
			e.release(o.No)
		}
		if !progressed || len(due) < reconcileBatch {
			break
		}
	}
	if err := e.reconcileRefunds(ctx); err != nil {
		return time.Time{}, err
	}
	next, err := e.store.DueChecks(ctx, farFuture, 1+len(e.inflightList()))
	if err != nil {
		return time.Time{}, err
	}
	for _, o := range next {
		if !e.isInflight(o.No) {
			return o.NextCheckAt, nil
		}
	}
	if e.hasOpenRefunds(ctx) {
		return e.now().Add(DefaultRefundCheck), nil
	}
	return time.Time{}, nil
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
		e.closeFinal(ctx, o)
		return
	case o.Status == StatusPaid:
		e.reschedule(ctx, o, time.Time{}, cause)
		return
	case o.Status == StatusAtTerminal || o.Status == StatusCreated:
		// The sale's owner is gone (it would hold the claim): treat it as a
		// restart would.
		e.update(ctx, o.No, Cause{Actor: ActorReconciler, Action: "resume", Detail: "stuck at " + string(o.Status)}, func(o *Order) error {
			if _, err := o.Apply(Input{Kind: InputResume}, e.now()); err != nil {
				return err
			}
			if o.Status == StatusVerifying {
				if _, err := o.Apply(Input{Kind: InputWaitOver}, e.now()); err != nil {
					return err
				}
			}
			if o.Open() {
				o.NextCheckAt = e.now()
			}
			return nil
		})
		if l := e.lanes[o.Lane]; l != nil {
			e.terminalFollowUp(ctx, l, o.No)
		}
		return
	}
	after, err := e.verify(ctx, o, false, cause)
	if err != nil {
		e.failures[o.No]++
		n := e.failures[o.No]
		e.reschedule(ctx, o, e.now().Add(e.backoff(n)), Cause{Actor: ActorReconciler, Action: "check failed", Detail: errorClass(err) + ": " + err.Error()})
		return
	}
	delete(e.failures, o.No)
	if !after.Open() {
		return
	}
	if after.Status == StatusVerifying && e.now().Before(after.VerifyUntil) {
		// Its fast verification owns it until the window ends; check again then.
		e.reschedule(ctx, after, after.VerifyUntil, cause)
		return
	}
	checks := after.ScheduledChecks + 1
	if e.exhausted(after, checks) {
		// Every check is spent: record it, then query once more and cancel.
		e.update(ctx, o.No, Cause{Actor: ActorReconciler, Action: "checks exhausted", Detail: "gateway says not paid; closing"}, func(o *Order) error {
			if !o.Open() {
				return ErrNoChange
			}
			o.ScheduledChecks = checks
			return nil
		})
		closed, err := e.closeOrder(ctx, o.No, Cause{Actor: ActorReconciler, Action: "expire", Detail: "not confirmed after every check"}, ReasonExpired, false)
		if err != nil && closed.Open() {
			e.failures[o.No]++
			e.reschedule(ctx, closed, e.now().Add(e.backoff(e.failures[o.No])), Cause{Actor: ActorReconciler, Action: "expire failed", Detail: err.Error()})
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
		o.NextCheckAt = e.now().Add(e.delayAfter(checks))
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

// delayAfter returns the wait after the checks-th check.
func (e *Engine) delayAfter(checks int) time.Duration {
	if e.Reconcile.Mode == ReconcileSweep {
		return e.Reconcile.SweepEvery
	}
	s := e.Reconcile.Schedule
	if checks < len(s) {
		return s[checks]
	}
	return s[len(s)-1]
}

func (e *Engine) reschedule(ctx context.Context, o Order, at time.Time, cause Cause) {
	e.update(ctx, o.No, cause, func(o *Order) error {
		if o.NextCheckAt.Equal(at) {
			return ErrNoChange
		}
		if o.Open() && at.IsZero() {
			at = e.now() // an open order always keeps a check
		}
		o.NextCheckAt = at
		return nil
	})
}

// closeFinal closes a failed or canceled order at the gateway so that it can
// never be paid later. A payment found on the way wins (paid, needs attention).
func (e *Engine) closeFinal(ctx context.Context, o Order) {
	cause := Cause{Actor: ActorReconciler, Action: "close at gateway", Detail: "order " + string(o.Status)}
	g, err := e.cancelGateway(ctx, o.No, false)
	switch {
	case err == nil, errors.Is(err, ErrOrderClosed), errors.Is(err, ErrGatewayNotFound):
		delete(e.failures, o.No)
		e.applyInput(ctx, o.No, cause, Input{Kind: InputCanceled}, func(o *Order) bool {
			learn(o, g)
			o.NextCheckAt = time.Time{}
			return true
		})
	case errors.Is(err, ErrOrderPaid):
		g, err := e.queryGateway(ctx, o.No, false)
		if err != nil || !g.Status.Paid() {
			e.failures[o.No]++
			e.reschedule(ctx, o, e.now().Add(e.backoff(e.failures[o.No])), cause)
			return
		}
		delete(e.failures, o.No)
		e.applyInput(ctx, o.No, Cause{Actor: ActorReconciler, Action: "close at gateway", Detail: "cancel refused: the gateway says paid"},
			Input{Kind: InputGatewayPaid}, func(o *Order) bool { learn(o, g); return true })
	default:
		e.failures[o.No]++
		e.reschedule(ctx, o, e.now().Add(e.backoff(e.failures[o.No])), Cause{Actor: ActorReconciler, Action: "close at gateway failed", Detail: err.Error()})
	}
}
