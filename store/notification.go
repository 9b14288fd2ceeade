package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
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
	var body []byte
	if err := s.Scan(&e.ID, &e.Gateway, &e.NotificationID, &kind, &orderNo, &e.Status, &body, &e.Verified,
		&received, &applied, &e.Result); err != nil {
		return posbridge.InboxEntry{}, err
	}
	e.Kind, e.OrderNo = posbridge.NotificationKind(kind), posbridge.OrderNo(orderNo)
	e.ReceivedAt = fromMillis(sql.NullInt64{Int64: received, Valid: true})
	e.AppliedAt = fromMillis(applied)
	if len(body) > 0 {
		n, err := decodeStoredNotification(body, e)
		if err != nil {
			return posbridge.InboxEntry{}, fmt.Errorf("notification %d: %w", e.ID, err)
		}
		e.Notification = &n
	}
	return e, nil
}

// storedNotification is what the inbox keeps of a notification: the
// decoded fields the engine applies, never the raw body or a card number.
// The gateway, id, kind, order number and time received are left out when
// the entry's own columns hold the same (a third of the body), and read
// from the columns when absent.
type storedNotification struct {
	Gateway   string `json:"gateway,omitempty"`
	ID        string `json:"id,omitempty"`
	Kind      string `json:"kind,omitempty"`
	OrderNo   string `json:"order_no,omitempty"`
	OrigNo    string `json:"orig_no,omitempty"`
	GatewayNo string `json:"gateway_no,omitempty"`
	Status    string `json:"status,omitempty"`
	Refund    string `json:"refund,omitempty"`
	Revoked   bool   `json:"revoked,omitempty"`
	Amount    int64  `json:"amount_minor"`
	Currency  string `json:"currency"`
	// ReceivedMinor is what the gateway received (partially paid), in
	// Currency; zero when it did not say.
	ReceivedMinor int64  `json:"received_minor,omitempty"`
	CardBrand     string `json:"card_brand,omitempty"`
	CardLast4     string `json:"card_last4,omitempty"`
	SentAt        int64  `json:"sent_at,omitempty"`
	Received      int64  `json:"received_at,omitempty"`
	Stale         bool   `json:"stale,omitempty"`
}

// encodeStoredNotification encodes n for the body of inbox entry e.
func encodeStoredNotification(n posbridge.Notification, e posbridge.InboxEntry) ([]byte, error) {
	if len(n.Card.Last4) > 4 {
		return nil, invalid("card", "only the last four digits of a card may be stored")
	}
	s := storedNotification{
		Gateway: n.Gateway, ID: n.ID, Kind: string(n.Kind), OrderNo: string(n.OrderNo), OrigNo: string(n.OrigNo),
		GatewayNo: n.GatewayNo, Status: string(n.Status), Refund: string(n.Refund), Revoked: n.Revoked,
		Amount: n.Amount.Minor, Currency: n.Amount.Currency, CardBrand: n.Card.Brand, CardLast4: n.Card.Last4,
		Stale: n.Stale,
	}
	if n.Received.Minor != 0 {
		if n.Received.Currency != n.Amount.Currency {
			return nil, invalid("received", "the received amount must be in the order's currency")
		}
		s.ReceivedMinor = n.Received.Minor
	}
	if !n.SentAt.IsZero() {
		s.SentAt = n.SentAt.UnixMilli()
	}
	if !n.ReceivedAt.IsZero() {
		s.Received = n.ReceivedAt.UnixMilli()
	}
	if s.Gateway == e.Gateway {
		s.Gateway = ""
	}
	if s.ID == e.NotificationID {
		s.ID = ""
	}
	if s.Kind == string(e.Kind) {
		s.Kind = ""
	}
	if s.OrderNo == string(e.OrderNo) {
		s.OrderNo = ""
	}
	switch {
	case n.ReceivedAt.IsZero():
		s.Received = -1 // none, where absent means the entry's own
	case !e.ReceivedAt.IsZero() && s.Received == e.ReceivedAt.UnixMilli():
		s.Received = 0
	}
	return json.Marshal(s)
}

