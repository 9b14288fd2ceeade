// Package fleet is head office's reference consumer: it reads every till's
// events from JetStream (package outbox's Message) and folds them into one
// SQLite database (github.com/mattn/go-sqlite3) holding the latest state of
// every order and refund of every till.
//
// Folding is idempotent and order-tolerant: every event applied is recorded
// by its id (till and seq) in the same transaction as its effect, so a
// redelivered event is skipped; and a snapshot replaces the stored one only
// when its version is higher, so an event that arrives late (a publish
// retried after a later one) never rolls an order back.
package fleet

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver "sqlite3"

	"github.com/posbridge/posbridge/outbox"
)

const schema = `
CREATE TABLE IF NOT EXISTS applied (
	till TEXT NOT NULL,
	seq  INTEGER NOT NULL,
	PRIMARY KEY (till, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tills (
	till          TEXT PRIMARY KEY,
	merchant      TEXT NOT NULL,
	store         TEXT NOT NULL,
	events        INTEGER NOT NULL DEFAULT 0, -- events applied, each once
	last_seq      INTEGER NOT NULL DEFAULT 0, -- the highest seq applied
	last_event_at INTEGER NOT NULL DEFAULT 0, -- when the till committed it (Unix ms)
	last_seen_at  INTEGER NOT NULL DEFAULT 0, -- when anything of it last arrived here (Unix ms)
	status_at     INTEGER NOT NULL DEFAULT 0, -- its latest status message (Unix ms, the till's clock)
	backlog       INTEGER NOT NULL DEFAULT 0, -- events waiting in its outbox then
	oldest_unshipped_at INTEGER,               -- the oldest of them (Unix ms)
	lanes         TEXT NOT NULL DEFAULT ''    -- "id=link id=link", its terminals then
);
CREATE TABLE IF NOT EXISTS orders (
	till            TEXT NOT NULL,
	order_no        TEXT NOT NULL,
	merchant        TEXT NOT NULL,
	store           TEXT NOT NULL,
	lane            TEXT NOT NULL,
	amount_minor    INTEGER NOT NULL,
	currency        TEXT NOT NULL,
	reference       TEXT NOT NULL,
	status          TEXT NOT NULL,
	reason          TEXT NOT NULL,
	needs_attention INTEGER NOT NULL,
	attention       TEXT NOT NULL,
	card_brand      TEXT NOT NULL,
	card_last4      TEXT NOT NULL,
	refunded_minor  INTEGER NOT NULL,
	gateway_no      TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	paid_at         INTEGER,
	version         INTEGER NOT NULL,
	seq             INTEGER NOT NULL, -- the event that set this version
	PRIMARY KEY (till, order_no)
);
CREATE INDEX IF NOT EXISTS orders_attention ON orders (needs_attention, updated_at);
CREATE TABLE IF NOT EXISTS refunds (
	till         TEXT NOT NULL,
	refund_no    TEXT NOT NULL,
	order_no     TEXT NOT NULL,
	amount_minor INTEGER NOT NULL,
	currency     TEXT NOT NULL,
	status       TEXT NOT NULL,
	reason       TEXT NOT NULL,
	gateway_no   TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL,
	PRIMARY KEY (till, refund_no)
);
`

// DB is the fleet database on one SQLite file. It is safe for concurrent use.
type DB struct {
	db  *sql.DB
	now func() time.Time
}

// OpenDB opens (creating if needed) the fleet database at path.
func OpenDB(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open fleet db %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	sdb, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return nil, fmt.Errorf("open fleet db %s: %w", path, err)
	}
	if _, err := sdb.Exec(schema); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open fleet db %s: %w", path, err)
	}
	return &DB{db: sdb, now: time.Now}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Result says what Apply did with a batch.
type Result struct {
	Applied    int // events folded in now
	Duplicates int // events already applied before (redeliveries), skipped
	Statuses   int // till status messages (the newest of each till is kept)
}

