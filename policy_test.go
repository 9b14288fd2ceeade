package posbridge_test

import (
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

// Every fact's next check, for an open and a final order, in progressive and
// sweep mode. A row here is what a failing simulation seed becomes.
func TestScheduler_Next(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	progressive := posbridge.Scheduler{SaleDeadline: 6 * time.Minute, Reconcile: posbridge.DefaultReconcileConfig(), MaxBackoff: 5 * time.Minute}
	sweep := progressive
	sweep.Reconcile.Mode = posbridge.ReconcileSweep
	sweep.Reconcile.SweepEvery = 30 * time.Second

	young := posbridge.Order{Status: posbridge.StatusPending, CreatedAt: now.Add(-10 * time.Minute)}
	dayOld := posbridge.Order{Status: posbridge.StatusFailed, CreatedAt: now.Add(-5 * time.Hour)}
	weekOld := posbridge.Order{Status: posbridge.StatusCanceled, CreatedAt: now.Add(-8 * 24 * time.Hour)}
	failedYoung := posbridge.Order{Status: posbridge.StatusFailed, CreatedAt: now.Add(-10 * time.Minute)}
	paid := posbridge.Order{Status: posbridge.StatusPaid, CreatedAt: now.Add(-time.Minute), NextCheckAt: now.Add(time.Minute)}
	soon := young
	soon.NextCheckAt = now.Add(2 * time.Second)
	late := young
	late.NextCheckAt = now.Add(time.Hour)
	hosted := young // a QR lane's order, expiring in 3 minutes
	hosted.PaymentExpiresAt = now.Add(3 * time.Minute)
	hostedExpired := young
	hostedExpired.PaymentExpiresAt = now.Add(-time.Second)
	hostedClosed := failedYoung
	hostedClosed.PaymentExpiresAt = now.Add(3 * time.Minute)

	tests := []struct {
		name        string
		s           posbridge.Scheduler
		o           posbridge.Order
		f           posbridge.Fact
		want        time.Duration // from now; -1 means no check
		verifyUntil time.Duration // 0: unchanged
	}{
		{"check now", progressive, young, posbridge.Fact{Due: posbridge.DueNow}, 0, 0},
		{"a sale went out: its deadline", progressive, young, posbridge.Fact{Due: posbridge.DueSaleDeadline}, 6 * time.Minute, 0},
		{"the terminal answered: the verification window", progressive, young, posbridge.Fact{Due: posbridge.DueVerifyWindow}, time.Minute, time.Minute},
		{"the wait is over: first step", progressive, young, posbridge.Fact{Due: posbridge.DueFirstStep}, 5 * time.Second, 0},
		{"the wait is over, sweep", sweep, young, posbridge.Fact{Due: posbridge.DueFirstStep}, 30 * time.Second, 0},
		{"an override keeps a sooner check", progressive, soon, posbridge.Fact{Due: posbridge.DueNoLaterThanFirstStep}, 2 * time.Second, 0},
		{"an override brings a later check forward", progressive, late, posbridge.Fact{Due: posbridge.DueNoLaterThanFirstStep}, 5 * time.Second, 0},
		{"an override of an order with no check", progressive, young, posbridge.Fact{Due: posbridge.DueNoLaterThanFirstStep}, 5 * time.Second, 0},
		{"after the 1st scheduled check", progressive, young, posbridge.Fact{Due: posbridge.DueNextStep, Checks: 1}, 30 * time.Second, 0},
		{"after the 3rd scheduled check", progressive, young, posbridge.Fact{Due: posbridge.DueNextStep, Checks: 3}, 3 * time.Minute, 0},
		{"past the schedule: its last step again", progressive, young, posbridge.Fact{Due: posbridge.DueNextStep, Checks: 99}, 30 * time.Minute, 0},
		{"after a sweep check", sweep, young, posbridge.Fact{Due: posbridge.DueNextStep, Checks: 3}, 30 * time.Second, 0},
		{"first failure: the backoff", progressive, young, posbridge.Fact{Due: posbridge.DueBackoff, Failures: 1}, 5 * time.Second, 0},
		{"third failure: doubled twice", progressive, young, posbridge.Fact{Due: posbridge.DueBackoff, Failures: 3}, 20 * time.Second, 0},
		{"many failures: capped", progressive, young, posbridge.Fact{Due: posbridge.DueBackoff, Failures: 40}, 5 * time.Minute, 0},
		{"a failure with a later check kept", progressive, young, posbridge.Fact{Due: posbridge.DueBackoff, Failures: 1, At: now.Add(time.Hour)}, time.Hour, 0},
		{"at a given time", progressive, young, posbridge.Fact{Due: posbridge.DueAt, At: now.Add(42 * time.Second)}, 42 * time.Second, 0},
		{"shown not paid, young: every 15 min", progressive, failedYoung, posbridge.Fact{Due: posbridge.DueWatch}, 15 * time.Minute, 0},
		{"shown not paid, hours old: every 6 h", progressive, dayOld, posbridge.Fact{Due: posbridge.DueWatch}, 6 * time.Hour, 0},
		{"shown not paid, a week old: daily", progressive, weekOld, posbridge.Fact{Due: posbridge.DueWatch}, 24 * time.Hour, 0},
		{"watch goes on within the week", progressive, dayOld, posbridge.Fact{Due: posbridge.DueWatchOrStop}, 6 * time.Hour, 0},
		{"watch over after a week", progressive, weekOld, posbridge.Fact{Due: posbridge.DueWatchOrStop}, -1, 0},
		{"paid: nothing to check", progressive, paid, posbridge.Fact{Due: posbridge.DueNone}, -1, 0},
		// A hosted order (QR lane): the customer's wait, and its expiry.
		{"hosted order opened: the cashier's wait", progressive, hosted, posbridge.Fact{Due: posbridge.DueHostedWait, At: now.Add(time.Minute)}, time.Minute, time.Minute},
		{"hosted order: the schedule stops at its expiry", progressive, hosted, posbridge.Fact{Due: posbridge.DueNextStep, Checks: 3}, 3 * time.Minute, 0},
		{"hosted order: a sooner step is kept", progressive, hosted, posbridge.Fact{Due: posbridge.DueFirstStep}, 5 * time.Second, 0},
		{"hosted order: a backoff past expiry stops at it", progressive, hosted, posbridge.Fact{Due: posbridge.DueBackoff, Failures: 40}, 3 * time.Minute, 0},
		{"hosted order past its expiry: backoff as usual", progressive, hostedExpired, posbridge.Fact{Due: posbridge.DueBackoff, Failures: 40}, 5 * time.Minute, 0},
		{"hosted order closed: the watch, not the expiry", progressive, hostedClosed, posbridge.Fact{Due: posbridge.DueWatch}, 15 * time.Minute, 0},
		// An open order always keeps a check, whatever the fact says.
		{"open order told none: now", progressive, young, posbridge.Fact{Due: posbridge.DueNone}, 0, 0},
		{"open order at a zero time: now", progressive, young, posbridge.Fact{Due: posbridge.DueAt}, 0, 0},
		{"open order past its watch: now", progressive, posbridge.Order{Status: posbridge.StatusPending, CreatedAt: now.Add(-8 * 24 * time.Hour)}, posbridge.Fact{Due: posbridge.DueWatchOrStop}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.Next(tt.o, tt.f, now)
			switch {
			case tt.want < 0 && !got.NextCheckAt.IsZero():
				t.Errorf("next check %v, want none", got.NextCheckAt.Sub(now))
			case tt.want >= 0 && (got.NextCheckAt.IsZero() || got.NextCheckAt.Sub(now) != tt.want):
				t.Errorf("next check %v (zero %v), want in %v", got.NextCheckAt.Sub(now), got.NextCheckAt.IsZero(), tt.want)
			}
			if tt.verifyUntil != 0 && got.VerifyUntil.Sub(now) != tt.verifyUntil {
				t.Errorf("verify until %v, want in %v", got.VerifyUntil.Sub(now), tt.verifyUntil)
			}
			if tt.verifyUntil == 0 && !got.VerifyUntil.Equal(tt.o.VerifyUntil) {
				t.Errorf("verify until changed to %v", got.VerifyUntil)
			}
			got.NextCheckAt, got.VerifyUntil = tt.o.NextCheckAt, tt.o.VerifyUntil
			if got != tt.o {
				t.Errorf("Next changed more than the schedule: %+v", got)
			}
		})
	}
}

