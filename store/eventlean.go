package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// Lean event rows (migration 0009). An event row keeps, for its order and
// its refund, only what the change changed: the changed fields' values
// before it, an "undo" (a JSON object of snapshot fields, named by undoKeys;
// null for a field the snapshot did not have). A new order or refund, and
// one the event did not change, has an empty undo. Every change of an order or refund row
// appends exactly one such event in the same transaction, so the snapshot
// after the change an event records is the current row with the undos of
// the later events of the same order (or refund) applied, newest first.
// Pruning removes only the oldest events, never a later one, so every kept
// event can be rebuilt. Rows written before 0009 keep their whole snapshot.

// undoKeys names the snapshot fields in an undo by their index here (in
// decimal: "13" is updated_at), which makes a row a third of what the
// fields' names would. Stored rows depend on it: append only, never reorder.
// A field not listed is named in full.
var undoKeys = []string{
	"order_no", "lane", "amount", "reference", "status", "reason", "terminal_outcome", "needs_attention",
	"attention", "checks", "next_check_at", "verify_until", "created_at", "updated_at", "paid_at",
	"card_brand", "card_last4", "refunded", "gateway_no", "terminal_no", "idempotency_key", "request_hash",
	"attempts", "scheduled_checks", "override", "version", "refund_no", "actor",
}

// undoCode is the key under which field name is stored in an undo.
var undoCode = func() map[string]string {
	m := make(map[string]string, len(undoKeys))
	for i, k := range undoKeys {
		m[k] = strconv.Itoa(i)
	}
	return m
}()

// undoField is the snapshot field an undo's key names.
func undoField(key string) string {
	if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(undoKeys) {
		return undoKeys[i]
	}
	return key
}

// coded is the key that stores field name in an undo.
func coded(name string) string {
	if c, ok := undoCode[name]; ok {
		return c
	}
	return name
}

// undoOf returns the undo from after back to before, two encoded snapshots:
// the fields whose values differ, with before's values, under their codes;
// the fields before did not have listed under "-". The version is left out
// when the change bumped it by one, as every change does (applyUndo puts it
// back). before nil (a new order or refund) gives an empty undo.
func undoOf(before, after []byte) ([]byte, error) {
	if before == nil {
		return []byte("{}"), nil
	}
	// Split, not decoded: every change of an order or refund compares two
	// snapshots, and encoding/json's decoding into maps was a tenth of a
	// notification's CPU.
	b, err := objectMembers(before)
	if err != nil {
		return nil, fmt.Errorf("undo: %w", err)
	}
	a, err := objectMembers(after)
	if err != nil {
		return nil, fmt.Errorf("undo: %w", err)
	}
	u := map[string]any{}
	for k, v := range b {
		if w, ok := a[k]; !ok || !bytes.Equal(v, w) {
			u[coded(k)] = v
		}
	}
	var absent []string
	for k := range a {
		if _, ok := b[k]; !ok {
			absent = append(absent, coded(k))
		}
	}
	if len(absent) > 0 {
		slices.Sort(absent)
		u["-"] = absent
	}
	bv, av := version(b), version(a)
	vk := coded("version")
	switch {
	case len(u) > 1 && bv == av-1:
		delete(u, vk) // put back by applyUndo
	case len(u) > 0 && bv == av:
		u[vk] = b["version"] // said, so that applyUndo does not take one off
	}
	out, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("undo: %w", err)
	}
	return out, nil
}

