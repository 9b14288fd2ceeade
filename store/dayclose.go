package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

var (
	_ posbridge.DayStore    = (*DB)(nil)
	_ posbridge.ReportStore = (*DB)(nil)
)

// ImportOrder inserts an order only the gateway had (the day close), in the
// status it carries, with its event (type payment) and audit row. The
// status must be one the gateway can prove or leave open (paid, failed,
// pending); a zero CreatedAt becomes now; Version becomes 1. An existing
// order number is ECONFLICT.
func (db *DB) ImportOrder(ctx context.Context, o *posbridge.Order, cause posbridge.Cause) (posbridge.Event, error) {
	if err := validCause(cause); err != nil {
		return posbridge.Event{}, err
	}
	n := *o
	switch n.Status {
	case posbridge.StatusPaid, posbridge.StatusFailed, posbridge.StatusPending:
	default:
		return posbridge.Event{}, invalid("status", "an imported order is paid, failed or pending, not %q", n.Status)
	}
	if n.Refunded == (posbridge.Money{}) {
		n.Refunded.Currency = n.Amount.Currency
	}
	if err := validateOrder(&n); err != nil {
		return posbridge.Event{}, err
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.Event{}, err
	}
	defer done()
	ev, err := db.insertOrder(ctx, tx, &n, cause, "import")
	if err != nil {
		return posbridge.Event{}, err
	}
	if err := db.commit(tx); err != nil {
		return posbridge.Event{}, fmt.Errorf("import order %s: %w", n.No, err)
	}
	*o = n
	return ev, nil
}

// RefundsCreated returns refunds created in [from, to), oldest first.
func (db *DB) RefundsCreated(ctx context.Context, from, to time.Time) ([]posbridge.Refund, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rs, err := queryRefunds(ctx, db.db, `SELECT `+refundColumns+` FROM refunds WHERE created_at >= ? AND created_at < ? ORDER BY created_at, rowid`,
		from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("refunds created from %s: %w", from.Format(time.RFC3339), err)
	}
	return rs, nil
}

