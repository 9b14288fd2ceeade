package posbridge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// The money-safety rules of the payment flow, each pinned by the failure it
// prevents. Every test runs the real engine over a real SQLite store, with
// posbridgetest's FakeGateway and FakeTerminal (engine_setup_test.go).

var (
	saleApproved = posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2"}
	saleFailed   = posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "106", Message: "Transaction failed", TransStatus: "1"}
	saleByUser   = posbridge.TerminalResult{Outcome: posbridge.OutcomeCanceledByUser, Code: "110", TransStatus: "1"}
	saleTimeout  = posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
)

// A terminal error code other than "canceled by user" is not proof of no
// charge: the terminal said 106 "Transaction failed", but the acquirer
// reports the payment to the gateway a minute later. The order must end paid
// and must never have been shown as not paid.
func TestTerminalFailureCodeIsVerifiedWithTheGateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleFailed, ChargeAfter: time.Minute}}})
		o := pay(t, te, "12.00")
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		got, _ := te.Payment(context.Background(), o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("the customer was charged; the order is %s (%s)", got.Status, got.Reason)
		}
		if got.NeedsAttention {
			t.Fatalf("the order was shown not paid before it was paid (attention %q)", got.Attention)
		}
	})
}

// A decline the gateway confirms is final at once.
func TestTerminalDeclineConfirmedByGatewayIsFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleFailed, Decline: true}}})
		o := pay(t, te, "12.00")
		got := await(t, te, o.No)
		if got.Status != posbridge.StatusFailed || got.Reason != posbridge.ReasonDeclined || got.NeedsAttention {
			t.Fatalf("declined at the terminal and failed at the gateway: %s (%s) attention %v", got.Status, got.Reason, got.NeedsAttention)
		}
		if time.Since(got.CreatedAt) > 5*time.Second {
			t.Fatalf("a confirmed decline took %v", time.Since(got.CreatedAt))
		}
	})
}

// "Canceled by user" (110) is the one answer that means unpaid without asking.
func TestTerminalCanceledByUserIsUnpaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleByUser}}})
		o := pay(t, te, "12.00")
		got := await(t, te, o.No)
		if got.Status != posbridge.StatusFailed || got.Reason != posbridge.ReasonCanceledByUser {
			t.Fatalf("canceled by the customer: %s (%s)", got.Status, got.Reason)
		}
	})
}

// The terminal approved; the gateway does not know the order through every
// scheduled check (the acquirer reports days late); the terminal is
// unplugged when the checks run out. "Not found" is not proof of no charge:
// the order must never be closed, must be flagged, must keep a slow check,
// and must end paid when the gateway learns of it. It must not hold the lane.
func TestGatewayNotFoundIsNotProofOfNoCharge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleApproved, ChargeAfter: 50 * time.Hour}}})
		term := te.term
		ctx := context.Background()
		o := pay(t, te, "80.00")
		await(t, te, o.No)
		term.SetQueryErr(errors.New("link down"))
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if !got.Open() || !got.NeedsAttention || got.NextCheckAt.IsZero() {
			t.Fatalf("approved at the terminal, unknown at the gateway: %s (%s) attention %v next check %v", got.Status, got.Reason, got.NeedsAttention, got.NextCheckAt)
		}
		if _, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "1.00"), By: cashier}); err != nil {
			t.Fatalf("a new customer after every check ran out: %v", err)
		}
		time.Sleep(3 * 24 * time.Hour)
		synctest.Wait()
		got, _ = te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("the gateway learned of the payment; the order is %s (%s)", got.Status, got.Reason)
		}
	})
}

// The sale got no answer and the terminal cannot be asked when the checks
// run out; the gateway never heard of the order. Nobody can say the customer
// was not charged: the order is parked (flagged, checked on), never closed.
func TestUnansweredSaleIsNotClosedOnNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleTimeout}}})
		term := te.term
		o := pay(t, te, "18.00")
		await(t, te, o.No)
		term.SetQueryErr(errors.New("link down"))
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		got, _ := te.Payment(context.Background(), o.No)
		if !got.Open() || got.Reason != posbridge.ReasonUnconfirmed || !got.NeedsAttention || got.NextCheckAt.IsZero() {
			t.Fatalf("no answer, no gateway, no terminal: %s (%s) attention %v next %v; want parked unconfirmed", got.Status, got.Reason, got.NeedsAttention, got.NextCheckAt)
		}
	})
}

