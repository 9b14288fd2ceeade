package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// DefaultEventsLimit and MaxEventsLimit bound one EventsSince call.
const (
	DefaultEventsLimit = 500
	MaxEventsLimit     = 5000
)

// insertEvent appends an event and returns it with its seq. AUTOINCREMENT
// seqs are taken inside the write transaction, and writes are serialised,
// so committed seqs are consecutive; a rolled-back insert takes its seq back.
// o and r are the order and refund after the change (either may be nil);
// oldO and oldR what they were before it, nil when new or unchanged. The row
// keeps only what changed (see eventlean.go); the returned event carries the
// whole snapshots.
func insertEvent(ctx context.Context, tx *wtx, typ posbridge.EventType, at time.Time, o, oldO *posbridge.Order, r, oldR *posbridge.Refund) (posbridge.Event, error) {
	row, err := encodeEvent(typ, at, o, oldO, r, oldR)
	if err != nil {
		return posbridge.Event{}, err
	}
	return row.insert(ctx, tx)
}

// newEvent is an event encoded for its row, before it has a seq: encoding
// is the costly part of an event, and it needs no transaction.
type newEvent struct {
	e                       posbridge.Event
	orderNo, refundNo       string
	paymentUndo, refundUndo []byte
}

// encodeEvent encodes an event as insertEvent describes.
func encodeEvent(typ posbridge.EventType, at time.Time, o, oldO *posbridge.Order, r, oldR *posbridge.Refund) (newEvent, error) {
	row := newEvent{e: posbridge.Event{Type: typ, At: norm(at)}}
	if o != nil {
		oc := *o
		row.e.Payment = &oc
		row.orderNo = string(o.No)
		after, err := encodeOrder(o)
		if err != nil {
			return newEvent{}, err
		}
		var before []byte
		if oldO != nil {
			if before, err = encodeOrder(oldO); err != nil {
				return newEvent{}, err
			}
		}
		if row.paymentUndo, err = undoOf(before, after); err != nil {
			return newEvent{}, fmt.Errorf("order %s: %w", o.No, err)
		}
	}
	if r != nil {
		rc := *r
		row.e.Refund = &rc
		row.refundNo = string(r.No)
		after, err := encodeRefund(r)
		if err != nil {
			return newEvent{}, err
		}
		var before []byte
		if oldR != nil {
			if before, err = encodeRefund(oldR); err != nil {
				return newEvent{}, err
			}
		}
		if row.refundUndo, err = undoOf(before, after); err != nil {
			return newEvent{}, fmt.Errorf("refund %s: %w", r.No, err)
		}
	}
	return row, nil
}

// insert appends the event, with its outbox row, and returns it with its seq.
func (row newEvent) insert(ctx context.Context, tx *wtx) (posbridge.Event, error) {
	e := row.e
	res, err := tx.ExecContext(ctx, `INSERT INTO events (type, at, order_no, refund_no, payment_undo, refund_undo) VALUES (?, ?, ?, ?, ?, ?)`,
		string(e.Type), e.At.UnixMilli(), row.orderNo, row.refundNo, nullText(row.paymentUndo), nullText(row.refundUndo))
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("insert event: %w", err)
	}
	if e.Seq, err = res.LastInsertId(); err != nil {
		return posbridge.Event{}, fmt.Errorf("insert event: %w", err)
	}
	// The outbox row commits with the event or not at all, so no committed
	// event is ever missing from what is shipped to head office.
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (seq, at) VALUES (?, ?)`, e.Seq, e.At.UnixMilli()); err != nil {
		return posbridge.Event{}, fmt.Errorf("insert outbox row %d: %w", e.Seq, err)
	}
	return e, nil
}

func nullText(b []byte) sql.NullString {
	if b == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// EventsSince returns up to limit stored events with Seq > seq, in order.
// limit <= 0 means DefaultEventsLimit; it is capped at MaxEventsLimit.
func (db *DB) EventsSince(ctx context.Context, seq int64, limit int) ([]posbridge.Event, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultEventsLimit
	}
	limit = min(limit, MaxEventsLimit)
	events, err := db.readEvents(ctx, `SELECT `+eventRowColumns+` FROM events e WHERE e.seq > ? ORDER BY e.seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("events since %d: %w", seq, err)
	}
	return events, nil
}

// LastSeq returns the highest stored event Seq (0 when none).
func (db *DB) LastSeq(ctx context.Context) (int64, error) {
	if err := db.reading(); err != nil {
		return 0, err
	}
	var seq int64
	if err := db.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last event seq: %w", err)
	}
	return seq, nil
}

// insertAudit records who or what changed subject (an order or refund
// number) of order orderNo, from which status to which, at which version.
func insertAudit(ctx context.Context, tx *wtx, subject, orderNo posbridge.OrderNo, at time.Time, c posbridge.Cause, from, to string, version int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (subject, order_no, at, actor, who, action, detail, from_status, to_status, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(subject), string(orderNo), at.UnixMilli(), string(c.Actor), c.Who, c.Action, c.Detail, from, to, version)
	if err != nil {
		return fmt.Errorf("insert audit row for %s: %w", subject, err)
	}
	return nil
}

// Audit returns the audit rows of an order, oldest first. Given a refund
// number, it returns that refund's rows (their From and To are refund
// statuses). A number without rows gives an empty slice, not an error.
func (db *DB) Audit(ctx context.Context, no posbridge.OrderNo) ([]posbridge.AuditEntry, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT id, subject, at, actor, who, action, detail, from_status, to_status, version
		FROM audit WHERE subject = ? ORDER BY id`, string(no))
	if err != nil {
		return nil, fmt.Errorf("audit of %s: %w", no, err)
	}
	defer rows.Close()
	var out []posbridge.AuditEntry
	for rows.Next() {
		var (
			a              posbridge.AuditEntry
			subject, actor string
			from, to       string
			at             int64
		)
		if err := rows.Scan(&a.ID, &subject, &at, &actor, &a.Cause.Who, &a.Cause.Action, &a.Cause.Detail, &from, &to, &a.Version); err != nil {
			return nil, fmt.Errorf("audit of %s: %w", no, err)
		}
		a.OrderNo = posbridge.OrderNo(subject)
		a.At = time.UnixMilli(at).UTC()
		a.Cause.Actor = posbridge.Actor(actor)
		a.From, a.To = posbridge.Status(from), posbridge.Status(to)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit of %s: %w", no, err)
	}
	return out, nil
}

// validCause refuses an audit record without an actor: every change must say
// who or what caused it.
func validCause(c posbridge.Cause) error {
	if c.Actor == "" {
		return &posbridge.Error{Code: posbridge.EINVALID, Field: "cause", Message: "the actor of a change is required"}
	}
	if c.Receives != nil && c.Applies == nil {
		return &posbridge.Error{Code: posbridge.EINVALID, Field: "cause", Message: "a received notification needs the result it is applied with"}
	}
	return nil
}