// Apply folds msgs into the database in one transaction: each event not yet
// applied is recorded and its snapshots upserted (kept only if newer); each
// one already applied is skipped. Nothing is applied when it fails.
func (d *DB) Apply(ctx context.Context, msgs []outbox.Message) (Result, error) {
	var res Result
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("apply: %w", err)
	}
	defer tx.Rollback()
	now := d.now().UnixMilli()
	for _, m := range msgs {
		if m.Type == outbox.TypeStatus {
			if err := applyStatus(ctx, tx, m, now); err != nil {
				return Result{}, fmt.Errorf("apply %s: %w", m.ID, err)
			}
			res.Statuses++
			continue
		}
		r, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO applied (till, seq) VALUES (?, ?)`, m.Till, m.Seq)
		if err != nil {
			return Result{}, fmt.Errorf("apply %s: %w", m.ID, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			res.Duplicates++
			continue
		}
		if err := applyOne(ctx, tx, m, now); err != nil {
			return Result{}, fmt.Errorf("apply %s: %w", m.ID, err)
		}
		res.Applied++
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("apply: commit: %w", err)
	}
	return res, nil
}

// applyStatus keeps a till's newest status message.
func applyStatus(ctx context.Context, tx *sql.Tx, m outbox.Message, now int64) error {
	st := m.Status
	var oldest sql.NullInt64
	if st.OldestUnshipped != nil {
		oldest = sql.NullInt64{Int64: st.OldestUnshipped.UnixMilli(), Valid: true}
	}
	lanes := make([]string, len(st.Lanes))
	for i, l := range st.Lanes {
		lanes[i] = l.ID + "=" + l.Link
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tills (till, merchant, store, last_seen_at, status_at, backlog, oldest_unshipped_at, lanes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (till) DO UPDATE SET last_seen_at = excluded.last_seen_at,
			status_at = excluded.status_at, backlog = excluded.backlog,
			oldest_unshipped_at = excluded.oldest_unshipped_at, lanes = excluded.lanes
		WHERE excluded.status_at > tills.status_at`,
		m.Till, m.Merchant, m.Store, now, m.At.UnixMilli(), st.Backlog, oldest, strings.Join(lanes, " "))
	return err
}

