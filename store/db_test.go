package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

func TestOpen_FileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"NewFile", func(*testing.T, string) {}},
		{"ExistingWorldReadable", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o666); err != nil { // beat the umask
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			tt.prepare(t, path)
			db := MustOpenAt(t, path, store.Options{})
			MustCreate(t, db, newOrder("1")) // makes SQLite create -wal and -shm
			for _, p := range []string{path, path + "-wal"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != 0o600 {
					t.Errorf("%s mode = %v, want 0600", filepath.Base(p), got)
				}
			}
		})
	}
}

func TestOpen_ReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	o := newOrder("1")
	MustCreate(t, db, o)
	want := MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Status = posbridge.StatusAtTerminal; o.Attempts = 1 })
	ctx := context.Background()
	in, _, err := db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "payby", NotificationID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = MustOpenAt(t, path, store.Options{})
	got, err := db.Order(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen\n got %+v\nwant %+v", got, want)
	}
	if seq, err := db.LastSeq(ctx); err != nil || seq != 2 {
		t.Errorf("LastSeq = %d, %v; want 2", seq, err)
	}
	if audit, err := db.Audit(ctx, o.No); err != nil || len(audit) != 2 {
		t.Errorf("audit = %d rows, %v; want 2", len(audit), err)
	}
	if un, err := db.UnappliedNotifications(ctx, 0); err != nil || len(un) != 1 || !reflect.DeepEqual(un[0], in) {
		t.Errorf("inbox after reopen = %+v, %v; want [%+v]", un, err, in)
	}
}

