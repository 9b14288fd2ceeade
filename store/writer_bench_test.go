package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// BenchmarkWriter_Notifications measures notification-style writes from 64
// goroutines at once (each: store the inbox entry, change the order, append
// its event and audit row, mark the entry applied), on a real file with
// synchronous=FULL, beside the one-commit floor measured in the same run:
//
//	floor     one durable commit after another, one goroutine, a one-row
//	          insert on a bare SQLite file with the store's pragmas
//	before    the old path: ReceiveNotification, then UpdateOrder marking
//	          it applied; each write its own commit (MaxBatch 1)
//	after     one UpdateOrder whose cause receives the entry, group commit
//
// Figures: writes/s, commits/write (each commit is one fsync of the
// write-ahead log; checkpoints add a few) and the ratio to the floor.
//
// Run: go test -run '^$' -bench Writer_Notifications -benchtime 2000x -timeout 10m ./store/
func BenchmarkWriter_Notifications(b *testing.B) {
	var floor float64
	b.Run("floor", func(b *testing.B) {
		db := openBare(b)
		if _, err := db.Exec(`CREATE TABLE t (n INTEGER)`); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := range b.N {
			if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
				b.Fatal(err)
			}
		}
		floor = float64(b.N) / time.Since(start).Seconds()
		b.ReportMetric(floor, "commits/s")
	})
	run := func(name string, maxBatch int, oneCall bool) {
		b.Run(name, func(b *testing.B) {
			db := MustOpenAt(b, filepath.Join(b.TempDir(), "bench.db"), store.Options{MaxBatch: maxBatch})
			ctx := context.Background()
			orders := make([]posbridge.OrderNo, 256)
			for i := range orders {
				orders[i] = MustCreate(b, db, newOrder(fmt.Sprint(i))).No
			}
			var next atomic.Int64
			before := db.WriteStats()
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 goroutines
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					if err := notifyWrite(ctx, db, orders[i%int64(len(orders))], fmt.Sprintf("n%d", i), oneCall); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			s := db.WriteStats()
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "writes/s")
			b.ReportMetric(float64(s.Commits-before.Commits)/float64(b.N), "commits/write")
			if floor > 0 {
				b.ReportMetric(rate/floor, "x-floor")
			}
		})
	}
	run("before", 1, false)
	run("after", 0, true)
}

// notifyWrite applies notification id to order no as the engine does:
// oneCall in one UpdateOrder that receives it, else stored first and marked
// applied with the change.
func notifyWrite(ctx context.Context, db *store.DB, no posbridge.OrderNo, id string, oneCall bool) error {
	n := posbridge.Notification{Gateway: "payby", ID: id, Kind: posbridge.NotifyOrder, OrderNo: no,
		Status: posbridge.GatewayCreated, Amount: posbridge.Money{Minor: 1250, Currency: "AED"}}
	entry := posbridge.InboxEntry{Gateway: "payby", NotificationID: id, Kind: posbridge.NotifyOrder, OrderNo: no,
		Status: string(n.Status), Notification: &n, Verified: true}
	c := posbridge.Cause{Actor: posbridge.ActorNotification, Who: "payby " + id, Action: "notification",
		Applies: &posbridge.InboxMark{Result: posbridge.NotifyApplied}}
	if oneCall {
		c.Receives = &entry
	} else {
		stored, _, err := db.ReceiveNotification(ctx, entry)
		if err != nil {
			return err
		}
		c.Applies.ID = stored.ID
	}
	_, _, err := db.UpdateOrder(ctx, no, c, func(o *posbridge.Order) error { o.Checks++; return nil })
	return err
}

// openBare opens a bare SQLite file with the store's durability pragmas.
func openBare(b *testing.B) *sql.DB {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(b.TempDir(), "floor.db")+"?"+q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	return db
}
