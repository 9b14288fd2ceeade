package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge/store"
)

// damageTable overwrites the header of table's root page, a page that
// opening the store never reads.
func damageTable(t *testing.T, path, table string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	var root int
	if err := raw.QueryRow("SELECT rootpage FROM sqlite_master WHERE name = ?", table).Scan(&root); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	off := (root - 1) * pageSize
	for i := range 16 {
		b[off+i] = 0xA5
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A store with a damaged page it does not need to start opens at once (the
// till keeps taking payments); an on-demand check finds the damage and
// says which file.
func TestOpen_DoesNotReadTheWholeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posbridge.db")
	db := MustOpenAt(t, path, store.Options{})
	for range 300 {
		o := newOrder("1")
		o.Reference = strings.Repeat("r", 200)
		MustCreate(t, db, o)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	damageTable(t, path, "checks") // a table start-up never reads
	damageTable(t, path, "audit")

	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("Open read more than it needs: %v", err)
	}
	defer db.Close()
	if in := db.Integrity(); in.Checking || !in.Checked.IsZero() {
		t.Errorf("a clean shutdown started a check: %+v", in)
	}
	err = db.CheckIntegrity(context.Background())
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("CheckIntegrity: %v, want ErrCorrupt naming %s", err, path)
	}
	if in := db.Integrity(); in.Checked.IsZero() || !errors.Is(in.Err, store.ErrCorrupt) {
		t.Errorf("Integrity after the check: %+v", in)
	}
}

// After an unclean shutdown (the write-ahead log left behind) the check runs
// in the background, without holding up Open, and reports what it found.
func TestOpen_UncleanShutdownChecksInTheBackground(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db := MustOpenAt(t, live, store.Options{})
	for range 20 {
		MustCreate(t, db, newOrder("1"))
	}
	// A copy of the file and its log while the store is open is what a
	// power cut leaves.
	crashed := filepath.Join(dir, "crashed.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db2, err := store.Open(crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	deadline := time.Now().Add(30 * time.Second)
	for db2.Integrity().Checked.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("no integrity check after an unclean shutdown: %+v", db2.Integrity())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if in := db2.Integrity(); in.Err != nil || in.Checking {
		t.Errorf("a whole file after a crash: %+v", in)
	}
}
