package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

func TestDB_CreateOrder(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	used := newOrder("1")
	used.IdempotencyKey, used.RequestHash = "key-1", "hash-1"
	MustCreate(t, db, used)

	tests := []struct {
		name  string
		order func() *posbridge.Order
		check func(t *testing.T, err error)
	}{
		{"OK", func() *posbridge.Order { return newOrder("1") }, nil},
		{"OKWithKey", func() *posbridge.Order {
			o := newOrder("2")
			o.IdempotencyKey, o.RequestHash = "key-2", "hash-2"
			return o
		}, nil},
		{"ErrIdempotencyKeyUsed", func() *posbridge.Order {
			o := newOrder("1")
			o.IdempotencyKey, o.RequestHash = "key-1", "other"
			return o
		}, func(t *testing.T, err error) {
			var ie *posbridge.IdempotencyError
			if !errors.As(err, &ie) || !errors.Is(err, posbridge.ErrIdempotencyKeyUsed) {
				t.Fatalf("err = %v, want *IdempotencyError", err)
			}
			if ie.OrderNo != used.No || ie.RequestHash != "hash-1" || ie.Key != "key-1" {
				t.Errorf("IdempotencyError = %+v, want order %s hash-1", ie, used.No)
			}
		}},
		{"ErrOrderExists", func() *posbridge.Order { o := newOrder("1"); o.No = used.No; return o }, wantCode(posbridge.ECONFLICT)},
		{"ErrInvalidNo", func() *posbridge.Order { o := newOrder("1"); o.No = "bad-no"; return o }, wantIs(posbridge.ErrInvalidOrderNo)},
		{"ErrNoLane", func() *posbridge.Order { return newOrder("") }, wantCode(posbridge.EINVALID)},
		{"ErrZeroAmount", func() *posbridge.Order { o := newOrder("1"); o.Amount.Minor = 0; return o }, wantIs(posbridge.ErrZeroAmount)},
		{"ErrUnknownCurrency", func() *posbridge.Order { o := newOrder("1"); o.Amount.Currency = "XXX"; return o }, wantIs(posbridge.ErrUnknownCurrency)},
		{"ErrNotCreated", func() *posbridge.Order { o := newOrder("1"); o.Status = posbridge.StatusPaid; return o }, wantCode(posbridge.EINVALID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := MustEvents(t, db)
			o := tt.order()
			ev, err := db.CreateOrder(ctx, o, cause)
			if tt.check != nil {
				tt.check(t, err)
				if after := MustEvents(t, db); len(after) != len(before) {
					t.Errorf("a refused create stored %d events", len(after)-len(before))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Version != 1 || o.Status != posbridge.StatusCreated || !o.CreatedAt.Equal(start.Truncate(time.Millisecond)) {
				t.Errorf("created order = %+v, want version 1, created, CreatedAt now", o)
			}
			if o.Refunded != (posbridge.Money{Currency: "AED"}) {
				t.Errorf("Refunded = %+v, want 0 AED", o.Refunded)
			}
			got, err := db.Order(ctx, o.No)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, *o) {
				t.Errorf("stored\n got %+v\nwant %+v", got, *o)
			}
			if ev.Type != posbridge.EventPayment || ev.Seq != int64(len(before)+1) || !reflect.DeepEqual(*ev.Payment, *o) {
				t.Errorf("event = %+v, want payment event %d with the order", ev, len(before)+1)
			}
			audit, err := db.Audit(ctx, o.No)
			if err != nil || len(audit) != 1 || audit[0].To != posbridge.StatusCreated || audit[0].Cause != cause {
				t.Errorf("audit = %+v, %v", audit, err)
			}
		})
	}
}

func wantCode(code string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if got := posbridge.ErrorCode(err); got != code {
			t.Fatalf("err = %v (code %q), want code %q", err, got, code)
		}
	}
}

func wantIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("err = %v, want %v", err, target)
		}
	}
}

