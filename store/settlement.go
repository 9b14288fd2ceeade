package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

var _ posbridge.SettlementStore = (*DB)(nil)

const settlementColumns = `id, lane, terminal_sn, settled_at, batch_no, sales, sales_minor, refunds, refunds_minor, currency, actor, detail`

func scanSettlement(s scanner) (posbridge.Settlement, error) {
	var (
		st       posbridge.Settlement
		at       sql.NullInt64
		currency string
	)
	t := &st.Totals
	if err := s.Scan(&st.ID, &st.Lane, &t.TerminalSN, &at, &t.BatchNo, &t.Sales, &t.SalesTotal.Minor, &t.Refunds, &t.RefundsTotal.Minor,
		&currency, &st.Actor, &st.Detail); err != nil {
		return posbridge.Settlement{}, err
	}
	st.At = fromMillis(at)
	t.SalesTotal.Currency, t.RefundsTotal.Currency = currency, currency
	return st, nil
}

// SaveSettlement stores a settlement of a lane's terminal with its totals
// (both totals in one currency, or zero) and returns it with its ID. A zero
// At becomes now.
func (db *DB) SaveSettlement(ctx context.Context, s posbridge.Settlement) (posbridge.Settlement, error) {
	if s.Lane == "" {
		return posbridge.Settlement{}, invalid("lane", "a settlement names its lane")
	}
	t := s.Totals
	currency := t.SalesTotal.Currency
	if currency == "" {
		currency = t.RefundsTotal.Currency
	}
	if t.RefundsTotal.Currency != "" && t.RefundsTotal.Currency != currency {
		return posbridge.Settlement{}, invalid("currency", "settlement totals in %s and %s", currency, t.RefundsTotal.Currency)
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.Settlement{}, fmt.Errorf("save settlement of lane %s: %w", s.Lane, err)
	}
	defer done()
	if s.At.IsZero() {
		s.At = db.now()
	}
	s.At = norm(s.At)
	res, err := tx.ExecContext(ctx, `INSERT INTO settlements (lane, terminal_sn, settled_at, batch_no, sales, sales_minor, refunds, refunds_minor, currency, actor, detail)
		VALUES (`+placeholders(11)+`)`,
		s.Lane, t.TerminalSN, millis(s.At), t.BatchNo, t.Sales, t.SalesTotal.Minor, t.Refunds, t.RefundsTotal.Minor, currency, s.Actor, s.Detail)
	if err != nil {
		return posbridge.Settlement{}, fmt.Errorf("save settlement of lane %s: %w", s.Lane, err)
	}
	if s.ID, err = res.LastInsertId(); err != nil {
		return posbridge.Settlement{}, fmt.Errorf("save settlement of lane %s: %w", s.Lane, err)
	}
	if err := db.commit(tx); err != nil {
		return posbridge.Settlement{}, fmt.Errorf("save settlement of lane %s: %w", s.Lane, err)
	}
	s.Totals.SalesTotal.Currency, s.Totals.RefundsTotal.Currency = currency, currency
	return s, nil
}

// LastSettlement returns the lane's latest settlement, or an error wrapping
// posbridge.ErrNotFound when it was never settled.
func (db *DB) LastSettlement(ctx context.Context, lane string) (posbridge.Settlement, error) {
	if err := db.reading(); err != nil {
		return posbridge.Settlement{}, err
	}
	s, err := scanSettlement(db.db.QueryRowContext(ctx, `SELECT `+settlementColumns+` FROM settlements WHERE lane = ? ORDER BY settled_at DESC, id DESC LIMIT 1`, lane))
	if errors.Is(err, sql.ErrNoRows) {
		return posbridge.Settlement{}, fmt.Errorf("settlement of lane %s: %w", lane, posbridge.ErrNotFound)
	}
	if err != nil {
		return posbridge.Settlement{}, fmt.Errorf("settlement of lane %s: %w", lane, err)
	}
	return s, nil
}

// Settlements returns the settlements made in [from, to), oldest first.
func (db *DB) Settlements(ctx context.Context, from, to time.Time) ([]posbridge.Settlement, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+settlementColumns+` FROM settlements WHERE settled_at >= ? AND settled_at < ? ORDER BY settled_at, id`, millis(from), millis(to))
	if err != nil {
		return nil, fmt.Errorf("settlements: %w", err)
	}
	defer rows.Close()
	var out []posbridge.Settlement
	for rows.Next() {
		s, err := scanSettlement(rows)
		if err != nil {
			return nil, fmt.Errorf("settlements: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
