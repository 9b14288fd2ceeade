// Package store implements posbridge.Store on SQLite (github.com/mattn/go-sqlite3).
//
// One database file holds orders, refunds, the checks made for them, the
// notification inbox, the event log and the audit log. Every change of an
// order or a refund is one immediate transaction that also appends an event
// and an audit row, so a crash leaves either all of it or none of it.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge"
)

// DefaultBusyTimeout is how long a write waits for another connection's
// write lock before it fails with a "database is locked" error.
const DefaultBusyTimeout = 5 * time.Second

// stmtCacheSize is how many prepared statements each pooled connection
// keeps: more than the store's distinct statements, so none is re-parsed.
const stmtCacheSize = 128

// driverName is go-sqlite3 with the settings a DSN cannot carry, applied
// to each pooled connection as it opens (configureConn).
const driverName = "sqlite3-posbridge"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: configureConn})
}

// configureConn keeps temporary tables, sorts and statement journals in
// memory: with SQLite's default they go to a file created, written and
// deleted in the middle of a transaction (one and a half per payment,
// each an open, an unlink and writes: CPU on every payment, and a
// payment's commit that depends on a writable temporary directory).
func configureConn(c *sqlite3.SQLiteConn) error {
	if _, err := c.Exec("PRAGMA temp_store = MEMORY", nil); err != nil {
		return fmt.Errorf("temp_store: %w", err)
	}
	return nil
}

// fileMode is the database file's mode: it holds order history, so only the
// daemon's user may read it. SQLite gives the -wal and -shm files the same mode.
const fileMode fs.FileMode = 0o600

var _ posbridge.Store = (*DB)(nil)

// Options tune a DB. Zero fields take defaults.
type Options struct {
	// BusyTimeout is how long a write waits for a lock held by another
	// connection (DefaultBusyTimeout when zero).
	BusyTimeout time.Duration
	// Now is the time source of every timestamp the store sets (time.Now when nil).
	Now func() time.Time
	// Logger receives migration and start-up messages (slog.Default when nil).
	Logger *slog.Logger
	// MaxBatch is how many writes one commit holds at most
	// (DefaultMaxBatch when zero; 1 commits every write on its own).
	MaxBatch int
	// EventsKeep is the replay window of the event log ([store]
	// events_keep, DefaultEventsKeep in the daemon): when positive, a
	// background task owned by the DB deletes older events (see
	// PruneEvents) at Open and every PruneEvery, until Close. Zero or
	// negative prunes nothing, so a reader (posbridge orders, db check)
	// never writes.
	EventsKeep time.Duration
	// PruneEvery is how often events are pruned (DefaultPruneEvery when zero).
	PruneEvery time.Duration
}

// DB is a posbridge.Store on one SQLite file. It is safe for concurrent use.
// Writes in this process queue to one writer goroutine, which commits
// together the writes that waited (group commit, see writer.go); writers in
// other processes are held off by the busy timeout.
type DB struct {
	path   string
	db     *sql.DB
	now    func() time.Time
	logger *slog.Logger
	closed atomic.Bool

	// The writer (writer.go): turns queue on turns; quit stops it.
	turns chan *turn
	quit  chan struct{}
	// Check records waiting for a commit to carry them (check.go);
	// checksKick tells the writer one is waiting.
	checksMu      sync.Mutex
	pendingChecks []posbridge.Check
	checksKick    chan struct{}
	writerWG      sync.WaitGroup
	writerConn    *sql.Conn // the writer's own connection (checkpoint.go)
	stopCkpt      context.CancelFunc
	ckptWG        sync.WaitGroup
	ckptKick      chan struct{}
	maxBatch      int
	commits       atomic.Int64
	batched       atomic.Int64
	busyNanos     atomic.Int64 // time in batches (WriteStats.Busy)
	commitNanos   atomic.Int64 // time in commits (WriteStats.Committing)
	// recent keeps orders for UpdateOrder's early decision (recent.go).
	recent recentOrders
	// beforeCommit, set by tests only, runs on the writer just before each
	// batch commits.
	beforeCommit func()

	// The background pruning of events older than the replay window.
	stopPrune context.CancelFunc
	pruneWG   sync.WaitGroup

	// The background integrity check after an unclean shutdown.
	stopCheck context.CancelFunc
	checkWG   sync.WaitGroup
	integMu   sync.Mutex
	integ     Integrity
}

// Open opens (creating if needed) the database file at path with the default
// Options. See OpenOptions.
func Open(path string) (*DB, error) {
	return OpenOptions(path, Options{})
}

