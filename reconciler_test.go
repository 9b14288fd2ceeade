package posbridge_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// ReconcileOnce may be called (by a test, or an operator's "check now")
// while the reconciler's own loop runs: under -race, the two passes share
// the backoff and refund-check state safely, and every order still ends
// where its schedule takes it, checked by one of them at a time.
func TestReconcileOnceRacesTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewFakeGateway()
		terms := map[string]posbridge.Terminal{}
		fakes := map[string]*posbridgetest.FakeTerminal{}
		for _, id := range []string{"1", "2", "3", "4"} {
			fakes[id] = posbridgetest.NewFakeTerminal(gw, answerLost)
			terms[id] = fakes[id]
		}
		terms["5"] = posbridgetest.NewFakeTerminal(gw) // approves
		te := newTestEngine(t, engineOpts{Gateway: gw, Lanes: terms})
		ctx := context.Background()
		var orders []posbridge.Order
		for _, id := range []string{"1", "2", "3", "4"} {
			o, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: id, Amount: mustAED(t, "9.00"), By: cashier})
			if err != nil {
				t.Fatalf("Pay on lane %s: %v", id, err)
			}
			orders = append(orders, o)
		}
		paid, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "5", Amount: mustAED(t, "4.00"), By: cashier})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if _, _, err := te.Refund(ctx, paid.No, posbridge.RefundParams{Amount: mustAED(t, "1.00")}, cashier); err != nil {
			t.Fatalf("refund: %v", err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 3 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := te.ReconcileOnce(ctx); err != nil {
						t.Errorf("ReconcileOnce: %v", err)
						return
					}
					time.Sleep(time.Second)
				}
			})
		}
		time.Sleep(2 * time.Hour)
		close(stop)
		wg.Wait()
		synctest.Wait()
		for _, o := range orders {
			got, _ := te.Payment(ctx, o.No)
			if got.Status != posbridge.StatusCanceled || got.Reason != posbridge.ReasonExpired {
				t.Errorf("%s: %s (%s), want canceled (expired)", o.No, got.Status, got.Reason)
			}
			if n := fakes[o.Lane].SalesOf(o.No); n != 1 {
				t.Errorf("%s went to the terminal %d times", o.No, n)
			}
		}
	})
}

// A refund waiting days for the merchant's approval is asked about on a
// schedule that thins out with its age, not every 30 s for ever (2,880
// queries a day); once the gateway settles it, the next check still finds it
// within half an hour.
func TestPendingRefundChecksThinOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{})
		gw := te.gw
		gw.HoldRefunds()
		ctx := context.Background()
		o := pay(t, te, "10.00")
		await(t, te, o.No)
		r, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "10.00")}, cashier)
		if err != nil || r.Status != posbridge.RefundPending {
			t.Fatalf("setup refund: %s %v", r.Status, err)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := gw.Count("query_refund"); n < 3 {
			t.Fatalf("a young refund was asked about %d times in its first 2 minutes; want every 30 s", n)
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if n := gw.Count("query_refund"); n > 150 {
			t.Fatalf("a refund pending for a day was asked about %d times; want it to thin out to every half hour", n)
		}
		gw.SetRefundStatus(r.No, posbridge.GatewayRefundSuccess)
		time.Sleep(31 * time.Minute)
		synctest.Wait()
		if rs, _ := te.Refunds(ctx, o.No); rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("the gateway settled the refund 31 minutes ago; it is still %s here", rs[0].Status)
		}
	})
}

// A refund left pending by the gateway is the reconciler's to follow: it
// must be woken, not left asleep until its next scheduled order check (six
// hours away for a watched order; found by seed 1913 at 2,000 scenarios,
// where a refund made right after a restart was never asked about).
func TestPendingRefundWakesTheReconciler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The loop's interval as if a watched order's check were next.
		te := newTestEngine(t, engineOpts{ReconcileEvery: 6 * time.Hour})
		gw := te.gw
		gw.HoldRefunds()
		ctx := context.Background()
		o := paid(t, te, "10.00")
		time.Sleep(time.Minute) // the reconciler is asleep, nothing scheduled
		synctest.Wait()
		r, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "10.00")}, cashier)
		if err != nil || r.Status != posbridge.RefundPending {
			t.Fatalf("refund: %s %v", r.Status, err)
		}
		gw.SetRefundStatus(r.No, posbridge.GatewayRefundSuccess)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if rs, _ := te.Refunds(ctx, o.No); rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("two minutes after the gateway settled it, the refund is %s here", rs[0].Status)
		}
	})
}
