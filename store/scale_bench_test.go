package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
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
	n := 1_000_000
	if s := os.Getenv("POSBRIDGE_BENCH_ORDERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("POSBRIDGE_BENCH_ORDERS=%q: want a number >= 1000", s)
		}
		n = v
	}
	home, err := os.UserHomeDir()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "posbridge-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("scale-v8-%d.db", n))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		generateScaleDB(b, path, n)
		b.Logf("generated %d orders in %s", n, time.Since(start).Round(time.Second))
	}
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

// generateScaleDB makes a database of n orders as payments leave them: two
// lanes, 90 % paid, 5 % failed, 4 % canceled, 1 % pending and flagged, an
// Idempotency-Key on a third; three events (lean rows: what each change
// changed, as migration 0008 stores them),
// three audit rows and two checks per order.
func generateScaleDB(b *testing.B, path string, n int) {
	db, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=OFF")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	stmts := []string{
		`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		INSERT INTO orders (order_no, lane, amount_minor, currency, reference, status, reason, terminal_outcome,
			needs_attention, attention, checks, next_check_at, created_at, updated_at, paid_at, card_brand, card_last4,
			gateway_no, terminal_no, idempotency_key, request_hash, attempts, version)
		SELECT printf('2026010110000%012d', x), CASE x % 2 WHEN 0 THEN '1' ELSE '2' END, 1250 + x % 1000, 'AED', printf('R-%06d', x % 1000000),
			CASE WHEN x % 100 < 90 THEN 'paid' WHEN x % 100 < 95 THEN 'failed' WHEN x % 100 < 99 THEN 'canceled' ELSE 'pending' END,
			CASE WHEN x % 100 BETWEEN 90 AND 94 THEN 'declined' WHEN x % 100 BETWEEN 95 AND 98 THEN 'canceled_by_cashier' WHEN x % 100 = 99 THEN 'unconfirmed' ELSE '' END,
			'approved', CASE WHEN x % 100 = 99 THEN 1 ELSE 0 END, CASE WHEN x % 100 = 99 THEN 'not confirmed by the gateway' ELSE '' END,
			1, CASE WHEN x % 100 = 99 THEN 1767225600000 + x * 60000 + 86400000 ELSE NULL END,
			1767225600000 + x * 60000, 1767225600000 + x * 60000 + 2000,
			CASE WHEN x % 100 < 90 THEN 1767225600000 + x * 60000 + 2000 ELSE NULL END, 'Visa', '1111',
			printf('13%016d', x), printf('502100%016d', x), CASE WHEN x % 3 = 0 THEN printf('key-%d', x) ELSE NULL END,
			'0000000000000000000000000000000000000000000000000000000000000000', 1, 3
		FROM c`,
		`INSERT INTO events (type, at, order_no, payment_undo) SELECT 'payment', created_at + k * 1000, order_no,
			CASE k WHEN 0 THEN '{}'
				WHEN 1 THEN printf('{"-":["11","19","22"],"13":%d,"4":"created"}', created_at)
				ELSE printf('{"-":["14","15","16","18","6"],"11":%d,"13":%d,"4":"at_terminal"}', created_at + 600000, created_at + 1000) END
			FROM orders, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2)`,
		`INSERT INTO audit (subject, order_no, at, actor, who, action, detail, from_status, to_status, version)
			SELECT order_no, order_no, created_at + k * 1000, 'engine', '', 'step', 'gateway says paid', '', status, k + 1
			FROM orders, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2)`,
		`INSERT INTO checks (order_no, kind, at, request, result, err, latency_ns)
			SELECT order_no, 'query', created_at + k * 1000, 'query', 'paid', 0, 2000000
			FROM orders, (SELECT 0 AS k UNION ALL SELECT 1)`,
	}
	for i, s := range stmts {
		var args []any
		switch i {
		case 0:
			args = []any{n}
		}
		if _, err := raw.Exec(s, args...); err != nil {
			os.Remove(path)
			b.Fatalf("generate: %v", err)
		}
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
}
