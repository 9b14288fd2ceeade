package codepay_test

import (
	"context"
	"errors"
	"testing"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// batch.close settles the terminal's paid sales and counts their refunds,
// answered as totals; the settled sales stay paid (settled) and can no
// longer be voided, only refunded; a second close is an empty batch.
func TestClient_CloseBatchAgainstSandbox(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	for _, s := range []struct {
		no, sn, amount string
	}{{"B1", "T", "10.00"}, {"B2", "T", "5.50"}, {"B3", "U", "7.00"}, {"B4", "T", "1.00"}} {
		if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: posbridge.OrderNo(s.no), Amount: usd(t, s.amount), TerminalSN: s.sn}); err != nil {
			t.Fatal(err)
		}
		if s.no == "B4" {
			continue // not paid: not in the batch
		}
		if err := r.sb.Pay(s.no, posbridge.Card{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "BR1", OrderNo: "B1", Amount: usd(t, "2.00")}); err != nil {
		t.Fatal(err)
	}
	got, err := r.client.CloseBatch(ctx, "T")
	if err != nil {
		t.Fatalf("CloseBatch: %v", err)
	}
	want := posbridge.BatchTotals{TerminalSN: "T", BatchNo: "000001", Sales: 2, SalesTotal: usd(t, "15.50"), Refunds: 1, RefundsTotal: usd(t, "2.00")}
	if got != want {
		t.Fatalf("totals = %+v, want %+v", got, want)
	}
	if g, err := r.client.QueryOrder(ctx, "B2"); err != nil || !g.Status.Paid() {
		t.Fatalf("settled sale = %+v, %v; want paid", g, err)
	}
	err = r.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "BV1", OrigNo: "B2", Kind: "void", Amount: usd(t, "5.50"), Status: posbridge.GatewayPaid})
	if !errors.Is(err, sandbox.ErrConflict) {
		t.Fatalf("void of a settled sale: %v, want refused", err)
	}
	if err := r.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "BF1", OrigNo: "B2", Kind: "refund", Amount: usd(t, "5.50"), Status: posbridge.GatewayPaid}); err != nil {
		t.Fatalf("refund of a settled sale: %v", err)
	}
	// The other terminal's sale is still open for its own batch.
	if g, err := r.client.CloseBatch(ctx, "U"); err != nil || g.Sales != 1 || g.SalesTotal != usd(t, "7.00") {
		t.Fatalf("terminal U: %+v, %v", g, err)
	}
	again, err := r.client.CloseBatch(ctx, "T")
	if err != nil || again.Sales != 0 || again.Refunds != 1 || again.RefundsTotal != usd(t, "5.50") {
		t.Fatalf("second close of T: %+v, %v; want no sales and the new refund", again, err)
	}
}

// A lost or unsigned answer to batch.close is an unknown outcome; a bad
// terminal serial is refused before anything is sent.
func TestClient_CloseBatchFaults(t *testing.T) {
	for _, kind := range []sandbox.FaultKind{sandbox.FaultDrop, sandbox.FaultUnsigned, sandbox.FaultCommit500} {
		t.Run(string(kind), func(t *testing.T) {
			r := newRig(t, nil)
			if err := r.sb.SetFault(codepay.MethodBatchClose, sandbox.Fault{Kind: kind, Times: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.client.CloseBatch(context.Background(), "T"); !errors.Is(err, posbridge.ErrUnknownOutcome) {
				t.Fatalf("CloseBatch with %s: %v, want unknown outcome", kind, err)
			}
		})
	}
	r := newRig(t, nil)
	if _, err := r.client.CloseBatch(context.Background(), ""); !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("no terminal: %v", err)
	}
}
