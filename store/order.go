package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge"
)

const orderColumns = `order_no, lane, amount_minor, currency, reference, status, reason, terminal_outcome,
	needs_attention, attention, checks, next_check_at, verify_until, created_at, updated_at, paid_at,
	card_brand, card_last4, refunded_minor, gateway_no, terminal_no, idempotency_key, request_hash,
	attempts, override, version, scheduled_checks, payment_url, payment_expires_at`

type scanner interface{ Scan(dest ...any) error }

func scanOrder(s scanner) (posbridge.Order, error) {
	var (
		o                            posbridge.Order
		no, status, reason, outcome  string
		nextCheck, verifyUntil, paid sql.NullInt64
		payExpires                   sql.NullInt64
		created, updated             sql.NullInt64
		refunded                     int64
		idemKey, override            sql.NullString
	)
	err := s.Scan(&no, &o.Lane, &o.Amount.Minor, &o.Amount.Currency, &o.Reference, &status, &reason, &outcome,
		&o.NeedsAttention, &o.Attention, &o.Checks, &nextCheck, &verifyUntil, &created, &updated, &paid,
		&o.Card.Brand, &o.Card.Last4, &refunded, &o.GatewayNo, &o.TerminalNo, &idemKey, &o.RequestHash,
		&o.Attempts, &override, &o.Version, &o.ScheduledChecks, &o.PaymentURL, &payExpires)
	if err != nil {
		return posbridge.Order{}, err
	}
	o.No, o.Status, o.Reason, o.TerminalOutcome = posbridge.OrderNo(no), posbridge.Status(status), posbridge.Reason(reason), posbridge.Outcome(outcome)
	o.NextCheckAt, o.VerifyUntil, o.PaidAt = fromMillis(nextCheck), fromMillis(verifyUntil), fromMillis(paid)
	o.CreatedAt, o.UpdatedAt = fromMillis(created), fromMillis(updated)
	o.PaymentExpiresAt = fromMillis(payExpires)
	o.Refunded = posbridge.Money{Minor: refunded, Currency: o.Amount.Currency}
	o.IdempotencyKey = idemKey.String
	if override.Valid {
		var d overrideDoc
		if err := json.Unmarshal([]byte(override.String), &d); err != nil {
			return posbridge.Order{}, fmt.Errorf("order %s: decode override: %w", no, err)
		}
		o.Override = decodeOverride(&d)
	}
	return o, nil
}

// orderArgs are the values of orderColumns, in order.
func orderArgs(o *posbridge.Order) ([]any, error) {
	var override sql.NullString
	if o.Override != nil {
		b, err := json.Marshal(encodeOverride(o.Override))
		if err != nil {
			return nil, fmt.Errorf("encode override: %w", err)
		}
		override = sql.NullString{String: string(b), Valid: true}
	}
	var idemKey sql.NullString
	if o.IdempotencyKey != "" {
		idemKey = sql.NullString{String: o.IdempotencyKey, Valid: true}
	}
	return []any{string(o.No), o.Lane, o.Amount.Minor, o.Amount.Currency, o.Reference, string(o.Status), string(o.Reason),
		string(o.TerminalOutcome), o.NeedsAttention, o.Attention, o.Checks, millis(o.NextCheckAt), millis(o.VerifyUntil),
		millis(o.CreatedAt), millis(o.UpdatedAt), millis(o.PaidAt), o.Card.Brand, o.Card.Last4, o.Refunded.Minor,
		o.GatewayNo, o.TerminalNo, idemKey, o.RequestHash, o.Attempts, override, o.Version, o.ScheduledChecks,
		o.PaymentURL, millis(o.PaymentExpiresAt)}, nil
}

