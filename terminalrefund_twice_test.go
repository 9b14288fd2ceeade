package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
)

// A void the terminal declined (failed), then a second void that went
// through: the gateway shows the order revoked once, and the hourly check
// of failed refunds must not turn the first void into a second success.
func TestTerminalVoid_FailedVoidNotCountedTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, term, o := newReversingSale(t, "12.50")
		ctx := context.Background()
		v1 := voidAnswered(t, te, term, o.No, posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "101", TransStatus: "3"}, false)
		if v1.Status != posbridge.RefundFailed {
			t.Fatalf("void 1 is %s, want failed", v1.Status)
		}
		v2 := voidAnswered(t, te, term, o.No, posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2", TransNo: "T2"}, true)
		if v2.Status != posbridge.RefundSucceeded {
			t.Fatalf("void 2 is %s, want succeeded", v2.Status)
		}
		if _, err := te.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := te.Payment(ctx, o.No)
		t.Logf("void1=%s void2=%s refunded=%s of %s", refundOf(t, te, o.No, v1.No).Status, refundOf(t, te, o.No, v2.No).Status, got.Refunded, o.Amount)
		if got.Refunded != o.Amount {
			t.Fatalf("order refunded %s after one void of %s", got.Refunded, o.Amount)
		}
	})
}
