package posbridgetest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
)

var tenAED = posbridge.Money{Minor: 1000, Currency: "AED"}

// The gateway's cancel keeps PayBy's rules: only a created order is
// canceled; money received or a closed order refuses it as final; an order
// it does not know is not found.
func TestFakeGateway_Cancel(t *testing.T) {
	tests := []struct {
		name    string
		status  posbridge.GatewayStatus // "" : unknown to the gateway
		lose    bool
		wantErr error
		after   posbridge.GatewayStatus
	}{
		{"created", posbridge.GatewayCreated, false, nil, posbridge.GatewayFailed},
		{"created, answer lost", posbridge.GatewayCreated, true, posbridge.ErrUnknownOutcome, posbridge.GatewayFailed},
		{"paid", posbridge.GatewayPaid, false, posbridge.ErrOrderPaid, posbridge.GatewayPaid},
		{"partly paid", posbridge.GatewayPartiallyPaid, false, posbridge.ErrGatewayFinal, posbridge.GatewayPartiallyPaid},
		{"failed", posbridge.GatewayFailed, false, posbridge.ErrOrderClosed, posbridge.GatewayFailed},
		{"unknown", "", false, posbridge.ErrGatewayNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewFakeGateway()
			if tt.status != "" {
				g.Set("A1", tenAED, tt.status)
			}
			if tt.lose {
				g.LoseCancelAnswers()
			}
			_, err := g.CancelOrder(context.Background(), "A1")
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("cancel: %v, want %v", err, tt.wantErr)
			}
			if got := g.Status("A1"); got != tt.after {
				t.Fatalf("status after the cancel %q, want %q", got, tt.after)
			}
			if calls := g.CallsFor("A1"); len(calls) != 1 || calls[0] != "cancel" || g.Count("cancel") != 1 {
				t.Fatalf("calls %v (%d cancels), want one cancel", calls, g.Count("cancel"))
			}
		})
	}
}

// A refund succeeds at once (created under HoldRefunds) and its number
// names it: a repeat returns the first; SetErr fails refunds but not their
// queries.
func TestFakeGateway_Refunds(t *testing.T) {
	ctx := context.Background()
	g := NewFakeGateway()
	req := posbridge.RefundRequest{RefundNo: "R1", OrderNo: "A1", Amount: tenAED}
	if r, err := g.Refund(ctx, req); err != nil || r.Status != posbridge.GatewayRefundSuccess {
		t.Fatalf("refund: %+v, %v", r, err)
	}
	if r, err := g.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1", OrderNo: "A1", Amount: posbridge.Money{Minor: 1, Currency: "AED"}}); err != nil || r.Amount != tenAED {
		t.Fatalf("repeated refund: %+v, %v; want the first", r, err)
	}
	g.HoldRefunds()
	if r, _ := g.Refund(ctx, posbridge.RefundRequest{RefundNo: "R2", OrderNo: "A1", Amount: tenAED}); r.Status != posbridge.GatewayRefundCreated {
		t.Fatalf("held refund %s, want created", r.Status)
	}
	g.SetRefundStatus("R2", posbridge.GatewayRefundSuccess)
	down := errors.New("down")
	g.SetErr(down)
	if _, err := g.Refund(ctx, posbridge.RefundRequest{RefundNo: "R3"}); !errors.Is(err, down) {
		t.Fatalf("refund while down: %v", err)
	}
	if r, err := g.QueryRefund(ctx, "R2"); err != nil || r.Status != posbridge.GatewayRefundSuccess {
		t.Fatalf("query while down: %+v, %v", r, err)
	}
	if _, err := g.QueryRefund(ctx, "R9"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Fatalf("query of an unknown refund: %v", err)
	}
	if n := g.RefundCount(); n != 2 || g.Count("refund") != 4 || g.Count("query_refund") != 2 {
		t.Fatalf("%d refunds, %d refund calls, %d queries; want 2, 4, 2", n, g.Count("refund"), g.Count("query_refund"))
	}
}

