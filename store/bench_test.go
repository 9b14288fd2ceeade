package store_test

import (
	"context"
	"testing"

	"github.com/posbridge/posbridge"
)

func BenchmarkDB_UpdateOrder(b *testing.B) {
	ctx := context.Background()
	db, _, _ := MustOpen(b)
	o := MustCreate(b, db, newOrder("1"))
	fn := func(o *posbridge.Order) error { o.Checks++; return nil }
	for b.Loop() {
		if _, _, err := db.UpdateOrder(ctx, o.No, cause, fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDB_EventsSince(b *testing.B) {
	ctx := context.Background()
	db, _, _ := MustOpen(b)
	o := MustCreate(b, db, newOrder("1"))
	for range 999 {
		MustUpdate(b, db, o.No, func(o *posbridge.Order) { o.Checks++ })
	}
	for b.Loop() {
		evs, err := db.EventsSince(ctx, 500, 100)
		if err != nil || len(evs) != 100 {
			b.Fatalf("%d events, %v", len(evs), err)
		}
	}
}