func invalid(field, format string, args ...any) error {
	return &posbridge.Error{Code: posbridge.EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// validateOrder checks what the schema relies on; the engine validated the
// request already, so a failure here is a programming error made visible.
func validateOrder(o *posbridge.Order) error {
	if err := o.No.Validate(); err != nil {
		return &posbridge.Error{Code: posbridge.EINVALID, Field: "order_no", Message: "invalid order number", Err: err}
	}
	if o.Lane == "" {
		return invalid("lane", "lane is required")
	}
	if _, err := posbridge.NewMoney(o.Amount.Minor, o.Amount.Currency); err != nil {
		return &posbridge.Error{Code: posbridge.EINVALID, Field: "amount", Message: "invalid amount", Err: err}
	}
	if o.Amount.Minor == 0 {
		return &posbridge.Error{Code: posbridge.EINVALID, Field: "amount", Message: "invalid amount", Err: posbridge.ErrZeroAmount}
	}
	if !o.Status.Valid() {
		return invalid("status", "unknown status %q", o.Status)
	}
	if o.Refunded.Currency != o.Amount.Currency || o.Refunded.Minor < 0 {
		return invalid("refunded", "refunded %s does not fit an order in %s", o.Refunded, o.Amount.Currency)
	}
	return nil
}

// CreateOrder inserts o with its event (type payment) and audit row. An empty
// Status becomes created; any other than created is refused (EINVALID), as
// are an invalid number, lane or amount. A zero CreatedAt becomes now;
// UpdatedAt is now, Version 1, a zero Refunded becomes zero in o's currency,
// and times are stored to the millisecond: o is updated to what was stored.
// When o.IdempotencyKey is already used it returns an *IdempotencyError and
// stores nothing; an existing order number is ECONFLICT.
func (db *DB) CreateOrder(ctx context.Context, o *posbridge.Order, cause posbridge.Cause) (posbridge.Event, error) {
	created, _, err := db.createOrder(ctx, o, cause, nil)
	return created, err
}

// CreateOrderThen is CreateOrder followed by UpdateOrder(o.No, then.Cause,
// then.Apply) in the same commit: two events and two audit rows, one fsync.
// Nothing is written when either fails; then.Apply returning
// posbridge.ErrNoChange writes the creation alone. o is updated to what was
// stored after both.
func (db *DB) CreateOrderThen(ctx context.Context, o *posbridge.Order, cause posbridge.Cause, then posbridge.OrderStep) (created, changed posbridge.Event, err error) {
	return db.createOrder(ctx, o, cause, &then)
}

// createOrder inserts o and, when then is set, applies it, in one commit.
func (db *DB) createOrder(ctx context.Context, o *posbridge.Order, cause posbridge.Cause, then *posbridge.OrderStep) (created, changed posbridge.Event, err error) {
	if err := validCause(cause); err != nil {
		return posbridge.Event{}, posbridge.Event{}, err
	}
	if then != nil {
		if err := validCause(then.Cause); err != nil {
			return posbridge.Event{}, posbridge.Event{}, err
		}
	}
	n, err := newOrderRow(o)
	if err != nil {
		return posbridge.Event{}, posbridge.Event{}, err
	}
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return posbridge.Event{}, posbridge.Event{}, err
	}
	defer done()
	if created, err = db.insertOrder(ctx, tx, &n, cause, "create"); err != nil {
		return posbridge.Event{}, posbridge.Event{}, err
	}
	if then != nil {
		after, ev, err := db.changeOrder(ctx, tx, n.No, then.Cause, then.Apply)
		switch {
		case errors.Is(err, posbridge.ErrNoChange):
		case err != nil:
			return posbridge.Event{}, posbridge.Event{}, err
		default:
			n, changed = after, ev
		}
	}
	if err := db.commit(tx); err != nil {
		return posbridge.Event{}, posbridge.Event{}, fmt.Errorf("create order %s: %w", n.No, err)
	}
	db.recent.put(n)
	*o = n
	return created, changed, nil
}

// newOrderRow is o as CreateOrder stores it, before the times are set, or
// why it cannot be stored.
func newOrderRow(o *posbridge.Order) (posbridge.Order, error) {
	n := *o
	if n.Status == "" {
		n.Status = posbridge.StatusCreated
	}
	if n.Status != posbridge.StatusCreated {
		return posbridge.Order{}, invalid("status", "a new order must be created, not %s", n.Status)
	}
	if n.Refunded == (posbridge.Money{}) {
		n.Refunded.Currency = n.Amount.Currency
	}
	if err := validateOrder(&n); err != nil {
		return posbridge.Order{}, err
	}
	return n, nil
}

// insertOrder inserts n in tx with its event and audit row, setting its
// times and version; op ("create", "import") names the write in errors.
func (db *DB) insertOrder(ctx context.Context, tx *wtx, n *posbridge.Order, cause posbridge.Cause, op string) (posbridge.Event, error) {
	now := db.now()
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	n.UpdatedAt = now
	n.Version = 1
	normOrder(n)

	if n.IdempotencyKey != "" {
		var owner, hash string
		err := tx.QueryRowContext(ctx, `SELECT order_no, request_hash FROM idempotency_keys WHERE key = ?`, n.IdempotencyKey).Scan(&owner, &hash)
		switch {
		case err == nil:
			return posbridge.Event{}, &posbridge.IdempotencyError{Key: n.IdempotencyKey, OrderNo: posbridge.OrderNo(owner), RequestHash: hash}
		case !errors.Is(err, sql.ErrNoRows):
			return posbridge.Event{}, fmt.Errorf("%s order %s: look up idempotency key: %w", op, n.No, err)
		}
	}
	args, err := orderArgs(n)
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("%s order %s: %w", op, n.No, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`) VALUES (`+placeholders(len(args))+`)`, args...); err != nil {
		if isConstraint(err, sqlite3.ErrConstraintPrimaryKey) || isConstraint(err, sqlite3.ErrConstraintUnique) {
			return posbridge.Event{}, &posbridge.Error{Code: posbridge.ECONFLICT, Field: "order_no",
				Message: fmt.Sprintf("order %s already exists", n.No), Err: err}
		}
		return posbridge.Event{}, fmt.Errorf("%s order %s: %w", op, n.No, err)
	}
	if n.IdempotencyKey != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key, order_no, request_hash, created_at) VALUES (?, ?, ?, ?)`,
			n.IdempotencyKey, string(n.No), n.RequestHash, now.UnixMilli()); err != nil {
			return posbridge.Event{}, fmt.Errorf("%s order %s: store idempotency key: %w", op, n.No, err)
		}
	}
	ev, err := insertEvent(ctx, tx, posbridge.EventPayment, now, n, nil, nil, nil)
	if err != nil {
		return posbridge.Event{}, fmt.Errorf("%s order %s: %w", op, n.No, err)
	}
	if err := insertAudit(ctx, tx, n.No, n.No, now, cause, "", string(n.Status), n.Version); err != nil {
		return posbridge.Event{}, fmt.Errorf("%s order %s: %w", op, n.No, err)
	}
	return ev, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func notFound(what string, no posbridge.OrderNo) error {
	return fmt.Errorf("%s %s: %w", what, no, posbridge.ErrNotFound)
}

func loadOrder(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, no posbridge.OrderNo) (posbridge.Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE order_no = ?`, string(no)))
	if errors.Is(err, sql.ErrNoRows) {
		return posbridge.Order{}, notFound("order", no)
	}
	if err != nil {
		return posbridge.Order{}, fmt.Errorf("load order %s: %w", no, err)
	}
	return o, nil
}

