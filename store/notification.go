package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

const inboxColumns = `id, gateway, notification_id, kind, order_no, status, body, verified, received_at, applied_at, result`

func scanInbox(s scanner) (posbridge.InboxEntry, error) {
	var (
		e             posbridge.InboxEntry
		kind, orderNo string
		received      int64
		applied       sql.NullInt64
	)
	if err := s.Scan(&e.ID, &e.Gateway, &e.NotificationID, &kind, &orderNo, &e.Status, &e.Body, &e.Verified,
		&received, &applied, &e.Result); err != nil {
		return posbridge.InboxEntry{}, err
	}
	e.Kind, e.OrderNo = posbridge.NotificationKind(kind), posbridge.OrderNo(orderNo)
	e.ReceivedAt = fromMillis(sql.NullInt64{Int64: received, Valid: true})
	e.AppliedAt = fromMillis(applied)
	if e.Body == nil {
		e.Body = []byte{}
	}
	return e, nil
}

// ReceiveNotification stores a notification in the inbox, unapplied (its
// AppliedAt and Result are ignored; a zero ReceivedAt becomes now). If one
// with the same gateway and notification id is already there, it returns
// that entry and duplicate=true and stores nothing. An empty gateway or
// notification id is EINVALID.
func (db *DB) ReceiveNotification(ctx context.Context, e posbridge.InboxEntry) (posbridge.InboxEntry, bool, error) {
	if e.Gateway == "" {
		return posbridge.InboxEntry{}, false, invalid("gateway", "gateway is required")
	}
	if e.NotificationID == "" {
		return posbridge.InboxEntry{}, false, invalid("notification_id", "notification id is required")
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.InboxEntry{}, false, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	defer done()
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = db.now()
	}
	body := e.Body
	if body == nil {
		body = []byte{}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO notifications (gateway, notification_id, kind, order_no, status, body, verified, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, notification_id) DO NOTHING`,
		e.Gateway, e.NotificationID, string(e.Kind), string(e.OrderNo), e.Status, body, e.Verified, e.ReceivedAt.UnixMilli())
	if err != nil {
		return posbridge.InboxEntry{}, false, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return posbridge.InboxEntry{}, false, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	stored, err := scanInbox(tx.QueryRowContext(ctx, `SELECT `+inboxColumns+` FROM notifications WHERE gateway = ? AND notification_id = ?`,
		e.Gateway, e.NotificationID))
	if err != nil {
		return posbridge.InboxEntry{}, false, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	if n == 0 {
		return stored, true, nil
	}
	if err := db.commit(tx); err != nil {
		return posbridge.InboxEntry{}, false, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	return stored, false, nil
}

// MarkNotificationApplied records that inbox entry id was applied at at (now
// when zero), and how. The first mark wins: marking an applied entry again
// changes nothing and returns nil. An unknown id is posbridge.ErrNotFound.
func (db *DB) MarkNotificationApplied(ctx context.Context, id int64, at time.Time, result string) error {
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("mark notification %d applied: %w", id, err)
	}
	defer done()
	if at.IsZero() {
		at = db.now()
	}
	var applied sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT applied_at FROM notifications WHERE id = ?`, id).Scan(&applied)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("notification %d: %w", id, posbridge.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark notification %d applied: %w", id, err)
	}
	if applied.Valid {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET applied_at = ?, result = ? WHERE id = ?`, at.UnixMilli(), result, id); err != nil {
		return fmt.Errorf("mark notification %d applied: %w", id, err)
	}
	if err := db.commit(tx); err != nil {
		return fmt.Errorf("mark notification %d applied: %w", id, err)
	}
	return nil
}

// UnappliedNotifications returns up to limit inbox entries not yet applied,
// oldest first (limit <= 0 means DefaultListLimit).
func (db *DB) UnappliedNotifications(ctx context.Context, limit int) ([]posbridge.InboxEntry, error) {
	if err := db.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+inboxColumns+` FROM notifications WHERE applied_at IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("unapplied notifications: %w", err)
	}
	defer rows.Close()
	var out []posbridge.InboxEntry
	for rows.Next() {
		e, err := scanInbox(rows)
		if err != nil {
			return nil, fmt.Errorf("unapplied notifications: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unapplied notifications: %w", err)
	}
	return out, nil
}
