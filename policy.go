package posbridge

import "time"

// When is an order asked about next? One pure function answers: Next. Every
// path of the engine that changes when an order is checked names what
// happened (a Fact) and commits what Next returns; nothing else writes
// Order.NextCheckAt or Order.VerifyUntil. The reconciler runs whatever falls
// due; a check that finds nothing new reports the next Fact.

// Due is the kind of fact that decides an order's next check.
type Due int

// Facts about an order, each with the next check it implies.
const (
	// DueNow: something must be verified at once — a notification to
	// confirm by a query, an order found stuck, a failed order to close at
	// the gateway.
	DueNow Due = iota + 1
	// DueSaleDeadline: a sale went to the terminal. The check at its
	// deadline is the safety net should the sale's owner disappear.
	DueSaleDeadline
	// DueVerifyWindow: the terminal answered (or a restart found the
	// order being verified): the cashier's fast verification runs for
	// FastPollFor, and the next scheduled check is at its end.
	DueVerifyWindow
	// DueFirstStep: the cashier's wait is over: the schedule's first step.
	DueFirstStep
	// DueNoLaterThanFirstStep: a person looked at the order (an
	// override): checked no later than the schedule's first step.
	DueNoLaterThanFirstStep
	// DueNextStep: a scheduled check found the order unpaid; Fact.Checks
	// scheduled checks have run. The schedule's next step.
	DueNextStep
	// DueBackoff: a check failed for the Fact.Failures-th time in a row:
	// again after the backoff, never sooner than Fact.At when it is set.
	DueBackoff
	// DueAt: again at Fact.At (the end of a verification window that
	// another goroutine owns).
	DueAt
	// DueWatch: the order is shown not paid (failed, canceled) or is
	// unconfirmed: the watch cadence, so a payment an acquirer reports
	// late is found (see watchDelay).
	DueWatch
	// DueWatchOrStop: a watch check found nothing; the watch goes on until
	// DefaultWatchFor after the order was created, then stops.
	DueWatchOrStop
	// DueNone: nothing to check: the order is paid, or it never reached
	// the terminal.
	DueNone
	// DueHostedWait: the gateway opened a hosted order (a QR lane) and the
	// cashier waits while the customer pays on their phone: the fast
	// verification runs until Fact.At (the lane's qr_wait), and the next
	// scheduled check is then.
	DueHostedWait
)

// Fact is what happened to an order, as far as its next check goes.
type Fact struct {
	Due      Due
	Checks   int       // for DueNextStep
	Failures int       // for DueBackoff
	At       time.Time // for DueAt; for DueBackoff, the earliest time
}

// Scheduler holds the timings Next works with.
type Scheduler struct {
	SaleDeadline time.Duration
	Reconcile    ReconcileConfig
	MaxBackoff   time.Duration
}

// Next returns o with its next check (and, for DueVerifyWindow, the end of
// its fast verification) set for fact f at now. It is pure. An open order
// always keeps a check: a fact that would leave it none schedules it now.
func (s Scheduler) Next(o Order, f Fact, now time.Time) Order {
	var at time.Time
	switch f.Due {
	case DueNow:
		at = now
	case DueSaleDeadline:
		at = now.Add(s.SaleDeadline)
	case DueVerifyWindow:
		o.VerifyUntil = now.Add(s.Reconcile.FastPollFor)
		at = o.VerifyUntil
	case DueFirstStep:
		at = now.Add(s.firstDelay())
	case DueNoLaterThanFirstStep:
		at = now.Add(s.firstDelay())
		if !o.NextCheckAt.IsZero() && o.NextCheckAt.Before(at) {
			at = o.NextCheckAt
		}
	case DueNextStep:
		at = now.Add(s.delayAfter(f.Checks))
	case DueBackoff:
		at = now.Add(s.backoff(f.Failures))
		if f.At.After(at) {
			at = f.At
		}
	case DueAt:
		at = f.At
	case DueWatch:
		at = now.Add(watchDelay(now.Sub(o.CreatedAt)))
	case DueWatchOrStop:
		if now.Sub(o.CreatedAt) < DefaultWatchFor {
			at = now.Add(watchDelay(now.Sub(o.CreatedAt)))
		}
	case DueHostedWait:
		o.VerifyUntil = f.At
		at = f.At
	case DueNone:
	}
	if at.IsZero() && o.Open() {
		at = now
	}
	if exp := o.PaymentExpiresAt; o.Open() && exp.After(now) && at.After(exp) {
		// A hosted order is closed when it expires (query first, then
		// cancel): it is checked then, whatever the schedule says.
		at = exp
	}
	o.NextCheckAt = at
	return o
}

// watchDelay is how long after now an order shown not paid is asked about
// again, by its age: every 15 minutes for two hours (when acquirers report
// late), every 6 hours for a day, then daily.
func watchDelay(age time.Duration) time.Duration {
	switch {
	case age < 2*time.Hour:
		return 15 * time.Minute
	case age < 24*time.Hour:
		return 6 * time.Hour
	}
	return DefaultSlowCheckEvery
}

// firstDelay is the wait before the first scheduled check.
func (s Scheduler) firstDelay() time.Duration {
	if s.Reconcile.Mode == ReconcileSweep {
		return s.Reconcile.SweepEvery
	}
	return s.Reconcile.Schedule[0]
}

// delayAfter returns the wait after the checks-th scheduled check.
func (s Scheduler) delayAfter(checks int) time.Duration {
	if s.Reconcile.Mode == ReconcileSweep {
		return s.Reconcile.SweepEvery
	}
	sc := s.Reconcile.Schedule
	if checks < len(sc) {
		return sc[checks]
	}
	return sc[len(sc)-1]
}

// backoff is the wait after the failures-th failed check in a row: it
// doubles from DefaultRetryBackoff up to MaxBackoff.
func (s Scheduler) backoff(failures int) time.Duration {
	d := DefaultRetryBackoff
	for i := 1; i < failures && d < s.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.MaxBackoff)
}

// RefundCheckEvery is how long a pending refund of the given age waits
// between two queries: DefaultRefundCheck while it is young (the cashier may
// be waiting for it), then a tenth of its age, at most half an hour. A refund
// that waits days for a back-office approval is asked about 48 times a day,
// not 2,880; a verified notification still settles it at once.
func RefundCheckEvery(age time.Duration) time.Duration {
	return min(max(age/10, DefaultRefundCheck), 30*time.Minute)
}

// NextRefundQuery returns when a pending refund created at created and last
// asked about at last is next due under RefundCheckEvery: the first moment
// t at which t-last reaches RefundCheckEvery(t-created). The reconciler
// sleeps until then instead of waking every DefaultRefundCheck to find it
// not due.
func NextRefundQuery(created, last time.Time) time.Time {
	age := max(last.Sub(created), 0)
	// t-last >= (t-created)/10 from t-last = age/9 on (rounded up).
	wait := (age + 8) / 9
	return last.Add(min(max(wait, DefaultRefundCheck), 30*time.Minute))
}
