package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// Page sizes of ListOrders.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// cursorPrefix versions the cursor format, so a later format can tell old
// cursors apart instead of misreading them.
const cursorPrefix = "o1."

// errCursor is wrapped (as EINVALID) for a cursor that this store did not make.
var errCursor = errors.New("malformed cursor")

// encodeCursor makes the opaque position after an order: its creation time
// and number, the ListOrders sort key.
func encodeCursor(o *posbridge.Order) string {
	raw := strconv.FormatInt(o.CreatedAt.UnixMilli(), 10) + ":" + string(o.No)
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (int64, posbridge.OrderNo, error) {
	bad := func(why string) (int64, posbridge.OrderNo, error) {
		return 0, "", &posbridge.Error{Code: posbridge.EINVALID, Field: "cursor", Message: "invalid cursor",
			Err: fmt.Errorf("%w: %s", errCursor, why)}
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return bad("unknown format")
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return bad("not base64")
	}
	ms, no, ok := strings.Cut(string(raw), ":")
	if !ok {
		return bad("no separator")
	}
	t, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return bad("bad time")
	}
	if err := posbridge.OrderNo(no).Validate(); err != nil {
		return bad("bad order number")
	}
	return t, posbridge.OrderNo(no), nil
}

// ListOrders returns orders matching f, newest first by (CreatedAt, No), one
// page at a time: up to f.Limit orders (DefaultListLimit when 0, at most
// MaxListLimit) and a NextCursor that is empty on the last page. A malformed
// cursor, a negative limit, an unknown status or From after To is EINVALID.
func (db *DB) ListOrders(ctx context.Context, f posbridge.OrderFilter) (posbridge.OrderPage, error) {
	if err := db.reading(); err != nil {
		return posbridge.OrderPage{}, err
	}
	q, args, limit, err := listOrdersQuery(f)
	if err != nil {
		return posbridge.OrderPage{}, err
	}
	orders, err := db.queryOrders(ctx, q, args...)
	if err != nil {
		return posbridge.OrderPage{}, fmt.Errorf("list orders: %w", err)
	}
	var page posbridge.OrderPage
	if len(orders) > limit {
		orders = orders[:limit]
		page.NextCursor = encodeCursor(&orders[limit-1])
	}
	page.Orders = orders
	return page, nil
}