// The terminal approved; the gateway has the order open (unpaid) through
// every check, because the acquirer reports hours late. Canceling it would
// turn a charged customer into a "canceled" order: it is parked instead,
// and ends paid when the capture arrives.
func TestApprovedSaleIsNotCanceledWhileTheGatewayHasItOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleApproved, Create: true, ChargeAfter: 5 * time.Hour}}})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "55.00")
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if slices.Contains(gw.CallsFor(o.No), "cancel") || !got.Open() || !got.NeedsAttention {
			t.Fatalf("approved at the terminal, open at the gateway: %s (%s) attention %v, gateway calls %v", got.Status, got.Reason, got.NeedsAttention, gw.CallsFor(o.No))
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if got, _ = te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("after the capture: %s", got.Status)
		}
	})
}

// The terminal approved but the gateway says the order failed: the two
// sources disagree, and a person must look.
func TestTerminalApprovedGatewayFailedIsFlagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleApproved, Decline: true}}})
		o := pay(t, te, "9.00")
		got := await(t, te, o.No)
		if got.Status != posbridge.StatusFailed || !got.NeedsAttention {
			t.Fatalf("terminal approved, gateway failed: %s attention %v", got.Status, got.NeedsAttention)
		}
	})
}

// A paid notification is stored, the power goes before it is applied, and
// the gateway's API is down at start-up. The stored notification is what
// the gateway told us: it must be applied from the inbox, not re-asked.
func TestStoredNotificationAppliedAfterRestartWithGatewayDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &posbridgetest.FailingStore{}
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}, Store: fs})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "30.00")
		time.Sleep(2 * time.Minute)
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid)
		n := posbridge.Notification{Gateway: "fake", ID: "n1", Kind: posbridge.NotifyOrder, OrderNo: o.No, GatewayNo: "G1",
			Status: posbridge.GatewayPaid, Amount: o.Amount, Body: []byte(`{"notify_id":"n1"}`)}
		fs.FailNext(posbridge.ActorNotification, 1, 0)
		if err := te.ApplyNotification(ctx, n); err == nil {
			t.Fatal("a notification that could not be applied was acknowledged")
		}
		te.close(t)

		gw.SetErr(fmt.Errorf("query: %w", posbridge.ErrUnknownOutcome)) // down for the rest of the test
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw})
		time.Sleep(time.Minute)
		synctest.Wait()
		got, _ := te2.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("a verified paid notification was stored before the restart; the order is %s", got.Status)
		}
		// PayBy delivers it again: answered, and nothing changes.
		if err := te2.ApplyNotification(ctx, n); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	})
}

// The refund variant: a refund the engine recorded as failed, a SUCCESS
// notification stored but not applied before the power went, the gateway
// down at start-up. The refund must count, so a second full refund is refused.
func TestStoredRefundNotificationAppliedAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &posbridgetest.FailingStore{}
		te := newTestEngine(t, engineOpts{Store: fs})
		ctx := context.Background()
		o := pay(t, te, "10.00")
		time.Sleep(10 * time.Second)
		r := failedRefund(t, te, o.No, "10.00")
		n := posbridge.Notification{Gateway: "fake", ID: "r1", Kind: posbridge.NotifyRefund, OrderNo: r.No, OrigNo: o.No,
			Refund: posbridge.GatewayRefundSuccess, Amount: r.Amount, Body: []byte(`{"notify_id":"r1"}`)}
		fs.FailNext(posbridge.ActorNotification, 0, 1)
		if err := te.ApplyNotification(ctx, n); err == nil {
			t.Fatal("a refund notification that could not be applied was acknowledged")
		}
		te.close(t)

		te.gw.SetErr(fmt.Errorf("down: %w", posbridge.ErrUnknownOutcome))
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: te.gw})
		time.Sleep(time.Minute)
		synctest.Wait()
		rs, _ := te2.Refunds(ctx, o.No)
		if len(rs) != 1 || rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("refunds %+v, want the one refund succeeded", rs)
		}
		refusesSecondFullRefund(t, te2, o.No, "10.00")
	})
}

