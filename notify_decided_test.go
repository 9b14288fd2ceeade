package posbridge_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
)

// notifyCount is how many notifications the engine recorded with result.
func notifyCount(t *testing.T, te *testEngine, result string) uint64 {
	t.Helper()
	st, err := te.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Notifications[result]
}

// A revoked notification for a paid order WITHOUT a void on the terminal is
// applied as any other news: it
// returns (no endless loop), is acknowledged and marked "applied", the order
// stays paid, and the terminal-approved/gateway-failed difference is flagged.
func TestNotification_RevokedPaidWithoutVoidIsFlagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{NoLoop: true})
		ctx := context.Background()
		o := paid(t, te, "9.00")
		synctest.Wait()
		n := posbridge.Notification{Gateway: "fake", ID: "rv-novoid", Kind: posbridge.NotifyOrder, OrderNo: o.No,
			Status: posbridge.GatewayFailed, Revoked: true, Amount: o.Amount, SentAt: time.Now(), ReceivedAt: time.Now()}
		before := notifyCount(t, te, posbridge.NotifyApplied)
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if got := notifyCount(t, te, posbridge.NotifyApplied); got != before+1 {
			t.Fatalf("applied count %d -> %d, want +1 (recorded as applied, not not_applicable)", before, got)
		}
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("order %s after a revoked notification, want paid", got.Status)
		}
		if !got.NeedsAttention {
			t.Fatalf("revoked without a void: the difference is not flagged (attention %v %q)", got.NeedsAttention, got.Attention)
		}
		if un, _ := te.db.UnappliedNotifications(ctx, 10); len(un) != 0 {
			t.Fatalf("%d unapplied", len(un))
		}
	})
}

// A stale notification for an order this process does not have is
// acknowledged and recorded as unknown_order (the stale branch's ErrNotFound,
// which e.update wraps in *Error).
func TestNotification_StaleForAnUnknownOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{NoLoop: true})
		ctx := context.Background()
		n := posbridge.Notification{Gateway: "fake", ID: "stale-unknown", Kind: posbridge.NotifyOrder, OrderNo: "NOSUCHORDER",
			Status: posbridge.GatewayPaid, Amount: mustAED(t, "1.00"), Stale: true}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatalf("stale notification for an unknown order: %v", err)
		}
		if got := notifyCount(t, te, posbridge.NotifyUnknownOrder); got != 1 {
			t.Fatalf("unknown_order count %d, want 1", got)
		}
		if un, _ := te.db.UnappliedNotifications(ctx, 10); len(un) != 0 {
			t.Fatalf("%d unapplied", len(un))
		}
	})
}

// A legacy inbox entry (no decoded notification) for an unknown order is
// marked unknown_order when the inbox is applied at start-up.
func TestNotification_LegacyEntryForAnUnknownOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{NoLoop: true})
		ctx := context.Background()
		if _, _, err := te.db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "fake", NotificationID: "legacy-unknown", Kind: posbridge.NotifyOrder,
			OrderNo: "NOSUCHORDER", Status: string(posbridge.GatewayPaid), Verified: true, ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		te.close(t)
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: te.gw})
		time.Sleep(time.Minute)
		synctest.Wait()
		if un, _ := te2.db.UnappliedNotifications(ctx, 10); len(un) != 0 {
			t.Fatalf("%d unapplied: a legacy entry for an unknown order is never marked", len(un))
		}
		if got := notifyCount(t, te2, posbridge.NotifyUnknownOrder); got != 1 {
			t.Fatalf("unknown_order count %d, want 1", got)
		}
	})
}

// A mismatched amount is refused with the order's amount in the audit
// detail and counted as mismatch; a mismatched
// revoked notification for a paid order is refused too (the amount is
// checked before the revoked branch), never taken as a void.
func TestNotification_MismatchRefusedWithTheOrdersAmount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{NoLoop: true})
		ctx := context.Background()
		o := paid(t, te, "20.00")
		synctest.Wait()
		n := posbridge.Notification{Gateway: "fake", ID: "mm", Kind: posbridge.NotifyOrder, OrderNo: o.No,
			Status: posbridge.GatewayFailed, Revoked: true, Amount: mustAED(t, "2.00")}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if got := notifyCount(t, te, posbridge.NotifyMismatch); got != 1 {
			t.Fatalf("mismatch count %d, want 1", got)
		}
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || !got.NeedsAttention || got.Attention != string(posbridge.ReasonAmountMismatch) {
			t.Fatalf("order %s attention %v %q", got.Status, got.NeedsAttention, got.Attention)
		}
		audit, err := te.db.Audit(ctx, o.No)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range audit {
			if a.Cause.Action == "notification refused" {
				found = true
				if !strings.Contains(a.Cause.Detail, "order is 20.00") {
					t.Fatalf("refusal detail %q: the order's amount is wrong", a.Cause.Detail)
				}
			}
		}
		if !found {
			t.Fatalf("no refusal in the audit: %+v", audit)
		}
	})
}
