package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// DefaultMaxBatch is how many writes one group commit holds at most: enough
// that a burst of notifications shares one fsync, few enough that the write
// lock is not held long while a batch runs.
const DefaultMaxBatch = 256

// errBatchBroken is what callers whose writes were in a transaction that
// SQLite itself rolled back (a full disk, an I/O error) are told: nothing of
// theirs was written, and they may try again.
var errBatchBroken = errors.New("the write batch was rolled back")

// The writer: every write of this process queues, as a turn, to the one
// goroutine that owns the write transaction (runWriter). That goroutine
// begins an immediate transaction, gives each queued write its turn inside a
// savepoint of its own, and, when no more writes wait (or the batch is
// full), commits them all at once: one commit, one fsync of the write-ahead
// log (synchronous=FULL) for the whole batch. A write that fails, or that
// its caller ends without committing, is rolled back to its savepoint and
// leaves the others in the batch as they were. Each caller of commit is
// answered only once its batch's commit has returned, that is after the
// fsync, so nothing is acknowledged before it is durable.
//
// A write's statements run on its caller's goroutine, during its turn, on
// the shared transaction (wtx); only the goroutine holding the turn uses it.

// turn is one write's place in the queue.
type turn struct {
	grant chan grant // writer → caller: the transaction (or why there is none)
	end   chan bool  // caller → writer: true to keep the write, false to roll it back
	done  chan error // writer → caller: the batch's commit result, for kept writes
	// run, when set, is the write itself (DB.write): the writer runs it on
	// its own goroutine, and grant and end are not used. Handing the turn
	// to the caller's goroutine and back costs two wake-ups, each waiting
	// for a core while the cores serve HTTP: under a burst of
	// notifications, longer than the write.
	run func(*wtx) bool
}

// refuse tells t's caller that its write cannot run.
func (t *turn) refuse(err error) {
	if t.run != nil {
		t.done <- err
		return
	}
	t.grant <- grant{err: err}
}

type grant struct {
	tx  *sql.Tx
	err error
}

// wtx is one write's view of the batch's transaction. Its statements run
// without the caller's cancellation: SQLite answers an interrupted INSERT or
// UPDATE inside a transaction by rolling back the whole transaction, which
// would take the other writes of the batch with it. A caller whose context
// ends before its turn does not run at all.
type wtx struct {
	tx    *sql.Tx
	t     *turn
	ended bool
}

// ExecContext runs a statement in the write's savepoint.
func (w *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return w.tx.ExecContext(context.WithoutCancel(ctx), query, args...)
}

// QueryContext runs a query in the batch's transaction.
func (w *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return w.tx.QueryContext(context.WithoutCancel(ctx), query, args...)
}

