package posbridge_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// slowRefundGateway answers refund calls after d (a slow or timing-out gateway).
type slowRefundGateway struct {
	*posbridgetest.FakeGateway
	d time.Duration
}

func (g slowRefundGateway) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	time.Sleep(g.d)
	return g.FakeGateway.Refund(ctx, r)
}

// A requested refund the gateway answers slowly (40 s a call) is sent again
// DefaultRefundCheck after each run ends, not back to back: a run longer
// than DefaultRefundCheck timed its next one from its start, in the past.
func TestRequestedRefund_SlowGatewayRetriedAfterAPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := posbridgetest.NewFakeGateway()
		gw := slowRefundGateway{fake, 40 * time.Second}
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: posbridgetest.NewFakeTerminal(fake)})
		ctx := context.Background()
		o := paid(t, te, "10.00")
		fake.FailRefunds(posbridge.ErrUnknownOutcome, 1000)
		if _, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "10.00")}, cashier); err != nil {
			t.Fatal(err)
		}
		start := fake.Count("refund")
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		n := fake.Count("refund") - start
		// 40 s call + 30 s pause: about 17 in 20 minutes; back to back: 30.
		t.Logf("retries in 20 min with a 40 s gateway: %d", n)
		if n > 20 {
			t.Errorf("the requested refund was re-sent %d times in 20 minutes with 40 s calls: back to back, no %v pause", n, posbridge.DefaultRefundCheck)
		}
		fake.FailRefunds(nil, 0)
	})
}

// A refund that fails after the last hourly look at failed refunds (which
// found none) is looked at again within the hour, though the reconciler's
// next order check is hours away (the interval, as in
// TestPendingRefundWakesTheReconciler): one the gateway made after all is
// shown made.
func TestFailedRefund_NewlyFailedIsAskedAboutHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{ReconcileEvery: 6 * time.Hour})
		ctx := context.Background()
		o := paid(t, te, "10.00")
		time.Sleep(time.Minute)
		synctest.Wait()
		r := refusedRefund(t, te, te.gw, o.No, "10.00")
		te.gw.RecordRefund(r.No, o.No, r.Amount) // it went through after all
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if rs, _ := te.Refunds(ctx, o.No); rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("two hours after the gateway did it, the refund is %s here", rs[0].Status)
		}
	})
}

type slowVoidTerminal struct {
	*posbridgetest.ReversingTerminal
	d time.Duration
}

func (t slowVoidTerminal) Void(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	time.Sleep(t.d)
	return t.ReversingTerminal.Void(ctx, no, orig, amount)
}

// A void that takes minutes on the terminal and ends pending is followed by
// the reconciler (its creation scheduled it), asleep for hours otherwise.
func TestVoid_SlowVoidEndingPendingIsFollowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewFakeGateway()
		rt := posbridgetest.NewReversingTerminal(gw)
		term := slowVoidTerminal{rt, 3 * time.Minute}
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term, ReconcileEvery: 6 * time.Hour})
		ctx := context.Background()
		o := paid(t, te, "10.00")
		time.Sleep(time.Minute)
		synctest.Wait()
		rt.Answer(posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2", TransNo: "T1"}, nil, false)
		v, _, err := te.Void(ctx, o.No, posbridge.VoidParams{}, refundBy)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Minute)
		synctest.Wait()
		if got := refundOf(t, te, o.No, v.No); got.Status != posbridge.RefundPending {
			t.Fatalf("void %s; the test needs it pending", got.Status)
		}
		gw.Revoke(o.No) // the acquirer reports it late
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := refundOf(t, te, o.No, v.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("5 minutes after the gateway showed the void, it is %s here", got.Status)
		}
	})
}

type slowQueryGateway struct {
	*posbridgetest.FakeGateway
	slow *posbridge.OrderNo
	d    time.Duration
}

func (g slowQueryGateway) QueryRefund(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	if no == *g.slow {
		time.Sleep(g.d)
	}
	return g.FakeGateway.QueryRefund(ctx, no)
}

