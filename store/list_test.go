package store_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

func TestDB_ListOrders(t *testing.T) {
	ctx := context.Background()
	db, clock, _ := MustOpen(t)
	var all []posbridge.Order // oldest first
	for i := range 12 {
		o := newOrder([]string{"1", "2"}[i%2])
		if i < 4 {
			o.CreatedAt = start // same millisecond: order_no breaks the tie
		} else {
			o.CreatedAt = clock.Now()
		}
		clock.Advance(time.Second)
		MustCreate(t, db, o)
		if i%3 == 0 {
			*o = MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Status = posbridge.StatusPending; o.NeedsAttention = true })
		}
		all = append(all, *o)
	}
	newest := func(keep func(posbridge.Order) bool) []posbridge.OrderNo {
		var out []posbridge.OrderNo
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				out = append(out, all[i].No)
			}
		}
		return out
	}
	yes := true
	tests := []struct {
		name   string
		filter posbridge.OrderFilter
		want   []posbridge.OrderNo
	}{
		{"All", posbridge.OrderFilter{}, newest(func(posbridge.Order) bool { return true })},
		{"Status", posbridge.OrderFilter{Statuses: []posbridge.Status{posbridge.StatusPending}},
			newest(func(o posbridge.Order) bool { return o.Status == posbridge.StatusPending })},
		{"Lane", posbridge.OrderFilter{Lane: "2"}, newest(func(o posbridge.Order) bool { return o.Lane == "2" })},
		{"TimeRange", posbridge.OrderFilter{From: all[5].CreatedAt, To: all[9].CreatedAt},
			newest(func(o posbridge.Order) bool {
				return !o.CreatedAt.Before(all[5].CreatedAt) && o.CreatedAt.Before(all[9].CreatedAt)
			})},
		{"NeedsAttention", posbridge.OrderFilter{NeedsAttention: &yes}, newest(func(o posbridge.Order) bool { return o.NeedsAttention })},
		{"Combined", posbridge.OrderFilter{Lane: "1", Statuses: []posbridge.Status{posbridge.StatusCreated}},
			newest(func(o posbridge.Order) bool { return o.Lane == "1" && o.Status == posbridge.StatusCreated })},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 1, 5} {
			t.Run(tt.name+"/limit"+string(rune('0'+limit)), func(t *testing.T) {
				f := tt.filter
				f.Limit = limit
				var got []posbridge.OrderNo
				for pages := 0; ; pages++ {
					if pages > len(all) {
						t.Fatal("pagination does not end")
					}
					page, err := db.ListOrders(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if limit > 0 && len(page.Orders) > limit {
						t.Fatalf("page of %d orders, limit %d", len(page.Orders), limit)
					}
					for _, o := range page.Orders {
						got = append(got, o.No)
					}
					if page.NextCursor == "" {
						break
					}
					f.Cursor = page.NextCursor
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %v\nwant %v", got, tt.want)
				}
			})
		}
	}
}

func TestDB_ListOrders_Errors(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	tests := []struct {
		name   string
		filter posbridge.OrderFilter
	}{
		{"ErrNegativeLimit", posbridge.OrderFilter{Limit: -1}},
		{"ErrUnknownStatus", posbridge.OrderFilter{Statuses: []posbridge.Status{"lost"}}},
		{"ErrFromAfterTo", posbridge.OrderFilter{From: start, To: start.Add(-time.Second)}},
		{"ErrCursorGarbage", posbridge.OrderFilter{Cursor: "garbage"}},
		{"ErrCursorBadNo", posbridge.OrderFilter{Cursor: "o1.MTIzOmJhZC1ubw"}}, // "123:bad-no"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.ListOrders(ctx, tt.filter)
			wantCode(posbridge.EINVALID)(t, err)
		})
	}
}

// FuzzListOrdersCursor feeds cursors from outside (the API passes them
// through): a cursor either gives EINVALID or a page, never a panic or
// another error.
func FuzzListOrdersCursor(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "cursor", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSpace(string(b)))
	}
	db, _, _ := MustOpen(f)
	for range 3 {
		MustCreate(f, db, newOrder("1"))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, cursor string) {
		page, err := db.ListOrders(ctx, posbridge.OrderFilter{Cursor: cursor, Limit: 2})
		if err != nil {
			if posbridge.ErrorCode(err) != posbridge.EINVALID {
				t.Fatalf("cursor %q: %v, want EINVALID", cursor, err)
			}
			return
		}
		if len(page.Orders) > 2 {
			t.Fatalf("cursor %q: %d orders, limit 2", cursor, len(page.Orders))
		}
	})
}

