package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/embedded"
	"github.com/posbridge/posbridge/posbridgetest"
)

// memSource is an outbox in memory: the store's contract (seq order, delete
// through, drop by age) without SQLite, so each test can break one step.
type memSource struct {
	mu         sync.Mutex
	events     []posbridge.Event
	next       int64
	failDelete int // DeleteOutbox fails this many more times
	deletes    int
}

func (m *memSource) add(bus *posbridge.Bus, n int) {
	m.mu.Lock()
	var added []posbridge.Event
	for range n {
		m.next++
		o := &posbridge.Order{
			No: posbridge.OrderNo(fmt.Sprintf("A%07d", m.next)), Lane: "1", Status: posbridge.StatusPaid,
			Amount: posbridge.Money{Minor: 100 * m.next, Currency: "AED"}, Version: 1,
			CreatedAt: time.Now(), UpdatedAt: time.Now(),
		}
		e := posbridge.Event{Seq: m.next, Type: posbridge.EventPayment, At: time.Now(), Payment: o}
		m.events = append(m.events, e)
		added = append(added, e)
	}
	m.mu.Unlock()
	if bus != nil {
		for _, e := range added {
			bus.Publish(e)
		}
	}
}

func (m *memSource) OutboxBatch(_ context.Context, limit int) ([]posbridge.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(limit, len(m.events))
	return append([]posbridge.Event(nil), m.events[:n]...), nil
}

var errCrash = errors.New("killed before the delete")

func (m *memSource) DeleteOutbox(_ context.Context, through int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failDelete > 0 {
		m.failDelete--
		return errCrash
	}
	m.deletes++
	i := sort.Search(len(m.events), func(i int) bool { return m.events[i].Seq > through })
	m.events = m.events[i:]
	return nil
}

func (m *memSource) DropOutboxBefore(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kept []posbridge.Event
	for _, e := range m.events {
		if !e.At.Before(before) {
			kept = append(kept, e)
		}
	}
	n := len(m.events) - len(kept)
	m.events = kept
	return int64(n), nil
}

func (m *memSource) OutboxBacklog(context.Context) (int64, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) == 0 {
		return 0, time.Time{}, nil
	}
	return int64(len(m.events)), m.events[0].At, nil
}

func (m *memSource) backlog() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

var till = outbox.Identity{Merchant: "acme", Store: "dxb01", Till: "t1"}

