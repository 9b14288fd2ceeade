package posbridge_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
)

// ReconcileOnce may be called (by a test, or an operator's "check now")
// while the reconciler's own loop runs: under -race, the two passes share
// the backoff and refund-check state safely, and every order still ends
// where its schedule takes it, checked by one of them at a time.
func TestReconcileOnceRacesTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := newFakeGateway()
		terms := map[string]posbridge.Terminal{}
		fakes := map[string]*fakeTerminal{}
		for _, id := range []string{"1", "2", "3", "4"} {
			fakes[id] = newFakeTerminal(gw, saleScript{result: saleTimeout, create: true})
			terms[id] = fakes[id]
		}
		terms["5"] = newFakeTerminal(gw) // approves
		db := mustOpenStore(t, filepath.Join(t.TempDir(), "posbridge.db"))
		defer db.Close()
		e := posbridge.NewEngine(db, gw, terms)
		e.Logger = slog.New(slog.DiscardHandler)
		if err := e.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		ctx := context.Background()
		var orders []posbridge.Order
		for _, id := range []string{"1", "2", "3", "4"} {
			o, err := e.Pay(ctx, posbridge.PayRequest{Lane: id, Amount: mustAED(t, "9.00"), By: cashier})
			if err != nil {
				t.Fatalf("Pay on lane %s: %v", id, err)
			}
			orders = append(orders, o)
		}
		paid, err := e.Pay(ctx, posbridge.PayRequest{Lane: "5", Amount: mustAED(t, "4.00"), By: cashier})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if _, err := e.Refund(ctx, paid.No, posbridge.RefundParams{Amount: mustAED(t, "1.00")}, cashier); err != nil {
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
					if _, err := e.ReconcileOnce(ctx); err != nil {
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
			got, _ := e.Payment(ctx, o.No)
			if got.Status != posbridge.StatusCanceled || got.Reason != posbridge.ReasonExpired {
				t.Errorf("%s: %s (%s), want canceled (expired)", o.No, got.Status, got.Reason)
			}
			if n := fakes[o.Lane].salesOf(o.No); n != 1 {
				t.Errorf("%s went to the terminal %d times", o.No, n)
			}
		}
	})
}
