package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge"
)

const refundColumns = `refund_no, order_no, amount_minor, currency, status, reason, gateway_no, actor, created_at, updated_at, version, idempotency_key, request_hash, method`

func scanRefund(s scanner) (posbridge.Refund, error) {
	var (
		r                   posbridge.Refund
		no, orderNo, status string
		method              string
		created, updated    sql.NullInt64
	)
	if err := s.Scan(&no, &orderNo, &r.Amount.Minor, &r.Amount.Currency, &status, &r.Reason, &r.GatewayNo, &r.Actor,
		&created, &updated, &r.Version, &r.IdempotencyKey, &r.RequestHash, &method); err != nil {
		return posbridge.Refund{}, err
	}
	r.Method = posbridge.RefundMethod(method)
	r.No, r.OrderNo, r.Status = posbridge.OrderNo(no), posbridge.OrderNo(orderNo), posbridge.RefundStatus(status)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	return r, nil
}

func validRefundStatus(s posbridge.RefundStatus) bool {
	switch s {
	case posbridge.RefundRequested, posbridge.RefundPending, posbridge.RefundSucceeded, posbridge.RefundFailed:
		return true
	}
	return false
}

func queryRefunds(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]posbridge.Refund, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []posbridge.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateRefund inserts r (status requested; an empty Status becomes
// requested, a zero CreatedAt now; Version becomes 1) with an event (type
// refund, with the refund and the order) and an audit row under the refund's
// number, after checking in the same transaction that the order exists
// (posbridge.ErrNotFound), is paid (ECONFLICT otherwise) and that the amount
// fits what is refundable (posbridge.ErrRefundExceeded, or a currency or zero
// amount error). r is updated to what was stored. An existing refund number
// is ECONFLICT. A non-empty r.IdempotencyKey already used by a refund (of any
// order) is a *posbridge.IdempotencyError naming that refund and its request
// hash, checked before anything else.
func (db *DB) CreateRefund(ctx context.Context, r *posbridge.Refund, cause posbridge.Cause) (posbridge.Event, error) {
	if err := validCause(cause); err != nil {
		return posbridge.Event{}, err
	}
	n := *r
	if n.Status == "" {
		n.Status = posbridge.RefundRequested
	}
	if n.Status != posbridge.RefundRequested {
		return posbridge.Event{}, invalid("status", "a new refund must be requested, not %s", n.Status)
	}
	if err := n.No.Validate(); err != nil {
		return posbridge.Event{}, &posbridge.Error{Code: posbridge.EINVALID, Field: "refund_no", Message: "invalid refund number", Err: err}
	}
	if n.Method == "" {
		n.Method = posbridge.RefundViaGateway
	}
	if !n.Method.Valid() {
		return posbridge.Event{}, invalid("method", "unknown refund method %q", n.Method)
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	defer done()
	if n.IdempotencyKey != "" {
		var owner, hash string
		err := tx.QueryRowContext(ctx, `SELECT refund_no, request_hash FROM refunds WHERE idempotency_key = ?`, n.IdempotencyKey).Scan(&owner, &hash)
		switch {
		case err == nil:
			return posbridge.Event{}, &posbridge.IdempotencyError{Key: n.IdempotencyKey, OrderNo: posbridge.OrderNo(owner), RequestHash: hash}
		case !errors.Is(err, sql.ErrNoRows):
			return posbridge.Event{}, fmt.Errorf("create refund %s: look up idempotency key: %w", n.No, err)
		}
	}
	order, err := loadOrder(ctx, tx, n.OrderNo)
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM refunds WHERE refund_no = ?`, string(n.No)).Scan(&exists); err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	if exists > 0 {
		return posbridge.Event{}, &posbridge.Error{Code: posbridge.ECONFLICT, Field: "refund_no",
			Message: fmt.Sprintf("refund %s already exists", n.No)}
	}
	if order.Status != posbridge.StatusPaid {
		return posbridge.Event{}, &posbridge.Error{Code: posbridge.ECONFLICT, Field: "order_no",
			Message: fmt.Sprintf("order %s is %s, only a paid order can be refunded", order.No, order.Status)}
	}
	existing, err := queryRefunds(ctx, tx, `SELECT `+refundColumns+` FROM refunds WHERE order_no = ?`, string(order.No))
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: load refunds: %w", n.No, err)
	}
	if err := posbridge.ValidateRefund(order.Amount, existing, n.Amount); err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s of order %s: %w", n.No, order.No, err)
	}
	now := db.now()
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	n.CreatedAt, n.UpdatedAt = norm(n.CreatedAt), norm(now)
	n.Version = 1
	_, err = tx.ExecContext(ctx, `INSERT INTO refunds (`+refundColumns+`) VALUES (`+placeholders(14)+`)`,
		string(n.No), string(n.OrderNo), n.Amount.Minor, n.Amount.Currency, string(n.Status), n.Reason, n.GatewayNo, n.Actor,
		millis(n.CreatedAt), millis(n.UpdatedAt), n.Version, n.IdempotencyKey, n.RequestHash, string(n.Method))
	if isConstraint(err, sqlite3.ErrConstraintPrimaryKey) {
		return posbridge.Event{}, &posbridge.Error{Code: posbridge.ECONFLICT, Field: "refund_no",
			Message: fmt.Sprintf("refund %s already exists", n.No), Err: err}
	}
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	ev, err := insertEvent(ctx, tx, posbridge.EventRefund, now, &order, nil, &n, nil)
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	if err := insertAudit(ctx, tx, n.No, order.No, now, cause, "", string(n.Status), n.Version); err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	if err := db.commit(tx); err != nil {
		return posbridge.Event{}, fmt.Errorf("create refund %s: %w", n.No, err)
	}
	*r = n
	return ev, nil
}

// UpdateRefund changes refund no like UpdateOrder changes an order: one
// immediate transaction, version-checked (posbridge.ErrVersionChanged),
// Version bumped, UpdatedAt now, an event of type refund (the refund and its
// order after the change) and an audit row under the refund's number.
// posbridge.ErrNoChange from fn writes nothing and returns the refund as
// loaded; another fn error is returned as is. When the refund becomes
// succeeded, its order's Refunded grows by the amount in the same
// transaction (the order's Version bumped, an audit row on the order). fn
// may not change the number, order or amount (EINVALID); a succeeded refund
// may not change status (an error wrapping posbridge.ErrOrderFinal), while a
// failed one may still become succeeded, because the gateway's word wins.
func (db *DB) UpdateRefund(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Refund) error) (posbridge.Refund, posbridge.Event, error) {
	if err := validCause(cause); err != nil {
		return posbridge.Refund{}, posbridge.Event{}, err
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	defer done()
	old, err := scanRefund(tx.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM refunds WHERE refund_no = ?`, string(no)))
	if errors.Is(err, sql.ErrNoRows) {
		return posbridge.Refund{}, posbridge.Event{}, notFound("refund", no)
	}
	if err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("load refund %s: %w", no, err)
	}
	n := old
	if err := fn(&n); err != nil {
		if errors.Is(err, posbridge.ErrNoChange) {
			return old, posbridge.Event{}, db.commitMarkOnly(ctx, tx, cause)
		}
		return posbridge.Refund{}, posbridge.Event{}, err
	}
	switch {
	case n.No != old.No || n.OrderNo != old.OrderNo:
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, invalid("refund_no", "the refund's numbers cannot change"))
	case n.Amount != old.Amount:
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, invalid("amount", "the amount cannot change"))
	case n.Method != old.Method:
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, invalid("method", "the refund's method cannot change"))
	case !n.CreatedAt.Equal(old.CreatedAt):
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, invalid("created_at", "the creation time cannot change"))
	case !validRefundStatus(n.Status):
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, invalid("status", "unknown refund status %q", n.Status))
	case old.Status == posbridge.RefundSucceeded && n.Status != old.Status:
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s from %s to %s: %w", no, old.Status, n.Status, posbridge.ErrOrderFinal)
	}
	now := db.now()
	n.Version = old.Version + 1
	n.UpdatedAt = norm(now)
	n.CreatedAt = old.CreatedAt
	n.IdempotencyKey, n.RequestHash = old.IdempotencyKey, old.RequestHash // not written below
	res, err := tx.ExecContext(ctx, `UPDATE refunds SET status = ?, reason = ?, gateway_no = ?, actor = ?, updated_at = ?, version = ?
		WHERE refund_no = ? AND version = ?`,
		string(n.Status), n.Reason, n.GatewayNo, n.Actor, millis(n.UpdatedAt), n.Version, string(no), old.Version)
	if err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	if rows, err := res.RowsAffected(); err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	} else if rows != 1 {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s at version %d: %w", no, old.Version, posbridge.ErrVersionChanged)
	}
	order, err := loadOrder(ctx, tx, n.OrderNo)
	if err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	var oldOrder *posbridge.Order // the order before, when this changes it
	if n.Status == posbridge.RefundSucceeded && old.Status != posbridge.RefundSucceeded {
		prev := order
		oldOrder = &prev
		if order.Refunded, err = order.Refunded.Add(n.Amount); err != nil {
			return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: add to order %s: %w", no, order.No, err)
		}
		order.Version++
		order.UpdatedAt = norm(now)
		if err := updateOrderRow(ctx, tx, &order, &prev); err != nil {
			return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: order %s: %w", no, order.No, err)
		}
		if err := insertAudit(ctx, tx, order.No, order.No, now, cause, string(order.Status), string(order.Status), order.Version); err != nil {
			return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
		}
	}
	ev, err := insertEvent(ctx, tx, posbridge.EventRefund, now, &order, oldOrder, &n, &old)
	if err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	if err := insertAudit(ctx, tx, n.No, order.No, now, cause, string(old.Status), string(n.Status), n.Version); err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	if err := db.markCause(ctx, tx, cause); err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	if err := db.commit(tx); err != nil {
		return posbridge.Refund{}, posbridge.Event{}, fmt.Errorf("update refund %s: %w", no, err)
	}
	return n, ev, nil
}

