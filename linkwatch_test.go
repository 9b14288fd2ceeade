package posbridge_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// watchedTerminal is a terminal whose link the test changes by hand: it
// keeps the watch the engine sets. Its other methods are never called.
type watchedTerminal struct {
	posbridge.Terminal
	mu    sync.Mutex
	watch func(posbridge.LinkStatus)
}

func (t *watchedTerminal) WatchLink(fn func(posbridge.LinkStatus)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watch = fn
}

func (t *watchedTerminal) watcher() func(posbridge.LinkStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watch
}

// unusedGateway is a gateway the test never reaches (an empty store).
type unusedGateway struct{ posbridge.Gateway }

func (unusedGateway) Name() string { return "unused" }

// TestEngine_WatchesEachTerminalsLink: Open sets a link watch on every
// lane's terminal that is a LinkWatcher, a change it reports is the lane's
// event on the bus, and Close removes the watch.
func TestEngine_WatchesEachTerminalsLink(t *testing.T) {
	db, err := store.OpenOptions(filepath.Join(t.TempDir(), "posbridge.db"), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t1, t2 := &watchedTerminal{}, &watchedTerminal{}
	e := posbridge.NewEngine(db, unusedGateway{}, map[string]posbridge.Terminal{"1": t1, "2": t2})
	e.ReconcileInterval = 0
	if t1.watcher() != nil {
		t.Fatal("a watch before Open")
	}
	if err := e.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := e.Subscribe(8)
	defer sub.Close()
	for _, tc := range []struct {
		lane string
		term *watchedTerminal
	}{{"1", t1}, {"2", t2}} {
		w := tc.term.watcher()
		if w == nil {
			t.Fatalf("lane %s: no watch after Open", tc.lane)
		}
		w(posbridge.LinkStatus{State: posbridge.LinkDown})
		ev := <-sub.C
		if ev.Type != posbridge.EventLane || ev.Lane == nil || ev.Lane.ID != tc.lane || ev.Lane.Link.State != posbridge.LinkDown {
			t.Fatalf("lane %s: event %+v", tc.lane, ev)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if t1.watcher() != nil || t2.watcher() != nil {
		t.Fatal("a watch left after Close")
	}
}
