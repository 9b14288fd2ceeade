package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// The terminal's answer is lost and no notification comes: the gateway,
// asked while the sale is on the terminal, knows the payment within
// seconds. The order is paid and the lane free long before the sale's
// timeout.
func TestGatewayPaymentWhileOnTerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleApproved, Delay: 10 * time.Minute}}})
		gw, term := te.gw, te.term
		ctx := context.Background()
		o := pay(t, te, "31.00")
		time.Sleep(7 * time.Second)
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid) // the customer tapped; the answer never arrives
		time.Sleep(3 * time.Second)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("3 s after the gateway knew the payment the order is %s", got.Status)
		}
		if _, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "2.00"), By: cashier}); err != nil {
			t.Fatalf("the next customer on the lane: %v", err)
		}
		if n := term.SalesOf(o.No); n != 1 {
			t.Fatalf("the terminal got %d sales for the paid order", n)
		}
	})
}

// The daemon restarts while the customer is still deciding on the terminal.
// The sale is followed, not closed: the customer taps once and the order
// is paid, with no second sale.
func TestRestartReattachesASaleInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleApproved, Delay: time.Hour}}})
		gw, term := te.gw, te.term
		ctx := context.Background()
		o := pay(t, te, "64.00")
		time.Sleep(5 * time.Second)
		te.close(t) // kill: the sale stays open on the terminal

		term2 := posbridgetest.NewFakeTerminal(gw)
		term2.SetQuery(posbridge.TerminalResult{Outcome: posbridge.OutcomeUnknown, Code: "000", TransStatus: "0"})
		term2.HoldReattach()
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw, Terminal: term2})
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if got, _ := te2.Payment(ctx, o.No); got.Status != posbridge.StatusAtTerminal || func() int { c, _ := term2.Counts(); return c }() != 0 {
			c, _ := term2.Counts()
			t.Fatalf("after the restart, with the customer still deciding: %s, %d closes; want it followed at the terminal", got.Status, c)
		}
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid) // the tap
		term2.AnswerReattach(saleApproved)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got, _ := te2.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || got.NeedsAttention {
			t.Fatalf("after the tap: %s attention %v", got.Status, got.NeedsAttention)
		}
		if n := term.SalesOf(o.No) + term2.SalesOf(o.No); n != 1 {
			t.Fatalf("%d sales for one purchase", n)
		}
	})
}