// TestDB_OrdersToResume: a start gets the orders in flight and the pending
// ones without a check, oldest first; final orders and pending ones with a
// check scheduled (the reconciler's) are left out.
func TestDB_OrdersToResume(t *testing.T) {
	ctx := context.Background()
	db, clock, _ := MustOpen(t)
	var want []posbridge.OrderNo
	for _, tc := range []struct {
		status    posbridge.Status
		scheduled bool
		resume    bool
	}{
		{posbridge.StatusPending, false, true},
		{posbridge.StatusPaid, false, false},
		{posbridge.StatusPending, true, false},
		{posbridge.StatusAtTerminal, true, true},
		{posbridge.StatusFailed, true, false},
		{posbridge.StatusVerifying, false, true},
		{posbridge.StatusCreated, false, true},
	} {
		o := MustCreate(t, db, newOrder("1"))
		clock.Advance(time.Second)
		MustUpdate(t, db, o.No, func(o *posbridge.Order) {
			o.Status = tc.status
			if tc.scheduled {
				o.NextCheckAt = clock.Now().Add(time.Hour)
			}
		})
		if tc.resume {
			want = append(want, o.No)
		}
	}
	got, err := db.OrdersToResume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotNos []posbridge.OrderNo
	for _, o := range got {
		gotNos = append(gotNos, o.No)
	}
	if !reflect.DeepEqual(gotNos, want) {
		t.Errorf("OrdersToResume = %v, want %v (in flight or unscheduled pending, oldest first)", gotNos, want)
	}
}

func TestDB_DueChecks(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	type spec struct {
		status posbridge.Status
		next   time.Time
	}
	specs := []spec{
		{posbridge.StatusPending, at(30 * time.Second)},
		{posbridge.StatusPending, at(5 * time.Second)},
		{posbridge.StatusVerifying, at(10 * time.Second)},
		{posbridge.StatusPending, at(time.Hour)},       // not due yet
		{posbridge.StatusPending, time.Time{}},         // nothing scheduled
		{posbridge.StatusFailed, at(15 * time.Second)}, // final but still to be closed at the gateway: due
		{posbridge.StatusPending, at(20 * time.Second)},
	}
	var nos []posbridge.OrderNo
	for _, s := range specs {
		o := MustCreate(t, db, newOrder("1"))
		MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Status = s.status; o.NextCheckAt = s.next })
		nos = append(nos, o.No)
	}
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []posbridge.OrderNo
	}{
		{"AllDue", at(time.Minute), 10, []posbridge.OrderNo{nos[1], nos[2], nos[5], nos[6], nos[0]}},
		{"Limit", at(time.Minute), 2, []posbridge.OrderNo{nos[1], nos[2]}},
		{"Boundary", at(10 * time.Second), 10, []posbridge.OrderNo{nos[1], nos[2]}},
		{"NoneDue", at(time.Second), 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.DueChecks(ctx, tt.now, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var gotNos []posbridge.OrderNo
			for _, o := range got {
				gotNos = append(gotNos, o.No)
			}
			if !reflect.DeepEqual(gotNos, tt.want) {
				t.Errorf("got %v, want %v", gotNos, tt.want)
			}
		})
	}
	t.Run("ErrLimit", func(t *testing.T) {
		_, err := db.DueChecks(ctx, start, 0)
		wantCode(posbridge.EINVALID)(t, err)
	})
	t.Run("UsesIndex", func(t *testing.T) {
		plan, err := store.ExplainDueChecks(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "\n")
		if !strings.Contains(joined, "SEARCH orders USING INDEX orders_next_check_at (next_check_at") {
			t.Errorf("plan does not search the next_check_at index:\n%s", joined)
		}
		if strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("plan sorts instead of walking the index:\n%s", joined)
		}
	})
}