// OpenOptions opens (creating if needed, mode 0600) the database file at
// path, reads its header and applies the embedded migrations that are not
// yet recorded. It never reads the whole file: after an unclean shutdown (a
// write-ahead log was left behind) SQLite's quick check runs in the
// background and its finding is logged and reported by Integrity; on demand,
// CheckIntegrity runs it. Every error names path: a file that is not a
// database, a file or directory the process may not write, or a database
// whose write lock another connection holds past the busy timeout. The
// returned DB must be closed with Close.
func OpenOptions(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = DefaultPruneEvery
	}
	logger := opts.Logger.With(posbridge.LogKeyComponent, "store")
	if err := prepareFile(path, logger); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	dsn, err := dataSourceName(path, opts.BusyTimeout)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		if err := createIncremental(dsn); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	sdb, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	unclean := leftWAL(path)
	db := &DB{path: path, db: sdb, now: opts.Now, logger: logger,
		turns: make(chan *turn), quit: make(chan struct{}), checksKick: make(chan struct{}, 1), ckptKick: make(chan struct{}, 1), maxBatch: opts.MaxBatch}
	ctx := context.Background()
	if err := db.probe(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if db.writerConn, err = db.pinWriterConn(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, classify(err))
	}
	db.writerWG.Go(db.runWriter)
	ckctx, stopCkpt := context.WithCancel(context.Background())
	db.stopCkpt = stopCkpt
	db.ckptWG.Go(func() { db.runCheckpointer(ckctx) })
	if opts.EventsKeep > 0 {
		pctx, cancel := context.WithCancel(context.Background())
		db.stopPrune = cancel
		db.pruneWG.Go(func() { db.runPruner(pctx, opts.EventsKeep, opts.PruneEvery) })
	}
	if unclean {
		cctx, cancel := context.WithCancel(context.Background())
		db.stopCheck = cancel
		db.setIntegrity(Integrity{Checking: true})
		db.checkWG.Go(func() {
			if err := db.CheckIntegrity(cctx); err != nil && cctx.Err() == nil {
				db.logger.Error("database integrity", posbridge.LogKeyError, err)
			}
		})
	}
	return db, nil
}

// leftWAL reports whether a write-ahead log with content sits beside path:
// the last process to use the file did not close it (SQLite removes the log
// on a clean close).
func leftWAL(path string) bool {
	fi, err := os.Stat(path + "-wal")
	return err == nil && fi.Size() > 0
}

// Close closes the database. Calls after the first return nil; methods called
// after Close return posbridge.ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if db.stopCheck != nil {
		db.stopCheck()
	}
	db.checkWG.Wait()
	if db.stopPrune != nil {
		db.stopPrune()
	}
	db.pruneWG.Wait()
	close(db.quit) // the batch under way, if any, commits first
	db.writerWG.Wait()
	db.stopCkpt()
	db.ckptWG.Wait()
	db.writerConn.Close()
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", db.path, err)
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Ping reports whether the store can serve requests: it runs a query on a
// pooled connection. posbridge.ErrClosed after Close.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return posbridge.ErrClosed
	}
	var one int
	if err := db.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping store %s: %w", db.path, err)
	}
	return nil
}

// prepareFile creates the file owner-only before SQLite opens it, so that
// SQLite (which creates files with the process umask) never makes it
// readable by others, and tightens the mode of an existing file.
func prepareFile(path string, logger *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("open file: %w", unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat file: %w", unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&^fileMode != 0 {
		if err := f.Chmod(fileMode); err != nil {
			return fmt.Errorf("restrict file mode %v: %w", fi.Mode().Perm(), unwrapPath(err))
		}
		logger.Warn("database file mode restricted to owner")
	}
	return nil
}

// unwrapPath drops the *fs.PathError wrapper, whose text repeats the path
// the caller already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dataSourceName puts every pragma in the DSN so that go-sqlite3 applies it
// to each pooled connection as it opens, not once to whichever connection
// happened to run an Exec.
func dataSourceName(path string, busy time.Duration) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve path: %w", err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive path: file:///C:/...
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	// Statements are parsed once per connection, not on every call (the
	// parse was a quarter of a payment's CPU).
	q.Set("_stmt_cache_size", strconv.Itoa(stmtCacheSize))
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String(), nil
}

// probe reads the header, so that a file that is not a database fails at
// Open rather than in the middle of a payment. It reads one page, whatever
// the file's size.
func (db *DB) probe(ctx context.Context) error {
	var v int
	if err := db.db.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	return nil
}

// createIncremental makes a new, empty file give the pages of pruned
// events back to the file system (PruneEvents): auto_vacuum can only be
// chosen before the first table is created and before the file turns to
// WAL, so it is set on a connection of its own, before the pool's (whose
// DSN leaves it alone: setting it on every new connection would take a
// lock on a file in use). A file created before keeps what it has until a
// VACUUM rewrites it (see README "Database size"); its free pages are
// reused by new rows instead.
func createIncremental(dsn string) error {
	sdb, err := sql.Open(driverName, dsn+"&_auto_vacuum=incremental")
	if err != nil {
		return err
	}
	defer sdb.Close()
	if _, err := sdb.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", classify(err))
	}
	return sdb.Close()
}

// reading reports ErrClosed after Close, so readers fail the same way writers do.
func (db *DB) reading() error {
	if db.closed.Load() {
		return posbridge.ErrClosed
	}
	return nil
}

// classify marks a busy or locked database as posbridge.EUNAVAILABLE, so the
// API answers 503 and callers retry; the SQLite error stays in the chain.
func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
		return &posbridge.Error{Code: posbridge.EUNAVAILABLE, Message: "the database is busy", Err: err}
	}
	return err
}

// isConstraint reports whether err is the SQLite constraint violation ext.
func isConstraint(err error, ext sqlite3.ErrNoExtended) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == ext
}