// decodeStoredNotification decodes the body of inbox entry e, whose
// columns (already scanned) give what the body leaves out.
func decodeStoredNotification(b []byte, e posbridge.InboxEntry) (posbridge.Notification, error) {
	var s storedNotification
	if err := json.Unmarshal(b, &s); err != nil {
		return posbridge.Notification{}, fmt.Errorf("decode stored notification: %w", err)
	}
	s.Gateway = cmp.Or(s.Gateway, e.Gateway)
	s.ID = cmp.Or(s.ID, e.NotificationID)
	s.Kind = cmp.Or(s.Kind, string(e.Kind))
	s.OrderNo = cmp.Or(s.OrderNo, string(e.OrderNo))
	switch {
	case s.Received == -1:
		s.Received = 0
	case s.Received == 0 && !e.ReceivedAt.IsZero():
		s.Received = e.ReceivedAt.UnixMilli()
	}
	n := posbridge.Notification{
		Gateway: s.Gateway, ID: s.ID, Kind: posbridge.NotificationKind(s.Kind), OrderNo: posbridge.OrderNo(s.OrderNo),
		OrigNo: posbridge.OrderNo(s.OrigNo), GatewayNo: s.GatewayNo, Status: posbridge.GatewayStatus(s.Status),
		Refund: posbridge.GatewayRefundStatus(s.Refund), Revoked: s.Revoked,
		Amount: posbridge.Money{Minor: s.Amount, Currency: s.Currency},
		Card:   posbridge.Card{Brand: s.CardBrand, Last4: s.CardLast4}, Stale: s.Stale,
	}
	if s.ReceivedMinor != 0 {
		n.Received = posbridge.Money{Minor: s.ReceivedMinor, Currency: s.Currency}
	}
	if s.SentAt != 0 {
		n.SentAt = time.UnixMilli(s.SentAt).UTC()
	}
	if s.Received != 0 {
		n.ReceivedAt = time.UnixMilli(s.Received).UTC()
	}
	return n, nil
}

// ReceiveNotification stores a notification in the inbox, unapplied (its
// AppliedAt and Result are ignored; a zero ReceivedAt becomes now). If one
// with the same gateway and notification id is already there, it returns
// that entry and duplicate=true and stores nothing. An empty gateway or
// notification id is EINVALID.
func (db *DB) ReceiveNotification(ctx context.Context, e posbridge.InboxEntry) (posbridge.InboxEntry, bool, error) {
	body, err := inboxBody(e)
	if err != nil {
		return posbridge.InboxEntry{}, false, err
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.InboxEntry{}, false, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	defer done()
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = db.now()
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
	if err := markApplied(ctx, tx, id, at, result); err != nil {
		return err
	}
	if err := db.commit(tx); err != nil {
		return fmt.Errorf("mark notification %d applied: %w", id, err)
	}
	return nil
}

// markApplied marks inbox entry id applied inside tx; the first mark wins.
func markApplied(ctx context.Context, tx *wtx, id int64, at time.Time, result string) error {
	var applied sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT applied_at FROM notifications WHERE id = ?`, id).Scan(&applied)
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
	return nil
}

// markCause marks the inbox entry a change applies (cause.Applies), if any,
// storing it first when the change receives it (cause.Receives).
func (db *DB) markCause(ctx context.Context, tx *wtx, cause posbridge.Cause) error {
	if cause.Applies == nil {
		return nil
	}
	if cause.Receives != nil {
		return db.receiveApplied(ctx, tx, *cause.Receives, cause.Applies.Result)
	}
	return markApplied(ctx, tx, cause.Applies.ID, db.now(), cause.Applies.Result)
}

// receiveApplied stores inbox entry e inside tx, already applied with
// result. One already stored is posbridge.ErrNotificationStored: the caller
// rolls back its whole change.
func (db *DB) receiveApplied(ctx context.Context, tx *wtx, e posbridge.InboxEntry, result string) error {
	body, err := inboxBody(e)
	if err != nil {
		return err
	}
	now := db.now()
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = now
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO notifications (gateway, notification_id, kind, order_no, status, body, verified, received_at, applied_at, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, notification_id) DO NOTHING`,
		e.Gateway, e.NotificationID, string(e.Kind), string(e.OrderNo), e.Status, body, e.Verified, e.ReceivedAt.UnixMilli(), now.UnixMilli(), result)
	if err != nil {
		return fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	} else if n == 0 {
		return fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, posbridge.ErrNotificationStored)
	}
	return nil
}

// inboxBody checks e's gateway and id and encodes what the inbox keeps of
// its notification (redacted).
func inboxBody(e posbridge.InboxEntry) ([]byte, error) {
	if e.Gateway == "" {
		return nil, invalid("gateway", "gateway is required")
	}
	if e.NotificationID == "" {
		return nil, invalid("notification_id", "notification id is required")
	}
	if e.Notification == nil {
		return []byte{}, nil
	}
	body, err := encodeStoredNotification(e.Notification.Redacted(), e)
	if err != nil {
		return nil, fmt.Errorf("receive notification %s/%s: %w", e.Gateway, e.NotificationID, err)
	}
	return body, nil
}

// commitMarkOnly commits tx when a change turned out to be no change but
// applies an inbox entry (cause.Applies): the mark is all that is written.
// Without a mark it writes nothing and the deferred rollback ends tx.
func (db *DB) commitMarkOnly(ctx context.Context, tx *wtx, cause posbridge.Cause) error {
	if cause.Applies == nil {
		return nil
	}
	if err := db.markCause(ctx, tx, cause); err != nil {
		return err
	}
	if err := db.commit(tx); err != nil {
		return fmt.Errorf("mark notification %d applied: %w", cause.Applies.ID, err)
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
