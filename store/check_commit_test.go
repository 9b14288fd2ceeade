package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// countChecks reads the checks table on a connection of its own: only what
// is committed.
func countChecks(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM checks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A check record rides on the commit of the write that follows it (the
// order's new state): one fsync for both, not two.
func TestRecordCheck_SharesTheNextCommit(t *testing.T) {
	ctx := context.Background()
	db, _, path := MustOpen(t)
	o := MustCreate(t, db, newOrder("1"))
	before := db.WriteStats().Commits
	if err := db.RecordCheck(ctx, posbridge.Check{OrderNo: o.No, Kind: posbridge.CheckQuery, Result: "paid"}); err != nil {
		t.Fatal(err)
	}
	MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks++ })
	if got := db.WriteStats().Commits - before; got != 1 {
		t.Errorf("a check and the order's update took %d commits, want 1", got)
	}
	if n := countChecks(t, path); n != 1 {
		t.Errorf("%d checks committed with the update, want 1", n)
	}
}

// A check no write follows is committed on its own after checkFlushDelay,
// and one recorded just before Close is committed by Close.
func TestRecordCheck_CommittedWithoutAWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "posbridge.db")
		db, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		o := MustCreate(t, db, newOrder("1"))
		if err := db.RecordCheck(ctx, posbridge.Check{OrderNo: o.No, Kind: posbridge.CheckQuery}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := countChecks(t, path); n != 1 {
			t.Fatalf("%d checks committed a second later, want 1", n)
		}
		if err := db.RecordCheck(ctx, posbridge.Check{OrderNo: o.No, Kind: posbridge.CheckCancel}); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if n := countChecks(t, path); n != 2 {
			t.Fatalf("%d checks after Close, want 2", n)
		}
	})
}

// NextChecks lists the scheduled checks, earliest first, up to the limit,
// and only orders that have one.
func TestNextChecks(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	var nos []posbridge.OrderNo
	for _, d := range []time.Duration{3 * time.Hour, time.Hour, 0, 2 * time.Hour} {
		o := MustCreate(t, db, newOrder("1"))
		nos = append(nos, o.No)
		MustUpdate(t, db, o.No, func(o *posbridge.Order) {
			if d == 0 {
				o.NextCheckAt = time.Time{}
				return
			}
			o.NextCheckAt = start.Add(d).Truncate(time.Millisecond)
		})
	}
	got, err := db.NextChecks(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []posbridge.ScheduledCheck{{No: nos[1], At: start.Add(time.Hour).Truncate(time.Millisecond).UTC()}, {No: nos[3], At: start.Add(2 * time.Hour).Truncate(time.Millisecond).UTC()}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("NextChecks = %+v, want %+v", got, want)
	}
}
