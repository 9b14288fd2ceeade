package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestDB_ImportOrder(t *testing.T) {
	db, clock, _ := MustOpen(t)
	ctx := context.Background()
	before := len(MustEvents(t, db))
	o := posbridge.Order{No: "IMP1", Lane: "gateway", Amount: posbridge.Money{Minor: 2500, Currency: "AED"}, Status: posbridge.StatusPaid,
		PaidAt: clock.Now(), NeedsAttention: true, Attention: posbridge.AttentionOnlyAtGateway}
	ev, err := db.ImportOrder(ctx, &o, cause)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq == 0 || ev.Payment == nil || ev.Payment.Status != posbridge.StatusPaid || o.Version != 1 {
		t.Fatalf("event %+v, order %+v", ev, o)
	}
	got, err := db.Order(ctx, "IMP1")
	if err != nil || got.Status != posbridge.StatusPaid || !got.NeedsAttention || got.Refunded.Currency != "AED" {
		t.Fatalf("stored %+v, %v", got, err)
	}
	if n := len(MustEvents(t, db)); n != before+1 {
		t.Errorf("%d events, want %d", n, before+1)
	}
	if _, err := db.ImportOrder(ctx, &o, cause); posbridge.ErrorCode(err) != posbridge.ECONFLICT {
		t.Errorf("a second import: %v, want conflict", err)
	}
	for _, st := range []posbridge.Status{posbridge.StatusCreated, posbridge.StatusAtTerminal, posbridge.StatusCanceled, "nope"} {
		bad := posbridge.Order{No: "IMP2", Lane: "gateway", Amount: posbridge.Money{Minor: 1, Currency: "AED"}, Status: st}
		if _, err := db.ImportOrder(ctx, &bad, cause); posbridge.ErrorCode(err) != posbridge.EINVALID {
			t.Errorf("import as %q: %v, want invalid", st, err)
		}
	}
}

func TestDB_SaveDayClose_Merges(t *testing.T) {
	db, clock, _ := MustOpen(t)
	ctx := context.Background()
	if last, err := db.LastDayClose(ctx); err != nil || last != "" {
		t.Fatalf("last close of an empty store %q, %v", last, err)
	}
	if _, err := db.DayClose(ctx, "2026-03-10"); !errors.Is(err, posbridge.ErrNotFound) {
		t.Fatalf("a day never closed: %v", err)
	}
	aed := func(m int64) posbridge.Money { return posbridge.Money{Minor: m, Currency: "AED"} }
	first := posbridge.DayClose{Date: "2026-03-10", LastRunAt: clock.Now(), Items: []posbridge.DayItem{
		{Kind: posbridge.DayOrder, No: "A", Bucket: posbridge.BucketMatched, Action: posbridge.ActNone, LocalAmount: aed(100), GatewayAmount: aed(100)},
		{Kind: posbridge.DayOrder, No: "B", Bucket: posbridge.BucketOnlyGateway, Action: posbridge.ActImport, GatewayAmount: aed(200), Result: "imported paid"},
	}}
	rec, err := db.SaveDayClose(ctx, first)
	if err != nil || rec.Runs != 1 || len(rec.Items) != 2 || rec.Items[1].Result != "imported paid" || rec.Items[1].LocalAmount.Currency != "" {
		t.Fatalf("first save %+v, %v", rec, err)
	}
	clock.Advance(time.Hour)
	second := posbridge.DayClose{Date: "2026-03-10", LastRunAt: clock.Now(), Items: []posbridge.DayItem{
		// A matched item now different: replaced.
		{Kind: posbridge.DayOrder, No: "A", Bucket: posbridge.BucketDifferent, Action: posbridge.ActFlag, Detail: "amount"},
		// The imported order now matches: the first finding is kept.
		{Kind: posbridge.DayOrder, No: "B", Bucket: posbridge.BucketMatched, Action: posbridge.ActNone},
		// A new one.
		{Kind: posbridge.DayRefund, No: "R", OrigNo: "A", Bucket: posbridge.BucketOnlyGateway, Action: posbridge.ActFlag},
	}}
	rec, err = db.SaveDayClose(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[posbridge.OrderNo]posbridge.DayBucket{"A": posbridge.BucketDifferent, "B": posbridge.BucketOnlyGateway, "R": posbridge.BucketOnlyGateway}
	if rec.Runs != 2 || len(rec.Items) != 3 || !rec.LastRunAt.After(rec.FirstRunAt) {
		t.Fatalf("second save %+v", rec)
	}
	for _, it := range rec.Items {
		if it.Bucket != want[it.No] {
			t.Errorf("%s: %s, want %s", it.No, it.Bucket, want[it.No])
		}
	}
	if _, err := db.SaveDayClose(ctx, posbridge.DayClose{Date: "10/03/2026"}); posbridge.ErrorCode(err) != posbridge.EINVALID {
		t.Errorf("bad date: %v", err)
	}
	if _, err := db.SaveDayClose(ctx, posbridge.DayClose{Date: "2026-03-08", LastRunAt: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if last, err := db.LastDayClose(ctx); err != nil || last != "2026-03-10" {
		t.Errorf("last close %q, %v", last, err)
	}
}

func TestDB_RefundsCreatedAndCashiers(t *testing.T) {
	db, clock, _ := MustOpen(t)
	ctx := context.Background()
	o := MustPaid(t, db, 1000)
	from := clock.Now()
	r := posbridge.Refund{No: "RF1", OrderNo: o.No, Amount: posbridge.Money{Minor: 300, Currency: "AED"}}
	if _, err := db.CreateRefund(ctx, &r, cause); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	later := posbridge.Refund{No: "RF2", OrderNo: o.No, Amount: posbridge.Money{Minor: 100, Currency: "AED"}}
	if _, err := db.CreateRefund(ctx, &later, cause); err != nil {
		t.Fatal(err)
	}
	rs, err := db.RefundsCreated(ctx, from, from.Add(time.Hour))
	if err != nil || len(rs) != 1 || rs[0].No != "RF1" {
		t.Fatalf("refunds of the hour %+v, %v", rs, err)
	}
	named := newOrder("2")
	if _, err := db.CreateOrder(ctx, named, posbridge.Cause{Actor: posbridge.ActorCashier, Who: "Mona", Action: "pay"}); err != nil {
		t.Fatal(err)
	}
	who, err := db.OrderCashiers(ctx, from.Add(-time.Hour), clock.Now().Add(time.Hour))
	if err != nil || who[named.No] != "Mona" || who[o.No] != "" {
		t.Fatalf("cashiers %v, %v", who, err)
	}
}
