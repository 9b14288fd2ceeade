package posbridge_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// A payment the gateway received only in part is never shown as paid in
// full: whether the news comes by notification, by the cashier's check or
// by the reconciler, the order is pending, flagged with the amount that
// arrived, its lane free, and a later refresh cannot make it paid or closed.
func TestPartial_NeverShownPaid(t *testing.T) {
	tests := []struct {
		name string
		via  string // "notification", "verify", "reconciler"
	}{
		{"notification", "notification"},
		{"cashier verify", "verify"},
		{"reconciler", "reconciler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The terminal's answer is lost; the gateway has the order, unpaid.
				te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, NoLoop: true})
				gw := te.gw
				ctx := context.Background()
				o := pay(t, te, "10.00")
				if o = await(t, te, o.No); o.Status != posbridge.StatusVerifying && o.Status != posbridge.StatusPending {
					t.Fatalf("order %s, want verifying or pending before the partial payment", o.Status)
				}
				received := mustAED(t, "6.00")
				gw.SetPartial(o.No, o.Amount, received)
				switch tt.via {
				case "notification":
					n := posbridge.Notification{Gateway: "fake", ID: "p1", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPartiallyPaid,
						Amount: o.Amount, Received: received, SentAt: time.Now(), ReceivedAt: time.Now()}
					if err := te.ApplyNotification(ctx, n); err != nil {
						t.Fatal(err)
					}
				case "verify":
					if _, err := te.Verify(ctx, o.No, cashier); err != nil {
						t.Fatalf("Verify: %v", err)
					}
				case "reconciler":
					time.Sleep(time.Hour) // every scheduled check is due (fake time)
					for range 3 {
						if _, err := te.ReconcileOnce(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
				got, err := te.Payment(ctx, o.No)
				if err != nil {
					t.Fatal(err)
				}
				checkPartial(t, got)
				// The reconciler keeps asking, and never pays, expires or cancels it.
				time.Sleep(30 * 24 * time.Hour)
				for range 5 {
					if _, err := te.ReconcileOnce(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if got, _ = te.Payment(ctx, o.No); got.Status != posbridge.StatusPending {
					t.Fatalf("after a month of checks: %s, want still pending", got.Status)
				}
				checkPartial(t, got)
				// A cashier cannot vouch for it.
				if _, err := te.Override(ctx, o.No, posbridge.By{Actor: posbridge.ActorCashier, Who: "ann", Reason: "terminal showed paid"}); err == nil {
					t.Fatal("override of a partially paid order accepted")
				}
				// The lane is free for the next sale.
				if _, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "4.00"), By: cashier}); err != nil {
					t.Fatalf("next sale on the lane: %v", err)
				}
			})
		})
	}
}

func checkPartial(t *testing.T, o posbridge.Order) {
	t.Helper()
	if o.Status == posbridge.StatusPaid || o.Status.Final() {
		t.Fatalf("partially paid order is %s: a partial payment must never read paid (or not paid)", o.Status)
	}
	if o.Status != posbridge.StatusPending || o.Reason != posbridge.ReasonPartiallyPaid || !o.NeedsAttention {
		t.Fatalf("order %s/%s attention=%v, want pending/partially_paid flagged", o.Status, o.Reason, o.NeedsAttention)
	}
	if !strings.Contains(o.Attention, "6.00 AED of 10.00 AED") {
		t.Fatalf("attention %q does not show the amount received", o.Attention)
	}
	if msg := posbridge.Instruction(o); !strings.Contains(msg, "not paid in full") {
		t.Fatalf("instruction %q, want it to say not paid in full", msg)
	}
}

// A partial payment reported for an order already closed keeps it closed
// but flags it with the amount received; for a paid order it is refused.
func TestPartial_OnFinalOrders(t *testing.T) {
	amount := posbridge.Money{Minor: 1000, Currency: "AED"}
	received := posbridge.Money{Minor: 700, Currency: "AED"}
	tests := []struct {
		from    posbridge.Status
		want    posbridge.Status
		refused bool
	}{
		{posbridge.StatusCanceled, posbridge.StatusCanceled, false},
		{posbridge.StatusFailed, posbridge.StatusFailed, false},
		{posbridge.StatusPaid, posbridge.StatusPaid, true},
		{posbridge.StatusVerifying, posbridge.StatusPending, false},
	}
	for _, tt := range tests {
		o := posbridge.Order{No: "X1", Amount: amount, Status: tt.from}
		_, err := o.Apply(posbridge.Input{Kind: posbridge.InputGatewayPartial}, time.Unix(0, 0))
		if (err != nil) != tt.refused || o.Status != tt.want {
			t.Errorf("%s: %s, %v; want %s refused=%v", tt.from, o.Status, err, tt.want, tt.refused)
		}
		if !tt.refused && (!o.NeedsAttention || o.NextCheckAt.IsZero()) {
			t.Errorf("%s: attention=%v next check %v; want flagged and watched", tt.from, o.NeedsAttention, o.NextCheckAt)
		}
	}
	if got := posbridge.PartialAttention(received, amount); !strings.Contains(got, "7.00 AED of 10.00 AED") {
		t.Errorf("PartialAttention = %q", got)
	}
}

// A payment the gateway received more than the amount of (up to 1.2× on
// Pay Protocol) is paid, and flagged with what to give back.
func TestPartial_OverpaidIsPaidAndFlagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, NoLoop: true})
		ctx := context.Background()
		o := pay(t, te, "10.00")
		await(t, te, o.No)
		n := posbridge.Notification{Gateway: "fake", ID: "o1", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid,
			Amount: o.Amount, Received: mustAED(t, "12.00"), SentAt: time.Now(), ReceivedAt: time.Now()}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || !got.NeedsAttention || !strings.Contains(got.Attention, "received 12.00 AED for 10.00 AED") {
			t.Fatalf("overpaid: %s attention=%v %q", got.Status, got.NeedsAttention, got.Attention)
		}
	})
}
