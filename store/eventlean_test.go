package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// TestEvents_LeanRowsReadAsWritten: every event reads back (EventsSince and
// the outbox) with exactly the order and refund snapshots the write
// returned, although the rows keep only what changed: through creates,
// updates that set and clear fields, an override, refunds that do and do not
// change their order, and several orders interleaved.
func TestEvents_LeanRowsReadAsWritten(t *testing.T) {
	db, clock, _ := MustOpen(t)
	ctx := context.Background()
	var written []posbridge.Event
	keep := func(ev posbridge.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, ev)
	}
	update := func(no posbridge.OrderNo, fn func(*posbridge.Order)) {
		t.Helper()
		clock.Advance(time.Second)
		_, ev, err := db.UpdateOrder(ctx, no, cause, func(o *posbridge.Order) error { fn(o); return nil })
		keep(ev, err)
	}
	a, b := newOrder("1"), newOrder("2")
	a.Reference, a.IdempotencyKey, a.RequestHash = "table 4", "key-a", "hash-a"
	keep(db.CreateOrder(ctx, a, cause))
	keep(db.CreateOrder(ctx, b, cause))
	update(a.No, func(o *posbridge.Order) {
		o.Status, o.NextCheckAt, o.Checks = posbridge.StatusPending, clock.Now().Add(time.Minute), 1
	})
	update(b.No, func(o *posbridge.Order) { o.NeedsAttention, o.Attention = true, "look" })
	update(a.No, func(o *posbridge.Order) {
		o.Status, o.NextCheckAt, o.PaidAt = posbridge.StatusPaid, time.Time{}, clock.Now()
		o.Card = posbridge.Card{Brand: "VISA", Last4: "4242"}
	})
	update(b.No, func(o *posbridge.Order) {
		o.NeedsAttention, o.Attention = false, ""
		o.Override = &posbridge.Override{By: "ann", Reason: "seen", At: clock.Now()}
	})
	clock.Advance(time.Second)
	r := newRefund(a.No, 400)
	keep(db.CreateRefund(ctx, r, cause))
	clock.Advance(time.Second)
	_, ev, err := db.UpdateRefund(ctx, r.No, cause, func(r *posbridge.Refund) error { r.Status = posbridge.RefundPending; return nil })
	keep(ev, err)
	clock.Advance(time.Second)
	_, ev, err = db.UpdateRefund(ctx, r.No, cause, func(r *posbridge.Refund) error { r.Status = posbridge.RefundSucceeded; return nil })
	keep(ev, err)
	update(a.No, func(o *posbridge.Order) { o.Checks++ })
	// A write that changes nothing but the version, in the same millisecond.
	_, ev, err = db.UpdateOrder(ctx, a.No, cause, func(*posbridge.Order) error { return nil })
	keep(ev, err)
	update(b.No, func(o *posbridge.Order) { o.Override = nil })

	asJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	compare := func(name string, got []posbridge.Event) {
		t.Helper()
		if len(got) != len(written) {
			t.Fatalf("%s: %d events, want %d", name, len(got), len(written))
		}
		for i := range written {
			if g, w := asJSON(got[i]), asJSON(written[i]); g != w {
				t.Errorf("%s: event %d reads\n%s\nwant\n%s", name, written[i].Seq, g, w)
			}
		}
	}
	compare("EventsSince", MustEvents(t, db))
	outbox, err := db.OutboxBatch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	compare("OutboxBatch", outbox)
	// A page that starts in the middle rebuilds from the later events too.
	mid, err := db.EventsSince(ctx, written[3].Seq, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range mid {
		if g, w := asJSON(e), asJSON(written[4+i]); g != w {
			t.Errorf("page from %d: event %d reads\n%s\nwant\n%s", written[3].Seq, e.Seq, g, w)
		}
	}
}

// Reading events never takes the write lock: while another connection
// holds it, EventsSince and the outbox still answer at once.
func TestEvents_ReadWhileWriteLockHeld(t *testing.T) {
	path := t.TempDir() + "/posbridge.db"
	db := MustOpenAt(t, path, store.Options{BusyTimeout: 50 * time.Millisecond})
	o := MustCreate(t, db, newOrder("1"))
	MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks++ })
	holdWriteLock(t, path)
	if evs, err := db.EventsSince(context.Background(), 0, 10); err != nil || len(evs) != 2 {
		t.Fatalf("EventsSince while the write lock is held: %d events, %v", len(evs), err)
	}
	if evs, err := db.OutboxBatch(context.Background(), 10); err != nil || len(evs) != 2 {
		t.Fatalf("OutboxBatch while the write lock is held: %d events, %v", len(evs), err)
	}
}

// An event row written before migration 0009 (a whole snapshot) reads as it
// did, beside the lean rows written after it for the same order.
func TestEvents_RowsBefore0009(t *testing.T) {
	path := t.TempDir() + "/posbridge.db"
	db := MustOpenAt(t, path, store.Options{})
	ctx := context.Background()
	o := newOrder("1")
	created, err := db.CreateOrder(ctx, o, cause)
	if err != nil {
		t.Fatal(err)
	}
	payment, _, err := store.FullSnapshots(created)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE events SET payment = ?, payment_undo = NULL WHERE seq = ?`, string(payment), created.Seq); err != nil {
		t.Fatal(err)
	}
	_, paid, err := db.UpdateOrder(ctx, o.No, cause, func(o *posbridge.Order) error { o.Status = posbridge.StatusPaid; return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := MustEvents(t, db)
	for i, want := range []posbridge.Event{created, paid} {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("event %d reads\n%s\nwant\n%s", want.Seq, g, w)
		}
	}
}
