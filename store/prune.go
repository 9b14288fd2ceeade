package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// DefaultEventsKeep is how long the daemon keeps events for replay: the
// default of [store] events_keep.
const DefaultEventsKeep = 30 * 24 * time.Hour

// DefaultPruneEvery is how often the store deletes events older than the
// replay window when Options.PruneEvery is zero.
const DefaultPruneEvery = time.Hour

// pruneChunk is how many events one write turn deletes, and how many free
// pages one turn gives back: small enough that the till's own writes, which
// queue between the turns, never wait long.
const pruneChunk = 1000

// PruneEvents deletes the events older than before, oldest first, and
// returns how many. It never deletes an event after one it keeps, so the
// kept events stay numbered without gaps. An event's outbox row goes with
// it: the replay window also bounds what waits to be shipped to head office,
// which is why [outbox] max_backlog may not exceed [store] events_keep (the
// shipper drops, and counts, what is older first). Orders, refunds, checks,
// the inbox and audit rows are kept. The deletes run in write turns of
// pruneChunk events, each its own commit; then, on a database with
// incremental auto-vacuum, the freed pages are given back to the file
// system, also in turns.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, more, err := db.pruneChunk(ctx, before)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune events before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		if !more {
			break
		}
	}
	if err := db.vacuumFree(ctx); err != nil {
		return total, err
	}
	return total, nil
}

// pruneChunk deletes up to pruneChunk of the oldest events older than
// before; more says whether there may be others.
func (db *DB) pruneChunk(ctx context.Context, before time.Time) (n int64, more bool, err error) {
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return 0, false, err
	}
	defer done()
	// The first event to keep: the first one at or after before (within
	// this chunk; none there means the whole chunk goes).
	var keep sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM (SELECT seq, at FROM events ORDER BY seq LIMIT ?) WHERE at >= ?`,
		pruneChunk+1, before.UnixMilli()).Scan(&keep); err != nil {
		return 0, false, err
	}
	var first sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM events`).Scan(&first); err != nil {
		return 0, false, err
	}
	if !first.Valid {
		return 0, false, nil
	}
	through := first.Int64 + pruneChunk - 1
	if keep.Valid && keep.Int64-1 < through {
		through, more = keep.Int64-1, false
	} else {
		more = true
	}
	if through < first.Int64 {
		return 0, false, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, through); err != nil {
		return 0, false, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE seq <= ?`, through)
	if err != nil {
		return 0, false, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, false, err
	}
	if err := db.commit(tx); err != nil {
		return 0, false, err
	}
	return n, more && n > 0, nil
}

// vacuumFree gives the free pages back to the file system when the
// database has incremental auto-vacuum (files created since migration 0009;
// see README "Database size"); otherwise they stay free and new rows reuse them.
func (db *DB) vacuumFree(ctx context.Context) error {
	var mode int
	if err := db.db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode != 2 {
		return nil
	}
	for {
		var free int
		if err := db.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return fmt.Errorf("read freelist_count: %w", err)
		}
		if free == 0 {
			return nil
		}
		tx, done, err := db.beginWrite(ctx)
		if err != nil {
			return fmt.Errorf("incremental vacuum: %w", err)
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, pruneChunk))
		if err == nil {
			err = db.commit(tx)
		}
		done()
		if err != nil {
			return fmt.Errorf("incremental vacuum: %w", err)
		}
	}
}

// runPruner deletes events older than keep now and then every every, until
// stop is closed. Failures are logged and tried again at the next turn.
func (db *DB) runPruner(ctx context.Context, keep, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := db.PruneEvents(ctx, db.now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil && !errors.Is(err, posbridge.ErrClosed):
			db.logger.Error("prune events", posbridge.LogKeyError, err)
		case n > 0:
			db.logger.Info("events pruned", posbridge.LogKeyCount, n)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
