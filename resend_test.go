package posbridge_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// resendingGateway is the fake gateway that can send a callback again (Pay
// Protocol's /payment/notify). Its "callback" here is the payment the
// gateway knew of all along but whose callback was lost: the resend makes
// the fake report it.
type resendingGateway struct {
	*posbridgetest.FakeGateway
	mu      sync.Mutex
	resends []posbridge.OrderNo
	paid    bool // the customer paid; only the callback was lost
}

func (g *resendingGateway) ResendOrderNotification(ctx context.Context, no posbridge.OrderNo) error {
	g.mu.Lock()
	g.resends = append(g.resends, no)
	paid := g.paid
	g.mu.Unlock()
	if paid {
		o, _ := g.QueryOrder(ctx, no)
		g.Set(no, o.Amount, posbridge.GatewayPaid)
	}
	return nil
}

// Before the reconciler gives up on an order, it asks a gateway that can
// resend callbacks to do so, once; it still queries before closing, so a
// payment found then wins, and an order that stays unpaid is closed as
// before.
func TestReconciler_AsksForCallbackBeforeGivingUp(t *testing.T) {
	tests := []struct {
		name string
		paid bool
		want posbridge.Status
	}{
		{"payment behind a lost callback", true, posbridge.StatusPaid},
		{"never paid", false, posbridge.StatusCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gw := &resendingGateway{FakeGateway: posbridgetest.NewFakeGateway(), paid: tt.paid}
				term := posbridgetest.NewFakeTerminal(gw.FakeGateway, answerLost)
				te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term})
				o := pay(t, te, "5.00")
				await(t, te, o.No)
				time.Sleep(2 * time.Hour)
				synctest.Wait()
				got, _ := te.Payment(context.Background(), o.No)
				if got.Status != tt.want {
					t.Fatalf("after every check: %s (%s), want %s", got.Status, got.Reason, tt.want)
				}
				gw.mu.Lock()
				defer gw.mu.Unlock()
				if len(gw.resends) != 1 || gw.resends[0] != o.No {
					t.Fatalf("resends %v, want one for %s", gw.resends, o.No)
				}
			})
		})
	}
}