// A payment whose "sent" could not be written (the database refused it)
// never reached its terminal, or on a QR lane the gateway: it must not hold
// the lane. On a terminal lane nothing is stored (the order is created and
// marked sent in one commit); a QR order, stored first, is closed as not
// sent by the check stored with it.
func TestOrderThatNeverReachedTheTerminalFreesTheLane(t *testing.T) {
	tests := []struct {
		name   string
		opts   engineOpts
		lane   string
		orders int // orders on the lane afterwards, when checked
	}{
		{name: "terminal", lane: "1"},
		{name: "qr", opts: engineOpts{Gateway: posbridgetest.NewHostedGateway(), QR: &posbridge.QRLane{}}, lane: "Q", orders: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := &posbridgetest.FailingStore{}
				tt.opts.Store = fs
				te := newTestEngine(t, tt.opts)
				ctx := context.Background()
				fs.FailNext("", 1, 0)
				if _, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: tt.lane, Amount: mustAED(t, "7.00"), By: cashier}); err == nil {
					t.Fatal("Pay succeeded although the order could not be marked sent")
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				o, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: tt.lane, Amount: mustAED(t, "7.00"), By: cashier})
				if err != nil {
					t.Fatalf("the lane is still held by an order that never reached the terminal: %v", err)
				}
				page, _ := te.Payments(ctx, posbridge.OrderFilter{Lane: tt.lane})
				if tt.orders != 0 && len(page.Orders) != tt.orders {
					t.Fatalf("%d orders, want the one never sent and the new one", len(page.Orders))
				}
				for _, p := range page.Orders {
					if p.No != o.No && (p.Status != posbridge.StatusFailed || p.Reason != posbridge.ReasonNotSent) {
						t.Errorf("the order that was never sent is %s (%s), want failed (not_sent)", p.Status, p.Reason)
					}
				}
			})
		})
	}
}

// A failed order is closed at the gateway only after asking it first.
func TestCloseAtGatewayQueriesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleByUser, Create: true}}})
		gw := te.gw
		o := pay(t, te, "3.00")
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := gw.CallsFor(o.No)
		i := slices.Index(calls, "cancel")
		if i < 0 || !slices.Contains(calls[:i], "query") {
			t.Fatalf("calls for a failed order: %v; want a query before the cancel", calls)
		}
	})
}

// After a sale the customer canceled, a new payment on the lane first closes
// the previous order at the gateway (before creating the replacement).
func TestNewPaymentClosesThePreviousOrderFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleByUser, Create: true}}, NoLoop: true})
		gw := te.gw
		o := pay(t, te, "3.00")
		await(t, te, o.No)
		next := pay(t, te, "3.00")
		if s := gw.Status(o.No); s != posbridge.GatewayFailed {
			t.Fatalf("payment %s started while the previous order is %q at the gateway", next.No, s)
		}
	})
}

// On a CodePay terminal a number it has seen is refused (113), so a retry
// after the terminal answered must go out under a new number, after the old
// one is closed; the purchase is paid once.
func TestRetryOnATerminalThatRefusesSeenNumbers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost, {Result: saleApproved, Charge: true}}})
		term := te.term
		term.SetCodePay()
		ctx := context.Background()
		o := pay(t, te, "25.00")
		await(t, te, o.No)
		r, err := te.Retry(ctx, o.No, cashier)
		if err != nil {
			t.Fatalf("Retry: %v", err)
		}
		got := await(t, te, r.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("after the retry: %s %s (%s)", got.No, got.Status, got.Reason)
		}
		old, _ := te.Payment(ctx, o.No)
		if old.No != got.No && old.Open() {
			t.Fatalf("the replaced order is still %s", old.Status)
		}
		for _, no := range []posbridge.OrderNo{o.No, r.No} {
			if n := term.SalesOf(no); n > 1 {
				t.Fatalf("the terminal got %d sales for %s", n, no)
			}
		}
	})
}

// A signed notification outside the timestamp window (a late PayBy retry
// that kept its first timestamp, or a replay) is answered, and makes the
// engine ask the gateway instead of trusting it.
func TestStaleNotificationIsVerifiedByQuery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "44.00")
		gw := te.gw
		ctx := context.Background()
		// The stale notification says paid, the gateway says not (a replay
		// of another order's news cannot move money)...
		stale := posbridge.Notification{Gateway: "fake", ID: "s1", Kind: posbridge.NotifyOrder, OrderNo: o.No,
			Status: posbridge.GatewayPaid, Amount: o.Amount, Stale: true}
		if err := te.ApplyNotification(ctx, stale); err != nil {
			t.Fatalf("stale notification: %v", err)
		}
		synctest.Wait()
		if got, _ := te.Payment(ctx, o.No); got.Status == posbridge.StatusPaid {
			t.Fatal("a stale notification was applied as it stands")
		}
		// ...and when the gateway does say paid, the query it caused finds it.
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid)
		stale.ID = "s2"
		before := gw.Count("query")
		if err := te.ApplyNotification(ctx, stale); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || gw.Count("query") == before {
			t.Fatalf("after a stale notification and a query: %s (queries %d → %d)", got.Status, before, gw.Count("query"))
		}
	})
}

