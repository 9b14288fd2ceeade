package posbridge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// A cashier's cancel while the customer still has the sale on the terminal
// must not close the order: the customer can still tap, and a charge taken
// after a "canceled" that the gateway never saw would be shown as not paid
// with no check left to find it.
func TestCancel_WhileSaleOnTerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2"}, Delay: 30 * time.Second, ChargeLate: true}}})
		ctx := context.Background()
		o := pay(t, te, "40.00")
		time.Sleep(5 * time.Second)
		got, err := te.Cancel(ctx, o.No, cashier)
		if err == nil {
			t.Errorf("Cancel while the sale is on the terminal succeeded (%s); want it refused", got.Status)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got, _ = te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("the customer was charged after the cancel, but the order is %s (%s), next check %v", got.Status, got.Reason, got.NextCheckAt)
		}
	})
}

// A paid notification that could not be written (database busy) must not be
// acknowledged: ApplyNotification returning nil makes the gateway's handler
// answer success, and PayBy never sends it again.
func TestNotification_NotAckedWhenStoreBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := &posbridgetest.BusyStore{}
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, Store: busy, NoLoop: true})
		ctx := context.Background()
		o := payPending(t, te, "9.00")

		busy.FailNext(1)
		n := posbridge.Notification{Gateway: "fake", ID: "busy1", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: o.Amount}
		err := te.ApplyNotification(ctx, n)
		got, _ := te.Payment(ctx, o.No)
		if err == nil && got.Status != posbridge.StatusPaid {
			t.Fatalf("ApplyNotification returned nil (acknowledge) but the order is %s: the paid notification is lost", got.Status)
		}
		if err != nil {
			if un, _ := te.db.UnappliedNotifications(ctx, 10); len(un) != 1 {
				t.Fatalf("a notification refused for a busy database must stay unapplied in the inbox; %d unapplied", len(un))
			}
			// The gateway delivers it again; now it applies.
			if err := te.ApplyNotification(ctx, n); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if got, _ = te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
				t.Fatalf("after redelivery: %s, want paid", got.Status)
			}
		}
	})
}

// A paid notification stored but not applied before a crash, for an order
// already canceled, must still make the order paid after the restart even
// when the gateway cannot be reached at start-up.
func TestRestart_UnappliedPaidNotificationOnClosedOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "15.00")
		gw := te.gw
		ctx := context.Background()
		if got, err := te.Cancel(ctx, o.No, cashier); err != nil || got.Status != posbridge.StatusCanceled {
			t.Fatalf("cancel: %s, %v", got.Status, err)
		}
		// The customer's payment went through after all (truth wins); the
		// notification is stored, then the process dies before applying it.
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid)
		if _, _, err := te.db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "fake", NotificationID: "late1", Kind: posbridge.NotifyOrder,
			OrderNo: o.No, Status: string(posbridge.GatewayPaid), Verified: true, ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		te.close(t)

		gw.SetErr(fmt.Errorf("query: %w", posbridge.ErrUnknownOutcome)) // the network is not up yet at start-up
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw})
		time.Sleep(time.Minute)
		gw.SetErr(nil)
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		got, _ := te2.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || !got.NeedsAttention {
			t.Fatalf("the gateway says paid and a paid notification was received, but the order is %s (attention %v, next check %v)", got.Status, got.NeedsAttention, got.NextCheckAt)
		}
	})
}

// A refund the engine recorded as failed and the gateway later reports as
// succeeded must count as refunded: otherwise the same money can be refunded
// again.
func TestRefund_FailedThenSucceeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{})
		ctx := context.Background()
		o := paid(t, te, "10.00")
		r := failedRefund(t, te, o.No, "10.00")
		// The gateway's word wins: the refund went through after all.
		n := posbridge.Notification{Gateway: "fake", ID: "r1", Kind: posbridge.NotifyRefund, OrderNo: r.No, OrigNo: o.No, Refund: posbridge.GatewayRefundSuccess, Amount: r.Amount}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		rs, _ := te.Refunds(ctx, o.No)
		if len(rs) != 1 || rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("refunds %+v, want the one refund succeeded", rs)
		}
		refusesSecondFullRefund(t, te, o.No, "10.00")
	})
}

// hookStore runs afterCreate once after an order is created (alone, or
// with its next step).
type hookStore struct {
	posbridge.Store
	afterCreate func(posbridge.OrderNo)
}

func (s *hookStore) Wrap(inner posbridge.Store) posbridge.Store {
	s.Store = inner
	return s
}

func (s *hookStore) CreateOrder(ctx context.Context, o *posbridge.Order, cause posbridge.Cause) (posbridge.Event, error) {
	ev, err := s.Store.CreateOrder(ctx, o, cause)
	if err == nil && s.afterCreate != nil {
		f := s.afterCreate
		s.afterCreate = nil
		f(o.No)
	}
	return ev, err
}

