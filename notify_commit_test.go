package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// A verified notification costs one commit: its inbox entry, the order's
// change, the event and the audit row are written in one transaction (was
// two: the inbox entry first, then the change with the mark). A second
// delivery commits nothing.
func TestNotification_OneCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, NoLoop: true})
		db := te.db
		ctx := context.Background()
		o := payPending(t, te, "9.00")
		synctest.Wait()

		n := posbridge.Notification{Gateway: "fake", ID: "one", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: o.Amount}
		before := db.WriteStats()
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		after := db.WriteStats()
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("after the notification: %s", got.Status)
		}
		if c, w := after.Commits-before.Commits, after.Writes-before.Writes; c != 1 || w != 1 {
			t.Errorf("one notification: %d commits of %d writes, want 1 of 1", c, w)
		}
		if err := te.ApplyNotification(ctx, n); err != nil {
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