// A refund notification is checked like an order's: the amount, the
// currency and the order it names must match the stored refund.
func TestRefundNotificationMismatchIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "999.00")
		other := func() posbridge.Order {
			time.Sleep(time.Minute)
			return pay(t, te, "5.00")
		}()
		await(t, te, o.No)
		await(t, te, other.No)
		gw.SetErr(fmt.Errorf("refund: %w", posbridge.ErrUnknownOutcome))
		r, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "999.00")}, cashier)
		gw.SetErr(nil)
		if err != nil || r.Status.Final() {
			t.Fatalf("refund: %+v, %v; want it open", r, err)
		}
		usd := posbridge.Money{Minor: 100, Currency: "USD"}
		for i, n := range []posbridge.Notification{
			{ID: "m1", OrderNo: r.No, OrigNo: o.No, Amount: usd},               // wrong amount and currency
			{ID: "m2", OrderNo: r.No, OrigNo: other.No, Amount: r.Amount},      // names another order
			{ID: "m3", OrderNo: "R-UNKNOWN-000001", OrigNo: o.No, Amount: usd}, // a refund the order does not have
		} {
			n.Gateway, n.Kind, n.Refund = "fake", posbridge.NotifyRefund, posbridge.GatewayRefundSuccess
			if err := te.ApplyNotification(ctx, n); err != nil {
				t.Fatalf("notification %d: %v", i, err)
			}
		}
		rs, _ := te.Refunds(ctx, o.No)
		if len(rs) != 1 || rs[0].Status == posbridge.RefundSucceeded {
			t.Fatalf("refunds %+v: a mismatched notification was applied", rs)
		}
		if got, _ := te.Payment(ctx, o.No); !got.NeedsAttention || !got.Refunded.IsZero() {
			t.Fatalf("order after mismatched refund notifications: attention %v refunded %s", got.NeedsAttention, got.Refunded)
		}
	})
}

// A cashier's cancel asks the gateway before it cancels there: a paid order
// must never be "canceled".
func TestCancelQueriesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "6.00")
		gw := te.gw
		before := len(gw.CallsFor(o.No))
		if _, err := te.Cancel(context.Background(), o.No, cashier); err != nil {
			t.Fatal(err)
		}
		calls := gw.CallsFor(o.No)[before:]
		if len(calls) < 2 || calls[0] != "query" || !slices.Contains(calls, "cancel") {
			t.Fatalf("calls made by the cancel: %v; want a query, then the cancel", calls)
		}
	})
}

// The terminal said "canceled by user" but the acquirer charged. A new
// payment on the lane first closes the previous order at the gateway and
// finds it paid: the new payment must not start (the customer would pay twice).
func TestNewPaymentStopsWhenThePreviousOrderTurnsOutPaid(t *testing.T) {
	for _, loop := range []bool{false, true} {
		t.Run(fmt.Sprintf("reconciler=%v", loop), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleByUser, Charge: true}}, NoLoop: !loop})
				ctx := context.Background()
				first := pay(t, te, "50.00")
				await(t, te, first.No)
				synctest.Wait()
				second, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "50.00"), By: cashier})
				if err == nil {
					prev, _ := te.Payment(ctx, first.No)
					t.Fatalf("the previous order is %s (%s), and payment %s started anyway", prev.Status, prev.Reason, second.No)
				}
				if posbridge.ErrorCode(err) != posbridge.ECONFLICT {
					t.Fatalf("Pay: %v, want a conflict", err)
				}
			})
		})
	}
}

// A refund the engine recorded as failed that the gateway did: its signed
// SUCCESS arrives first outside the time window, then again inside it. The
// refund must end succeeded, so a second full refund is refused.
func TestStaleRefundNotificationForAFailedRefund(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{})
		ctx := context.Background()
		o, r := refundFailedButDone(t, te, "10.00")
		n := posbridge.Notification{Gateway: "fake", ID: "r1", Kind: posbridge.NotifyRefund, OrderNo: r.No, OrigNo: o.No,
			Refund: posbridge.GatewayRefundSuccess, Amount: r.Amount, Stale: true}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		n.Stale = false // PayBy's retry, inside the window
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // before the hourly question about failed refunds
		synctest.Wait()
		rs, _ := te.Refunds(ctx, o.No)
		if rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("the gateway refunded and said so twice; the refund is %s", rs[0].Status)
		}
		refusesSecondFullRefund(t, te, o.No, "10.00")
	})
}