// Order returns the order, or an error wrapping posbridge.ErrNotFound.
func (db *DB) Order(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
	if err := db.reading(); err != nil {
		return posbridge.Order{}, err
	}
	o, err := loadOrder(ctx, db.db, no)
	if err == nil {
		db.recent.put(o)
	}
	return o, err
}

// UpdateOrder loads the order, calls fn on a copy, and writes the result with
// an event (type payment, the snapshot after the change) and an audit row
// (cause, from and to status, new version), all in one immediate
// transaction. fn may be called twice: first, when this process keeps the
// order (it read or committed it lately), on that copy before the write's
// turn, and again on the order as it is in the turn if it moved on
// meanwhile, or if the first call changed nothing or failed; what fn does
// the last time is what is written. An order not kept is decided in the
// turn only, on the writer's goroutine: fn must not call the store. Version
// is bumped and UpdatedAt set to now. fn returning posbridge.ErrNoChange writes nothing and returns
// the order as loaded, a zero Event and nil; any other fn error is returned
// as is with nothing written. fn may not change the order's number, amount,
// creation time, idempotency key or Refunded (refunds change it), nor set an
// unknown status (EINVALID). posbridge.ErrNotFound, wrapped with the number,
// if there is no such order.
func (db *DB) UpdateOrder(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Order) error) (posbridge.Order, posbridge.Event, error) {
	if err := validCause(cause); err != nil {
		return posbridge.Order{}, posbridge.Event{}, err
	}
	// Decided before the write's turn, on the order as this process last
	// read or committed it: the turn, which every write of the process
	// waits for, then only runs the statements. If the order moved on
	// meanwhile (its version changed), the change is decided again inside
	// the turn, on the order as it is there. A decision that changes
	// nothing, or fails, is always made again inside the turn: only a
	// change is taken from the early one. An order not kept is not read
	// for it: a read on a pooled connection starts with an empty cache
	// after every commit (WAL), while the turn reads it on the writer's
	// warm connection, sharing the pages its update touches anyway.
	var early *orderChange
	if old, ok := db.recent.get(no); ok {
		if ch, err := db.decideChange(old, fn); err == nil {
			early = &ch
		}
	}
	var (
		n        posbridge.Order
		ev       posbridge.Event
		err      error
		noChange bool
	)
	werr := db.write(ctx, func(tx *wtx) bool {
		err = posbridge.ErrVersionChanged
		if early != nil {
			n, ev, err = db.writeChange(ctx, tx, early, cause)
		}
		if errors.Is(err, posbridge.ErrVersionChanged) {
			n, ev, err = db.changeOrder(ctx, tx, no, cause, fn)
		}
		if errors.Is(err, posbridge.ErrNoChange) {
			// No change, but the inbox entry it applies is marked (and
			// stored, when it comes with the change): that alone is kept.
			noChange, err = true, db.markCause(ctx, tx, cause)
			return err == nil && cause.Applies != nil
		}
		return err == nil
	})
	switch {
	case werr != nil && noChange:
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("mark notification %d applied: %w", cause.Applies.ID, werr)
	case werr != nil:
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("update order %s: %w", no, werr)
	case err != nil:
		return posbridge.Order{}, posbridge.Event{}, err
	case noChange:
		return n, posbridge.Event{}, nil
	}
	db.recent.put(n)
	return n, ev, nil
}