func startServer(t *testing.T) *embedded.Server {
	t.Helper()
	srv, err := embedded.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func openShipper(t *testing.T, url string, src outbox.Source, bus *posbridge.Bus, batch int) *outbox.Shipper {
	t.Helper()
	s, err := outbox.New(src, outbox.Config{
		Conn: outbox.ConnConfig{URL: url}, Identity: till, Bus: bus, BatchSize: batch,
		AckTimeout: 2 * time.Second, PollEvery: 50 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond (a real server works in real time) for up to 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamMessages reads every message of the stream, in stream order.
func streamMessages(t *testing.T, url string) []outbox.Message {
	t.Helper()
	nc, err := outbox.Connect(outbox.ConnConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, outbox.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []outbox.Message
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		m, err := outbox.Decode(raw.Data)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		if m.Type == outbox.TypeStatus {
			continue // not an event: no id to deduplicate by
		}
		if id := raw.Header.Get("Nats-Msg-Id"); id != m.ID {
			t.Errorf("message %s has Nats-Msg-Id %q", m.ID, id)
		}
		if want := outbox.Subject(outbox.DefaultPrefix, till, m.Type); raw.Subject != want {
			t.Errorf("message %s on %s, want %s", m.ID, raw.Subject, want)
		}
		out = append(out, m)
	}
	return out
}

// assertSeqs fails unless msgs are seq 1..n, each once, in order.
func assertSeqs(t *testing.T, msgs []outbox.Message, n int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("stream holds %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("stream message %d is seq %d, want %d (duplicate, gap or reorder)", i, m.Seq, i+1)
		}
	}
}

func TestShipper_ExactlyOnceInOrder(t *testing.T) {
	srv := startServer(t)
	src, bus := &memSource{}, posbridge.NewBus()
	src.add(nil, 700) // more than a batch waits before the start
	s := openShipper(t, srv.URL(), src, bus, 64)
	waitFor(t, "the first 700 shipped", func() bool { return src.backlog() == 0 })
	src.add(bus, 25) // woken by the bus
	waitFor(t, "25 more shipped", func() bool { return src.backlog() == 0 })
	assertSeqs(t, streamMessages(t, srv.URL()), 725)
	st, err := s.Stats(context.Background())
	if err != nil || st.Published != 725 || st.Duplicates != 0 || st.PublishErrors != 0 || st.Backlog != 0 {
		t.Errorf("Stats = %+v, %v; want 725 published, nothing else", st, err)
	}
}

// The server is away for a while: events pile up in the outbox, nothing is
// deleted, and once it is back they drain in order.
func TestShipper_ServerDownThenBack(t *testing.T) {
	srv := startServer(t)
	src, bus := &memSource{}, posbridge.NewBus()
	s := openShipper(t, srv.URL(), src, bus, 32)
	src.add(bus, 10)
	waitFor(t, "10 shipped", func() bool { return src.backlog() == 0 })

	srv.Stop()
	src.add(bus, 200)
	waitFor(t, "a failed publish", func() bool {
		st, _ := s.Stats(context.Background())
		return st.LastError != "" && !st.Connected
	})
	src.add(bus, 100)
	st, err := s.Stats(context.Background())
	if err != nil || st.Backlog != 300 || st.Oldest.IsZero() {
		t.Fatalf("while down: Stats = %+v, %v; want a backlog of 300", st, err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backlog drained", func() bool { return src.backlog() == 0 })
	assertSeqs(t, streamMessages(t, srv.URL()), 310)
	if st, _ := s.Stats(context.Background()); st.LastError != "" {
		t.Errorf("after the drain LastError = %q, want none", st.LastError)
	}
}

// posbridge dies after the server acknowledged a batch but before the rows
// were deleted: the next run publishes the same ids again, and JetStream
// keeps one copy of each.
func TestShipper_KilledBetweenPublishAndDelete(t *testing.T) {
	srv := startServer(t)
	src := &memSource{failDelete: 1 << 30} // every delete fails until the "restart"
	src.add(nil, 40)
	first, err := outbox.New(src, outbox.Config{
		Conn: outbox.ConnConfig{URL: srv.URL()}, Identity: till, BatchSize: 100,
		BackoffMin: time.Hour, Logger: slog.New(slog.DiscardHandler), // no second round
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Open(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acked batch whose delete failed", func() bool {
		st, _ := first.Stats(context.Background())
		return st.LastError != ""
	})
	first.Close()
	src.mu.Lock()
	src.failDelete = 0
	src.mu.Unlock()
	if got := src.backlog(); got != 40 {
		t.Fatalf("outbox holds %d rows after the failed delete, want 40", got)
	}
	assertSeqs(t, streamMessages(t, srv.URL()), 40)

	src.add(nil, 5)
	second := openShipper(t, srv.URL(), src, nil, 100)
	waitFor(t, "the second run drained", func() bool { return src.backlog() == 0 })
	assertSeqs(t, streamMessages(t, srv.URL()), 45)
	st, _ := second.Stats(context.Background())
	if st.Duplicates != 40 || st.Published != 45 {
		t.Errorf("second run: %d published, %d duplicates; want 45 and 40", st.Published, st.Duplicates)
	}
}

// A message survives the JSON round trip a consumer makes.
func TestNewMessage_RoundTrip(t *testing.T) {
	paid := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := posbridge.Event{Seq: 7, Type: posbridge.EventRefund, At: paid,
		Payment: &posbridge.Order{No: "A0000001", Lane: "1", Amount: posbridge.Money{Minor: 1250, Currency: "AED"},
			Status: posbridge.StatusPaid, Card: posbridge.Card{Brand: "VISA", Last4: "4242"}, PaidAt: paid, Version: 4,
			IdempotencyKey: "secret-key"},
		Refund: &posbridge.Refund{No: "R0000001", OrderNo: "A0000001", Amount: posbridge.Money{Minor: 250, Currency: "AED"},
			Status: posbridge.RefundSucceeded, Version: 2},
	}
	m, err := outbox.NewMessage(till, e)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	got, err := outbox.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "t1:7" || got.Order.CardLast4 != "4242" || !got.Order.PaidAt.Equal(paid) || got.Refund.AmountMinor != 250 {
		t.Errorf("round trip = %+v", got)
	}
	if strings.Contains(string(b), "secret-key") {
		t.Errorf("message carries the idempotency key: %s", b)
	}
	if _, err := outbox.NewMessage(till, posbridge.Event{Seq: 1, Type: posbridge.EventLane}); err == nil {
		t.Error("a lane event was given a message")
	}
}

// The server refuses part of a batch (the stream is full and discards new
// messages): only the acknowledged prefix leaves the outbox, the refused
// events wait, and they go, in order, once the stream takes them.
func TestShipper_RefusedEventsStayInTheOutbox(t *testing.T) {
	srv := startServer(t)
	nc, err := outbox.Connect(outbox.ConnConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	cfg := outbox.StreamConfig(outbox.DefaultStream, outbox.DefaultPrefix)
	cfg.MaxMsgs, cfg.Discard = 10, jetstream.DiscardNew
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	src := &memSource{}
	src.add(nil, 25)
	s := openShipper(t, srv.URL(), src, nil, 100)
	waitFor(t, "the refusal", func() bool {
		st, _ := s.Stats(ctx)
		return st.PublishErrors > 0
	})
	if got := src.backlog(); got != 15 {
		t.Fatalf("outbox holds %d events after the stream took 10 of 25, want 15", got)
	}
	cfg.MaxMsgs = -1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rest shipped", func() bool { return src.backlog() == 0 })
	msgs := streamMessages(t, srv.URL())
	assertSeqs(t, msgs, 25)
}

// Events older than MaxBacklog are dropped from the outbox unshipped (and
// counted); the rest are shipped.
func TestShipper_DropsPastMaxBacklog(t *testing.T) {
	srv := startServer(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := posbridgetest.NewManualClock(now)
	src := &memSource{}
	src.add(nil, 8)
	src.mu.Lock()
	for i := range src.events[:3] {
		src.events[i].At = now.Add(-31 * 24 * time.Hour)
	}
	src.mu.Unlock()
	s, err := outbox.New(src, outbox.Config{Conn: outbox.ConnConfig{URL: srv.URL()}, Identity: till, Clock: clock,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "the outbox emptied", func() bool { return src.backlog() == 0 })
	st, _ := s.Stats(context.Background())
	if st.Dropped != 3 || st.Published != 5 {
		t.Fatalf("Stats = %+v; want 3 dropped, 5 published", st)
	}
	msgs := streamMessages(t, srv.URL())
	if len(msgs) != 5 || msgs[0].Seq != 4 || msgs[4].Seq != 8 {
		t.Errorf("stream holds %d messages from seq %d, want seqs 4..8", len(msgs), msgs[0].Seq)
	}
}