func (s *hookStore) CreateOrderThen(ctx context.Context, o *posbridge.Order, cause posbridge.Cause, then posbridge.OrderStep) (posbridge.Event, posbridge.Event, error) {
	created, changed, err := s.Store.CreateOrderThen(ctx, o, cause, then)
	if err == nil && s.afterCreate != nil {
		f := s.afterCreate
		s.afterCreate = nil
		f(o.No)
	}
	return created, changed, err
}

// holdGateway holds the first QueryOrder until release is closed, telling
// held when it got there.
type holdGateway struct {
	*posbridgetest.FakeGateway
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (g *holdGateway) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	g.once.Do(func() {
		close(g.held)
		<-g.release
	})
	return g.FakeGateway.QueryOrder(ctx, no)
}

// startTerminal closes started when the first sale reaches the terminal.
type startTerminal struct {
	*posbridgetest.FakeTerminal
	once    sync.Once
	started chan struct{}
}

func (t *startTerminal) Sale(ctx context.Context, s posbridge.Sale) (posbridge.TerminalResult, error) {
	t.once.Do(func() { close(t.started) })
	return t.FakeTerminal.Sale(ctx, s)
}

// The same, racing: the cashier's cancel starts the moment the order is
// stored, before its sale reaches the terminal, and the sale reaches the
// terminal while the cancel waits (for the gateway, or for the terminal's
// answer). The cancel must not commit "canceled" over the running sale.
func TestCancel_RacingSaleStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fgw := posbridgetest.NewFakeGateway()
		gw := &holdGateway{FakeGateway: fgw, held: make(chan struct{}), release: make(chan struct{})}
		term := &startTerminal{FakeTerminal: posbridgetest.NewFakeTerminal(fgw, posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2"}, Delay: 30 * time.Second, ChargeLate: true}), started: make(chan struct{})}
		st := &hookStore{}
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term, Store: st})
		ctx := context.Background()
		cancelErr := make(chan error, 1)
		st.afterCreate = func(no posbridge.OrderNo) {
			go func() {
				_, err := te.Cancel(ctx, no, cashier)
				cancelErr <- err
			}()
			// Until the cancel waits on something outside the engine.
			synctest.Wait()
		}
		o := pay(t, te, "40.00")
		<-term.started
		close(gw.release)
		if err := <-cancelErr; err == nil {
			t.Errorf("Cancel committed while the sale was on the terminal")
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("the customer was charged, but the order is %s (%s), next check %v", got.Status, got.Reason, got.NextCheckAt)
		}
	})
}

// A notification the store refused to apply (not acknowledged) is kept in
// the inbox; the reconciler applies it on its next pass, without waiting for
// a redelivery that may never come or for the next start.
func TestNotification_StoredUnappliedIsAppliedWithoutRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := &posbridgetest.BusyStore{}
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, Store: busy})
		ctx := context.Background()
		o := payPending(t, te, "9.00")
		busy.FailNext(1)
		n := posbridge.Notification{Gateway: "fake", ID: "busy2", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: o.Amount}
		if err := te.ApplyNotification(ctx, n); err == nil {
			t.Fatal("the store refused the write, yet the notification was acknowledged")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if un, _ := te.db.UnappliedNotifications(ctx, 10); len(un) != 0 {
			t.Fatalf("%d notifications still unapplied a minute later", len(un))
		}
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("the stored paid notification was not applied: %s", got.Status)
		}
	})
}

// A notification the store refused is applied within seconds by the
// reconciler's next pass, which it wakes (and, if that fails too, retries
// after DefaultRetryBackoff), not at the order's next scheduled check.
func TestNotification_RefusedIsRetriedWithinSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		busy := &posbridgetest.BusyStore{}
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, Store: busy})
		ctx := context.Background()
		o := payPending(t, te, "9.00")
		bound := posbridge.DefaultRetryBackoff + 5*time.Second
		// Let the first checks pass, until the next is well after bound.
		for range 20 {
			got, _ := te.Payment(ctx, o.No)
			if got.NextCheckAt.After(time.Now().Add(3 * bound)) {
				break
			}
			time.Sleep(time.Until(got.NextCheckAt) + time.Second)
			synctest.Wait()
		}
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPending || !got.NextCheckAt.After(time.Now().Add(3*bound)) {
			t.Fatalf("%s, next check at %v: the test needs a pending order checked well after %v from %v", got.Status, got.NextCheckAt, bound, time.Now())
		}
		busy.FailNext(2) // the delivery, and the reconciler's first retry
		n := posbridge.Notification{Gateway: "fake", ID: "busy3", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: o.Amount}
		if err := te.ApplyNotification(ctx, n); err == nil {
			t.Fatal("the store refused the write, yet the notification was acknowledged")
		}
		time.Sleep(bound)
		synctest.Wait()
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("%v after the refusal the stored paid notification is not applied: %s (next check %v)", bound, got.Status, got.NextCheckAt)
		}
	})
}
