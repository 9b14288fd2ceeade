package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

// A refund's method is stored and read back; refunds of every method count
// together against what is refundable; the method never changes; an
// unknown method is refused.
func TestDB_RefundMethod(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	paid := MustPaid(t, db, 1000)
	void := newRefund(paid.No, 400)
	void.Method = posbridge.RefundTerminalRefund
	if _, err := db.CreateRefund(ctx, void, cause); err != nil {
		t.Fatal(err)
	}
	plain := newRefund(paid.No, 600)
	if _, err := db.CreateRefund(ctx, plain, cause); err != nil {
		t.Fatal(err)
	}
	over := newRefund(paid.No, 1)
	over.Method = posbridge.RefundTerminalRefund
	if _, err := db.CreateRefund(ctx, over, cause); !errors.Is(err, posbridge.ErrRefundExceeded) {
		t.Fatalf("a terminal refund over what the gateway refund left: %v", err)
	}
	bad := newRefund(paid.No, 1)
	bad.Method = "cash"
	if _, err := db.CreateRefund(ctx, bad, cause); posbridge.ErrorCode(err) != posbridge.EINVALID {
		t.Fatalf("unknown method: %v", err)
	}
	rs, err := db.Refunds(ctx, paid.No)
	if err != nil || len(rs) != 2 || rs[0].Method != posbridge.RefundTerminalRefund || rs[1].Method != posbridge.RefundViaGateway {
		t.Fatalf("refunds = %+v, %v", rs, err)
	}
	_, _, err = db.UpdateRefund(ctx, void.No, cause, func(r *posbridge.Refund) error {
		r.Method = posbridge.RefundViaGateway
		return nil
	})
	if posbridge.ErrorCode(err) != posbridge.EINVALID {
		t.Fatalf("changing the method: %v", err)
	}
}

// Settlements are kept per lane with their totals; the latest is found,
// a lane never settled is not found.
func TestDB_Settlements(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	if _, err := db.LastSettlement(ctx, "1"); !errors.Is(err, posbridge.ErrNotFound) {
		t.Fatalf("never settled: %v", err)
	}
	aed := func(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }
	first := posbridge.Settlement{Lane: "1", At: start, Totals: posbridge.BatchTotals{TerminalSN: "T1", BatchNo: "1", Sales: 3, SalesTotal: aed(3000), Refunds: 1, RefundsTotal: aed(500)}}
	second := posbridge.Settlement{Lane: "1", At: start.Add(time.Hour), Totals: posbridge.BatchTotals{TerminalSN: "T1", BatchNo: "2"}}
	for _, s := range []posbridge.Settlement{first, second, {Lane: "2", At: start.Add(2 * time.Hour)}} {
		if _, err := db.SaveSettlement(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SaveSettlement(ctx, posbridge.Settlement{}); posbridge.ErrorCode(err) != posbridge.EINVALID {
		t.Fatalf("no lane: %v", err)
	}
	last, err := db.LastSettlement(ctx, "1")
	if err != nil || last.Totals.BatchNo != "2" || !last.At.Equal(second.At.Truncate(time.Millisecond)) {
		t.Fatalf("last = %+v, %v", last, err)
	}
	all, err := db.Settlements(ctx, start, start.Add(90*time.Minute))
	if err != nil || len(all) != 2 || all[0].Totals != first.Totals {
		t.Fatalf("settlements = %+v, %v", all, err)
	}
}