// refundFailedButDone makes a paid order of amount and its full refund,
// which the engine records failed (the gateway answered a final error) but
// which the gateway did.
func refundFailedButDone(t *testing.T, te *testEngine, amount string) (posbridge.Order, posbridge.Refund) {
	t.Helper()
	o := paid(t, te, amount)
	r := failedRefund(t, te, o.No, amount)
	te.gw.RecordRefund(r.No, o.No, r.Amount)
	return o, r
}

// A retry sends the same number again; the first attempt's decline says
// nothing about the second. After a restart with the terminal silent, a
// cancel must not close the order on "not found" and the old decline.
func TestRetryForgetsThePreviousAttemptsAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleFailed}, {Result: saleApproved, Delay: time.Hour, ChargeAfter: time.Hour}}})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "70.00")
		await(t, te, o.No)
		if _, err := te.Retry(ctx, o.No, cashier); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		time.Sleep(10 * time.Second)
		te.close(t) // the power goes during the second sale

		term2 := posbridgetest.NewFakeTerminal(gw)
		term2.SetQueryErr(errors.New("terminal rebooting"))
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw, Terminal: term2})
		time.Sleep(5 * time.Second)
		got, err := te2.Cancel(ctx, o.No, cashier)
		if err == nil {
			t.Fatalf("attempt %d had no answer and the terminal cannot be asked; canceled (%s, attention %v) on 'not found' and the first attempt's %q",
				got.Attempts, got.Reason, got.NeedsAttention, got.TerminalOutcome)
		}
		// When the checks run out, the first attempt's decline is no word
		// about the second: the order is parked as unconfirmed ("the customer
		// may have been charged"), not closed on that decline.
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		got, _ = te2.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPending || got.Reason != posbridge.ReasonUnconfirmed || !got.NeedsAttention {
			t.Fatalf("after every check: %s (%s) attention=%v, terminal outcome %q; want pending (unconfirmed), flagged",
				got.Status, got.Reason, got.NeedsAttention, got.TerminalOutcome)
		}
	})
}

// A refund the gateway refused with a final error, that it did after all,
// with no notification: the reconciler's hourly question about recent
// failures finds it, so the same money cannot be refunded twice.
func TestFailedRefundIsAskedAboutAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{})
		ctx := context.Background()
		o, _ := refundFailedButDone(t, te, "10.00")
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if rs, _ := te.Refunds(ctx, o.No); rs[0].Status != posbridge.RefundSucceeded {
			t.Fatalf("the gateway did the refund; it is still %s here", rs[0].Status)
		}
		refusesSecondFullRefund(t, te, o.No, "10.00")
	})
}

// The cashier vouched for a payment ("checked on the terminal"), it was
// then canceled, and the gateway later reports it paid: the payment after
// the close must stay flagged, whatever the cashier said before.
func TestPaidAfterCloseStaysFlaggedAfterAnOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "20.00")
		gw := te.gw
		ctx := context.Background()
		if _, err := te.Override(ctx, o.No, posbridge.By{Actor: posbridge.ActorCashier, Who: "amal", Reason: "screen said approved"}); err != nil {
			t.Fatal(err)
		}
		if got, err := te.Cancel(ctx, o.No, cashier); err != nil || got.Status != posbridge.StatusCanceled {
			t.Fatalf("cancel: %s, %v", got.Status, err)
		}
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid) // captured after the close
		time.Sleep(time.Hour)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || !got.NeedsAttention || got.Attention != string(posbridge.ReasonPaidAfterClose) {
			t.Fatalf("paid after the close: %s attention %v %q", got.Status, got.NeedsAttention, got.Attention)
		}
	})
}

// A scheduled check whose write keeps failing (another connection holds the
// database) is held back by its backoff. The hold must also stop a retry at
// the very instant it ends: a hold that ended "now" was once kept, and the
// reconciler retried at the same instant for as long as the lock was held,
// hundreds of times (found by the 20,000-scenario simulation).
func TestFailingCheckWriteDoesNotSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The gateway has not heard of the order (a late acquirer): each
		// check is a clean "not found", and only the write fails.
		fs := &posbridgetest.FailingStore{}
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleTimeout}}, Store: fs})
		ctx := context.Background()
		o := pay(t, te, "12.00")
		time.Sleep(2 * time.Minute) // pending, under the reconciler
		synctest.Wait()
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPending {
			t.Fatalf("setup: %s, want pending", got.Status)
		}
		// Bounded, so a spinning loop ends (simulated time stands still
		// while it spins) and the count below reports it.
		fs.FailNext(posbridge.ActorReconciler, 1000, 0)
		time.Sleep(time.Minute)
		synctest.Wait()
		fs.FailNext(posbridge.ActorReconciler, 0, 0)
		// A minute of failing writes under a backoff of 5 s, doubling: a
		// handful of tries, not one per scheduler turn.
		if n := fs.Failed(); n > 20 {
			t.Fatalf("%d writes failed in one minute: the reconciler retries without waiting", n)
		}
	})
}

