package posbridge_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
)

// A cashier cancels an open QR order at a gateway that refuses the cancel
// and does nothing (Pay Protocol has no cancel: the order closes when its
// page expires). The refusal is an answer, not a lost one: the cashier is
// told the order stays open, not that the gateway cannot be reached, and a
// payment the customer then makes on the still-open page is an ordinary
// payment, not one "captured after the shop closed it" that a person must
// look at (found by the Pay Protocol simulation).
func TestCancelRefusedByGatewayIsNoLostCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := newHostedGateway()
		gw.refuseCancel = true
		te := newQREngine(t, gw, posbridge.QRLane{})
		ctx := context.Background()
		o := payQR(t, te, "6.00")
		time.Sleep(2 * time.Minute) // the cashier's wait is over: pending
		synctest.Wait()
		if got := orderOf(t, te, o.No); got.Status != posbridge.StatusPending {
			t.Fatalf("setup: %s, want pending", got.Status)
		}
		_, err := te.Cancel(ctx, o.No, cashier)
		if posbridge.ErrorCode(err) != posbridge.ECONFLICT || strings.Contains(err.Error(), "cannot be reached") {
			t.Fatalf("cancel refused by the gateway: %v, want a conflict saying the order stays open", err)
		}
		if got := orderOf(t, te, o.No); got.Status != posbridge.StatusPending || got.Reason == posbridge.ReasonCancelSent {
			t.Fatalf("after the refused cancel: %s (%s), want pending, no cancel sent", got.Status, got.Reason)
		}
		if !gw.payPage(o.No) {
			t.Fatal("the page refused the payment")
		}
		if _, err := te.Verify(ctx, o.No, cashier); err != nil {
			t.Fatal(err)
		}
		got := orderOf(t, te, o.No)
		if got.Status != posbridge.StatusPaid || got.Reason == posbridge.ReasonPaidAfterClose || got.NeedsAttention {
			t.Fatalf("got %s (%s) attention=%v %q; want paid, no flag", got.Status, got.Reason, got.NeedsAttention, got.Attention)
		}
	})
}