func TestRefundCheckEvery(t *testing.T) {
	for _, tc := range []struct {
		age, want time.Duration
	}{
		{0, posbridge.DefaultRefundCheck},
		{4 * time.Minute, posbridge.DefaultRefundCheck},
		{20 * time.Minute, 2 * time.Minute},
		{3 * time.Hour, 18 * time.Minute},
		{5 * time.Hour, 30 * time.Minute},
		{72 * time.Hour, 30 * time.Minute},
	} {
		if got := posbridge.RefundCheckEvery(tc.age); got != tc.want {
			t.Errorf("RefundCheckEvery(%v) = %v, want %v", tc.age, got, tc.want)
		}
	}
}

// NextRefundQuery is the first moment RefundCheckEvery makes a pending
// refund due again: not due a millisecond before it, due at it.
func TestNextRefundQuery(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	due := func(last, at time.Time) bool {
		return at.Sub(last) >= posbridge.RefundCheckEvery(at.Sub(created))
	}
	for _, tc := range []struct {
		name string
		age  time.Duration // of the refund when last asked about
		want time.Duration // from then to the next query
	}{
		{"asked as it was made", 0, 30 * time.Second},
		{"young: the floor", 2 * time.Minute, 30 * time.Second},
		{"where a tenth of the age takes over", 270 * time.Second, 30 * time.Second},
		{"an hour old", time.Hour, time.Hour / 9},
		{"not a whole millisecond", time.Hour + time.Nanosecond, time.Hour/9 + time.Nanosecond},
		{"four and a half hours: the ceiling", 270 * time.Minute, 30 * time.Minute},
		{"days old", 72 * time.Hour, 30 * time.Minute},
	} {
		last := created.Add(tc.age)
		got := posbridge.NextRefundQuery(created, last)
		if got.Sub(last) != tc.want {
			t.Errorf("%s: next query %v after the last; want %v", tc.name, got.Sub(last), tc.want)
		}
		if !due(last, got) || due(last, got.Add(-time.Millisecond)) {
			t.Errorf("%s: RefundCheckEvery says due at %v: %v, a millisecond before: %v", tc.name, got.Sub(last), due(last, got), due(last, got.Add(-time.Millisecond)))
		}
	}
}
