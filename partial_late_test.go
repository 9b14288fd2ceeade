package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// An order shown failed that the gateway later reports partially paid
// (its callback lost): the watch must flag it, never leave it "not paid".
func TestPartial_FailedOrderLaterPartiallyPaidIsFlagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeCanceledByUser, Code: "110"}, Create: true}}, NoLoop: true})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "10.00")
		if o = await(t, te, o.No); o.Status != posbridge.StatusFailed {
			t.Fatalf("order %s, want failed", o.Status)
		}
		synctest.Wait()
		t.Logf("before: calls %v", gw.CallsFor(o.No))
		gw.SetPartial(o.No, o.Amount, mustAED(t, "6.00"))
		for range 4 {
			time.Sleep(20 * time.Minute)
			if _, err := te.ReconcileOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := te.Payment(ctx, o.No)
		t.Logf("status=%s reason=%s attention=%v %q gateway now %s; calls %v", got.Status, got.Reason, got.NeedsAttention, got.Attention, gw.Status(o.No), gw.CallsFor(o.No))
		if !got.NeedsAttention || got.Reason != posbridge.ReasonPartiallyPaid && got.Attention == "" {
			t.Fatalf("failed order with money received at the gateway is not flagged")
		}
	})
}
