package posbridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// newReversingSale opens an engine (no reconciler loop) whose lane "1"
// terminal also voids and refunds, and makes a paid order of amount on it.
func newReversingSale(t *testing.T, amount string) (*testEngine, *posbridgetest.ReversingTerminal, posbridge.Order) {
	t.Helper()
	gw := posbridgetest.NewFakeGateway()
	term := posbridgetest.NewReversingTerminal(gw)
	te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term, NoLoop: true})
	return te, term, paid(t, te, amount)
}

// voidAnswered voids order no on term, which answers res (and tells the
// gateway when record), and returns the void as stored once the engine is
// done with the answer.
func voidAnswered(t *testing.T, te *testEngine, term *posbridgetest.ReversingTerminal, no posbridge.OrderNo, res posbridge.TerminalResult, record bool) posbridge.Refund {
	t.Helper()
	term.Answer(res, nil, record)
	v, _, err := te.Void(context.Background(), no, posbridge.VoidParams{}, refundBy)
	if err != nil {
		t.Fatalf("Void: %v", err)
	}
	synctest.Wait()
	return refundOf(t, te, no, v.No)
}

var refundBy = posbridge.By{Actor: posbridge.ActorAPI, Who: "pos", Reason: "returned"}

func refundOf(t *testing.T, te *testEngine, order, no posbridge.OrderNo) posbridge.Refund {
	t.Helper()
	rs, err := te.Refunds(context.Background(), order)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.No == no {
			return r
		}
	}
	t.Fatalf("order %s has no refund %s", order, no)
	return posbridge.Refund{}
}

// The trap: the reconciler re-submits requested refunds to the gateway. A
// refund made on the terminal (stored before its first byte, then the
// process stopped) must only be asked about, never sent to the gateway as
// a refund — the customer would get the money twice. A gateway refund in
// the same state is re-sent, as before.
func TestTerminalRefund_RequestedNeverResentToGateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, _, o := newReversingSale(t, "10.00")
		gw := te.gw
		ctx := context.Background()
		now := time.Now()
		cause := posbridge.Cause{Actor: posbridge.ActorAPI, Action: "test"}
		onTerminal := &posbridge.Refund{No: "20261201000000001R0000000T", OrderNo: o.No, Amount: mustAED(t, "4.00"),
			Method: posbridge.RefundTerminalRefund, CreatedAt: now}
		viaGateway := &posbridge.Refund{No: "20261201000000002R0000000G", OrderNo: o.No, Amount: mustAED(t, "3.00"), CreatedAt: now}
		for _, r := range []*posbridge.Refund{onTerminal, viaGateway} {
			if _, err := te.db.CreateRefund(ctx, r, cause); err != nil {
				t.Fatalf("store refund %s: %v", r.No, err)
			}
		}
		if _, err := te.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if n := gw.Count("refund"); n != 1 {
			t.Fatalf("the gateway got %d refund calls, want 1 (the gateway refund only)", n)
		}
		if _, ok := gw.RefundOf(onTerminal.No); ok {
			t.Fatalf("the terminal refund %s was sent to the gateway as a refund", onTerminal.No)
		}
		if r := refundOf(t, te, o.No, onTerminal.No); r.Status != posbridge.RefundRequested {
			t.Fatalf("terminal refund unknown to the gateway is %s, want still requested", r.Status)
		}
		// The acquirer's record reaches the gateway: the next check finds it.
		gw.RecordRefund(onTerminal.No, o.No, onTerminal.Amount)
		time.Sleep(posbridge.DefaultRefundCheck)
		if _, err := te.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if r := refundOf(t, te, o.No, onTerminal.No); r.Status != posbridge.RefundSucceeded {
			t.Fatalf("terminal refund is %s after the gateway has it, want succeeded", r.Status)
		}
		if n := gw.Count("refund"); n != 1 {
			t.Fatalf("the gateway got %d refund calls, want 1", n)
		}
	})
}