// A refund opened while a refund run is under way, after that run read the
// open refunds, is still followed: the run's end does not overwrite its
// schedule.
func TestRefund_OpenedDuringARunIsFollowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := posbridgetest.NewFakeGateway()
		var slow posbridge.OrderNo
		gw := slowQueryGateway{fake, &slow, 40 * time.Second}
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: posbridgetest.NewFakeTerminal(fake), NoLoop: true})
		ctx := context.Background()
		o1 := paid(t, te, "10.00")
		o2 := paid(t, te, "10.00")
		if _, err := te.ReconcileOnce(ctx); err != nil { // the first run after the start
			t.Fatal(err)
		}
		f := refusedRefund(t, te, fake, o1.No, "10.00")
		slow = f.No
		time.Sleep(61 * time.Minute)
		done := make(chan struct{})
		go func() { te.ReconcileOnce(ctx); close(done) }() // the hourly look at F: 40 s
		time.Sleep(10 * time.Second)
		fake.HoldRefunds()
		r2, _, err := te.Refund(ctx, o2.No, posbridge.RefundParams{Amount: mustAED(t, "10.00")}, cashier)
		if err != nil || r2.Status != posbridge.RefundPending {
			t.Fatalf("refund 2: %s %v", r2.Status, err)
		}
		<-done
		fake.SetRefundStatus(r2.No, posbridge.GatewayRefundSuccess)
		for range 10 {
			time.Sleep(30 * time.Second)
			te.ReconcileOnce(ctx)
		}
		if got := refundOf(t, te, o2.No, r2.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("refund opened during a run: %s 5 minutes after the gateway settled it", got.Status)
		}
	})
}

// A failed refund found by a ReconcileOnce outside the loop (a test, an
// operator) is looked at again within the hour by the loop, asleep on a
// timer set before that pass.
func TestReconcileOnce_OutsideTheLoopWakesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{ReconcileEvery: 6 * time.Hour})
		ctx := context.Background()
		o := paid(t, te, "10.00")
		r := refusedRefund(t, te, te.gw, o.No, "10.00")
		time.Sleep(61 * time.Minute)
		te.ReconcileOnce(ctx) // an operator's "check now": the look finds r failed
		synctest.Wait()
		te.gw.RecordRefund(r.No, o.No, r.Amount)
		time.Sleep(65 * time.Minute)
		synctest.Wait()
		if got := refundOf(t, te, o.No, r.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("65 minutes after the gateway did it, the refund is %s", got.Status)
		}
	})
}

// Once the loop's look at failed refunds found one, the next look is on its
// timer an hour later, even when the next order check is hours away.
func TestFailedRefund_FoundIsAskedAboutHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{ReconcileEvery: 6 * time.Hour})
		ctx := context.Background()
		o := paid(t, te, "10.00")
		o2 := paid(t, te, "5.00")
		r := refusedRefund(t, te, te.gw, o.No, "10.00")
		time.Sleep(61 * time.Minute)
		// Another refund wakes the loop; its pass looks at failed refunds.
		if _, _, err := te.Refund(ctx, o2.No, posbridge.RefundParams{Amount: mustAED(t, "5.00")}, cashier); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		te.gw.RecordRefund(r.No, o.No, r.Amount)
		time.Sleep(65 * time.Minute)
		synctest.Wait()
		if got := refundOf(t, te, o.No, r.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("65 minutes after the gateway did it, the refund is %s", got.Status)
		}
	})
}

// refusedRefund refunds amount of order no while gw, te's gateway (or the
// fake behind it), refuses refunds for good (a final error), and returns the
// refund, failed here.
func refusedRefund(t *testing.T, te *testEngine, gw *posbridgetest.FakeGateway, no posbridge.OrderNo, amount string) posbridge.Refund {
	t.Helper()
	gw.SetErr(fmt.Errorf("refund: code 999: %w", posbridge.ErrGatewayFinal))
	r, _, err := te.Refund(context.Background(), no, posbridge.RefundParams{Amount: mustAED(t, amount)}, cashier)
	gw.SetErr(nil)
	if err != nil || r.Status != posbridge.RefundFailed {
		t.Fatalf("refund: %s %v", r.Status, err)
	}
	return r
}