// changeOrder is UpdateOrder's work inside tx, without the commit: fn
// returning posbridge.ErrNoChange returns the order as loaded and that error.
func (db *DB) changeOrder(ctx context.Context, tx *wtx, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Order) error) (posbridge.Order, posbridge.Event, error) {
	old, err := loadOrder(ctx, tx, no)
	if err != nil {
		return posbridge.Order{}, posbridge.Event{}, err
	}
	ch, err := db.decideChange(old, fn)
	if errors.Is(err, posbridge.ErrNoChange) {
		return old, posbridge.Event{}, err
	}
	if err != nil {
		return posbridge.Order{}, posbridge.Event{}, err
	}
	return db.writeChange(ctx, tx, &ch, cause)
}

// orderChange is one change of an order, decided and encoded, ready to be
// written: the order's row update, its event and its audit row.
type orderChange struct {
	old, n posbridge.Order
	now    time.Time
	update string // the UPDATE, conditional on old's version
	args   []any
	event  newEvent
}

// decideChange calls fn on a copy of old and, if it changed something that
// may change, encodes the change. fn's posbridge.ErrNoChange, or any other
// error of fn, is returned as is.
func (db *DB) decideChange(old posbridge.Order, fn func(*posbridge.Order) error) (orderChange, error) {
	n := old
	if old.Override != nil {
		ov := *old.Override
		n.Override = &ov // fn gets its own copy, so old stays as loaded
	}
	if err := fn(&n); err != nil {
		return orderChange{}, err
	}
	if err := checkOrderChange(&old, &n); err != nil {
		return orderChange{}, fmt.Errorf("update order %s: %w", old.No, err)
	}
	now := db.now()
	n.Version = old.Version + 1
	n.UpdatedAt = now
	normOrder(&n)
	update, args, err := orderUpdate(&n, &old)
	if err != nil {
		return orderChange{}, fmt.Errorf("update order %s: %w", old.No, err)
	}
	ev, err := encodeEvent(posbridge.EventPayment, now, &n, &old, nil, nil)
	if err != nil {
		return orderChange{}, fmt.Errorf("update order %s: %w", old.No, err)
	}
	return orderChange{old: old, n: n, now: now, update: update, args: args, event: ev}, nil
}

