package store_test

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/store/storetest"
)

// BenchmarkScale measures the store on a till's whole life: a database of
// POSBRIDGE_BENCH_ORDERS orders (1,000,000 by default), each with the
// events, audit rows and checks a real payment leaves, generated once and
// cached in $HOME/.cache/posbridge-bench. Each figure is the median of 5,
// beside what the same lookup cost the old way in the same run:
//
//	open-ms         Open (the ready path): the header and migrations only
//	quickcheck-ms   the whole-file check Open used to run, now in the background
//	counts-ms       CountOrders from order_counts (metrics)
//	groupby-ms      the GROUP BY over every order a scrape used to run
//	attention-ms    the newest 50 orders needing attention
//	lane-busy-ms    a lane's open orders (every POST /payments)
//	idempotency-ms  an Idempotency-Key lookup (every POST /payments with a key)
//	*-old-ms        the same three lookups as the schema before migration 0007 ran them
//	bytes/order     the file's size divided by the orders
//
// Run: go test -run '^$' -bench Scale -benchtime 1x -timeout 60m ./store/
func BenchmarkScale(b *testing.B) {
	n := storetest.ScaleOrders(b)
	path := storetest.ScaleDB(b, n)
	ctx := context.Background()
	median := func(f func()) float64 {
		var ds []time.Duration
		for range 5 {
			t := time.Now()
			f()
			ds = append(ds, time.Since(t))
		}
		slices.Sort(ds)
		return float64(ds[2].Microseconds()) / 1000
	}
	for b.Loop() {
		open := median(func() {
			db, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		})
		db, err := store.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var qerr error
		quick := median(func() { qerr = db.CheckIntegrity(ctx) })
		if qerr != nil {
			b.Fatal(qerr)
		}
		counts := median(func() {
			if _, err := db.CountOrders(ctx); err != nil {
				b.Fatal(err)
			}
		})
		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			b.Fatal(err)
		}
		groupBy := median(func() {
			rows, err := raw.QueryContext(ctx, `SELECT status, count(*), sum(needs_attention), count(next_check_at) FROM orders GROUP BY status`)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
		})
		// The lookups as the old schema ran them: no index on the key, the
		// lane's whole date index walked.
		oldPlan := func(f posbridge.OrderFilter, to string) float64 {
			q, args := store.ListOrdersQuery(f)
			q = strings.Replace(strings.Replace(q, " INDEXED BY orders_lane_status", "", 1), "FROM orders", to, 1)
			return median(func() {
				rows, err := raw.QueryContext(ctx, q, args...)
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
			})
		}
		yes := true
		open4old := []posbridge.Status{posbridge.StatusCreated, posbridge.StatusAtTerminal, posbridge.StatusVerifying, posbridge.StatusPending}
		laneBusyOld := oldPlan(posbridge.OrderFilter{Lane: "1", Statuses: open4old, Limit: 10}, "FROM orders INDEXED BY orders_lane")
		idemOld := oldPlan(posbridge.OrderFilter{IdempotencyKey: "key-unused", Limit: 1}, "FROM orders NOT INDEXED")
		attentionOld := oldPlan(posbridge.OrderFilter{NeedsAttention: &yes, Limit: 50}, "FROM orders INDEXED BY orders_created_at")
		raw.Close()
		list := func(f posbridge.OrderFilter) float64 {
			return median(func() {
				if _, err := db.ListOrders(ctx, f); err != nil {
					b.Fatal(err)
				}
			})
		}
		open4 := []posbridge.Status{posbridge.StatusCreated, posbridge.StatusAtTerminal, posbridge.StatusVerifying, posbridge.StatusPending}
		attention := list(posbridge.OrderFilter{NeedsAttention: &yes, Limit: 50})
		laneBusy := list(posbridge.OrderFilter{Lane: "1", Statuses: open4, Limit: 10})
		idem := list(posbridge.OrderFilter{IdempotencyKey: "key-unused", Limit: 1})
		db.Close()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(open, "open-ms")
		b.ReportMetric(quick, "quickcheck-ms")
		b.ReportMetric(counts, "counts-ms")
		b.ReportMetric(groupBy, "groupby-ms")
		b.ReportMetric(attention, "attention-ms")
		b.ReportMetric(laneBusy, "lane-busy-ms")
		b.ReportMetric(idem, "idempotency-ms")
		b.ReportMetric(laneBusyOld, "lane-busy-old-ms")
		b.ReportMetric(idemOld, "idempotency-old-ms")
		b.ReportMetric(attentionOld, "attention-old-ms")
		b.ReportMetric(float64(fi.Size())/float64(n), "bytes/order")
	}
}
