package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// A POS that retries a refund after a timeout gets the same refund, never a
// second one; the same key with another request is refused.
func TestEngine_RefundIdempotency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Charge: true}}})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "10.00")
		if got := await(t, te, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("payment %s, want paid", got.Status)
		}
		by := posbridge.By{Actor: posbridge.ActorAPI, Who: "pos", Reason: "returned item"}
		ask := posbridge.RefundParams{Amount: mustAED(t, "10.00"), IdempotencyKey: "till1-refund-1"}
		first, replayed, err := te.Refund(ctx, o.No, ask, by)
		if err != nil || first.Status != posbridge.RefundSucceeded || replayed {
			t.Fatalf("first refund: %+v (replayed %v), %v", first, replayed, err)
		}
		// The retry comes after the whole amount was refunded: it is the same
		// refund, not "more than refundable", and says it is a replay.
		again, replayed, err := te.Refund(ctx, o.No, ask, by)
		if err != nil || again.No != first.No || !replayed {
			t.Fatalf("retried refund: %+v (replayed %v), %v; want refund %s replayed", again, replayed, err, first.No)
		}
		for name, tt := range map[string]struct {
			ask posbridge.RefundParams
			by  posbridge.By
		}{
			"OtherAmount": {posbridge.RefundParams{Amount: mustAED(t, "5.00"), IdempotencyKey: "till1-refund-1"}, by},
			"OtherReason": {ask, posbridge.By{Actor: posbridge.ActorAPI, Who: "pos", Reason: "damaged"}},
		} {
			if _, _, err := te.Refund(ctx, o.No, tt.ask, tt.by); posbridge.ErrorCode(err) != posbridge.EIDEMPOTENCY {
				t.Errorf("%s with the same key: %v, want %s", name, err, posbridge.EIDEMPOTENCY)
			}
		}
		rs, err := te.Refunds(ctx, o.No)
		if err != nil || len(rs) != 1 {
			t.Fatalf("refunds = %+v, %v; want exactly one", rs, err)
		}
		if got, _ := te.Payment(ctx, o.No); got.Refunded.Decimal() != "10.00" {
			t.Fatalf("refunded %s, want 10.00", got.Refunded.Decimal())
		}
		if n := gw.RefundCount(); n != 1 {
			t.Fatalf("the gateway got %d refunds, want 1", n)
		}
		// After a restart the retry is still the same refund, and a replay.
		te.close(t)
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw})
		after, replayed, err := te2.Refund(ctx, o.No, ask, by)
		if err != nil || after.No != first.No || !replayed {
			t.Fatalf("retried refund after a restart: %+v (replayed %v), %v; want refund %s replayed", after, replayed, err, first.No)
		}
	})
}
