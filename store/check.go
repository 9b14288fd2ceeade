package store

import (
	"context"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge"
)

// RecordCheck stores a call made for an order (its ID is assigned; a zero At
// becomes now). An unknown order is posbridge.ErrNotFound; an empty kind is
// EINVALID. It does not change the order: the engine counts checks itself
// through UpdateOrder.
func (db *DB) RecordCheck(ctx context.Context, c posbridge.Check) error {
	if c.Kind == "" {
		return invalid("kind", "check kind is required")
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("record check of %s: %w", c.OrderNo, err)
	}
	defer done()
	if c.At.IsZero() {
		c.At = db.now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO checks (order_no, kind, at, request, result, err, latency_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(c.OrderNo), string(c.Kind), c.At.UnixMilli(), c.Request, c.Result, c.Err, int64(c.Latency))
	if isConstraint(err, sqlite3.ErrConstraintForeignKey) {
		return notFound("record check of order", c.OrderNo)
	}
	if err != nil {
		return fmt.Errorf("record check of %s: %w", c.OrderNo, err)
	}
	if err := db.commit(tx); err != nil {
		return fmt.Errorf("record check of %s: %w", c.OrderNo, err)
	}
	return nil
}

// Checks returns the calls made for an order, oldest first (empty for an
// order without checks or an unknown order).
func (db *DB) Checks(ctx context.Context, no posbridge.OrderNo) ([]posbridge.Check, error) {
	if err := db.reading(); err != nil {
		return nil, err
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
