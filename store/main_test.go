package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// Child processes: the test binary re-executes itself with envChild set to
// play a crashing daemon or a daemon without write access.
const (
	envChild = "STORE_TEST_CHILD"
	envPath  = "STORE_TEST_DB"
	envOrder = "STORE_TEST_ORDER"
)

// Exit codes of the child modes.
const (
	exitCrashed    = 3 // crash: exited mid-transaction as planned
	exitOpenFailed = 4 // readonly: Open failed (the error is on stderr)
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "":
		os.Exit(m.Run())
	case "crash":
		db, err := store.Open(os.Getenv(envPath))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Exits with exitCrashed after the order row, event and audit row are
		// written, before the commit.
		_, err = store.WriteWithoutCommit(context.Background(), db, posbridge.OrderNo(os.Getenv(envOrder)), func(o *posbridge.Order) {
			o.Checks = 999
			o.Status = posbridge.StatusPaid
		}, exitCrashed)
		fmt.Fprintln(os.Stderr, "crash child did not crash:", err)
		os.Exit(1)
	case "readonly":
		db, err := store.Open(os.Getenv(envPath))
		if err != nil {
			fmt.Fprint(os.Stderr, err.Error())
			os.Exit(exitOpenFailed)
		}
		db.Close()
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(1)
	}
}

// start is the tests' clock reading: fixed, with sub-millisecond digits the
// store must drop consistently.
var start = time.Date(2025, 3, 14, 9, 26, 53, 589_793_238, time.UTC)

// MustOpen opens a store on a fresh file in a temp dir with a manual clock.
func MustOpen(tb testing.TB) (*store.DB, *posbridgetest.ManualClock, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "posbridge.db")
	clock := posbridgetest.NewManualClock(start)
	return MustOpenAt(tb, path, store.Options{Now: clock.Now}), clock, path
}

// MustOpenAt opens path with opts and closes it when the test ends.
func MustOpenAt(tb testing.TB, path string, opts store.Options) *store.DB {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := store.OpenOptions(path, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

var cause = posbridge.Cause{Actor: posbridge.ActorEngine, Action: "test"}

var (
	noSeqMu sync.Mutex
	noSeq   int
)

// newOrder returns a valid new order with a unique number.
func newOrder(lane string) *posbridge.Order {
	noSeqMu.Lock()
	noSeq++
	n := noSeq
	noSeqMu.Unlock()
	return &posbridge.Order{
		No:     posbridge.OrderNo(fmt.Sprintf("T%08d", n)),
		Lane:   lane,
		Amount: posbridge.Money{Minor: 1250, Currency: "AED"},
	}
}

// MustCreate stores o and returns it as stored.
func MustCreate(tb testing.TB, db *store.DB, o *posbridge.Order) posbridge.Order {
	tb.Helper()
	if _, err := db.CreateOrder(context.Background(), o, cause); err != nil {
		tb.Fatalf("create order %s: %v", o.No, err)
	}
	return *o
}

// MustUpdate applies fn to order no.
func MustUpdate(tb testing.TB, db *store.DB, no posbridge.OrderNo, fn func(*posbridge.Order)) posbridge.Order {
	tb.Helper()
	o, _, err := db.UpdateOrder(context.Background(), no, cause, func(o *posbridge.Order) error { fn(o); return nil })
	if err != nil {
		tb.Fatalf("update order %s: %v", no, err)
	}
	return o
}

// MustPaid stores a paid order of amount minor AED.
func MustPaid(tb testing.TB, db *store.DB, minor int64) posbridge.Order {
	tb.Helper()
	o := newOrder("1")
	o.Amount.Minor = minor
	MustCreate(tb, db, o)
	return MustUpdate(tb, db, o.No, func(o *posbridge.Order) { o.Status = posbridge.StatusPaid })
}

// MustEvents returns every stored event.
func MustEvents(tb testing.TB, db *store.DB) []posbridge.Event {
	tb.Helper()
	var all []posbridge.Event
	var seq int64
	for {
		evs, err := db.EventsSince(context.Background(), seq, store.MaxEventsLimit)
		if err != nil {
			tb.Fatalf("events since %d: %v", seq, err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		seq = evs[len(evs)-1].Seq
	}
}

// assertGapFree fails unless events are numbered 1, 2, 3, ...
func assertGapFree(tb testing.TB, events []posbridge.Event) {
	tb.Helper()
	for i, e := range events {
		if e.Seq != int64(i+1) {
			tb.Fatalf("event %d has seq %d, want %d (gap or reorder)", i, e.Seq, i+1)
		}
	}
}

// storeWriteWithoutCommit writes an update, its event and audit row, then
// rolls back, returning the seq the event took.
func storeWriteWithoutCommit(ctx context.Context, db *store.DB, no posbridge.OrderNo) (int64, error) {
	return store.WriteWithoutCommit(ctx, db, no, func(o *posbridge.Order) { o.Checks = 999 }, -1)
}