// OrderCashiers returns, for each order created in [from, to), who asked
// for it: the Who of its first audit row (the creating request), "" when
// none was named.
func (db *DB) OrderCashiers(ctx context.Context, from, to time.Time) (map[posbridge.OrderNo]string, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT o.order_no, COALESCE((SELECT a.who FROM audit a WHERE a.subject = o.order_no ORDER BY a.id LIMIT 1), '')
		FROM orders o WHERE o.created_at >= ? AND o.created_at < ?`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("order cashiers: %w", err)
	}
	defer rows.Close()
	out := map[posbridge.OrderNo]string{}
	for rows.Next() {
		var no, who string
		if err := rows.Scan(&no, &who); err != nil {
			return nil, fmt.Errorf("order cashiers: %w", err)
		}
		out[posbridge.OrderNo(no)] = who
	}
	return out, rows.Err()
}

// SaveDayClose merges d into the record of d.Date: the first run creates
// it, a later one counts itself (Runs, LastRunAt), adds the items not seen
// before and replaces a matched item that is now a difference. It returns
// the record as stored.
func (db *DB) SaveDayClose(ctx context.Context, d posbridge.DayClose) (posbridge.DayClose, error) {
	if _, err := time.Parse(time.DateOnly, d.Date); err != nil {
		return posbridge.DayClose{}, invalid("date", "date %q is not YYYY-MM-DD", d.Date)
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.DayClose{}, err
	}
	defer done()
	at := d.LastRunAt
	if at.IsZero() {
		at = db.now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO day_closes (date, first_run_at, last_run_at, runs) VALUES (?, ?, ?, 1)
		ON CONFLICT (date) DO UPDATE SET last_run_at = excluded.last_run_at, runs = runs + 1`,
		d.Date, at.UnixMilli(), at.UnixMilli()); err != nil {
		return posbridge.DayClose{}, fmt.Errorf("save day close %s: %w", d.Date, err)
	}
	for _, it := range d.Items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO day_close_items (date, kind, no, orig_no, bucket, action, local_status,
			gateway_status, local_minor, local_currency, gateway_minor, gateway_currency, detail, result, found_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (date, kind, no) DO UPDATE SET orig_no = excluded.orig_no, bucket = excluded.bucket, action = excluded.action,
				local_status = excluded.local_status, gateway_status = excluded.gateway_status,
				local_minor = excluded.local_minor, local_currency = excluded.local_currency,
				gateway_minor = excluded.gateway_minor, gateway_currency = excluded.gateway_currency,
				detail = excluded.detail, result = excluded.result, found_at = excluded.found_at
			WHERE day_close_items.bucket = 'matched' AND excluded.bucket <> 'matched'`,
			d.Date, string(it.Kind), string(it.No), string(it.OrigNo), string(it.Bucket), string(it.Action), it.LocalStatus,
			it.GatewayStatus, it.LocalAmount.Minor, it.LocalAmount.Currency, it.GatewayAmount.Minor, it.GatewayAmount.Currency,
			it.Detail, it.Result, at.UnixMilli()); err != nil {
			return posbridge.DayClose{}, fmt.Errorf("save day close %s item %s: %w", d.Date, it.No, err)
		}
	}
	rec, err := loadDayClose(ctx, tx, d.Date)
	if err != nil {
		return posbridge.DayClose{}, err
	}
	if err := db.commit(tx); err != nil {
		return posbridge.DayClose{}, fmt.Errorf("save day close %s: %w", d.Date, err)
	}
	return rec, nil
}

type querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func loadDayClose(ctx context.Context, q querier, date string) (posbridge.DayClose, error) {
	d := posbridge.DayClose{Date: date}
	var first, last int64
	err := q.QueryRowContext(ctx, `SELECT first_run_at, last_run_at, runs FROM day_closes WHERE date = ?`, date).Scan(&first, &last, &d.Runs)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("day close %s: %w", date, posbridge.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("day close %s: %w", date, err)
	}
	d.FirstRunAt, d.LastRunAt = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
	rows, err := q.QueryContext(ctx, `SELECT kind, no, orig_no, bucket, action, local_status, gateway_status, local_minor,
		local_currency, gateway_minor, gateway_currency, detail, result FROM day_close_items WHERE date = ? ORDER BY kind, no`, date)
	if err != nil {
		return d, fmt.Errorf("day close %s items: %w", date, err)
	}
	defer rows.Close()
	for rows.Next() {
		var it posbridge.DayItem
		var kind, no, orig, bucket, action string
		if err := rows.Scan(&kind, &no, &orig, &bucket, &action, &it.LocalStatus, &it.GatewayStatus, &it.LocalAmount.Minor,
			&it.LocalAmount.Currency, &it.GatewayAmount.Minor, &it.GatewayAmount.Currency, &it.Detail, &it.Result); err != nil {
			return d, fmt.Errorf("day close %s items: %w", date, err)
		}
		it.Kind, it.No, it.OrigNo = posbridge.DayItemKind(kind), posbridge.OrderNo(no), posbridge.OrderNo(orig)
		it.Bucket, it.Action = posbridge.DayBucket(bucket), posbridge.DayAction(action)
		d.Items = append(d.Items, it)
	}
	return d, rows.Err()
}

// DayClose returns the record of date, or posbridge.ErrNotFound.
func (db *DB) DayClose(ctx context.Context, date string) (posbridge.DayClose, error) {
	if err := db.reading(); err != nil {
		return posbridge.DayClose{}, err
	}
	return loadDayClose(ctx, db.db, date)
}

// LastDayClose returns the latest date closed, "" when none.
func (db *DB) LastDayClose(ctx context.Context) (string, error) {
	if err := db.reading(); err != nil {
		return "", err
	}
	var date sql.NullString
	if err := db.db.QueryRowContext(ctx, `SELECT MAX(date) FROM day_closes`).Scan(&date); err != nil {
		return "", fmt.Errorf("last day close: %w", err)
	}
	return date.String, nil
}
