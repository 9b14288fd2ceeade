package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// TestWriter_ConcurrentWritesShareCommits: many writers at once are all
// stored, with gap-free events, in fewer commits than writes; a write that
// fails in the same batches (an order number already taken) is refused
// alone and leaves the others stored.
func TestWriter_ConcurrentWritesShareCommits(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx := context.Background()
	taken := MustCreate(t, db, newOrder("1"))
	before := db.WriteStats()
	const writers = 64
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		stored    []posbridge.OrderNo
		conflicts int
	)
	for i := range writers {
		wg.Go(func() {
			o := newOrder("1")
			if i%8 == 0 {
				o.No = taken.No // refused: the number is taken
			}
			_, err := db.CreateOrder(ctx, o, cause)
			mu.Lock()
			defer mu.Unlock()
			var pe *posbridge.Error
			switch {
			case err == nil:
				stored = append(stored, o.No)
			case errors.As(err, &pe) && pe.Code == posbridge.ECONFLICT:
				conflicts++
			default:
				t.Errorf("create %s: %v", o.No, err)
			}
		})
	}
	wg.Wait()
	if conflicts != writers/8 || len(stored) != writers-writers/8 {
		t.Fatalf("%d stored, %d conflicts; want %d and %d", len(stored), conflicts, writers-writers/8, writers/8)
	}
	for _, no := range stored {
		if _, err := db.Order(ctx, no); err != nil {
			t.Errorf("answered order %s: %v", no, err)
		}
	}
	events := MustEvents(t, db)
	assertGapFree(t, events)
	if len(events) != 1+len(stored) {
		t.Errorf("%d events, want %d", len(events), 1+len(stored))
	}
	after := db.WriteStats()
	commits, writes := after.Commits-before.Commits, after.Writes-before.Writes
	if writes != int64(len(stored)) {
		t.Errorf("writer counted %d writes, want %d", writes, len(stored))
	}
	if commits < 1 || commits > writes {
		t.Errorf("%d commits for %d writes", commits, writes)
	}
	busy, committing := after.Busy-before.Busy, after.Committing-before.Committing
	if committing <= 0 || busy < committing {
		t.Errorf("writer busy %v, committing %v; want 0 < committing <= busy", busy, committing)
	}
	t.Logf("%d writes in %d commits", writes, commits)
}

// TestWriter_RolledBackWriteLeavesBatch: a write its caller ends without
// committing (an update whose fn fails, a duplicate notification) writes
// nothing, commits nothing, and a later write is unaffected.
func TestWriter_RolledBackWriteLeavesBatch(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx := context.Background()
	o := MustCreate(t, db, newOrder("1"))
	before := db.WriteStats()
	boom := errors.New("boom")
	if _, _, err := db.UpdateOrder(ctx, o.No, cause, func(o *posbridge.Order) error { o.Checks = 7; return boom }); !errors.Is(err, boom) {
		t.Fatalf("update: %v, want boom", err)
	}
	if got := db.WriteStats(); got.Commits != before.Commits || got.Writes != before.Writes {
		t.Errorf("a refused write committed: %+v -> %+v", before, got)
	}
	got := MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks = 1 })
	if got.Checks != 1 || got.Version != 2 {
		t.Errorf("order after: checks %d version %d, want 1 and 2", got.Checks, got.Version)
	}
}

// TestWriter_CancelledBeforeTurn: a write whose context has ended does not
// run, and the store keeps serving others.
func TestWriter_CancelledBeforeTurn(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.CreateOrder(ctx, newOrder("1"), cause); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a cancelled context: %v, want context.Canceled", err)
	}
	MustCreate(t, db, newOrder("1"))
	if n := len(MustEvents(t, db)); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

// TestWriter_Closed: writes after Close are refused with ErrClosed, and
// Close stops the writer (a second Close is nil).
func TestWriter_Closed(t *testing.T) {
	db, _, _ := MustOpen(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrder(context.Background(), newOrder("1"), cause); !errors.Is(err, posbridge.ErrClosed) {
		t.Fatalf("create after close: %v, want ErrClosed", err)
	}
	if _, _, err := db.ReceiveNotification(context.Background(), posbridge.InboxEntry{Gateway: "payby", NotificationID: "n1"}); !errors.Is(err, posbridge.ErrClosed) {
		t.Fatalf("receive after close: %v, want ErrClosed", err)
	}
}

// TestWriter_MaxBatchOne commits every write on its own.
func TestWriter_MaxBatchOne(t *testing.T) {
	db := MustOpenAt(t, t.TempDir()+"/one.db", store.Options{MaxBatch: 1})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { MustCreate(t, db, newOrder("1")) })
	}
	wg.Wait()
	if s := db.WriteStats(); s.Commits != 16 || s.Writes != 16 {
		t.Errorf("stats %+v, want 16 commits of 16 writes", s)
	}
}

// TestWriter_AnswersAfterCommit: no caller is answered before its batch's
// commit: when the writer is about to commit, every caller in the batch is
// still waiting.
func TestWriter_AnswersAfterCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := MustOpenAt(t, t.TempDir()+"/posbridge.db", store.Options{})
		const writers = 4
		answered := make(chan struct{}, writers)
		var early atomic.Int64
		store.SetBeforeCommit(db, func() {
			synctest.Wait() // every other goroutine is blocked or gone
			// Only the callers of batches committed before may have an answer.
			if n := int64(len(answered)) - db.WriteStats().Writes; n > 0 {
				early.Add(n)
			}
		})
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				MustCreate(t, db, newOrder("1"))
				answered <- struct{}{}
			})
		}
		wg.Wait()
		db.Close() // waits for the writer, hook and all
		if n := early.Load(); n != 0 {
			t.Fatalf("%d callers were answered before their batch committed", n)
		}
	})
}

// TestWriter_PanicInAChangeIsTheCallers: fn panicking inside the write
// turn (here on its second call, made in the turn after the first changed
// nothing) panics on the caller's goroutine, where it can be recovered;
// the writer goes on, and the write is rolled back.
func TestWriter_PanicInAChangeIsTheCallers(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx := context.Background()
	o := MustCreate(t, db, newOrder("1"))
	calls := 0
	recovered := func() (p any) {
		defer func() { p = recover() }()
		db.UpdateOrder(ctx, o.No, cause, func(o *posbridge.Order) error {
			calls++
			if calls == 1 {
				return posbridge.ErrNoChange
			}
			o.Checks = 5
			panic("a bug in fn")
		})
		return nil
	}()
	if recovered != "a bug in fn" {
		t.Fatalf("recovered %v; want the panic of fn on the caller's goroutine", recovered)
	}
	got := MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks++ })
	if got.Checks != 1 || got.Version != o.Version+1 {
		t.Errorf("order after: checks %d version %d; want 1 and %d (the panicked write rolled back, the writer still writing)", got.Checks, got.Version, o.Version+1)
	}
}