func applyOne(ctx context.Context, tx *sql.Tx, m outbox.Message, now int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO tills (till, merchant, store, events, last_seq, last_event_at, last_seen_at)
		VALUES (?, ?, ?, 1, ?, ?, ?)
		ON CONFLICT (till) DO UPDATE SET merchant = excluded.merchant, store = excluded.store, events = events + 1,
			last_seq = max(last_seq, excluded.last_seq), last_event_at = max(last_event_at, excluded.last_event_at),
			last_seen_at = excluded.last_seen_at`,
		m.Till, m.Merchant, m.Store, m.Seq, m.At.UnixMilli(), now); err != nil {
		return err
	}
	o := m.Order
	var paidAt sql.NullInt64
	if o.PaidAt != nil {
		paidAt = sql.NullInt64{Int64: o.PaidAt.UnixMilli(), Valid: true}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (till, order_no, merchant, store, lane, amount_minor, currency, reference,
			status, reason, needs_attention, attention, card_brand, card_last4, refunded_minor, gateway_no,
			created_at, updated_at, paid_at, version, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (till, order_no) DO UPDATE SET lane = excluded.lane, amount_minor = excluded.amount_minor,
			currency = excluded.currency, reference = excluded.reference, status = excluded.status, reason = excluded.reason,
			needs_attention = excluded.needs_attention, attention = excluded.attention, card_brand = excluded.card_brand,
			card_last4 = excluded.card_last4, refunded_minor = excluded.refunded_minor, gateway_no = excluded.gateway_no,
			created_at = excluded.created_at, updated_at = excluded.updated_at, paid_at = excluded.paid_at,
			version = excluded.version, seq = excluded.seq
		WHERE excluded.version > orders.version`,
		m.Till, o.No, m.Merchant, m.Store, o.Lane, o.AmountMinor, o.Currency, o.Reference,
		o.Status, o.Reason, o.NeedsAttention, o.Attention, o.CardBrand, o.CardLast4, o.RefundedMinor, o.GatewayNo,
		o.CreatedAt.UnixMilli(), o.UpdatedAt.UnixMilli(), paidAt, o.Version, m.Seq); err != nil {
		return err
	}
	if r := m.Refund; r != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (till, refund_no, order_no, amount_minor, currency, status, reason,
				gateway_no, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (till, refund_no) DO UPDATE SET status = excluded.status, reason = excluded.reason,
				gateway_no = excluded.gateway_no, updated_at = excluded.updated_at, version = excluded.version
			WHERE excluded.version > refunds.version`,
			m.Till, r.No, r.OrderNo, r.AmountMinor, r.Currency, r.Status, r.Reason, r.GatewayNo,
			r.CreatedAt.UnixMilli(), r.UpdatedAt.UnixMilli(), r.Version); err != nil {
			return err
		}
	}
	return nil
}

// Order is one order's latest state as the fleet knows it.
type Order struct {
	Merchant, Store, Till string
	outbox.OrderDoc
}

// Filter selects orders; zero fields select everything.
type Filter struct {
	Till      string
	Attention bool // only orders that need attention
}

// Orders returns the orders f selects, by till then creation time.
func (d *DB) Orders(ctx context.Context, f Filter) ([]Order, error) {
	q := `SELECT merchant, store, till, order_no, lane, amount_minor, currency, reference, status, reason,
		needs_attention, attention, card_brand, card_last4, refunded_minor, gateway_no, created_at, updated_at, paid_at, version
		FROM orders WHERE (? = '' OR till = ?) AND (? = 0 OR needs_attention = 1) ORDER BY till, created_at, order_no`
	rows, err := d.db.QueryContext(ctx, q, f.Till, f.Till, f.Attention)
	if err != nil {
		return nil, fmt.Errorf("fleet orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		var (
			o                Order
			created, updated int64
			paid             sql.NullInt64
		)
		if err := rows.Scan(&o.Merchant, &o.Store, &o.Till, &o.No, &o.Lane, &o.AmountMinor, &o.Currency, &o.Reference,
			&o.Status, &o.Reason, &o.NeedsAttention, &o.Attention, &o.CardBrand, &o.CardLast4, &o.RefundedMinor,
			&o.GatewayNo, &created, &updated, &paid, &o.Version); err != nil {
			return nil, fmt.Errorf("fleet orders: %w", err)
		}
		o.CreatedAt, o.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		if paid.Valid {
			t := time.UnixMilli(paid.Int64).UTC()
			o.PaidAt = &t
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Till is what the fleet knows of one till.
type Till struct {
	Merchant, Store, Till string
	Events                int64     // events applied
	LastSeq               int64     // the highest seq applied
	LastEventAt           time.Time // when the till committed its latest event
	LastSeenAt            time.Time // when anything of it last arrived here
	Orders, Attention     int64     // orders, and those that need attention
	// From its latest status message (zero StatusAt: none yet).
	StatusAt        time.Time
	Backlog         int64     // events waiting in its outbox
	OldestUnshipped time.Time // the oldest of them; zero when none
	Lanes           string    // "id=link ...": its terminal links
}

// Tills returns every till that has sent an event, by name.
func (d *DB) Tills(ctx context.Context) ([]Till, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT t.merchant, t.store, t.till, t.events, t.last_seq, t.last_event_at, t.last_seen_at,
		(SELECT COUNT(*) FROM orders o WHERE o.till = t.till),
		(SELECT COUNT(*) FROM orders o WHERE o.till = t.till AND o.needs_attention = 1),
		t.status_at, t.backlog, t.oldest_unshipped_at, t.lanes
		FROM tills t ORDER BY t.till`)
	if err != nil {
		return nil, fmt.Errorf("fleet tills: %w", err)
	}
	defer rows.Close()
	var out []Till
	for rows.Next() {
		var (
			t                    Till
			evAt, seen, statusAt int64
			oldest               sql.NullInt64
		)
		if err := rows.Scan(&t.Merchant, &t.Store, &t.Till, &t.Events, &t.LastSeq, &evAt, &seen, &t.Orders, &t.Attention,
			&statusAt, &t.Backlog, &oldest, &t.Lanes); err != nil {
			return nil, fmt.Errorf("fleet tills: %w", err)
		}
		t.LastEventAt, t.LastSeenAt = time.UnixMilli(evAt).UTC(), time.UnixMilli(seen).UTC()
		if statusAt > 0 {
			t.StatusAt = time.UnixMilli(statusAt).UTC()
		}
		if oldest.Valid {
			t.OldestUnshipped = time.UnixMilli(oldest.Int64).UTC()
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
