package posbridge_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
)

// A verified notification costs one commit: its inbox entry, the order's
// change, the event and the audit row are written in one transaction (was
// two: the inbox entry first, then the change with the mark). A second
// delivery commits nothing.
func TestNotification_OneCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := newFakeGateway()
		term := newFakeTerminal(gw, saleScript{result: posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}, create: true})
		db := mustOpenStore(t, filepath.Join(t.TempDir(), "posbridge.db"))
		e := posbridge.NewEngine(db, gw, map[string]posbridge.Terminal{"1": term})
		e.ReconcileInterval = 0
		if err := e.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		defer e.Close()
		ctx := context.Background()
		o, _, err := e.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "9.00"), By: cashier})
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		if o, err = e.Await(wctx, o.No); err != nil || o.Status != posbridge.StatusPending {
			t.Fatalf("await: %s, %v", o.Status, err)
		}
		synctest.Wait()

		n := posbridge.Notification{Gateway: "fake", ID: "one", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: o.Amount}
		before := db.WriteStats()
		if err := e.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		after := db.WriteStats()
		if got, _ := e.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("after the notification: %s", got.Status)
		}
		if c, w := after.Commits-before.Commits, after.Writes-before.Writes; c != 1 || w != 1 {
			t.Errorf("one notification: %d commits of %d writes, want 1 of 1", c, w)
		}
		if err := e.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if again := db.WriteStats(); again.Commits != after.Commits {
			t.Errorf("a second delivery committed %d times", again.Commits-after.Commits)
		}
		if un, _ := db.UnappliedNotifications(ctx, 10); len(un) != 0 {
			t.Errorf("%d notifications unapplied", len(un))
		}
	})
}
