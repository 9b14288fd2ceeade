package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// TestPruneEvents: events older than the window go, oldest first, with
// their outbox rows; later events, orders and audit rows stay, and the kept
// events still read with their whole snapshots, also those of orders whose
// first events are gone. A new file gives the freed pages back.
func TestPruneEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posbridge.db")
	clock := posbridgetest.NewManualClock(start)
	db := MustOpenAt(t, path, store.Options{Now: clock.Now, EventsKeep: -1})
	ctx := context.Background()
	var old []posbridge.Order
	for range 1500 { // more than one prune chunk
		old = append(old, MustCreate(t, db, newOrder("1")))
	}
	clock.Advance(20 * 24 * time.Hour)
	var kept []posbridge.Event
	for _, o := range old[:3] {
		_, ev, err := db.UpdateOrder(ctx, o.No, cause, func(o *posbridge.Order) error { o.Status = posbridge.StatusPaid; return nil })
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, ev)
	}
	fresh := MustCreate(t, db, newOrder("1"))
	_ = fresh
	clock.Advance(11 * 24 * time.Hour)

	n, err := db.PruneEvents(ctx, clock.Now().Add(-30*24*time.Hour))
	if err != nil || n != int64(len(old)) {
		t.Fatalf("pruned %d, %v; want %d", n, err, len(old))
	}
	events := MustEvents(t, db)
	if len(events) != len(kept)+1 || events[0].Seq != kept[0].Seq {
		t.Fatalf("%d events from seq %d after pruning; want %d from %d", len(events), events[0].Seq, len(kept)+1, kept[0].Seq)
	}
	for i, e := range kept {
		g, _ := json.Marshal(events[i])
		w, _ := json.Marshal(e)
		if string(g) != string(w) {
			t.Errorf("kept event reads\n%s\nwant\n%s", g, w)
		}
	}
	if backlog, _, err := db.OutboxBacklog(ctx); err != nil || backlog != int64(len(kept)+1) {
		t.Errorf("outbox backlog %d, %v; want %d", backlog, err, len(kept)+1)
	}
	if _, err := db.Order(ctx, old[len(old)-1].No); err != nil {
		t.Errorf("an order whose events were pruned: %v", err)
	}
	if a, err := db.Audit(ctx, old[len(old)-1].No); err != nil || len(a) != 1 {
		t.Errorf("audit of a pruned order: %d rows, %v", len(a), err)
	}
	if n, err := db.PruneEvents(ctx, clock.Now().Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode, free int
	if err := raw.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		t.Errorf("auto_vacuum = %d, %v; want 2 (incremental) on a new file", mode, err)
	}
	if err := raw.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil || free != 0 {
		t.Errorf("%d free pages after pruning, %v; want them given back", free, err)
	}
}

// TestPruner_AtOpen: the store's own task prunes at Open with the window it
// was given, on its clock.
func TestPruner_AtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posbridge.db")
	clock := posbridgetest.NewManualClock(start)
	db := MustOpenAt(t, path, store.Options{Now: clock.Now, EventsKeep: -1})
	MustCreate(t, db, newOrder("1"))
	clock.Advance(2 * time.Hour)
	last := MustCreate(t, db, newOrder("1"))
	db.Close()

	db = MustOpenAt(t, path, store.Options{Now: clock.Now, EventsKeep: time.Hour})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		events := MustEvents(t, db)
		if len(events) == 1 && events[0].Payment.No == last.No {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events 10 s after Open with a one-hour window; want only the newest", len(events))
		}
	}
}
