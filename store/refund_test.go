package store_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	"github.com/posbridge/posbridge"
)

var refundSeq int

func newRefund(order posbridge.OrderNo, minor int64) *posbridge.Refund {
	refundSeq++
	return &posbridge.Refund{No: posbridge.OrderNo("R" + string(rune('A'+refundSeq%26)) + string(order)[1:]),
		OrderNo: order, Amount: posbridge.Money{Minor: minor, Currency: "AED"}, Actor: "cashier amal"}
}

func TestDB_CreateRefund(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	paid := MustPaid(t, db, 1000)
	first := newRefund(paid.No, 600)
	if _, err := db.CreateRefund(ctx, first, cause); err != nil {
		t.Fatal(err)
	}
	pending := MustCreate(t, db, newOrder("1"))
	tests := []struct {
		name   string
		refund func() *posbridge.Refund
		check  func(*testing.T, error)
	}{
		{"OK", func() *posbridge.Refund { return newRefund(paid.No, 400) }, nil},
		{"ErrRefundExceeded", func() *posbridge.Refund { return newRefund(paid.No, 401) }, wantIs(posbridge.ErrRefundExceeded)},
		{"ErrCurrency", func() *posbridge.Refund {
			r := newRefund(paid.No, 1)
			r.Amount.Currency = "USD"
			return r
		}, wantIs(posbridge.ErrCurrencyMismatch)},
		{"ErrZero", func() *posbridge.Refund { return newRefund(paid.No, 0) }, wantIs(posbridge.ErrZeroAmount)},
		{"ErrNotPaid", func() *posbridge.Refund { return newRefund(pending.No, 1) }, wantCode(posbridge.ECONFLICT)},
		{"ErrNotFound", func() *posbridge.Refund { return newRefund("Missing1", 1) }, wantIs(posbridge.ErrNotFound)},
		{"ErrExists", func() *posbridge.Refund { r := newRefund(paid.No, 1); r.No = first.No; return r }, wantCode(posbridge.ECONFLICT)},
		{"ErrInvalidNo", func() *posbridge.Refund { r := newRefund(paid.No, 1); r.No = "r-1"; return r }, wantIs(posbridge.ErrInvalidOrderNo)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := MustEvents(t, db)
			r := tt.refund()
			ev, err := db.CreateRefund(ctx, r, cause)
			if tt.check != nil {
				tt.check(t, err)
				if after := MustEvents(t, db); len(after) != len(before) {
					t.Error("a refused refund stored an event")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != posbridge.RefundRequested || r.Version != 1 {
				t.Errorf("refund = %+v, want requested, version 1", r)
			}
			if ev.Type != posbridge.EventRefund || !reflect.DeepEqual(*ev.Refund, *r) || ev.Payment == nil || ev.Payment.No != paid.No {
				t.Errorf("event = %+v, want a refund event with both snapshots", ev)
			}
			rs, err := db.Refunds(ctx, paid.No)
			if err != nil || len(rs) != 2 || !reflect.DeepEqual(rs[1], *r) {
				t.Errorf("Refunds = %+v, %v; want the new refund second", rs, err)
			}
			if audit, err := db.Audit(ctx, r.No); err != nil || len(audit) != 1 || audit[0].To != posbridge.Status(posbridge.RefundRequested) {
				t.Errorf("refund audit = %+v, %v", audit, err)
			}
		})
	}
}

func TestDB_UpdateRefund(t *testing.T) {
	ctx := context.Background()
	set := func(s posbridge.RefundStatus) func(*posbridge.Refund) error {
		return func(r *posbridge.Refund) error { r.Status = s; return nil }
	}
	tests := []struct {
		name     string
		from     posbridge.RefundStatus
		fn       func(*posbridge.Refund) error
		check    func(*testing.T, error)
		refunded int64 // the order's Refunded afterwards
	}{
		{"Pending", "", set(posbridge.RefundPending), nil, 0},
		{"Succeeded", posbridge.RefundPending, set(posbridge.RefundSucceeded), nil, 300},
		{"FailedThenSucceeded", posbridge.RefundFailed, set(posbridge.RefundSucceeded), nil, 300},
		{"NoChange", "", func(*posbridge.Refund) error { return posbridge.ErrNoChange }, nil, 0},
		{"ErrFinal", posbridge.RefundSucceeded, set(posbridge.RefundFailed), wantIs(posbridge.ErrOrderFinal), 300},
		{"ErrAmount", "", func(r *posbridge.Refund) error { r.Amount.Minor = 1; return nil }, wantCode(posbridge.EINVALID), 0},
		{"ErrStatus", "", set("lost"), wantCode(posbridge.EINVALID), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _, _ := MustOpen(t)
			paid := MustPaid(t, db, 1000)
			r := newRefund(paid.No, 300)
			if _, err := db.CreateRefund(ctx, r, cause); err != nil {
				t.Fatal(err)
			}
			if tt.from != "" {
				if _, _, err := db.UpdateRefund(ctx, r.No, cause, set(tt.from)); err != nil {
					t.Fatal(err)
				}
			}
			orderBefore, _ := db.Order(ctx, paid.No)
			eventsBefore := MustEvents(t, db)
			got, ev, err := db.UpdateRefund(ctx, r.No, cause, tt.fn)
			if tt.check != nil {
				tt.check(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			order, err := db.Order(ctx, paid.No)
			if err != nil {
				t.Fatal(err)
			}
			if order.Refunded.Minor != tt.refunded {
				t.Errorf("order Refunded = %v, want %d", order.Refunded, tt.refunded)
			}
			events := MustEvents(t, db)
			wrote := tt.check == nil && tt.name != "NoChange"
			if !wrote {
				if len(events) != len(eventsBefore) || order.Version != orderBefore.Version {
					t.Errorf("a refused update wrote")
				}
				return
			}
			if len(events) != len(eventsBefore)+1 {
				t.Fatalf("%d events written, want 1", len(events)-len(eventsBefore))
			}
			if ev.Type != posbridge.EventRefund || !reflect.DeepEqual(*ev.Refund, got) || !reflect.DeepEqual(*ev.Payment, order) {
				t.Errorf("event = %+v %+v, want refund %+v and order %+v", ev.Refund, ev.Payment, got, order)
			}
			grew := tt.refunded > 0
			if grew != (order.Version == orderBefore.Version+1) {
				t.Errorf("order version %d → %d; Refunded grew: %v", orderBefore.Version, order.Version, grew)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		db, _, _ := MustOpen(t)
		_, _, err := db.UpdateRefund(ctx, "Missing1", cause, set(posbridge.RefundPending))
		if !errors.Is(err, posbridge.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestDB_OpenRefunds(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	paid := MustPaid(t, db, 1000)
	var want []posbridge.OrderNo
	for i, s := range []posbridge.RefundStatus{posbridge.RefundRequested, posbridge.RefundSucceeded, posbridge.RefundPending, posbridge.RefundFailed} {
		r := newRefund(paid.No, int64(100+i))
		if _, err := db.CreateRefund(ctx, r, cause); err != nil {
			t.Fatal(err)
		}
		if s != posbridge.RefundRequested {
			if _, _, err := db.UpdateRefund(ctx, r.No, cause, func(r *posbridge.Refund) error { r.Status = s; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if !s.Final() {
			want = append(want, r.No)
		}
	}
	got, err := db.OpenRefunds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotNos []posbridge.OrderNo
	for _, r := range got {
		gotNos = append(gotNos, r.No)
	}
	if !reflect.DeepEqual(gotNos, want) {
		t.Errorf("OpenRefunds = %v, want %v", gotNos, want)
	}
}

func TestDB_RefundIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	db, _, path := MustOpen(t)
	paid := MustPaid(t, db, 1000)
	other := MustPaid(t, db, 1000)
	first := newRefund(paid.No, 300)
	first.IdempotencyKey, first.RequestHash = "till1-refund-1", "hash-a"
	if _, err := db.CreateRefund(ctx, first, cause); err != nil {
		t.Fatal(err)
	}
	t.Run("Stored", func(t *testing.T) {
		rs, err := db.Refunds(ctx, paid.No)
		if err != nil || len(rs) != 1 || rs[0].IdempotencyKey != "till1-refund-1" || rs[0].RequestHash != "hash-a" {
			t.Fatalf("Refunds = %+v, %v; want the key and hash stored", rs, err)
		}
	})
	for _, tt := range []struct {
		name  string
		order posbridge.OrderNo
		minor int64
	}{
		{"ErrSameOrder", paid.No, 100},
		{"ErrOtherOrder", other.No, 100},
		{"ErrBeyondRefundable", paid.No, 5000}, // the key is checked first
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := MustEvents(t, db)
			r := newRefund(tt.order, tt.minor)
			r.IdempotencyKey, r.RequestHash = "till1-refund-1", "hash-b"
			_, err := db.CreateRefund(ctx, r, cause)
			var ie *posbridge.IdempotencyError
			if !errors.As(err, &ie) || ie.OrderNo != first.No || ie.RequestHash != "hash-a" {
				t.Fatalf("CreateRefund = %v, want an IdempotencyError naming %s and hash-a", err, first.No)
			}
			if len(MustEvents(t, db)) != len(before) {
				t.Error("a refused refund stored an event")
			}
		})
	}
	t.Run("EmptyKeysDoNotCollide", func(t *testing.T) {
		for range 2 {
			if _, err := db.CreateRefund(ctx, newRefund(other.No, 10), cause); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("UniqueIndex", func(t *testing.T) {
		sqlDB, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer sqlDB.Close()
		var n int
		err = sqlDB.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'refunds' AND sql LIKE '%UNIQUE%idempotency_key%'`).Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("unique index on refunds(idempotency_key): %d, %v", n, err)
		}
	})
}