// A cashier cancels a pending order; the gateway closes it but the answer is
// lost. The acquirer then captures it late: the order is paid, and a person
// must look (it was captured on an order the shop tried to close), as when
// the cancel's answer had arrived (found by the 20,000-scenario simulation).
func TestPaymentAfterALostCancelAnswerIsFlagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "44.00")
		gw := te.gw
		ctx := context.Background()
		gw.LoseCancelAnswers()
		if _, err := te.Cancel(ctx, o.No, cashier); posbridge.ErrorCode(err) != posbridge.EUNAVAILABLE {
			t.Fatalf("cancel with its answer lost: %v, want unavailable", err)
		}
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid) // the acquirer, late
		time.Sleep(time.Hour)
		synctest.Wait()
		got, _ := te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || !got.NeedsAttention || got.Reason != posbridge.ReasonPaidAfterClose {
			t.Fatalf("got %s (%s) attention=%v; want paid, paid_after_close, flagged", got.Status, got.Reason, got.NeedsAttention)
		}
	})
}

// The power goes while the sale's answer is lost; at start-up the terminal
// says it approved the sale, which the gateway has not heard of yet (a late
// acquirer). Then the terminal restarts and loses its table. A retry must
// not send the same number again: the terminal's earlier "approved" is
// remembered (found by the 20,000-scenario simulation: charged twice).
func TestTerminalApprovalFoundAtStartUpStopsARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleTimeout, Delay: time.Hour}}})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "36.00")
		time.Sleep(10 * time.Second)
		te.close(t)

		term2 := posbridgetest.NewFakeTerminal(gw)
		term2.SetQuery(posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2"})
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw, Terminal: term2})
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		term2.SetQuery(posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "104", NoRecord: true}) // rebooted
		if got, err := te2.Retry(ctx, o.No, cashier); err == nil {
			t.Fatalf("retry after the terminal approved the sale: %s, attempts %d", got.Status, got.Attempts)
		}
		if n := term2.SalesOf(o.No); n != 0 {
			t.Fatalf("the same number went to the terminal %d more times", n)
		}
	})
}

// A lane's pending order the gateway has not confirmed stops a new payment
// (the customer may have paid it), however many flagged orders (unconfirmed
// or partially paid, pending for ever) the lane has gathered since: the
// check looked only at the lane's ten newest open orders, so eleven flagged
// ones hid the order that still held the lane, and the customer could be
// charged twice.
func TestPendingOrderHoldsTheLaneBehindManyFlaggedOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, held := newPendingOrder(t, "7.00")
		ctx := context.Background()
		for i := range 12 {
			time.Sleep(time.Second)
			o := &posbridge.Order{No: posbridge.OrderNo(fmt.Sprintf("2099010100000000%02dFLAGGED0", i)), Lane: "1", Amount: mustAED(t, "1.00")}
			if _, err := te.db.CreateOrder(ctx, o, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "test"}); err != nil {
				t.Fatal(err)
			}
			reason := posbridge.ReasonUnconfirmed
			if i%2 == 1 {
				reason = posbridge.ReasonPartiallyPaid
			}
			if _, _, err := te.db.UpdateOrder(ctx, o.No, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "test"}, func(o *posbridge.Order) error {
				o.Status, o.Reason = posbridge.StatusPending, reason
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := te.Payment(ctx, held.No); got.Status != posbridge.StatusPending || !got.HoldsLane() {
			t.Fatalf("the first order is %s (%s), want pending and holding its lane", got.Status, got.Reason)
		}
		_, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "7.00"), By: cashier})
		if posbridge.ErrorCode(err) != posbridge.ELANEBUSY || !strings.Contains(err.Error(), string(held.No)) {
			t.Fatalf("a new payment while %s may still be charged: %v, want lane_busy naming it", held.No, err)
		}
	})
}