// version reads a snapshot's version (-1 when it has none).
func version(m map[string]json.RawMessage) int64 {
	v, err := strconv.ParseInt(string(m["version"]), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// applyUndo turns snapshot fields m back to what they were before the
// change undo records.
func applyUndo(m map[string]json.RawMessage, undo string) error {
	var u map[string]json.RawMessage
	if err := json.Unmarshal([]byte(undo), &u); err != nil {
		return fmt.Errorf("decode event undo: %w", err)
	}
	if len(u) == 0 {
		return nil // the event did not change it
	}
	if _, ok := u[coded("version")]; !ok {
		m["version"] = json.RawMessage(strconv.FormatInt(version(m)-1, 10))
	}
	for k, v := range u {
		if k == "-" {
			var absent []string
			if err := json.Unmarshal(v, &absent); err != nil {
				return fmt.Errorf("decode event undo: %w", err)
			}
			for _, a := range absent {
				delete(m, undoField(a))
			}
			continue
		}
		m[undoField(k)] = v
	}
	return nil
}

// eventRow is an event as stored, before its snapshots are rebuilt.
type eventRow struct {
	seq                     int64
	typ                     string
	at                      int64
	orderNo, refundNo       string
	payment, refund         sql.NullString // whole snapshots (rows before 0009)
	paymentUndo, refundUndo sql.NullString
}

// eventRowColumns are what scanEventRow reads, from events aliased e.
const eventRowColumns = `e.seq, e.type, e.at, e.order_no, e.refund_no, e.payment, e.refund, e.payment_undo, e.refund_undo`

func scanEventRow(s scanner) (eventRow, error) {
	var r eventRow
	err := s.Scan(&r.seq, &r.typ, &r.at, &r.orderNo, &r.refundNo, &r.payment, &r.refund, &r.paymentUndo, &r.refundUndo)
	return r, err
}

// readEvents runs query (selecting eventRowColumns) and returns its events
// with their snapshots, read in one snapshot of the database so that the
// current rows and the later events' undos agree with each other.
func (db *DB) readEvents(ctx context.Context, query string, args ...any) ([]posbridge.Event, error) {
	tx, end, err := db.readSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var stored []eventRow
	for rows.Next() {
		r, err := scanEventRow(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		stored = append(stored, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	payments, err := rebuild(ctx, tx, stored, true)
	if err != nil {
		return nil, err
	}
	refunds, err := rebuild(ctx, tx, stored, false)
	if err != nil {
		return nil, err
	}
	events := make([]posbridge.Event, 0, len(stored))
	for _, r := range stored {
		e := posbridge.Event{Seq: r.seq, Type: posbridge.EventType(r.typ), At: time.UnixMilli(r.at).UTC()}
		if r.payment.Valid {
			if e.Payment, err = decodeOrder([]byte(r.payment.String)); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
		} else if b, ok := payments[r.seq]; ok {
			if e.Payment, err = decodeOrder(b); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
		}
		if r.refund.Valid {
			if e.Refund, err = decodeRefund([]byte(r.refund.String)); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
		} else if b, ok := refunds[r.seq]; ok {
			if e.Refund, err = decodeRefund(b); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
		}
		events = append(events, e)
	}
	return events, nil
}

// readSnapshot returns a pooled connection inside a deferred (read)
// transaction: every query on it sees the database as of its first read,
// and it never takes the write lock (the DSN's _txlock makes BeginTx
// immediate, which would queue readers behind the writer). end rolls the
// transaction back and returns the connection to the pool.
func (db *DB) readSnapshot(ctx context.Context) (*sql.Conn, func(), error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) // never back to the pool mid-transaction
		}
		conn.Close()
	}, nil
}

// rebuild returns the encoded order (payments) or refund snapshot of each
// lean event of stored, by seq: the current row undone by the later events
// of the same order or refund, newest first.
func rebuild(ctx context.Context, tx *sql.Conn, stored []eventRow, payments bool) (map[int64][]byte, error) {
	want := map[string][]int64{} // number → seqs of lean events, ascending
	minSeq := int64(-1)
	for _, r := range stored {
		no, undo := r.refundNo, r.refundUndo
		if payments {
			no, undo = r.orderNo, r.paymentUndo
		}
		if no == "" || !undo.Valid {
			continue
		}
		want[no] = append(want[no], r.seq)
		if minSeq < 0 || r.seq < minSeq {
			minSeq = r.seq
		}
	}
	out := map[int64][]byte{}
	if len(want) == 0 {
		return out, nil
	}
	nos := slices.Sorted(maps.Keys(want))
	args := make([]any, 0, len(nos)+1)
	for _, no := range nos {
		args = append(args, no)
	}
	in := `(` + placeholders(len(nos)) + `)`

	current := map[string]map[string]json.RawMessage{}
	table, cols, key := `refunds`, refundColumns, `refund_no`
	if payments {
		table, cols, key = `orders`, orderColumns, `order_no`
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM `+table+` WHERE `+key+` IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("read current %s: %w", table, err)
	}
	for rows.Next() {
		var (
			no  string
			doc []byte
		)
		if payments {
			o, err := scanOrder(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			no = string(o.No)
			doc, err = encodeOrder(&o)
			if err != nil {
				rows.Close()
				return nil, err
			}
		} else {
			r, err := scanRefund(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			no = string(r.No)
			doc, err = encodeRefund(&r)
			if err != nil {
				rows.Close()
				return nil, err
			}
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			rows.Close()
			return nil, err
		}
		current[no] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read current %s: %w", table, err)
	}

	// The undos of every event of these numbers after the oldest wanted one,
	// newest first.
	rows, err = tx.QueryContext(ctx, undoQuery(payments, len(nos)), append(args, minSeq)...)
	if err != nil {
		return nil, fmt.Errorf("read event undos: %w", err)
	}
	defer rows.Close()
	next := map[string]int{} // number → index into want[number] still to emit, from the end
	for no, seqs := range want {
		next[no] = len(seqs) - 1
	}
	emit := func(no string, above int64) error {
		// Emits every wanted event of no whose seq is >= above: the state
		// now is the state after each of them.
		m, ok := current[no]
		if !ok {
			return fmt.Errorf("event of %s %s: %w", strings.TrimSuffix(table, "s"), no, posbridge.ErrNotFound)
		}
		for ; next[no] >= 0 && want[no][next[no]] >= above; next[no]-- {
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			out[want[no][next[no]]] = b
		}
		return nil
	}
	for rows.Next() {
		var (
			seq  int64
			no   string
			undo sql.NullString
		)
		if err := rows.Scan(&seq, &no, &undo); err != nil {
			return nil, err
		}
		if err := emit(no, seq); err != nil {
			return nil, err
		}
		if !undo.Valid {
			continue // a row before 0009: never later than a lean one
		}
		if m, ok := current[no]; ok {
			if err := applyUndo(m, undo.String); err != nil {
				return nil, fmt.Errorf("event %d: %w", seq, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read event undos: %w", err)
	}
	for _, no := range nos {
		if err := emit(no, minSeq); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// undoQuery selects the undos of the events of n orders (or refunds) after a
// seq, newest first: the arguments are the n numbers, then the seq.
func undoQuery(payments bool, n int) string {
	key, undo := `refund_no`, `refund_undo`
	if payments {
		key, undo = `order_no`, `payment_undo`
	}
	// "!= ''" lets the planner use the partial index.
	return `SELECT seq, ` + key + `, ` + undo + ` FROM events WHERE ` + key + ` != '' AND ` + key + ` IN (` + placeholders(n) + `) AND seq > ? ORDER BY seq DESC`
}