// A void on the terminal: stored first, the whole amount, confirmed by the
// gateway showing the order revoked; the order's refunded total is its
// amount and nothing went to the gateway as a refund.
func TestTerminalVoid_Confirmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, term, o := newReversingSale(t, "12.50")
		gw := te.gw
		ctx := context.Background()
		v, replayed, err := te.Void(ctx, o.No, posbridge.VoidParams{IdempotencyKey: "v1"}, refundBy)
		if err != nil {
			t.Fatalf("Void: %v", err)
		}
		if v.Method != posbridge.RefundTerminalVoid || v.Amount != o.Amount || v.Status != posbridge.RefundRequested || replayed {
			t.Fatalf("void as stored: %+v", v)
		}
		synctest.Wait()
		if got := refundOf(t, te, o.No, v.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("void is %s, want succeeded", got.Status)
		}
		if got, _ := te.Payment(ctx, o.No); got.Refunded != o.Amount || got.Status != posbridge.StatusPaid {
			t.Fatalf("order after void: %s refunded %s", got.Status, got.Refunded)
		}
		if gw.Count("refund") != 0 || len(term.Voids()) != 1 {
			t.Fatalf("gateway refunds %d, terminal voids %d; want 0 and 1", gw.Count("refund"), len(term.Voids()))
		}
		again, replayed, err := te.Void(ctx, o.No, posbridge.VoidParams{IdempotencyKey: "v1"}, refundBy)
		if err != nil || again.No != v.No || !replayed {
			t.Fatalf("repeated void: %+v, %v; want %s", again, err, v.No)
		}
		if _, _, err := te.Void(ctx, o.No, posbridge.VoidParams{}, refundBy); posbridge.ErrorCode(err) != posbridge.ECONFLICT {
			t.Fatalf("second void: %v, want %s", err, posbridge.ECONFLICT)
		}
	})
}

// The gateway confirms a sale (its notification) while the terminal is still
// finishing it, and the cashier voids it at once: the void waits the moment
// the sale's terminal call takes to end, then runs, rather than answering
// "the lane's terminal is busy" for a payment already shown paid (found by
// TestE2E_VoidRefundAndSettle, 3 failures in 17 runs).
func TestTerminalVoid_RightAfterTheGatewayConfirmedTheSale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewFakeGateway()
		term := posbridgetest.NewReversingTerminal(gw)
		term.FakeTerminal = posbridgetest.NewFakeTerminal(gw, posbridgetest.SaleScript{
			Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2", TransNo: "T9"},
			Delay:  3 * time.Second, Charge: true,
		})
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term, NoLoop: true})
		ctx := context.Background()
		o := pay(t, te, "12.50")
		synctest.Wait()
		n := posbridge.Notification{Gateway: "fake", ID: "n-void-early", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: o.Amount}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("after the notification the payment is %s, want paid", got.Status)
		}
		v, _, err := te.Void(ctx, o.No, posbridge.VoidParams{}, refundBy)
		if err != nil {
			t.Fatalf("void right after the payment was confirmed: %v", err)
		}
		synctest.Wait()
		if got := refundOf(t, te, o.No, v.No); got.Status != posbridge.RefundSucceeded || len(term.Voids()) != 1 {
			t.Fatalf("void is %s, terminal voids %d; want succeeded and 1", got.Status, len(term.Voids()))
		}
	})
}

