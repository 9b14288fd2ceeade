package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// RecordCheck stores a call made for an order (its ID is assigned; a zero At
// becomes now). An unknown order is posbridge.ErrNotFound; an empty kind is
// EINVALID. It does not change the order: the engine counts checks itself
// through UpdateOrder.
//
// The record is not committed on its own: it is written at the start of the
// next write's batch and shares its commit (a check is nearly always followed
// at once by a write: the order's new state or its next check), or on its own
// after checkFlushDelay when no write comes, or before Checks reads. A check
// records a call; it is not a change of money. A process killed in between
// loses at most the records of the calls made since the last commit, never a
// change they led to: that change is a write of its own, and carries them.
func (db *DB) RecordCheck(ctx context.Context, c posbridge.Check) error {
	if c.Kind == "" {
		return invalid("kind", "check kind is required")
	}
	if err := db.reading(); err != nil {
		return fmt.Errorf("record check of %s: %w", c.OrderNo, err)
	}
	var one int
	err := db.db.QueryRowContext(ctx, `SELECT 1 FROM orders WHERE order_no = ?`, string(c.OrderNo)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("record check of order", c.OrderNo)
	}
	if err != nil {
		return fmt.Errorf("record check of %s: %w", c.OrderNo, classify(err))
	}
	if c.At.IsZero() {
		c.At = db.now()
	}
	db.checksMu.Lock()
	db.pendingChecks = append(db.pendingChecks, c)
	db.checksMu.Unlock()
	select {
	case db.checksKick <- struct{}{}:
	default: // the writer already knows
	}
	return nil
}

// checkFlushDelay is how long a check record waits for a write to carry it
// before the writer commits it on its own.
const checkFlushDelay = 500 * time.Millisecond

// writePendingChecks inserts the check records waiting for a commit into the
// batch's transaction, in a savepoint of their own. One that cannot be
// written (its order is gone) is logged and dropped: it must not keep the
// batch's writes from committing.
func (db *DB) writePendingChecks(tx *sql.Tx) error {
	db.checksMu.Lock()
	cs := db.pendingChecks
	db.pendingChecks = nil
	db.checksMu.Unlock()
	if len(cs) == 0 {
		return nil
	}
	if _, err := tx.Exec("SAVEPOINT checks"); err != nil {
		return err
	}
	for _, c := range cs {
		if _, err := tx.Exec(`SAVEPOINT one_check`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO checks (order_no, kind, at, request, result, err, latency_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			string(c.OrderNo), string(c.Kind), c.At.UnixMilli(), c.Request, c.Result, c.Err, int64(c.Latency))
		if err != nil {
			db.logger.Warn("check record dropped", posbridge.LogKeyOrder, c.OrderNo, posbridge.LogKeyError, classify(err))
			if _, err := tx.Exec(`ROLLBACK TO one_check`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`RELEASE one_check`); err != nil {
			return err
		}
	}
	_, err := tx.Exec("RELEASE checks")
	return err
}

// flushChecks commits the check records still waiting, if any, so that a
// read sees every check recorded before it.
func (db *DB) flushChecks(ctx context.Context) error {
	db.checksMu.Lock()
	n := len(db.pendingChecks)
	db.checksMu.Unlock()
	if n == 0 {
		return nil
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer done()
	return db.commit(tx) // the batch began by writing them
}

// Checks returns the calls made for an order, oldest first (empty for an
// order without checks or an unknown order).
func (db *DB) Checks(ctx context.Context, no posbridge.OrderNo) ([]posbridge.Check, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	if err := db.flushChecks(ctx); err != nil {
		return nil, fmt.Errorf("checks of %s: %w", no, err)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT id, order_no, kind, at, request, result, err, latency_ns
		FROM checks WHERE order_no = ? ORDER BY id`, string(no))
	if err != nil {
		return nil, fmt.Errorf("checks of %s: %w", no, err)
	}
	defer rows.Close()
	var out []posbridge.Check
	for rows.Next() {
		var (
			c           posbridge.Check
			orderNo     string
			kind        string
			at, latency int64
		)
		if err := rows.Scan(&c.ID, &orderNo, &kind, &at, &c.Request, &c.Result, &c.Err, &latency); err != nil {
			return nil, fmt.Errorf("checks of %s: %w", no, err)
		}
		c.OrderNo, c.Kind = posbridge.OrderNo(orderNo), posbridge.CheckKind(kind)
		c.At, c.Latency = time.UnixMilli(at).UTC(), time.Duration(latency)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checks of %s: %w", no, err)
	}
	return out, nil
}