// writeChange writes ch inside tx with its audit row and cause's inbox
// mark. posbridge.ErrVersionChanged, with nothing written, if the order is
// no longer at the version ch was decided on.
func (db *DB) writeChange(ctx context.Context, tx *wtx, ch *orderChange, cause posbridge.Cause) (posbridge.Order, posbridge.Event, error) {
	no := ch.n.No
	if err := execOrderUpdate(ctx, tx, ch.update, ch.args, ch.old.Version); err != nil {
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("update order %s: %w", no, err)
	}
	ev, err := ch.event.insert(ctx, tx)
	if err != nil {
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("update order %s: %w", no, err)
	}
	if err := insertAudit(ctx, tx, no, no, ch.now, cause, string(ch.old.Status), string(ch.n.Status), ch.n.Version); err != nil {
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("update order %s: %w", no, err)
	}
	if err := db.markCause(ctx, tx, cause); err != nil {
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("update order %s: %w", no, err)
	}
	return ch.n, ev, nil
}

// checkOrderChange refuses changes that no caller may make to a stored order.
func checkOrderChange(old, n *posbridge.Order) error {
	switch {
	case n.No != old.No:
		return invalid("order_no", "the order number cannot change")
	case n.Amount != old.Amount:
		return invalid("amount", "the amount cannot change")
	case !n.CreatedAt.Equal(old.CreatedAt):
		return invalid("created_at", "the creation time cannot change")
	case n.IdempotencyKey != old.IdempotencyKey || n.RequestHash != old.RequestHash:
		return invalid("idempotency_key", "the idempotency key cannot change")
	case n.Refunded != old.Refunded:
		return invalid("refunded", "refunded changes only through refunds")
	}
	return validateOrder(n)
}

// updateOrderRow writes n over the row of old if the row is still at
// old.Version, setting only the columns n changed.
func updateOrderRow(ctx context.Context, tx *wtx, n, old *posbridge.Order) error {
	update, args, err := orderUpdate(n, old)
	if err != nil {
		return err
	}
	return execOrderUpdate(ctx, tx, update, args, old.Version)
}

// orderUpdate is the UPDATE that writes n over the row of old if the row is
// still at old.Version, and its arguments.
func orderUpdate(n, old *posbridge.Order) (string, []any, error) {
	args, err := orderArgs(n)
	if err != nil {
		return "", nil, err
	}
	was, err := orderArgs(old)
	if err != nil {
		return "", nil, err
	}
	// Only the columns that changed are written: SQLite rewrites the index
	// entries of every column an UPDATE sets, changed or not, and each
	// rewritten index page is written to the log and synced at the commit.
	cols := orderColumnList
	sets := make([]string, 0, len(cols))
	vals := make([]any, 0, len(cols)+2)
	for i := 1; i < len(cols); i++ { // order_no never changes
		if sameArg(args[i], was[i]) {
			continue
		}
		sets = append(sets, cols[i]+" = ?")
		vals = append(vals, args[i])
	}
	vals = append(vals, string(n.No), old.Version)
	return `UPDATE orders SET ` + strings.Join(sets, ", ") + ` WHERE order_no = ? AND version = ?`, vals, nil
}

// execOrderUpdate runs an orderUpdate: posbridge.ErrVersionChanged, with
// nothing written, when the row is no longer at version.
func execOrderUpdate(ctx context.Context, tx *wtx, update string, args []any, version int64) error {
	res, err := tx.ExecContext(ctx, update, args...)
	if err != nil {
		return fmt.Errorf("write order: %w", err)
	}
	if rows, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("write order: %w", err)
	} else if rows != 1 {
		return fmt.Errorf("write order at version %d: %w", version, posbridge.ErrVersionChanged)
	}
	return nil
}

// orderColumnList is orderColumns, one name each, in orderArgs' order.
var orderColumnList = func() []string {
	cols := strings.Split(orderColumns, ",")
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
	}
	return cols
}()

// sameArg reports whether two of orderArgs' values would store the same.
func sameArg(a, b any) bool { return reflect.DeepEqual(a, b) }