// listOrdersQuery builds ListOrders' statement for f and the page size.
func listOrdersQuery(f posbridge.OrderFilter) (q string, args []any, limit int, err error) {
	limit = f.Limit
	switch {
	case limit < 0:
		return "", nil, 0, invalid("limit", "limit must not be negative")
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	var where []string
	if len(f.Statuses) > 0 {
		for _, s := range f.Statuses {
			if !s.Valid() {
				return "", nil, 0, invalid("status", "unknown status %q", s)
			}
			args = append(args, string(s))
		}
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
	}
	if f.Lane != "" {
		where = append(where, "lane = ?")
		args = append(args, f.Lane)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return "", nil, 0, invalid("from", "from is after to")
	}
	if !f.From.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, ceilMillis(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, ceilMillis(f.To))
	}
	if f.IdempotencyKey != "" {
		where = append(where, "idempotency_key = ?")
		args = append(args, f.IdempotencyKey)
	}
	if f.HoldsLane {
		where = append(where, holdsLaneTerm)
	}
	if f.NeedsAttention != nil {
		// Literal, not bound: SQLite uses a partial index only for a
		// query that states its condition.
		if *f.NeedsAttention {
			where = append(where, attentionTerm)
		} else {
			where = append(where, "needs_attention = 0")
		}
	}
	if f.Cursor != "" {
		ms, no, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND order_no < ?))")
		args = append(args, ms, ms, string(no))
	}
	q = `SELECT ` + orderColumns + ` FROM orders`
	switch {
	case f.Lane != "" && f.HoldsLane && len(f.Statuses) == 0:
		// The orders holding a lane (may it take a payment?): a partial
		// index of them, so that a lane's thousands of flagged orders,
		// pending for ever, are never read.
		q += ` INDEXED BY orders_lane_holding`
	case f.Lane != "" && len(f.Statuses) > 0:
		// A lane's orders in a few statuses (is the lane busy?): seek each
		// status, instead of walking every order of the lane in date order
		// (SQLite, without statistics, prefers the walk to save a sort).
		q += ` INDEXED BY orders_lane_status`
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, order_no DESC LIMIT ?`
	args = append(args, limit+1)
	return q, args, limit, nil
}

// ceilMillis maps a bound to the stored millisecond grid: a stored time t
// satisfies t >= b exactly when its millisecond is >= ceil(b).
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

func (db *DB) queryOrders(ctx context.Context, q string, args ...any) ([]posbridge.Order, error) {
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []posbridge.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// holdsLaneTerm is posbridge.Order.HoldsLane in SQL, word for word the
// condition of the partial index orders_lane_holding (migration 0011):
// SQLite uses a partial index only for a query that states its condition.
const holdsLaneTerm = `(status IN ('created', 'at_terminal', 'verifying') OR (status = 'pending' AND reason NOT IN ('unconfirmed', 'partially_paid')))`

// OrdersToResume returns the orders a start must act on, oldest first: every
// order created, at the terminal or verifying (a run ended with them in
// flight), and every pending order without a check scheduled. A pending
// order with a check scheduled is the reconciler's, start or not.
func (db *DB) OrdersToResume(ctx context.Context) ([]posbridge.Order, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	orders, err := db.queryOrders(ctx, resumeQuery)
	if err != nil {
		return nil, fmt.Errorf("orders to resume: %w", err)
	}
	return orders, nil
}

// dueChecksQuery walks orders_next_check_at: the range on next_check_at
// comes from the index. Final orders are included on purpose: a failed order
// keeps a check until it is closed at the gateway.
const dueChecksQuery = `SELECT ` + orderColumns + ` FROM orders INDEXED BY orders_next_check_at
	WHERE next_check_at IS NOT NULL AND next_check_at <= ?
	ORDER BY next_check_at, order_no LIMIT ?`

// DueChecks returns up to limit (at least 1) orders whose NextCheckAt is set
// and not after now, earliest first, using the next_check_at index: open
// orders to verify, and final ones still to be closed at the gateway.
func (db *DB) DueChecks(ctx context.Context, now time.Time, limit int) ([]posbridge.Order, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, invalid("limit", "limit must be positive")
	}
	orders, err := db.queryOrders(ctx, dueChecksQuery, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("due checks: %w", err)
	}
	return orders, nil
}

// nextChecksQuery reads the first entries of the partial index
// orders_next_check_at alone (it holds both columns): a walk of the index in
// order that stops at the limit.
const nextChecksQuery = `SELECT order_no, next_check_at FROM orders INDEXED BY orders_next_check_at
	WHERE next_check_at IS NOT NULL ORDER BY next_check_at, order_no LIMIT ?`

// NextChecks implements posbridge.Store: an index-only read of
// orders_next_check_at.
func (db *DB) NextChecks(ctx context.Context, limit int) ([]posbridge.ScheduledCheck, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, invalid("limit", "limit must be positive")
	}
	rows, err := db.db.QueryContext(ctx, nextChecksQuery, limit)
	if err != nil {
		return nil, fmt.Errorf("next checks: %w", err)
	}
	defer rows.Close()
	var out []posbridge.ScheduledCheck
	for rows.Next() {
		var (
			no string
			at int64
		)
		if err := rows.Scan(&no, &at); err != nil {
			return nil, fmt.Errorf("next checks: %w", err)
		}
		out = append(out, posbridge.ScheduledCheck{No: posbridge.OrderNo(no), At: time.UnixMilli(at).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("next checks: %w", err)
	}
	return out, nil
}

// countOrdersQuery reads order_counts, which triggers keep in step with
// orders (migration 0007): a scrape never groups every order.
const countOrdersQuery = `SELECT status, orders, attention, scheduled FROM order_counts WHERE orders > 0`

// attentionTerm is the condition of the partial indexes orders_attention and
// orders_lane_attention (migration 0013), word for word.
const attentionTerm = `needs_attention = 1`

// unscheduledPendingTerm is the condition of the partial index
// orders_unscheduled_pending (migration 0012), word for word.
const unscheduledPendingTerm = `status = 'pending' AND next_check_at IS NULL`

// resumeQuery lists OrdersToResume's orders: the in-flight ones from
// orders_status, the unscheduled pending ones from their own index.
const resumeQuery = `SELECT ` + orderColumns + ` FROM orders WHERE status IN ('created', 'at_terminal', 'verifying')
	UNION ALL SELECT ` + orderColumns + ` FROM orders INDEXED BY orders_unscheduled_pending WHERE ` + unscheduledPendingTerm + `
	ORDER BY created_at, order_no`

// CountOrders counts orders by status, those needing attention, and those
// with a check scheduled, for metrics.
func (db *DB) CountOrders(ctx context.Context) (posbridge.OrderCounts, error) {
	c := posbridge.OrderCounts{ByStatus: make(map[posbridge.Status]int)}
	if err := db.reading(); err != nil {
		return c, err
	}
	rows, err := db.db.QueryContext(ctx, countOrdersQuery)
	if err != nil {
		return c, fmt.Errorf("count orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status                string
			n, attention, checked int
		)
		if err := rows.Scan(&status, &n, &attention, &checked); err != nil {
			return c, fmt.Errorf("count orders: %w", err)
		}
		c.ByStatus[posbridge.Status(status)] = n
		c.NeedsAttention += attention
		c.Scheduled += checked
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("count orders: %w", err)
	}
	return c, nil
}
