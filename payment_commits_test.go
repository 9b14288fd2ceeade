package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
)

// An approved payment is three durable commits (three fsyncs of the log):
// the creation with the sale's sending, the terminal's outcome, and the
// gateway's verdict carrying the query's check record. Nothing is left to
// commit on its own after it, when no other write comes to carry it: the
// till is idle between customers, and a fourth commit there would be a
// fourth fsync for every payment.
func TestPayment_ThreeCommits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{})
		ctx := context.Background()
		amount := posbridge.Money{Minor: 1250, Currency: "AED"}
		for i := range 3 {
			before := te.db.WriteStats()
			o, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: amount, By: posbridge.By{Actor: posbridge.ActorAPI}})
			if err != nil {
				t.Fatal(err)
			}
			if o, err = te.Await(ctx, o.No); err != nil || o.Status != posbridge.StatusPaid {
				t.Fatalf("payment %d: %s, %v", i, o.Status, err)
			}
			paid := te.db.WriteStats()
			time.Sleep(5 * time.Second) // well past the check records' flush delay
			synctest.Wait()
			after := te.db.WriteStats()
			if n := paid.Commits - before.Commits; n != 3 {
				t.Errorf("payment %d: %d commits to paid, want 3", i, n)
			}
			if n := after.Commits - paid.Commits; n != 0 {
				t.Errorf("payment %d: %d commits after it was paid, want 0", i, n)
			}
			checks, err := te.db.Checks(ctx, o.No)
			if err != nil || len(checks) != 1 {
				t.Errorf("payment %d: %d check records (%v), want the one query", i, len(checks), err)
			}
		}
	})
}