// A terminal's sale tells the gateway what its script says, at the time
// it says; a sale beyond the script is approved and charged.
func TestFakeTerminal_ScriptTellsTheGateway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := NewFakeGateway()
		term := NewFakeTerminal(g,
			SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}, Create: true},
			SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined}, Decline: true},
			SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, ChargeAfter: time.Minute})
		want := []struct {
			outcome posbridge.Outcome
			status  posbridge.GatewayStatus
		}{
			{posbridge.OutcomeTimeout, posbridge.GatewayCreated},
			{posbridge.OutcomeDeclined, posbridge.GatewayFailed},
			{posbridge.OutcomeApproved, ""},
			{posbridge.OutcomeApproved, posbridge.GatewayPaid},
		}
		for i, w := range want {
			no := posbridge.OrderNo([]string{"S1", "S2", "S3", "S4"}[i])
			res, err := term.Sale(ctx, posbridge.Sale{OrderNo: no, Amount: tenAED})
			if err != nil || res.Outcome != w.outcome || g.Status(no) != w.status {
				t.Fatalf("sale %d: %s, %v, gateway %q; want %s, gateway %q", i+1, res.Outcome, err, g.Status(no), w.outcome, w.status)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if g.Status("S3") != posbridge.GatewayPaid {
			t.Fatalf("a minute after the late acquirer's sale the gateway has %q", g.Status("S3"))
		}
		if term.SalesOf("S1") != 1 || term.SalesOf("S9") != 0 {
			t.Fatal("sales counted wrong")
		}
	})
}

// A close during a CloseEnds sale's delay ends it closed on request (102);
// a CodePay terminal refuses a number it has seen (113).
func TestFakeTerminal_CloseAndCodePay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := NewFakeGateway()
		term := NewFakeTerminal(g, SaleScript{Delay: time.Minute, CloseEnds: true})
		done := make(chan posbridge.TerminalResult)
		go func() {
			res, _ := term.Sale(ctx, posbridge.Sale{OrderNo: "C1", Amount: tenAED})
			done <- res
		}()
		time.Sleep(time.Second)
		if err := term.CloseOrder(ctx, "C1"); err != nil {
			t.Fatal(err)
		}
		if res := <-done; res.Outcome != posbridge.OutcomeClosedOnRequest || res.Code != "102" {
			t.Fatalf("closed sale: %+v", res)
		}
		term.SetCodePay()
		if res, _ := term.Sale(ctx, posbridge.Sale{OrderNo: "C1", Amount: tenAED}); res.Code != "113" || res.Outcome != posbridge.OutcomeUnknown {
			t.Fatalf("a seen number on a CodePay terminal: %+v", res)
		}
		if res, _ := term.Query(ctx, "C1"); res.Outcome != posbridge.OutcomeDeclined || res.TransStatus != "1" {
			t.Fatalf("query of a seen number: %+v", res)
		}
		if closes, queries := term.Counts(); closes != 1 || queries != 1 {
			t.Fatalf("closes %d, queries %d; want 1, 1", closes, queries)
		}
	})
}

// BusyStore and FailingStore fail what they are told to, and pass the rest
// on.
func TestFailingStores(t *testing.T) {
	ctx := context.Background()
	busy := &BusyStore{}
	busy.FailNext(1)
	_, _, err := busy.UpdateOrder(ctx, "A1", posbridge.Cause{}, nil)
	if posbridge.ErrorCode(err) != posbridge.EUNAVAILABLE {
		t.Fatalf("busy store: %v, want %s", err, posbridge.EUNAVAILABLE)
	}
	fs := &FailingStore{}
	fs.FailNext(posbridge.ActorReconciler, 1, 1)
	if _, _, err := fs.UpdateOrder(ctx, "A1", posbridge.Cause{Actor: posbridge.ActorReconciler}, nil); err == nil {
		t.Fatal("failing store: the reconciler's order write went through")
	}
	if _, _, err := fs.UpdateRefund(ctx, "R1", posbridge.Cause{Actor: posbridge.ActorReconciler}, nil); err == nil {
		t.Fatal("failing store: the reconciler's refund write went through")
	}
	if fs.Failed() != 2 {
		t.Fatalf("failed %d, want 2", fs.Failed())
	}
}

func TestDigitRunsAndLuhn(t *testing.T) {
	b := []byte(`"cardNo":"4111111111111111","x":12,7`)
	var runs []string
	for i, j := range DigitRuns(b) {
		runs = append(runs, string(b[i:j]))
	}
	if len(runs) != 3 || runs[0] != "4111111111111111" || runs[1] != "12" || runs[2] != "7" {
		t.Fatalf("runs %q", runs)
	}
	for _, tt := range []struct {
		digits string
		ok     bool
	}{{"4111111111111111", true}, {"4242424242424242", true}, {"4111111111111112", false}, {"1316583005178758", false}, {"0", true}} {
		if Luhn(tt.digits) != tt.ok || Luhn([]byte(tt.digits)) != tt.ok {
			t.Errorf("Luhn(%s) = %v, want %v", tt.digits, !tt.ok, tt.ok)
		}
	}
}