func TestDB_UpdateOrder(t *testing.T) {
	ctx := context.Background()
	errBoom := errors.New("boom")
	tests := []struct {
		name  string
		no    func(o posbridge.Order) posbridge.OrderNo
		fn    func(*posbridge.Order) error
		check func(t *testing.T, err error)
		write bool
	}{
		{"OK", nil, func(o *posbridge.Order) error { o.Status = posbridge.StatusAtTerminal; o.Attempts = 1; return nil }, nil, true},
		{"NoChange", nil, func(o *posbridge.Order) error { o.Checks = 42; return posbridge.ErrNoChange }, nil, false},
		{"ErrFromFn", nil, func(o *posbridge.Order) error { o.Checks = 42; return errBoom }, func(t *testing.T, err error) {
			if err != errBoom {
				t.Fatalf("err = %v, want the fn's error as is", err)
			}
		}, false},
		{"ErrNotFound", func(posbridge.Order) posbridge.OrderNo { return "Missing1" }, func(*posbridge.Order) error { return nil }, wantIs(posbridge.ErrNotFound), false},
		{"ErrChangeNo", nil, func(o *posbridge.Order) error { o.No = "Other1"; return nil }, wantCode(posbridge.EINVALID), false},
		{"ErrChangeAmount", nil, func(o *posbridge.Order) error { o.Amount.Minor++; return nil }, wantCode(posbridge.EINVALID), false},
		{"ErrChangeRefunded", nil, func(o *posbridge.Order) error { o.Refunded.Minor = 1; return nil }, wantCode(posbridge.EINVALID), false},
		{"ErrBadStatus", nil, func(o *posbridge.Order) error { o.Status = "lost"; return nil }, wantCode(posbridge.EINVALID), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, clock, _ := MustOpen(t)
			o := MustCreate(t, db, newOrder("1"))
			clock.Advance(1500 * time.Microsecond)
			no := o.No
			if tt.no != nil {
				no = tt.no(o)
			}
			got, ev, err := db.UpdateOrder(ctx, no, cause, tt.fn)
			if tt.check != nil {
				tt.check(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			stored, serr := db.Order(ctx, o.No)
			if serr != nil {
				t.Fatal(serr)
			}
			events := MustEvents(t, db)
			audit, _ := db.Audit(ctx, o.No)
			if !tt.write {
				if !reflect.DeepEqual(stored, o) || len(events) != 1 || len(audit) != 1 {
					t.Errorf("a refused update wrote: order %+v, %d events, %d audit rows", stored, len(events), len(audit))
				}
				if tt.check == nil && (!reflect.DeepEqual(got, o) || ev != (posbridge.Event{})) {
					t.Errorf("ErrNoChange returned %+v, %+v; want the loaded order and a zero event", got, ev)
				}
				return
			}
			if got.Version != 2 || !got.UpdatedAt.Equal(start.Add(1500*time.Microsecond).Truncate(time.Millisecond)) {
				t.Errorf("updated = version %d at %v, want 2 at now", got.Version, got.UpdatedAt)
			}
			if !reflect.DeepEqual(stored, got) || !reflect.DeepEqual(*ev.Payment, got) || ev.Seq != 2 {
				t.Errorf("stored %+v, event %+v; want both equal to %+v", stored, ev, got)
			}
			want := posbridge.AuditEntry{ID: 2, OrderNo: o.No, At: got.UpdatedAt, Cause: cause,
				From: posbridge.StatusCreated, To: posbridge.StatusAtTerminal, Version: 2}
			if len(audit) != 2 || audit[1] != want {
				t.Errorf("audit = %+v, want second row %+v", audit, want)
			}
		})
	}
}

// TestDB_UpdateOrder_ConcurrentWriters: 8 goroutines, half through a second
// DB on the same file, each add 1 to Checks; no update may be lost and the
// event seqs must be gap-free, one per update, in the order of the updates.
func TestDB_UpdateOrder_ConcurrentWriters(t *testing.T) {
	const goroutines, each = 8, 25
	ctx := context.Background()
	db, _, path := MustOpen(t)
	other := MustOpenAt(t, path, store.Options{})
	o := MustCreate(t, db, newOrder("1"))

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		s := db
		if g%2 == 1 {
			s = other // half the writers come through another pool, as a second process would
		}
		wg.Go(func() {
			for range each {
				if _, _, err := s.UpdateOrder(ctx, o.No, cause, func(o *posbridge.Order) error { o.Checks++; return nil }); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := db.Order(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	if got.Checks != goroutines*each || got.Version != goroutines*each+1 {
		t.Errorf("Checks = %d, Version = %d; want %d, %d (an update was lost)", got.Checks, got.Version, goroutines*each, goroutines*each+1)
	}
	events := MustEvents(t, db)
	assertGapFree(t, events)
	for i, e := range events {
		if e.Payment.Checks != i || e.Payment.Version != int64(i+1) {
			t.Fatalf("event %d: Checks %d, Version %d; want %d, %d", e.Seq, e.Payment.Checks, e.Payment.Version, i, i+1)
		}
	}
}

// TestDB_UpdateOrder_DecidedAgainWhenTheOrderMovedOn: UpdateOrder decides a
// change on the order as last committed before its write's turn; when
// another write changes the order in between, the early decision is stale
// and must be made again on the order as it is, never written over it.
// Here fn's first call itself makes that other write.
func TestDB_UpdateOrder_DecidedAgainWhenTheOrderMovedOn(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	o := MustCreate(t, db, newOrder("1"))
	var seen []int
	got, ev, err := db.UpdateOrder(ctx, o.No, cause, func(x *posbridge.Order) error {
		seen = append(seen, x.Checks)
		if len(seen) == 1 {
			if _, _, err := db.UpdateOrder(ctx, o.No, cause, func(y *posbridge.Order) error {
				y.Checks += 10
				y.NeedsAttention, y.Attention = true, "moved on"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		x.Checks++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 10}; !slices.Equal(seen, want) {
		t.Errorf("fn saw Checks %v; want %v (decided again on the order as it was in the turn)", seen, want)
	}
	stored, err := db.Order(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []posbridge.Order{got, stored, *ev.Payment} {
		if x.Checks != 11 || !x.NeedsAttention || x.Version != o.Version+2 {
			t.Errorf("Checks %d, NeedsAttention %v, Version %d; want 11, true, %d (the other write was lost)", x.Checks, x.NeedsAttention, x.Version, o.Version+2)
		}
	}
	events := MustEvents(t, db)
	assertGapFree(t, events)
	if len(events) != 3 {
		t.Errorf("%d events; want 3 (created, the other write, this one)", len(events))
	}
}

// TestDB_Order_RoundTrip sets every field of an order and expects the row,
// the returned order and the event snapshot to agree exactly.
func TestDB_Order_RoundTrip(t *testing.T) {
	ctx := context.Background()
	db, clock, _ := MustOpen(t)
	o := newOrder("lane7")
	o.Reference = "receipt 42 ✓"
	o.IdempotencyKey, o.RequestHash = "idem", "sha256:abc"
	o.CreatedAt = start.Add(-time.Minute).In(time.FixedZone("GST", 4*3600))
	MustCreate(t, db, o)
	clock.Advance(time.Second)
	full := func(o *posbridge.Order) error {
		o.Status = posbridge.StatusPaid
		o.Reason = posbridge.ReasonPaidAfterClose
		o.TerminalOutcome = posbridge.OutcomeTimeout
		o.NeedsAttention = true
		o.Attention = "late"
		o.Checks = 7
		o.NextCheckAt = start.Add(5 * time.Second)
		o.VerifyUntil = start.Add(time.Minute)
		o.PaidAt = start.Add(2 * time.Second)
		o.Card = posbridge.Card{Brand: "VISA", Last4: "4242"}
		o.GatewayNo = "G123"
		o.TerminalNo = "T456"
		o.Attempts = 2
		o.ScheduledChecks = 3
		o.Override = &posbridge.Override{By: "amal", Reason: "saw approved", At: start.Add(3 * time.Second)}
		o.PaymentURL = "https://pay.example/tok/abc?x=1"
		o.PaymentExpiresAt = start.Add(5 * time.Minute)
		return nil
	}
	got, ev, err := db.UpdateOrder(ctx, o.No, cause, full)
	if err != nil {
		t.Fatal(err)
	}
	// A field added to posbridge.Order must be added to the store too.
	v := reflect.ValueOf(got)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("field %s is zero after a full update; set it in this test and store it", v.Type().Field(i).Name)
		}
	}
	stored, err := db.Order(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	events := MustEvents(t, db)
	for name, x := range map[string]posbridge.Order{"stored": stored, "event": *ev.Payment, "replayed event": *events[1].Payment} {
		if !reflect.DeepEqual(x, got) {
			t.Errorf("%s order differs:\n got %+v\nwant %+v", name, x, got)
		}
	}
	if got.CreatedAt.Location() != time.UTC && got.CreatedAt.Location().String() != "UTC" {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
}
