package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// MaxOutboxBatch bounds one OutboxBatch call.
const MaxOutboxBatch = 5000

// OutboxBatch returns up to limit events still in the outbox (not yet
// acknowledged by head office's server), oldest first, with their full
// snapshots. limit <= 0 means DefaultEventsLimit; it is capped at
// MaxOutboxBatch.
func (db *DB) OutboxBatch(ctx context.Context, limit int) ([]posbridge.Event, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	limit = min(limit, MaxOutboxBatch)
	events, err := db.readEvents(ctx, `SELECT `+eventRowColumns+`
		FROM outbox o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox batch: %w", err)
	}
	return events, nil
}

// DeleteOutbox removes the outbox rows with seq <= through: the shipper calls
// it only once the server has acknowledged every one of them. Deleting rows
// already gone is not an error.
func (db *DB) DeleteOutbox(ctx context.Context, through int64) error {
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, through); err != nil {
		return fmt.Errorf("delete outbox through %d: %w", through, classify(err))
	}
	return db.commit(tx)
}

// DropOutboxBefore removes the outbox rows of events older than before and
// returns how many: the backlog bound ([outbox] max_backlog) of a till whose
// uplink stayed down too long. The events themselves stay in the database.
func (db *DB) DropOutboxBefore(ctx context.Context, before time.Time) (int64, error) {
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("drop outbox before %s: %w", before.UTC().Format(time.RFC3339), classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("drop outbox before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	if err := db.commit(tx); err != nil {
		return 0, err
	}
	return n, nil
}

// OutboxBacklog returns how many events wait in the outbox and the time of
// the oldest (zero when none wait).
func (db *DB) OutboxBacklog(ctx context.Context) (int64, time.Time, error) {
	if err := db.reading(); err != nil {
		return 0, time.Time{}, err
	}
	var (
		n      int64
		oldest sql.NullInt64
	)
	if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*), (SELECT at FROM outbox ORDER BY seq LIMIT 1) FROM outbox`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, time.UnixMilli(oldest.Int64).UTC(), nil
}
