package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/embedded"
	"github.com/posbridge/posbridge/outbox/fleet"
)

var till = outbox.Identity{Merchant: "acme", Store: "dxb01", Till: "t1"}

// message is event seq of till: order A<n> at version v, paid when paid.
func message(t testing.TB, id outbox.Identity, seq int64, n int, v int64, status posbridge.Status) outbox.Message {
	t.Helper()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	m, err := outbox.NewMessage(id, posbridge.Event{Seq: seq, Type: posbridge.EventPayment, At: at, Payment: &posbridge.Order{
		No: posbridge.OrderNo(fmt.Sprintf("A%07d", n)), Lane: "1", Amount: posbridge.Money{Minor: int64(100 * n), Currency: "AED"},
		Status: status, Version: v, CreatedAt: at, UpdatedAt: at,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openDB(t *testing.T) *fleet.DB {
	t.Helper()
	db, err := fleet.OpenDB(filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDB_Apply(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	m1 := message(t, till, 1, 1, 1, posbridge.StatusCreated)
	m2 := message(t, till, 2, 1, 2, posbridge.StatusPaid)
	m2.Order.NeedsAttention, m2.Order.Attention = true, "paid after close"
	other := message(t, outbox.Identity{Merchant: "acme", Store: "dxb01", Till: "t2"}, 1, 1, 1, posbridge.StatusCreated)

	// The later version arrives first (a retried publish); the earlier one
	// must not roll the order back; a redelivery is skipped.
	for _, step := range []struct {
		msgs []outbox.Message
		want fleet.Result
	}{
		{[]outbox.Message{m2}, fleet.Result{Applied: 1}},
		{[]outbox.Message{m1, m2}, fleet.Result{Applied: 1, Duplicates: 1}},
		{[]outbox.Message{other, m1}, fleet.Result{Applied: 1, Duplicates: 1}},
	} {
		got, err := db.Apply(ctx, step.msgs)
		if err != nil || got != step.want {
			t.Fatalf("Apply = %+v, %v; want %+v", got, err, step.want)
		}
	}
	orders, err := db.Orders(ctx, fleet.Filter{})
	if err != nil || len(orders) != 2 {
		t.Fatalf("Orders = %d, %v; want one per till", len(orders), err)
	}
	if o := orders[0]; o.Till != "t1" || o.Status != "paid" || o.Version != 2 {
		t.Errorf("t1's order = %s v%d, want paid v2", o.Status, o.Version)
	}
	att, _ := db.Orders(ctx, fleet.Filter{Attention: true})
	if len(att) != 1 || att[0].Attention != "paid after close" {
		t.Errorf("attention orders = %+v, want t1's", att)
	}
	tills, err := db.Tills(ctx)
	if err != nil || len(tills) != 2 || tills[0].Events != 2 || tills[0].LastSeq != 2 || tills[0].Attention != 1 {
		t.Fatalf("Tills = %+v, %v", tills, err)
	}

	// Status messages: the newest one wins, whatever the order they come in.
	status := func(at time.Time, backlog int64, link string) outbox.Message {
		return outbox.Message{Schema: outbox.SchemaVersion, ID: outbox.StatusID("t1"), Merchant: "acme", Store: "dxb01", Till: "t1",
			Type: outbox.TypeStatus, At: at, Status: &outbox.StatusDoc{Backlog: backlog, Lanes: []outbox.LaneDoc{{ID: "1", Link: link}}}}
	}
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	if res, err := db.Apply(ctx, []outbox.Message{status(t0.Add(time.Minute), 7, "down"), status(t0, 0, "up")}); err != nil || res.Statuses != 2 {
		t.Fatalf("Apply statuses = %+v, %v", res, err)
	}
	tills, _ = db.Tills(ctx)
	if tl := tills[0]; tl.Backlog != 7 || tl.Lanes != "1=down" || !tl.StatusAt.Equal(t0.Add(time.Minute)) || tl.Events != 2 {
		t.Errorf("t1 after statuses = %+v, want the newer one (backlog 7, lane down), events unchanged", tl)
	}
}

func TestWriteCSV(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	m := message(t, till, 1, 1, 1, posbridge.StatusPaid)
	m.Order.Reference = "=HYPERLINK(\"x\")"
	if _, err := db.Apply(ctx, []outbox.Message{m}); err != nil {
		t.Fatal(err)
	}
	orders, _ := db.Orders(ctx, fleet.Filter{})
	var b bytes.Buffer
	if err := fleet.WriteCSV(&b, orders); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "merchant,store,till,order_no") ||
		!strings.Contains(lines[1], "acme,dxb01,t1,A0000001,1,paid,,100,AED,0,") || !strings.Contains(lines[1], `"'=HYPERLINK`) {
		t.Errorf("csv:\n%s", b.String())
	}
}

func publish(t *testing.T, url string, msgs []outbox.Message) {
	t.Helper()
	nc, err := outbox.Connect(outbox.ConnConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := outbox.EnsureStream(ctx, js, outbox.DefaultStream, outbox.DefaultPrefix, till); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: outbox.Subject(outbox.DefaultPrefix, till, m.Type), Data: b},
			jetstream.WithMsgID(m.ID)); err != nil {
			t.Fatal(err)
		}
	}
}

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

// The consumer dies after committing a batch and before acknowledging it:
// the server redelivers the batch to the next run, which skips every event
// of it, so none is applied twice.
func TestConsumer_KilledMidBatch(t *testing.T) {
	srv, err := embedded.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	var msgs []outbox.Message
	for i := 1; i <= 100; i++ {
		msgs = append(msgs, message(t, till, int64(i), i, 1, posbridge.StatusPaid))
	}
	msgs = append(msgs, message(t, till, 101, 1, 2, posbridge.StatusPaid)) // order 1 again, refunded below
	msgs[100].Order.RefundedMinor = 40
	publish(t, srv.URL(), msgs)

	db := openDB(t)
	cfg := fleet.Config{Conn: outbox.ConnConfig{URL: srv.URL()}, Batch: 30, AckWait: time.Second, FetchWait: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	first := fleet.New(db, cfg)
	crash := errors.New("killed after the commit")
	fleet.SetAfterCommit(first, func() error { return crash })
	if err := first.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-first.Done()
	if !errors.Is(first.Err(), crash) || first.Stats().Applied != 30 {
		t.Fatalf("first run: %+v, %v; want 30 applied, then the crash", first.Stats(), first.Err())
	}
	first.Close()

	second := fleet.New(db, cfg)
	if err := second.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	waitFor(t, "every event applied", func() bool { return second.Stats().Applied+30 == 101 })
	waitFor(t, "the redelivered batch skipped", func() bool { return second.Stats().Duplicates == 30 })
	tills, err := db.Tills(context.Background())
	if err != nil || len(tills) != 1 || tills[0].Events != 101 || tills[0].Orders != 100 || tills[0].LastSeq != 101 {
		t.Fatalf("Tills = %+v, %v; want 101 events once each, 100 orders", tills, err)
	}
	orders, _ := db.Orders(context.Background(), fleet.Filter{})
	var paid, refunded int64
	for _, o := range orders {
		paid += o.AmountMinor
		refunded += o.RefundedMinor
	}
	if paid != 100*5050 || refunded != 40 {
		t.Errorf("fleet totals: paid %d refunded %d; want %d and 40", paid, refunded, 100*5050)
	}
}
