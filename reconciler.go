package posbridge

import (
	"context"
	"sync"
	"time"
)

// Reconciler runs an engine's scheduled checks: whenever a check falls due
// or it is woken (a notification, a terminal reconnect, a pending order),
// and otherwise it sleeps until the next scheduled check. It never polls.
// It owns its loop, the in-memory backoff of orders whose checks fail, and
// the timing of the refund checks. Once may be called while the loop runs.
type Reconciler struct {
	e    *Engine
	kick chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu              sync.Mutex
	held            map[OrderNo]time.Time // orders whose check could not be written: not checked before then
	failures        map[OrderNo]int       // consecutive failed checks per order, for backoff
	refundNext      time.Time             // when an open refund is next due (zero: none is open)
	refundsOpened   uint64                // counts refundOpened, so that a run does not lose one made meanwhile
	lastOpened      time.Time             // when refundOpened was last called
	lastFailedCheck time.Time             // when failed refunds were last asked about
	failedToWatch   bool                  // that check found refunds failed in the last DefaultWatchFor
	refundAsked     map[OrderNo]time.Time // when each pending refund was last queried
}

func newReconciler(e *Engine) *Reconciler {
	return &Reconciler{e: e, kick: make(chan struct{}, 1), held: map[OrderNo]time.Time{}, failures: map[OrderNo]int{}, refundAsked: map[OrderNo]time.Time{}}
}

// Open starts the loop under ctx. Close stops it.
func (r *Reconciler) Open(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Go(func() { r.run(ctx) })
}

// Close stops the loop and waits for it.
func (r *Reconciler) Close() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

// wake makes the loop run a pass now.
func (r *Reconciler) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Reconciler) run(ctx context.Context) {
	e := r.e
	failing := 0
	for {
		next, err := r.Once(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := e.ReconcileInterval
		if err != nil {
			failing++
			if failing <= maxConsecutiveLogged {
				e.Logger.Error("reconcile", LogKeyError, err)
			}
			wait = e.sched().backoff(failing)
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
		case <-r.kick:
		case <-t.C():
		}
		t.Stop()
	}
}

// Once checks every order whose check is due, and the open refunds when
// their check is due. It returns when the next check is scheduled (zero
// when nothing is). Orders another goroutine owns are left to it.
func (r *Reconciler) Once(ctx context.Context) (time.Time, error) {
	e := r.e
	if e.inboxWaiting.Swap(false) {
		// A notification stored while the store refused to apply it: not
		// acknowledged, but maybe never delivered again.
		e.applyInboxWaiting(ctx)
	}
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
			if until, held := r.heldUntil(o.No); held && e.now().Before(until) {
				continue
			}
			tok := e.claims.claimOrWant(o.No)
			if tok == 0 {
				continue
			}
			progressed = true
			e.reconcileOrder(ctx, o)
			e.claims.release(o.No, tok)
			r.holdIfStuck(ctx, o)
		}
		if !progressed || len(due) < reconcileBatch {
			break
		}
	}
	if err := r.refunds(ctx); err != nil {
		return time.Time{}, err
	}
	// Enough rows that one is neither held nor claimed; a claim taken
	// since the count can still pass over every row read, so read more
	// until one is found or none are left.
	skip := e.claims.count()
	r.mu.Lock()
	skip += len(r.held)
	r.mu.Unlock()
	var at time.Time
	for limit := 1 + skip; ; limit *= 2 {
		next, err := e.store.NextChecks(ctx, limit)
		if err != nil {
			return time.Time{}, err
		}
		var complete bool
		at, complete = nextOrderCheck(next, limit, e.now(), r.heldUntil, e.claims.heldWanted)
		if complete {
			break
		}
	}
	if e.inboxWaiting.Load() {
		at = earliest(at, e.now().Add(DefaultRetryBackoff))
	}
	return earliest(at, r.refundsAt()), nil
}

// nextOrderCheck returns when the earliest of the scheduled checks next
// (NextChecks' first limit, ordered by time) is due for the reconciler: an
// order it holds back counts at the end of its hold (or at its check, if
// that is later), one a claim holds now not at all (its release wakes the
// reconciler). complete is false when every row was held or claimed and
// there may be more: one after them, due later than they are scheduled, may
// still be due before a hold ends or be the only one free.
func nextOrderCheck(next []ScheduledCheck, limit int, now time.Time,
	heldUntil func(OrderNo) (time.Time, bool), claimed func(OrderNo) bool) (at time.Time, complete bool) {
	for _, o := range next {
		if until, held := heldUntil(o.No); held && now.Before(until) {
			at = earliest(at, later(o.At, until))
			continue
		}
		if claimed(o.No) {
			continue
		}
		// Every later row is due no earlier than this one.
		return earliest(at, o.At), true
	}
	return at, len(next) < limit
}

// earliest returns the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// refundsAt returns when the refund checks are next due (zero: nothing to
// ask about): the earliest open refund's, and the hourly check of recent
// failures while there are some.
func (r *Reconciler) refundsAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := r.refundNext
	if r.failedToWatch {
		at = earliest(at, r.lastFailedCheck.Add(DefaultFailedRefundCheck))
	}
	return at
}

