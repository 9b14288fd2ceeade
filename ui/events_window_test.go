package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// A since older than the events kept ([store] events_keep) is closed at
// once with 4409, like one beyond the newest: the client cannot be brought
// up to date and must resync from since=0, which replays what is kept.
func TestEvents_SinceOlderThanKept(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	payEvents(log, "F1000001", "1", 100) // seqs 1, 2
	payEvents(log, "F2000002", "2", 100) // seqs 3, 4
	log.Prune(2)
	t.Run("Pruned", func(t *testing.T) {
		c := dialEvents(t, s, "?since=1", nil)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("got message %q (err %v), want close %d", msg, err, closeResync)
		}
		if ce.Code != closeResync || !strings.Contains(ce.Text, "since=0") || !strings.Contains(ce.Text, "older") {
			t.Fatalf("close %d %q, want %d saying since is older than the events kept", ce.Code, ce.Text, closeResync)
		}
	})
	t.Run("OldestKept", func(t *testing.T) {
		c := dialEvents(t, s, "?since=3", nil)
		if h := readEvent(t, c); h.Type != "hello" || h.Seq != 3 {
			t.Fatalf("hello = %+v", h)
		}
		readStored(t, c, 4, 4)
	})
	t.Run("ResyncFromZero", func(t *testing.T) {
		c := dialEvents(t, s, "?since=0", nil)
		readEvent(t, c) // hello
		readStored(t, c, 3, 4)
	})
}

// Events pruned while a client catches up leave a gap it cannot fill: the
// stream is closed with 4409 instead of skipping them.
func TestEvents_PrunedWhileCatchingUp(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	f := withEvents(log)
	reads := 0
	f.EventsSinceFunc = func(ctx context.Context, seq int64, limit int) ([]posbridge.Event, error) {
		if reads++; reads > 1 { // after the check of since, before the replay
			log.Prune(3)
		}
		return log.EventsSince(ctx, seq, limit)
	}
	s := mustOpenServer(t, f, Config{})
	payEvents(log, "F1000001", "1", 100) // seqs 1, 2
	payEvents(log, "F2000002", "2", 100) // seqs 3, 4
	c := dialEvents(t, s, "?since=1", nil)
	if h := readEvent(t, c); h.Type != "hello" || h.Seq != 1 {
		t.Fatalf("hello = %+v", h)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != closeResync || !strings.Contains(ce.Text, "since=0") {
				t.Fatalf("close %d %q, want %d resync", ce.Code, ce.Text, closeResync)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(msg), `"seq":4`) {
			t.Fatalf("got %s after a gap of pruned events, want a resync close", msg)
		}
	}
}
