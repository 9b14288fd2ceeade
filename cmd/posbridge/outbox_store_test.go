package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/embedded"
	"github.com/posbridge/posbridge/store"
)

// crashingDelete is the real store whose outbox deletes fail while crash is
// set: the process "dies" after the server's ack and before the delete.
type crashingDelete struct {
	*store.DB
	crash atomic.Bool
}

func (c *crashingDelete) DeleteOutbox(ctx context.Context, through int64) error {
	if c.crash.Load() {
		return errors.New("killed before the delete")
	}
	return c.DB.DeleteOutbox(ctx, through)
}

// The shipper on the real SQLite outbox: posbridge dies between the
// server's ack and the delete, starts again on the same file, republishes,
// and the stream still holds each event once, in order.
func TestOutbox_StoreKilledBetweenPublishAndDelete(t *testing.T) {
	ctx := context.Background()
	srv, err := embedded.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	path := filepath.Join(t.TempDir(), "posbridge.db")
	db, err := store.OpenOptions(path, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 20 {
		o := &posbridge.Order{No: posbridge.OrderNo(fmt.Sprintf("K%07d", i+1)), Lane: "1", Amount: posbridge.Money{Minor: 100, Currency: "AED"}}
		if _, err := db.CreateOrder(ctx, o, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	id := outbox.Identity{Merchant: "acme", Store: "s1", Till: "t1"}
	src := &crashingDelete{DB: db}
	src.crash.Store(true)
	open := func() *outbox.Shipper {
		s, err := outbox.New(src, outbox.Config{Conn: outbox.ConnConfig{URL: srv.URL()}, Identity: id,
			BackoffMin: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := open()
	waitCond(t, "the acked batch whose delete failed", func() bool {
		st, _ := first.Stats(ctx)
		return st.LastError != ""
	})
	first.Close()
	if n, _, _ := db.OutboxBacklog(ctx); n != 20 {
		t.Fatalf("outbox holds %d rows after the crash, want 20", n)
	}

	src.crash.Store(false)
	second := open()
	defer second.Close()
	waitCond(t, "the outbox drained", func() bool { n, _, _ := db.OutboxBacklog(ctx); return n == 0 })
	if st, _ := second.Stats(ctx); st.Duplicates != 20 {
		t.Errorf("second run: %d duplicates, want the 20 republished", st.Duplicates)
	}

	nc, err := outbox.Connect(outbox.ConnConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, outbox.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for seq := uint64(1); ; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			break
		}
		m, err := outbox.Decode(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != outbox.TypeStatus {
			seqs = append(seqs, m.Seq)
		}
	}
	if len(seqs) != 20 {
		t.Fatalf("stream holds %d events, want 20: %v", len(seqs), seqs)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("stream events %v, want 1..20 in order", seqs)
		}
	}
}