// refundOpened tells the reconciler that a refund was stored or stays open
// after an attempt: it is asked about DefaultRefundCheck from now (and then
// on its own schedule), and the loop, asleep until its next check, is woken
// to set its timer for it.
func (r *Reconciler) refundOpened() {
	now := r.e.now()
	r.mu.Lock()
	r.refundsOpened++
	r.lastOpened = now
	r.refundNext = earliest(r.refundNext, now.Add(DefaultRefundCheck))
	// It may fail, and a refund the gateway refused may have gone through
	// after all: the hourly look at failures runs while it could matter.
	r.failedToWatch = true
	r.mu.Unlock()
	r.wake()
}

// refunds runs the refund checks when they are due: an open refund's query
// (refundNext), or the hourly check of recent failures (which makes the
// first pass after a start run them all).
func (r *Reconciler) refunds(ctx context.Context) error {
	now := r.e.now()
	r.mu.Lock()
	withFailed := r.lastFailedCheck.IsZero() || now.Sub(r.lastFailedCheck) >= DefaultFailedRefundCheck
	due := withFailed || (!r.refundNext.IsZero() && !now.Before(r.refundNext))
	opened := r.refundsOpened
	r.mu.Unlock()
	if !due {
		return nil
	}
	open, failed, err := r.e.checkRefunds(ctx, withFailed, r.refundDue)
	if err != nil {
		return err
	}
	// Timed from the run's end: a run that waited on a slow gateway must
	// not make the next one start at once.
	end := r.e.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	next := nextRefundCheck(end, open, r.refundAsked)
	if r.refundsOpened != opened {
		// One was opened during this run, maybe after its list was read
		// (or one this run submitted stays open: the time is from its
		// opening, never the due time that started this run).
		next = earliest(next, r.lastOpened.Add(DefaultRefundCheck))
	}
	r.refundNext = next
	for no, at := range r.refundAsked {
		// A pending refund is asked about at least every half hour, so
		// one not asked about for two hours is no longer pending.
		if now.Sub(at) > 2*time.Hour {
			delete(r.refundAsked, no)
		}
	}
	if withFailed {
		r.lastFailedCheck = now
		// Open refunds may fail before the next look.
		r.failedToWatch = failed > 0 || len(open) > 0
	}
	return nil
}

// nextRefundCheck returns when the earliest of the open refunds is next due,
// zero when none is open, and never sooner than DefaultRefundCheck from now
// (the end of a run): a requested one (to be submitted again) then, a
// pending one when NextRefundQuery says from when it was last asked about
// (asked), or then if it never was.
func nextRefundCheck(now time.Time, open []Refund, asked map[OrderNo]time.Time) time.Time {
	var next time.Time
	soonest := now.Add(DefaultRefundCheck)
	for _, rf := range open {
		at := soonest
		if last, ok := asked[rf.No]; ok && rf.Status == RefundPending {
			at = later(NextRefundQuery(rf.CreatedAt, last), soonest)
		}
		next = earliest(next, at)
	}
	return next
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// refundDue reports whether a pending refund's query is due now
// (RefundCheckEvery) and, if so, notes it as asked. Requested refunds and the
// recently failed ones are always due: their own timing is elsewhere. What
// it remembers is in memory only: after a restart every refund is asked
// about once at once.
func (r *Reconciler) refundDue(rf Refund) bool {
	if rf.Status != RefundPending {
		return true
	}
	now := r.e.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.refundAsked[rf.No]; ok && now.Sub(last) < RefundCheckEvery(now.Sub(rf.CreatedAt)) {
		return false
	}
	r.refundAsked[rf.No] = now
	return true
}

// failed counts a consecutive failed check of an order and returns the count.
func (r *Reconciler) failed(no OrderNo) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures[no]++
	return r.failures[no]
}

// succeeded forgets an order's consecutive failed checks.
func (r *Reconciler) succeeded(no OrderNo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, no)
}

// holdAtLeast holds an order whose new check could not be written back for
// its backoff, or until at when that is later.
func (r *Reconciler) holdAtLeast(no OrderNo, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	until := r.e.now().Add(r.backoffLocked(no))
	if at.After(until) {
		until = at
	}
	r.held[no] = until
}

// unhold ends an order's hold: its check was written.
func (r *Reconciler) unhold(no OrderNo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.held, no)
}

// holdIfStuck holds an order back in memory when its check changed nothing
// stored (a write failed): its check is still due, and without the hold the
// loop would run it again at once, spinning while the database refuses.
func (r *Reconciler) holdIfStuck(ctx context.Context, o Order) {
	e := r.e
	cur, err := e.store.Order(ctx, o.No)
	if err == nil && (cur.Version != o.Version || cur.NextCheckAt.IsZero() || cur.NextCheckAt.After(e.now())) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A hold that ends now is over too: keeping it would retry at once,
	// at the same instant, for as long as the write keeps failing.
	if until, held := r.held[o.No]; !held || !until.After(e.now()) {
		r.failures[o.No]++
		r.held[o.No] = e.now().Add(r.backoffLocked(o.No))
	}
}

// heldUntil reports until when a failed write holds an order back.
func (r *Reconciler) heldUntil(no OrderNo) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.held[no]
	return t, ok
}

func (r *Reconciler) backoffLocked(no OrderNo) time.Duration {
	return r.e.sched().backoff(max(r.failures[no], 1))
}