// Refunds returns an order's refunds, oldest first.
func (db *DB) Refunds(ctx context.Context, orderNo posbridge.OrderNo) ([]posbridge.Refund, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rs, err := queryRefunds(ctx, db.db, `SELECT `+refundColumns+` FROM refunds WHERE order_no = ? ORDER BY created_at, rowid`, string(orderNo))
	if err != nil {
		return nil, fmt.Errorf("refunds of %s: %w", orderNo, err)
	}
	return rs, nil
}

// FailedRefundsSince returns failed refunds last changed at or after since,
// oldest first: the ones the reconciler still asks the gateway about, in
// case the gateway did them after all.
func (db *DB) FailedRefundsSince(ctx context.Context, since time.Time) ([]posbridge.Refund, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rs, err := queryRefunds(ctx, db.db, `SELECT `+refundColumns+` FROM refunds WHERE status = 'failed' AND updated_at >= ? ORDER BY created_at, rowid`, millis(since))
	if err != nil {
		return nil, fmt.Errorf("failed refunds: %w", err)
	}
	return rs, nil
}

// OpenRefunds returns refunds that are not final, oldest first.
func (db *DB) OpenRefunds(ctx context.Context) ([]posbridge.Refund, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rs, err := queryRefunds(ctx, db.db, `SELECT `+refundColumns+` FROM refunds WHERE status IN ('requested', 'pending') ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("open refunds: %w", err)
	}
	return rs, nil
}
