package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"time"

	"github.com/posbridge/posbridge"
)

// ExplainDueChecks returns SQLite's query plan of DueChecks, one line per step.
func ExplainDueChecks(ctx context.Context, db *DB) ([]string, error) {
	rows, err := db.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+dueChecksQuery, 0, 1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused sql.NullInt64
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}

// WriteWithoutCommit runs UpdateOrder's writes for order no (the order row,
// then the event, then the audit row) in one transaction and then, instead
// of committing, exits the process with code exit when exit >= 0 (a crash
// between writes), or rolls back when exit < 0. It returns the seq the
// uncommitted event took.
func WriteWithoutCommit(ctx context.Context, db *DB, no posbridge.OrderNo, fn func(*posbridge.Order), exit int) (int64, error) {
	tx, done, err := db.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	old, err := loadOrder(ctx, tx, no)
	if err != nil {
		return 0, err
	}
	n := old
	fn(&n)
	n.Version = old.Version + 1
	now := db.now()
	n.UpdatedAt = now
	normOrder(&n)
	if err := updateOrderRow(ctx, tx, &n, &old); err != nil {
		return 0, err
	}
	ev, err := insertEvent(ctx, tx, posbridge.EventPayment, now, &n, &old, nil, nil)
	if err != nil {
		return 0, err
	}
	if err := insertAudit(ctx, tx, n.No, n.No, now, posbridge.Cause{Actor: posbridge.ActorEngine}, string(old.Status), string(n.Status), n.Version); err != nil {
		return 0, err
	}
	if exit >= 0 {
		os.Exit(exit)
	}
	return ev.Seq, nil
}

// ListOrdersQuery returns ListOrders' statement and arguments for f.
func ListOrdersQuery(f posbridge.OrderFilter) (string, []any) {
	q, args, _, err := listOrdersQuery(f)
	if err != nil {
		panic(err)
	}
	return q, args
}

// Query is a statement with example arguments.
type Query struct {
	SQL  string
	Args []any
}

// FixedQueries returns the store's other lookups that grow with the
// database, by what they are for.
// NextChecksQuery is the reconciler's next-wake query: a walk of an index in
// order, stopped by its limit.
var NextChecksQuery = nextChecksQuery

func FixedQueries() map[string]Query {
	return map[string]Query{
		"due checks":                   {dueChecksQuery, []any{int64(0), 10}},
		"metrics counts":               {countOrdersQuery, nil},
		"orders to resume at start-up": {resumeQuery, nil},
		"later events of orders":       {undoQuery(true, 2), []any{"A1", "A2", int64(5)}},
		"later events of refunds":      {undoQuery(false, 1), []any{"R1", int64(5)}},
	}
}

// FullSnapshots returns the whole JSON snapshots an event row held before
// migration 0009 (nil for what the event does not carry).
func FullSnapshots(e posbridge.Event) (payment, refund []byte, err error) {
	if e.Payment != nil {
		if payment, err = encodeOrder(e.Payment); err != nil {
			return nil, nil, err
		}
	}
	if e.Refund != nil {
		if refund, err = encodeRefund(e.Refund); err != nil {
			return nil, nil, err
		}
	}
	return payment, refund, nil
}

// OldInboxBody is the body an inbox row held for e before the body left out
// what the row's columns hold.
func OldInboxBody(e posbridge.InboxEntry) ([]byte, error) {
	if e.Notification == nil {
		return []byte{}, nil
	}
	n := e.Notification.Redacted()
	n.ReceivedAt = time.Time{}
	b, err := encodeStoredNotification(n, posbridge.InboxEntry{})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["gateway"], m["id"], m["kind"], m["order_no"] = n.Gateway, n.ID, string(n.Kind), string(n.OrderNo)
	delete(m, "received_at")
	if !e.Notification.ReceivedAt.IsZero() {
		m["received_at"] = e.Notification.ReceivedAt.UnixMilli()
	}
	return json.Marshal(m)
}

// SetBeforeCommit makes the writer call f just before each batch commits.
// Set it before the first write.
func SetBeforeCommit(db *DB, f func()) { db.beforeCommit = f }

// LogColumnWrites makes the database note, in a table column_writes, every
// UPDATE of orders that sets lane, created_at, amount_minor or reference (an
// "UPDATE OF" trigger fires when its column is in the SET list, changed or
// not), and returns a function listing the columns noted.
func LogColumnWrites(ctx context.Context, db *DB) (func() ([]string, error), error) {
	stmts := []string{`CREATE TABLE column_writes (col TEXT NOT NULL)`}
	for _, c := range []string{"lane", "created_at", "amount_minor", "reference"} {
		stmts = append(stmts, `CREATE TRIGGER log_`+c+` AFTER UPDATE OF `+c+` ON orders BEGIN INSERT INTO column_writes VALUES ('`+c+`'); END`)
	}
	for _, q := range stmts {
		if _, err := db.db.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	return func() ([]string, error) {
		rows, err := db.db.QueryContext(ctx, `SELECT col FROM column_writes`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var cols []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return nil, err
			}
			cols = append(cols, c)
		}
		return cols, rows.Err()
	}, nil
}

// TempStores returns PRAGMA temp_store as n connections of db's pool see
// it, all held at once so that the pool opens n of them, and as the
// writer's own connection sees it (last).
func TempStores(ctx context.Context, db *DB, n int) ([]int, error) {
	var got []int
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		var v int
		if err := c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&v); err != nil {
			return nil, err
		}
		got = append(got, v)
	}
	var v int
	if err := db.writerConn.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&v); err != nil {
		return nil, err
	}
	return append(got, v), nil
}