// Every answer of the terminal lands in the right status: a clear "not
// done" fails the refund (nothing written: failed too); an approved, lost
// or ambiguous answer is verified with the gateway, and stays pending
// while the gateway does not know it.
func TestTerminalRefund_Answers(t *testing.T) {
	timeout := posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
	tests := []struct {
		name   string
		res    posbridge.TerminalResult
		err    error
		record bool
		want   posbridge.RefundStatus
	}{
		{"approved, at the gateway", posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000"}, nil, true, posbridge.RefundSucceeded},
		{"approved, gateway not yet", posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000"}, nil, false, posbridge.RefundPending},
		{"answer lost, done", timeout, nil, true, posbridge.RefundSucceeded},
		{"answer lost, unknown", timeout, nil, false, posbridge.RefundPending},
		{"lost, query says not done", posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout,
			QueryAfter: &posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "000", TransStatus: "1"}}, nil, false, posbridge.RefundFailed},
		{"lost, query has no record", posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout,
			QueryAfter: &posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "104", NoRecord: true}}, nil, false, posbridge.RefundPending},
		{"declined", posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "119", TransStatus: "1"}, nil, false, posbridge.RefundFailed},
		{"nothing written", posbridge.TerminalResult{}, posbridge.ErrTerminalUnavailable, false, posbridge.RefundFailed},
		{"link error after writing", posbridge.TerminalResult{}, errors.New("link lost"), true, posbridge.RefundSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				te, term, o := newReversingSale(t, "10.00")
				gw := te.gw
				ctx := context.Background()
				term.Answer(tt.res, tt.err, tt.record)
				r, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "6.00"), CardPresent: true}, refundBy)
				if err != nil {
					t.Fatalf("Refund: %v", err)
				}
				synctest.Wait()
				got := refundOf(t, te, o.No, r.No)
				if got.Status != tt.want || got.Method != posbridge.RefundTerminalRefund {
					t.Fatalf("refund is %s (%s), want %s", got.Status, got.Method, tt.want)
				}
				if gw.Count("refund") != 0 {
					t.Fatal("a card-present refund was sent to the gateway")
				}
				// Until it fails, it counts against what is refundable.
				_, _, err = te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "5.00")}, refundBy)
				if tooMuch := posbridge.ErrorCode(err) == posbridge.EINVALID; tooMuch != (tt.want != posbridge.RefundFailed) {
					t.Fatalf("a gateway refund of 5.00 after a %s card-present refund of 6.00: %v", tt.want, err)
				}
			})
		})
	}
}

// A card-present refund is counted together with gateway refunds: never
// above what is left to refund.
func TestTerminalRefund_NeverAboveRefundable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, term, o := newReversingSale(t, "10.00")
		ctx := context.Background()
		if _, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "6.00")}, refundBy); err != nil {
			t.Fatalf("gateway refund: %v", err)
		}
		_, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "4.01"), CardPresent: true}, refundBy)
		if posbridge.ErrorCode(err) != posbridge.EINVALID || !errors.Is(err, posbridge.ErrRefundExceeded) {
			t.Fatalf("card-present refund above refundable: %v, want %s", err, posbridge.EINVALID)
		}
		if len(term.Refunds()) != 0 {
			t.Fatal("the terminal was asked for a refund above refundable")
		}
		r, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "4.00"), CardPresent: true}, refundBy)
		if err != nil {
			t.Fatalf("card-present refund of the rest: %v", err)
		}
		synctest.Wait()
		if got := refundOf(t, te, o.No, r.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("refund %s", got.Status)
		}
		if got, _ := te.Payment(ctx, o.No); got.Refunded != o.Amount {
			t.Fatalf("refunded %s, want %s", got.Refunded, o.Amount)
		}
		// A void voids the whole amount: refused once anything is refunded.
		if _, _, err := te.Void(ctx, o.No, posbridge.VoidParams{}, refundBy); posbridge.ErrorCode(err) != posbridge.ECONFLICT {
			t.Fatalf("void of a refunded order: %v, want %s", err, posbridge.ECONFLICT)
		}
	})
}