// QueryRowContext runs a one-row query in the batch's transaction.
func (w *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

// beginWrite queues for this process's write turn and returns the batch's
// transaction, inside a savepoint of this write's own, once the turn comes.
// The returned done rolls the write back unless it was committed and ends
// the turn; call it exactly once (commit does not replace it).
func (db *DB) beginWrite(ctx context.Context) (*wtx, func(), error) {
	if db.closed.Load() {
		return nil, nil, posbridge.ErrClosed
	}
	t := &turn{grant: make(chan grant, 1), end: make(chan bool, 1), done: make(chan error, 1)}
	select {
	case db.turns <- t:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-db.quit:
		return nil, nil, posbridge.ErrClosed
	}
	g := <-t.grant // the writer grants every turn it took
	if g.err != nil {
		return nil, nil, fmt.Errorf("begin write on %s: %w", db.path, classify(g.err))
	}
	w := &wtx{tx: g.tx, t: t}
	done := func() {
		if !w.ended {
			w.ended = true
			t.end <- false
		}
	}
	if err := ctx.Err(); err != nil {
		done()
		return nil, nil, err
	}
	return w, done, nil
}

// write runs fn as one write in this process's write turn, on the writer's
// goroutine, inside a savepoint of its own, and waits until its batch is
// committed (durable). fn keeps what it wrote by returning true; returning
// false rolls it back, and write returns nil without waiting for the
// commit. fn must only run statements on tx: every other write of the
// process waits while it runs. A ctx that ends before the turn comes means
// fn does not run, and write returns ctx's error.
func (db *DB) write(ctx context.Context, fn func(tx *wtx) bool) error {
	if db.closed.Load() {
		return posbridge.ErrClosed
	}
	var (
		cancelled error
		panicked  any
	)
	t := &turn{done: make(chan error, 1)}
	t.run = func(tx *wtx) (keep bool) {
		// A panic in fn is its caller's, as when fn ran on the caller's
		// goroutine: the write is rolled back, and the panic goes on on
		// the caller's goroutine, not on the writer's, which would end
		// the process with every other write of the batch.
		defer func() {
			if p := recover(); p != nil {
				panicked, keep = p, false
			}
		}()
		if cancelled = ctx.Err(); cancelled != nil {
			return false
		}
		return fn(tx)
	}
	select {
	case db.turns <- t:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.quit:
		return posbridge.ErrClosed
	}
	err := <-t.done
	if panicked != nil {
		panic(panicked)
	}
	if err != nil {
		return fmt.Errorf("write on %s: %w", db.path, classify(err))
	}
	return cancelled
}

// commit keeps the write and waits until its batch is committed (durable),
// naming the file on failure.
func (db *DB) commit(w *wtx) error {
	if w.ended {
		return errors.New("commit of an ended write")
	}
	w.ended = true
	w.t.end <- true
	if err := <-w.t.done; err != nil {
		return fmt.Errorf("commit on %s: %w", db.path, classify(err))
	}
	return nil
}

// runWriter is the writer goroutine: it takes turns until Close, one batch
// at a time. Close lets the batch under way finish first, and commits the
// check records still waiting. Check records no write carried within
// checkFlushDelay are committed on their own.
func (db *DB) runWriter() {
	var flush <-chan time.Time
	for {
		select {
		case t := <-db.turns:
			db.runBatch(t)
		case <-db.checksKick:
			if flush == nil {
				flush = time.After(checkFlushDelay)
			}
		case <-flush:
			flush = nil
			db.runBatch(nil)
		case <-db.quit:
			db.runBatch(nil)
			return
		}
	}
}

// runBatch begins a transaction, writes the check records waiting, runs
// first and every write that is waiting (up to maxBatch) each in its
// savepoint, then commits them all and answers their callers. A nil first
// commits the waiting check records alone.
func (db *DB) runBatch(first *turn) {
	db.checksMu.Lock()
	checks := len(db.pendingChecks) > 0
	db.checksMu.Unlock()
	if first == nil && !checks {
		return
	}
	start := time.Now()
	defer func() { db.busyNanos.Add(int64(time.Since(start))) }()
	tx, err := db.writerConn.BeginTx(context.Background(), nil)
	if err != nil {
		if first != nil {
			first.refuse(err)
		}
		return
	}
	var (
		kept   []*turn
		broken error
	)
	if checks {
		if broken = db.writePendingChecks(tx); broken != nil {
			db.logger.Warn("check records dropped", posbridge.LogKeyError, broken)
			tx.Rollback()
			if first != nil {
				first.refuse(broken)
			}
			return
		}
	}
	t := first
	for n := 1; first != nil; n++ {
		if broken = db.runTurn(tx, t, &kept); broken != nil {
			break
		}
		if n >= db.maxBatch {
			break
		}
		var more bool
		select {
		case t = <-db.turns:
			more = true
		default:
		}
		if !more {
			break
		}
	}
	if broken != nil {
		tx.Rollback()
		err := &posbridge.Error{Code: posbridge.EUNAVAILABLE, Message: "the database could not write; try again",
			Err: fmt.Errorf("%w: %w", errBatchBroken, broken)}
		for _, k := range kept {
			k.done <- err
		}
		return
	}
	if len(kept) == 0 && !checks {
		tx.Rollback() // nothing to keep: no commit, no fsync
		return
	}
	if db.beforeCommit != nil {
		db.beforeCommit()
	}
	commitStart := time.Now()
	err = tx.Commit()
	db.commitNanos.Add(int64(time.Since(commitStart)))
	db.committed()
	db.batched.Add(int64(len(kept)))
	for _, k := range kept {
		k.done <- err
	}
}

// runTurn gives t its turn inside a savepoint and keeps or rolls back what it
// wrote. An error means the transaction itself is gone (SQLite rolled it
// back): the batch cannot commit.
func (db *DB) runTurn(tx *sql.Tx, t *turn, kept *[]*turn) error {
	if _, err := tx.Exec("SAVEPOINT write"); err != nil {
		t.refuse(err)
		return err
	}
	var keep bool
	if t.run != nil {
		keep = t.run(&wtx{tx: tx, t: t, ended: true})
	} else {
		t.grant <- grant{tx: tx}
		keep = <-t.end
	}
	if keep {
		*kept = append(*kept, t)
		if _, err := tx.Exec("RELEASE write"); err != nil {
			return err
		}
		return nil
	}
	if t.run != nil {
		t.done <- nil // nothing of it is kept: no commit to wait for
	}
	if _, err := tx.Exec("ROLLBACK TO write"); err != nil {
		return err
	}
	if _, err := tx.Exec("RELEASE write"); err != nil {
		return err
	}
	return nil
}

// WriteStats are the writer's counts since Open: commits made and writes
// committed; Writes/Commits is the mean batch size, and each commit is one
// fsync of the write-ahead log. Busy is the time the writer spent on
// batches (every write of the process waits while it runs: Busy growing
// nearly as fast as the clock means writes queue), Committing the part of
// it spent in commits (writing the log and syncing it).
type WriteStats struct {
	Commits    int64
	Writes     int64
	Busy       time.Duration
	Committing time.Duration
}

// WriteStats returns the writer's counts since Open.
func (db *DB) WriteStats() WriteStats {
	return WriteStats{Commits: db.commits.Load(), Writes: db.batched.Load(),
		Busy: time.Duration(db.busyNanos.Load()), Committing: time.Duration(db.commitNanos.Load())}
}
