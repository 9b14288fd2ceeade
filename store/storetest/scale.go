// Package storetest holds what tests and benchmarks of more than one package
// need from the store: a generated database of a till's whole life.
package storetest

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/posbridge/posbridge/store"
)

// generatorVersion changes whenever generateScaleDB writes different rows, so
// a cached file made by an older generator is not used.
const generatorVersion = 4

// ScaleOrders is how many orders the scale benchmarks use:
// POSBRIDGE_BENCH_ORDERS, 1,000,000 by default.
func ScaleOrders(tb testing.TB) int {
	tb.Helper()
	s := os.Getenv("POSBRIDGE_BENCH_ORDERS")
	if s == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		tb.Fatalf("POSBRIDGE_BENCH_ORDERS=%q: want a number >= 1000", s)
	}
	return n
}

// ScaleDB returns the path of a database of n orders as payments leave them
// (see generateScaleDB), generated once and cached in
// $HOME/.cache/posbridge-bench: a million orders take minutes to make. The
// file's name carries the schema's version, so a migration makes a new one.
// Callers that write must copy it first.
func ScaleDB(tb testing.TB, n int) string {
	tb.Helper()
	home, err := os.UserHomeDir()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "posbridge-bench")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("scale-v%d.%d-%d.db", store.SchemaVersion(), generatorVersion, n))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		generateScaleDB(tb, path+".tmp", n)
		if err := os.Rename(path+".tmp", path); err != nil {
			tb.Fatal(err)
		}
		tb.Logf("generated %d orders in %s", n, time.Since(start).Round(time.Second))
	}
	return path
}

// generateScaleDB makes a database of n orders as payments leave them: two
// lanes, 90 % paid, 5 % failed, 4 % canceled, 1 % pending and flagged (and
// watched: their next check years away, as a reconciler that has caught up
// leaves them; a backlog of due checks would measure the reconciler, not a
// payment), an Idempotency-Key on a third; three events (lean rows: what
// each change changed), three audit rows and two checks per order.
func generateScaleDB(tb testing.TB, path string, n int) {
	db, err := store.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=OFF")
	if err != nil {
		tb.Fatal(err)
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
			1, CASE WHEN x % 100 = 99 THEN 1767225600000 + x * 60000 + 315360000000 ELSE NULL END,
			1767225600000 + x * 60000, 1767225600000 + x * 60000 + 2000,
			CASE WHEN x % 100 < 90 THEN 1767225600000 + x * 60000 + 2000 ELSE NULL END, 'Visa', '1111',
			printf('13%016d', x), printf('502100%016d', x), CASE WHEN x % 3 = 0 THEN printf('key-%d', x) ELSE NULL END,
			'0000000000000000000000000000000000000000000000000000000000000000', 1, 3
		FROM c`,
		// Lean event rows, as migration 0009 stores them: what each change
		// changed, with the values before it (store/eventlean.go).
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
			tb.Fatalf("generate: %v", err)
		}
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
}