// After the lane's batch is settled, a void of its sales is refused with
// the reason; a card-present refund still works.
func TestTerminalVoid_RefusedAfterSettlement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, term, o := newReversingSale(t, "10.00")
		ctx := context.Background()
		time.Sleep(time.Second)
		if _, err := te.db.SaveSettlement(ctx, posbridge.Settlement{Lane: "1", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		_, _, err := te.Void(ctx, o.No, posbridge.VoidParams{}, refundBy)
		var pe *posbridge.Error
		if !errors.As(err, &pe) || pe.Code != posbridge.ECONFLICT || pe.Message != posbridge.VoidRefusal(o, nil, time.Now(), time.Now(), nil) {
			t.Fatalf("void after settlement: %v, want the settlement refusal", err)
		}
		if len(term.Voids()) != 0 {
			t.Fatal("a settled sale was voided on the terminal")
		}
		if _, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "10.00"), CardPresent: true}, refundBy); err != nil {
			t.Fatalf("refund after settlement: %v", err)
		}
	})
}

func TestVoidRefusal(t *testing.T) {
	utc := time.UTC
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, utc)
	paidOrder := posbridge.Order{Status: posbridge.StatusPaid, PaidAt: day, CreatedAt: day}
	tests := []struct {
		name    string
		o       posbridge.Order
		refunds []posbridge.Refund
		settled time.Time
		now     time.Time
		ok      bool
	}{
		{"same day", paidOrder, nil, time.Time{}, day.Add(time.Hour), true},
		{"settled before the sale", paidOrder, nil, day.Add(-time.Hour), day.Add(time.Hour), true},
		{"settled after the sale", paidOrder, nil, day.Add(time.Minute), day.Add(time.Hour), false},
		{"settled at the sale", paidOrder, nil, day, day.Add(time.Hour), false},
		{"next day", paidOrder, nil, time.Time{}, day.Add(14 * time.Hour), false},
		{"not paid", posbridge.Order{Status: posbridge.StatusPending, CreatedAt: day}, nil, time.Time{}, day, false},
		{"failed refund only", paidOrder, []posbridge.Refund{{Status: posbridge.RefundFailed}}, time.Time{}, day, true},
		{"pending refund", paidOrder, []posbridge.Refund{{Status: posbridge.RefundPending}}, time.Time{}, day, false},
		{"succeeded refund", paidOrder, []posbridge.Refund{{Status: posbridge.RefundSucceeded}}, time.Time{}, day, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why := posbridge.VoidRefusal(tt.o, tt.refunds, tt.settled, tt.now, utc)
			if (why == "") != tt.ok {
				t.Fatalf("VoidRefusal = %q, want allowed %v", why, tt.ok)
			}
		})
	}
}

// A void the terminal says is done, but that the gateway does not show
// (the order not revoked), stays pending and keeps the amount reserved;
// once the gateway shows the order revoked the next check confirms it.
func TestTerminalVoid_UnconfirmedStaysPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, term, o := newReversingSale(t, "10.00")
		gw := te.gw
		ctx := context.Background()
		v := voidAnswered(t, te, term, o.No, posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000"}, false)
		if v.Status != posbridge.RefundPending {
			t.Fatalf("void without the gateway's word is %s, want pending", v.Status)
		}
		if got, _ := te.Payment(ctx, o.No); got.Refunded.Minor != 0 {
			t.Fatalf("refunded %s before the gateway confirmed the void", got.Refunded)
		}
		gw.Revoke(o.No)
		if _, err := te.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := refundOf(t, te, o.No, v.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("void is %s once the gateway shows the order revoked, want succeeded", got.Status)
		}
		if gw.Count("refund") != 0 {
			t.Fatal("a void was sent to the gateway as a refund")
		}
	})
}

