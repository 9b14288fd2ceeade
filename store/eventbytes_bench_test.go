package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// BenchmarkEventBytes measures the database's size per order after real
// payments written through the store (each: created, at the terminal, paid
// by a notification that is stored with it, one gateway check: three
// events, three audit rows, an inbox entry, a check row), vacuumed:
//
//	bytes/order         as stored now (lean event rows)
//	full-bytes/order    the same database as rows were before: every event
//	                    with the whole JSON snapshots it held before
//	                    migration 0009, every inbox body whole (built
//	                    from the lean rows in the same run)
//
// Run: go test -run '^$' -bench EventBytes -benchtime 1x -timeout 10m ./store/
func BenchmarkEventBytes(b *testing.B) {
	const n = 5000
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "bytes.db")
		clock := posbridgetest.NewManualClock(start)
		db, err := store.OpenOptions(path, store.Options{Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		entries := writePayments(b, db, clock, n)
		events := MustEvents(b, db)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		lean := vacuumedSize(b, path)

		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := raw.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range events {
			payment, refund, err := store.FullSnapshots(e)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(`UPDATE events SET payment = ?, refund = ?, payment_undo = NULL, refund_undo = NULL WHERE seq = ?`,
				nullString(payment), nullString(refund), e.Seq); err != nil {
				b.Fatal(err)
			}
		}
		for _, e := range entries {
			body, err := store.OldInboxBody(e)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(`UPDATE notifications SET body = ? WHERE id = ?`, body, e.ID); err != nil {
				b.Fatal(err)
			}
		}
		for _, s := range []string{`DROP INDEX events_order_no`, `DROP INDEX events_refund_no`} {
			if _, err := tx.Exec(s); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		raw.Close()
		full := vacuumedSize(b, path)
		b.ReportMetric(float64(lean)/n, "bytes/order")
		b.ReportMetric(float64(full)/n, "full-bytes/order")
	}
}

// writePayments writes n payments as a till leaves them and returns their
// inbox entries as stored.
func writePayments(b *testing.B, db *store.DB, clock *posbridgetest.ManualClock, n int) []posbridge.InboxEntry {
	ctx := context.Background()
	var entries []posbridge.InboxEntry
	for i := range n {
		clock.Advance(time.Minute)
		o := &posbridge.Order{No: posbridge.OrderNo(fmt.Sprintf("B%012d", i)), Lane: "1",
			Amount: posbridge.Money{Minor: 1250 + int64(i%1000), Currency: "AED"}, Reference: fmt.Sprintf("R-%06d", i)}
		if i%3 == 0 {
			o.IdempotencyKey, o.RequestHash = fmt.Sprintf("key-%d", i), "0000000000000000000000000000000000000000000000000000000000000000"
		}
		if _, err := db.CreateOrder(ctx, o, posbridge.Cause{Actor: posbridge.ActorAPI, Who: "127.0.0.1", Action: "create"}); err != nil {
			b.Fatal(err)
		}
		clock.Advance(time.Second)
		if _, _, err := db.UpdateOrder(ctx, o.No, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "send"}, func(o *posbridge.Order) error {
			o.Status, o.Attempts, o.TerminalNo = posbridge.StatusAtTerminal, 1, fmt.Sprintf("502100%016d", i)
			o.VerifyUntil = clock.Now().Add(10 * time.Minute)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		clock.Advance(2 * time.Second)
		nt := posbridge.Notification{Gateway: "payby", ID: fmt.Sprintf("N%d", i), Kind: posbridge.NotifyOrder, OrderNo: o.No,
			GatewayNo: fmt.Sprintf("13%016d", i), Status: posbridge.GatewayPaid, Amount: o.Amount, Card: posbridge.Card{Brand: "Visa", Last4: "1111"},
			SentAt: clock.Now().Add(-time.Second), ReceivedAt: clock.Now()}
		entry := posbridge.InboxEntry{Gateway: "payby", NotificationID: nt.ID, Kind: nt.Kind, OrderNo: o.No, Status: string(nt.Status),
			Notification: &nt, Verified: true, ReceivedAt: nt.ReceivedAt}
		c := posbridge.Cause{Actor: posbridge.ActorNotification, Who: "payby " + nt.ID, Action: "notification", Detail: "gateway says paid",
			Applies: &posbridge.InboxMark{Result: posbridge.NotifyApplied}, Receives: &entry}
		if _, _, err := db.UpdateOrder(ctx, o.No, c, func(o *posbridge.Order) error {
			o.Status, o.TerminalOutcome, o.PaidAt, o.VerifyUntil = posbridge.StatusPaid, posbridge.OutcomeApproved, clock.Now(), time.Time{}
			o.Card, o.GatewayNo = nt.Card, nt.GatewayNo
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if err := db.RecordCheck(ctx, posbridge.Check{OrderNo: o.No, Kind: posbridge.CheckQuery, Request: "query " + string(o.No),
			Result: "paid", Latency: 80 * time.Millisecond}); err != nil {
			b.Fatal(err)
		}
		stored, _, err := db.ReceiveNotification(ctx, entry) // a duplicate: reads what is stored
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, stored)
	}
	return entries
}

// vacuumedSize vacuums the closed database at path and returns its size.
func vacuumedSize(b *testing.B, path string) int64 {
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`VACUUM`); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func nullString(b []byte) sql.NullString {
	return sql.NullString{String: string(b), Valid: b != nil}
}
