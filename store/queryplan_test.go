package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// Every lookup the API, the engine and the metrics make is answered from an
// index: EXPLAIN QUERY PLAN never shows a scan of a whole table. A new
// filter without an index fails here, not on a till with a million orders.
func TestQueryPlans_NoFullScans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posbridge.db")
	db := MustOpenAt(t, path, store.Options{})
	db.Close()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The statistics of a big database, so the planner chooses as it would there.
	if _, err := raw.Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	open := []posbridge.Status{posbridge.StatusCreated, posbridge.StatusAtTerminal, posbridge.StatusVerifying, posbridge.StatusPending}
	filters := []struct {
		name string
		f    posbridge.OrderFilter
		want string // a step the plan must have, when set
		// walk: the plan may walk an index in order. Only where the rows
		// it passes over are few: nothing filters (the newest page stops at
		// its LIMIT), or the filter leaves out only flagged orders, the
		// rare ones (about 1 in 100).
		walk bool
	}{
		{"newest", posbridge.OrderFilter{}, "", true},
		{"status", posbridge.OrderFilter{Statuses: []posbridge.Status{posbridge.StatusPaid}}, "", false},
		{"lane", posbridge.OrderFilter{Lane: "1"}, "", false},
		{"lane busy (open orders of a lane)", posbridge.OrderFilter{Lane: "1", Statuses: open}, "(lane=? AND status=?)", false},
		{"orders holding a lane", posbridge.OrderFilter{Lane: "1", HoldsLane: true}, "orders_lane_holding (lane=?)", false},
		{"needs attention", posbridge.OrderFilter{NeedsAttention: &yes}, "orders_attention", false},
		{"needs attention on a lane", posbridge.OrderFilter{Lane: "1", NeedsAttention: &yes}, "orders_lane_attention (lane=?)", false},
		{"not flagged", posbridge.OrderFilter{NeedsAttention: &no}, "", true},
		{"not flagged on a lane", posbridge.OrderFilter{Lane: "1", NeedsAttention: &no}, "", true},
		{"idempotency key", posbridge.OrderFilter{IdempotencyKey: "k1"}, "(idempotency_key=?)", false},
		{"a day", posbridge.OrderFilter{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}, "", false},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			q, args := store.ListOrdersQuery(tt.f)
			plan := assertNoScan(t, raw, tt.walk, q, args...)
			if tt.want != "" && !strings.Contains(strings.Join(plan, "\n"), tt.want) {
				t.Errorf("plan %q does not seek %s", plan, tt.want)
			}
		})
	}
	t.Run("next checks", func(t *testing.T) {
		plan := assertNoScan(t, raw, true, store.NextChecksQuery, 2)
		if !strings.Contains(strings.Join(plan, "\n"), "COVERING INDEX orders_next_check_at") {
			t.Errorf("plan %q reads the table, not the index alone", plan)
		}
	})
	for name, q := range store.FixedQueries() {
		t.Run(name, func(t *testing.T) { assertNoScan(t, raw, false, q.SQL, q.Args...) })
	}
}

func assertNoScan(t *testing.T, raw *sql.DB, walkOK bool, q string, args ...any) []string {
	t.Helper()
	rows, err := raw.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	t.Logf("plan: %q", plan)
	for _, step := range plan {
		// A walk of a whole index in order is a scan too, unless nothing
		// filters (the newest page stops at its LIMIT); order_counts holds
		// a row per status; a partial index of exactly the rows wanted
		// holds nothing else to walk past.
		if strings.HasPrefix(step, "SCAN ") && !strings.HasPrefix(step, "SCAN order_counts") && !(walkOK && strings.Contains(step, "USING")) &&
			!wholePartialIndex(step) {
			t.Errorf("scan %q in the plan of\n%s\nplan: %q", step, q, plan)
		}
	}
	return plan
}

// wholePartialIndex reports whether step walks a partial index every row of
// which the query wants: orders_unscheduled_pending (a pending order is given
// a check as it becomes pending, so it holds few) and orders_attention (the
// flagged orders, asked for as such).
func wholePartialIndex(step string) bool {
	for _, ix := range []string{"orders_unscheduled_pending", "orders_attention"} {
		if step == "SCAN orders USING INDEX "+ix {
			return true
		}
	}
	return false
}

// The metrics' counts, kept by triggers, always equal a count of the orders
// themselves, through creations and every kind of change.
func TestCountOrders_MatchesTheOrders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posbridge.db")
	db := MustOpenAt(t, path, store.Options{})
	defer db.Close()
	ctx := context.Background()
	var nos []posbridge.OrderNo
	for i := range 30 {
		o := newOrder([]string{"1", "2"}[i%2])
		MustCreate(t, db, o)
		nos = append(nos, o.No)
	}
	steps := []func(o *posbridge.Order){
		func(o *posbridge.Order) { o.Status = posbridge.StatusAtTerminal },
		func(o *posbridge.Order) { o.Status, o.NextCheckAt = posbridge.StatusPending, time.Now() },
		func(o *posbridge.Order) { o.NeedsAttention, o.Attention = true, "look" },
		func(o *posbridge.Order) { o.Status, o.NextCheckAt = posbridge.StatusPaid, time.Time{} },
	}
	for i, no := range nos {
		for _, step := range steps[:i%(len(steps)+1)] {
			if _, _, err := db.UpdateOrder(ctx, no, posbridge.Cause{Actor: posbridge.ActorEngine}, func(o *posbridge.Order) error { step(o); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := db.CountOrders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := posbridge.OrderCounts{ByStatus: map[posbridge.Status]int{}}
	for _, no := range nos {
		o, err := db.Order(ctx, no)
		if err != nil {
			t.Fatal(err)
		}
		want.ByStatus[o.Status]++
		if o.NeedsAttention {
			want.NeedsAttention++
		}
		if !o.NextCheckAt.IsZero() {
			want.Scheduled++
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %+v, the orders say %+v", got, want)
	}
}