// A void on the terminal shows at the gateway as its order revoked (PayBy:
// FAILURE with revoked; CodePay: trans_status 3), never as a refund: the
// day close matches a paid order and its succeeded void with that, and a
// paid order shown failed without a void is still a difference.
func TestDecideDay_TerminalVoid(t *testing.T) {
	ten := mustAED(t, "10.00")
	order := posbridge.Order{No: "A", Status: posbridge.StatusPaid, Amount: ten}
	void := func(st posbridge.RefundStatus) []posbridge.Refund {
		return []posbridge.Refund{{No: "V", OrderNo: "A", Status: st, Amount: ten, Method: posbridge.RefundTerminalVoid}}
	}
	revoked := []posbridge.ListedOrder{{GatewayOrder: posbridge.GatewayOrder{OrderNo: "A", Status: posbridge.GatewayFailed, Revoked: true, Amount: ten}}}
	tests := []struct {
		name        string
		refunds     []posbridge.Refund
		gw          []posbridge.ListedOrder
		order, void posbridge.DayBucket
		voidAction  posbridge.DayAction
	}{
		{"void succeeded, order revoked", void(posbridge.RefundSucceeded), revoked, posbridge.BucketMatched, posbridge.BucketMatched, posbridge.ActNone},
		{"void pending, order revoked", void(posbridge.RefundPending), revoked, posbridge.BucketMatched, posbridge.BucketOnlyLocal, posbridge.ActVerify},
		{"void succeeded, order paid there", void(posbridge.RefundSucceeded),
			[]posbridge.ListedOrder{{GatewayOrder: posbridge.GatewayOrder{OrderNo: "A", Status: posbridge.GatewayPaid, Amount: ten}}},
			posbridge.BucketMatched, posbridge.BucketOnlyLocal, posbridge.ActVerify},
		{"no void, order revoked", nil, revoked, posbridge.BucketDifferent, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := posbridge.DecideDay(posbridge.DayInput{Local: []posbridge.Order{order}, LocalRefunds: tt.refunds, Gateway: tt.gw})
			for _, it := range items {
				switch it.Kind {
				case posbridge.DayOrder:
					if it.Bucket != tt.order {
						t.Errorf("order: %s (%s), want %s", it.Bucket, it.Detail, tt.order)
					}
				case posbridge.DayRefund:
					if it.Bucket != tt.void || it.Action != tt.voidAction {
						t.Errorf("void: %s/%s (%s), want %s/%s", it.Bucket, it.Action, it.Detail, tt.void, tt.voidAction)
					}
				}
			}
		})
	}
}

// The day's report counts refunds and voids by method (failed ones only in
// the status lines); voids and card-present refunds are in the refunded
// total like gateway refunds.
func TestBuildDayReport_RefundMethods(t *testing.T) {
	m := func(s string) posbridge.Money { return mustAED(t, s) }
	refunds := []posbridge.Refund{
		{No: "R1", Status: posbridge.RefundSucceeded, Amount: m("5.00")},
		{No: "R2", Status: posbridge.RefundSucceeded, Amount: m("3.00"), Method: posbridge.RefundTerminalRefund},
		{No: "V1", Status: posbridge.RefundSucceeded, Amount: m("10.00"), Method: posbridge.RefundTerminalVoid},
		{No: "V2", Status: posbridge.RefundPending, Amount: m("7.00"), Method: posbridge.RefundTerminalVoid},
		{No: "R3", Status: posbridge.RefundFailed, Amount: m("1.00"), Method: posbridge.RefundTerminalRefund},
	}
	now := time.Now()
	r := posbridge.BuildDayReport("2026-12-01", now, now, now, nil, nil, refunds, nil)
	want := map[string]string{"gateway": "1 5.00", "terminal_refund": "1 3.00", "terminal_void": "2 17.00"}
	if len(r.RefundMethods) != len(want) {
		t.Fatalf("refund methods %+v", r.RefundMethods)
	}
	for _, l := range r.RefundMethods {
		if got := fmt.Sprintf("%d %s", l.Count, l.Amount.Decimal()); got != want[l.Key] {
			t.Errorf("%s: %s, want %s", l.Key, got, want[l.Key])
		}
	}
	if len(r.Refunded) != 1 || r.Refunded[0].Amount != m("18.00") {
		t.Errorf("refunded %+v, want 18.00", r.Refunded)
	}
}

