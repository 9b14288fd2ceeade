package ui

import (
	"context"
	"testing"

	"github.com/posbridge/posbridge"
)

// fakeSettlement records the lanes it settles.
type fakeSettlement struct{ lanes []string }

func (s *fakeSettlement) Settle(ctx context.Context, lane string, by posbridge.By) (posbridge.Settlement, error) {
	if lane != "1" {
		return posbridge.Settlement{}, posbridge.Errorf(posbridge.ENOTFOUND, "Lane %q has no terminal to settle.", lane)
	}
	s.lanes = append(s.lanes, lane)
	aed := func(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }
	return posbridge.Settlement{ID: 1, Lane: lane, At: testStart, Totals: posbridge.BatchTotals{TerminalSN: "T1", BatchNo: "000001",
		Sales: 2, SalesTotal: aed(2550), Refunds: 1, RefundsTotal: aed(500)}}, nil
}

// POST /payments/{no}/void answers the void (a refund of method
// terminal_void); a card-present refund is asked with method
// "card_present"; an unknown method and a missing reason are refused; a
// void of an unpaid payment is a conflict.
func TestServer_VoidAndCardPresentRefund(t *testing.T) {
	book := &orderBook{}
	no := string(book.add(testOrder("F1000001", "1", 3000)))
	other := string(book.add(paidOrder(testOrder("F2000002", "2", 1000))))
	f := &fakeService{}
	f.PaymentFunc, f.VerifyFunc, f.VoidFunc = book.payment, book.verify, book.void
	var refundAsked posbridge.RefundParams
	f.RefundFunc = func(_ context.Context, no posbridge.OrderNo, p posbridge.RefundParams, by posbridge.By) (posbridge.Refund, bool, error) {
		refundAsked = p
		return posbridge.Refund{No: "R1", OrderNo: no, Amount: p.Amount, Status: posbridge.RefundRequested, Reason: by.Reason}, false, nil
	}
	s := mustOpenServer(t, f, Config{})
	base := s.URL() + "/api/v1/payments/"
	if r := doReq(t, "POST", base+no+"/void", `{"reason":"wrong item"}`); r.status != 409 || r.errCode() != posbridge.ECONFLICT {
		t.Fatalf("void of an unpaid payment: %d %s", r.status, r.raw)
	}
	book.change(posbridge.OrderNo(no), func(*posbridge.Order) { book.gatewayPaid = true })
	if r := doReq(t, "POST", base+no+"/verify", "{}"); str(r.body, "status") != "paid" {
		t.Fatalf("verify: %s", r.raw)
	}
	if r := doReq(t, "POST", base+no+"/refunds", `{"amount":"1","reason":"x","method":"cash"}`); r.status != 400 || r.errField() != "method" {
		t.Fatalf("unknown method: %d %s", r.status, r.raw)
	}
	if r := doReq(t, "POST", base+no+"/void", `{}`); r.status != 400 || r.errField() != "reason" {
		t.Fatalf("void without reason: %d %s", r.status, r.raw)
	}
	r := doReq(t, "POST", base+no+"/void", `{"reason":"wrong item"}`, "Idempotency-Key", "void-1")
	if r.status != 201 || str(r.body, "method") != "terminal_void" || str(r.body, "status") != "requested" || str(r.body, "amount") != "30.00" {
		t.Fatalf("void: %d %s", r.status, r.raw)
	}
	if by := book.lastBy(); by.Reason != "wrong item" || by.Actor != posbridge.ActorAPI {
		t.Errorf("void by %+v", by)
	}
	if again := doReq(t, "POST", base+no+"/void", `{"reason":"wrong item"}`, "Idempotency-Key", "void-1"); again.status != 200 || str(again.body, "refund_no") != str(r.body, "refund_no") {
		t.Fatalf("repeated void: %d %s", again.status, again.raw)
	}
	// card_present reaches the service; the engine's rules are tested in the root package.
	if r := doReq(t, "POST", base+other+"/refunds", `{"amount":"4","reason":"returned","method":"card_present"}`); r.status != 201 || str(r.body, "method") != "gateway" {
		t.Fatalf("card-present refund: %d %s", r.status, r.raw)
	}
	if !refundAsked.CardPresent || refundAsked.Amount != aed(400) {
		t.Errorf("the service was asked for %+v, want a card-present refund of 4.00", refundAsked)
	}
}

// POST /lanes/{lane}/settle answers the recorded settlement's totals, 404
// for a lane without a terminal to settle and when settlement is not
// available.
func TestServer_Settle(t *testing.T) {
	none := mustOpenServer(t, &fakeService{}, Config{})
	if r := doReq(t, "POST", none.URL()+"/api/v1/lanes/1/settle", ""); r.status != 404 || r.errCode() != posbridge.ENOTFOUND {
		t.Fatalf("without settlement: %d %s", r.status, r.raw)
	}
	st := &fakeSettlement{}
	s := mustOpenServer(t, &fakeService{}, Config{Settlement: st})
	r := doReq(t, "POST", s.URL()+"/api/v1/lanes/1/settle", "")
	if r.status != 200 || str(r.body, "sales_total") != "25.50" || str(r.body, "refunds_total") != "5.00" || str(r.body, "batch_no") != "000001" || r.body["sales"] != float64(2) {
		t.Fatalf("settle: %d %s", r.status, r.raw)
	}
	if r := doReq(t, "POST", s.URL()+"/api/v1/lanes/9/settle", ""); r.status != 404 {
		t.Fatalf("unknown lane: %d %s", r.status, r.raw)
	}
}
