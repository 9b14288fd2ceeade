package store_test

import (
	"context"
	"testing"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// An update sets only the columns it changed: SQLite rewrites the index
// entries of every column an UPDATE sets, so setting the unchanged lane and
// created_at too would write their index pages to the log at every commit.
// A refund that succeeds changes its order's refunded total only. What
// changed is still stored.
func TestDB_UpdateWritesOnlyChangedColumns(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx := context.Background()
	o := MustCreate(t, db, newOrder("1"))
	written, err := store.LogColumnWrites(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	got := MustUpdate(t, db, o.No, func(o *posbridge.Order) {
		o.Status, o.PaidAt, o.Card = posbridge.StatusPaid, o.CreatedAt, posbridge.Card{Brand: "Visa", Last4: "1111"}
	})
	if cols, err := written(); err != nil || len(cols) != 0 {
		t.Fatalf("unchanged columns were written: %v %v", cols, err)
	}
	if again, _ := db.Order(ctx, o.No); again.Status != posbridge.StatusPaid || again.Card.Last4 != "1111" || again.Version != got.Version {
		t.Fatalf("stored %+v, want %+v", again, got)
	}
	r := &posbridge.Refund{No: "RX0000001", OrderNo: o.No, Amount: o.Amount}
	if _, err := db.CreateRefund(ctx, r, cause); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpdateRefund(ctx, r.No, cause, func(r *posbridge.Refund) error { r.Status = posbridge.RefundSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}
	if cols, err := written(); err != nil || len(cols) != 0 {
		t.Fatalf("unchanged columns were written by the refund: %v %v", cols, err)
	}
	if after, _ := db.Order(ctx, o.No); after.Refunded != o.Amount {
		t.Fatalf("refunded %s, want %s", after.Refunded, o.Amount)
	}
}