// The gateway's notification that a paid order is revoked (how a void on
// the terminal shows) is not applied to the order (a paid order stays
// paid), but makes posbridge ask about the order's open void at once.
func TestTerminalVoid_RevokedNotification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, term, o := newReversingSale(t, "9.00")
		gw := te.gw
		ctx := context.Background()
		v := voidAnswered(t, te, term, o.No, posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}, false)
		if v.Status != posbridge.RefundPending {
			t.Fatalf("void with a lost answer is %s, want pending", v.Status)
		}
		gw.Revoke(o.No)
		n := posbridge.Notification{Gateway: "fake", ID: "rv1", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayFailed,
			Revoked: true, Amount: o.Amount, SentAt: time.Now(), ReceivedAt: time.Now()}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		if got := refundOf(t, te, o.No, v.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("void after the revoked notification is %s, want succeeded", got.Status)
		}
		if got, _ := te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid || got.NeedsAttention {
			t.Fatalf("order %s (attention %v: %q) after a revoked notification, want paid", got.Status, got.NeedsAttention, got.Attention)
		}
	})
}

// The day close asks about a void made on the terminal the way it shows at
// the gateway (the sale revoked), never as a refund: a pending void whose
// sale the gateway shows revoked is matched and confirmed; one the gateway
// does not show flags the order.
func TestDayClose_TerminalVoids(t *testing.T) {
	d := newDayEnv(t, 2)
	ctx := context.Background()
	d.clock.Set(dayStart)
	cause := posbridge.Cause{Actor: posbridge.ActorAPI, Action: "test"}
	for _, no := range []string{"VOIDED1", "NOTVOID1"} {
		d.local(no, "6.00", posbridge.StatusPaid, "")
		d.gateway(no, "6.00", posbridge.GatewayPaid)
		v := &posbridge.Refund{No: posbridge.OrderNo("V" + no), OrderNo: posbridge.OrderNo(no), Amount: mustAED(t, "6.00"),
			Method: posbridge.RefundTerminalVoid, CreatedAt: d.clock.Now()}
		if _, err := d.db.CreateRefund(ctx, v, cause); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.db.UpdateRefund(ctx, v.No, cause, func(r *posbridge.Refund) error { r.Status = posbridge.RefundPending; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "VVOIDED1", OrigNo: "VOIDED1", Kind: "void", Amount: mustAED(t, "6.00"), Status: posbridge.GatewayPaid}); err != nil {
		t.Fatal(err)
	}
	d.clock.Set(dayStart.Add(14 * time.Hour))
	rec, err := d.closer.CloseDay(ctx, dayStart.Format(time.DateOnly), posbridge.By{Actor: posbridge.ActorReconciler})
	if err != nil {
		t.Fatal(err)
	}
	results := map[posbridge.OrderNo]posbridge.DayItem{}
	for _, it := range rec.Items {
		results[it.No] = it
	}
	if it := results["VOIDED1"]; it.Bucket != posbridge.BucketMatched {
		t.Errorf("voided sale: %+v", it)
	}
	if it := results["VVOIDED1"]; it.Result != "refund now succeeded" {
		t.Errorf("void the gateway shows: %+v", it)
	}
	if d.order("VOIDED1").NeedsAttention {
		t.Errorf("voided sale flagged: %s", d.order("VOIDED1").Attention)
	}
	if o := d.order("NOTVOID1"); !o.NeedsAttention || o.Attention != posbridge.AttentionRefundUnknown {
		t.Errorf("a void the gateway does not show: attention %v %q", o.NeedsAttention, o.Attention)
	}
	rs, _ := d.db.Refunds(ctx, "VOIDED1")
	if len(rs) != 1 || rs[0].Status != posbridge.RefundSucceeded {
		t.Errorf("void after the day close: %+v", rs)
	}
	for _, q := range d.sb.Requests() {
		if strings.HasSuffix(q.Path, "/refund/placeOrder") {
			t.Errorf("the day close sent a refund: %+v", q)
		}
	}
}
