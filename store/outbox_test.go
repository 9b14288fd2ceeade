package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// Every committed event is in the outbox, in seq order, until deleted; an
// uncommitted one never is.
func TestDB_Outbox(t *testing.T) {
	ctx := context.Background()
	db, clock, _ := MustOpen(t)
	o := MustCreate(t, db, newOrder("1"))
	if _, err := storeWriteWithoutCommit(ctx, db, o.No); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Status = posbridge.StatusPaid })
	MustPaid(t, db, 500)

	batch, err := db.OutboxBatch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	events := MustEvents(t, db)
	if len(batch) != len(events) || len(batch) != 4 {
		t.Fatalf("outbox has %d events, store %d; want 4 each", len(batch), len(events))
	}
	for i := range batch {
		if batch[i].Seq != events[i].Seq || batch[i].Payment == nil || batch[i].Payment.No != events[i].Payment.No ||
			batch[i].Payment.Version != events[i].Payment.Version {
			t.Fatalf("outbox[%d] = seq %d, want the event %d with its snapshot", i, batch[i].Seq, events[i].Seq)
		}
	}
	n, oldest, err := db.OutboxBacklog(ctx)
	if err != nil || n != 4 || !oldest.Equal(start.Truncate(time.Millisecond)) {
		t.Fatalf("OutboxBacklog = %d, %v, %v; want 4 since %v", n, oldest, err, start)
	}

	if err := db.DeleteOutbox(ctx, batch[1].Seq); err != nil {
		t.Fatal(err)
	}
	rest, err := db.OutboxBatch(ctx, 1)
	if err != nil || len(rest) != 1 || rest[0].Seq != batch[2].Seq {
		t.Fatalf("after delete: OutboxBatch(1) = %+v, %v; want seq %d", rest, err, batch[2].Seq)
	}
	if got := MustEvents(t, db); len(got) != len(events) {
		t.Errorf("deleting outbox rows removed events: %d left of %d", len(got), len(events))
	}

	t.Run("DropOutboxBefore", func(t *testing.T) {
		clock.Advance(time.Hour)
		MustPaid(t, db, 700) // newer than the bound, kept
		dropped, err := db.DropOutboxBefore(ctx, clock.Now().Add(-30*time.Minute))
		if err != nil || dropped != 2 {
			t.Fatalf("DropOutboxBefore = %d, %v; want 2", dropped, err)
		}
		n, _, err := db.OutboxBacklog(ctx)
		if err != nil || n != 2 {
			t.Errorf("backlog after drop = %d, %v; want the 2 events of the last order", n, err)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if err := db.DeleteOutbox(ctx, 1<<40); err != nil {
			t.Fatal(err)
		}
		n, oldest, err := db.OutboxBacklog(ctx)
		if err != nil || n != 0 || !oldest.IsZero() {
			t.Errorf("OutboxBacklog = %d, %v, %v; want 0 and zero time", n, oldest, err)
		}
	})
}

// Upgrading a till: migration 0006 queues the events of the last 30 days
// already stored, not older ones.
func TestOpen_OutboxMigrationQueuesRecentEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "posbridge.db")
	clock := posbridgetest.NewManualClock(time.Now().Add(-40 * 24 * time.Hour))
	db := MustOpenAt(t, path, store.Options{Now: clock.Now})
	MustCreate(t, db, newOrder("1")) // 40 days old
	clock.Set(time.Now())
	MustCreate(t, db, newOrder("1")) // today
	db.Close()

	// Back to the schema before 0006, as a till upgraded today has it.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DROP TABLE outbox; DELETE FROM schema_migrations WHERE name = '0006_outbox.sql'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db = MustOpenAt(t, path, store.Options{})
	batch, err := db.OutboxBatch(ctx, 0)
	if err != nil || len(batch) != 1 || batch[0].Seq != 2 {
		t.Fatalf("after the migration the outbox holds %+v, %v; want only today's event (seq 2)", batch, err)
	}
}