// schemaMigrations returns schema_migrations as "version name applied_at" lines.
func schemaMigrations(t *testing.T, path string) []string {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v, at int64
		var name string
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{name, time.UnixMilli(at).UTC().Format(time.RFC3339Nano)}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpen_MigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	clock := posbridgetest.NewManualClock(start)
	db, err := store.OpenOptions(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	MustCreate(t, db, newOrder("1"))
	db.Close()
	first := schemaMigrations(t, path)
	if len(first) == 0 || !strings.HasPrefix(first[0], "0001_init.sql ") {
		t.Fatalf("schema_migrations = %q, want 0001_init.sql first", first)
	}

	clock.Advance(time.Hour) // a re-applied migration would record a later time
	for range 2 {
		db, err := store.OpenOptions(path, store.Options{Now: clock.Now})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if seq, err := db.LastSeq(context.Background()); err != nil || seq != 1 {
			t.Errorf("LastSeq after reopen = %d, %v; want 1", seq, err)
		}
		db.Close()
	}
	if again := schemaMigrations(t, path); !reflect.DeepEqual(again, first) {
		t.Errorf("schema_migrations changed on reopen:\n got %q\nwant %q", again, first)
	}
}

// TestOpen_Corrupt opens files that are not whole databases: each must fail
// at Open, with an error naming the file, and leave the file as it was.
func TestOpen_Corrupt(t *testing.T) {
	tests := []struct {
		name    string
		fixture func(t *testing.T, path string)
		is      func(err error) bool
	}{
		{"not-a-database", func(t *testing.T, path string) {
			copyFile(t, filepath.Join("testdata", "open", "not-a-database.db"), path)
		}, func(err error) bool { return sqliteCode(err) == sqlite3.ErrNotADB }},
		{"damaged-table-page", func(t *testing.T, path string) {
			db := MustOpenAt(t, path, store.Options{})
			for range 200 {
				o := newOrder("1")
				o.Reference = strings.Repeat("r", 200)
				MustCreate(t, db, o)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			damagePages(t, path)
		}, func(err error) bool { return errors.Is(err, store.ErrCorrupt) || sqliteCode(err) == sqlite3.ErrCorrupt }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			tt.fixture(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded on a corrupt file")
			}
			t.Logf("Open: %v", err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if !tt.is(err) {
				t.Errorf("error %q (%#v) is not the expected kind", err, err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("Open changed the corrupt file")
			}
		})
	}
}

func sqliteCode(err error) sqlite3.ErrNo {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// damagePages overwrites the middle of every page after the schema page with
// bytes no b-tree page can hold, the way a torn write or a bad sector does.
func damagePages(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	if len(b) < 3*pageSize {
		t.Fatalf("database has %d bytes, too small to damage", len(b))
	}
	for p := pageSize; p+pageSize <= len(b); p += pageSize {
		copy(b[p:p+16], bytes.Repeat([]byte{0xA5}, 16)) // page header: type, freeblock, cell count, ...
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// holdWriteLock takes SQLite's write lock on path from a connection outside
// the store and holds it until the test ends.
func holdWriteLock(t *testing.T, path string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate&_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'lock', 0)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tx.Rollback()
		raw.Close()
	})
}

func TestOpen_Locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db := MustOpenAt(t, path, store.Options{BusyTimeout: 50 * time.Millisecond})
	o := newOrder("1")
	MustCreate(t, db, o)
	holdWriteLock(t, path)

	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("succeeded while another connection held the write lock")
		}
		t.Logf("error: %v", err)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %s", err, path)
		}
		if c := sqliteCode(err); c != sqlite3.ErrBusy && c != sqlite3.ErrLocked {
			t.Errorf("error %q has SQLite code %v, want busy or locked", err, c)
		}
		if got := posbridge.ErrorCode(err); got != posbridge.EUNAVAILABLE {
			t.Errorf("ErrorCode = %q, want %q", got, posbridge.EUNAVAILABLE)
		}
	}
	t.Run("Open", func(t *testing.T) {
		db2, err := store.OpenOptions(path, store.Options{BusyTimeout: 50 * time.Millisecond})
		if err == nil {
			db2.Close()
		}
		check(t, err)
	})
	t.Run("UpdateOrder", func(t *testing.T) {
		_, _, err := db.UpdateOrder(context.Background(), o.No, cause, func(o *posbridge.Order) error { o.Checks++; return nil })
		check(t, err)
	})
	t.Run("ReadsStillWork", func(t *testing.T) {
		// WAL: readers are never blocked by a writer.
		if _, err := db.Order(context.Background(), o.No); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOpen_ReadOnly runs Open in a child process without root's power to
// ignore file modes (uid/gid 65534) on a database it may read but not write.
func TestOpen_ReadOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux credentials for the child process")
	}
	dir := t.TempDir()
	// The child must reach its binary and the database: open the temp dirs
	// for traversal, but leave them writable only by root.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "db")
	db := MustOpenAt(t, path, store.Options{})
	MustCreate(t, db, newOrder("1"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "store.test")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyExecutable(t, exe, bin)

	cmd := exec.Command(bin)
	cmd.Env = []string{envChild + "=readonly", envPath + "=" + path}
	if os.Geteuid() == 0 {
		// root ignores file modes; an ordinary user already obeys them.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitOpenFailed {
		t.Fatalf("child: %v (stderr %q), want exit code %d", err, stderr.String(), exitOpenFailed)
	}
	msg := stderr.String()
	t.Logf("child Open: %s", msg)
	if !strings.Contains(msg, path) || !strings.Contains(msg, fs.ErrPermission.Error()) {
		t.Errorf("error %q should name %s and say %q", msg, path, fs.ErrPermission)
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateOrder_CrashBeforeCommit runs a child process that writes an
// order update, its event and its audit row in one transaction and exits
// before committing, as a power cut would; the parent must find the previous
// state whole and continue the seq without a gap.
func TestUpdateOrder_CrashBeforeCommit(t *testing.T) {
	db, _, path := MustOpen(t)
	ctx := context.Background()
	o := newOrder("1")
	MustCreate(t, db, o)
	want := MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Status = posbridge.StatusAtTerminal; o.Checks = 1 })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envChild+"=crash", envPath+"="+path, envOrder+"="+string(o.No))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitCrashed {
		t.Fatalf("child: %v, output %q; want exit code %d", err, out, exitCrashed)
	}

	db = MustOpenAt(t, path, store.Options{})
	got, err := db.Order(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after crash\n got %+v\nwant %+v", got, want)
	}
	if audit, err := db.Audit(ctx, o.No); err != nil || len(audit) != 2 {
		t.Errorf("audit = %d rows, %v; want 2", len(audit), err)
	}
	if seq, err := db.LastSeq(ctx); err != nil || seq != 2 {
		t.Errorf("LastSeq = %d, %v; want 2", seq, err)
	}
	MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks++ })
	assertGapFree(t, MustEvents(t, db))
}

func TestDB_Closed(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := context.Background()
	calls := map[string]error{
		"Ping":        db.Ping(ctx),
		"CreateOrder": func() error { _, err := db.CreateOrder(ctx, newOrder("1"), cause); return err }(),
		"Order":       func() error { _, err := db.Order(ctx, "X"); return err }(),
		"EventsSince": func() error { _, err := db.EventsSince(ctx, 0, 1); return err }(),
	}
	for name, err := range calls {
		if !errors.Is(err, posbridge.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// A statement journal or a sort that SQLite puts in a temporary file is a
// file created, written and deleted inside the transaction of a payment:
// every connection, the writer's among them, keeps them in memory (2).
func TestOpen_TemporaryStorageInMemory(t *testing.T) {
	db, _, _ := MustOpen(t)
	got, err := store.TempStores(context.Background(), db, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 2 {
			t.Errorf("connection %d of %d: temp_store = %d, want 2 (memory)", i+1, len(got), v)
		}
	}
}
