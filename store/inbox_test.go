package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestDB_ReceiveNotification(t *testing.T) {
	ctx := context.Background()
	db, clock, _ := MustOpen(t)
	in := posbridge.InboxEntry{Gateway: "payby", NotificationID: "N1", Kind: posbridge.NotifyOrder,
		OrderNo: "O1", Status: "SUCCESS", Verified: true, Notification: &posbridge.Notification{
			Gateway: "payby", ID: "N1", Kind: posbridge.NotifyOrder, OrderNo: "O1", GatewayNo: "G1",
			Status: posbridge.GatewayPaid, Amount: posbridge.Money{Minor: 1234, Currency: "AED"},
			Card: posbridge.Card{Brand: "VISA", Last4: "1111"}, SentAt: start.Add(-time.Second).Truncate(time.Millisecond)}}
	first, dup, err := db.ReceiveNotification(ctx, in)
	if err != nil || dup {
		t.Fatalf("first = %v, duplicate %v", err, dup)
	}
	want := in
	want.ID, want.ReceivedAt = first.ID, start.Truncate(time.Millisecond)
	if !reflect.DeepEqual(first, want) {
		t.Errorf("stored\n got %+v\nwant %+v", first, want)
	}

	t.Run("Duplicate", func(t *testing.T) {
		clock.Advance(time.Minute)
		again := in
		again.Notification = &posbridge.Notification{Gateway: "payby", ID: "N1", Status: posbridge.GatewayFailed}
		got, dup, err := db.ReceiveNotification(ctx, again)
		if err != nil || !dup || !reflect.DeepEqual(got, first) {
			t.Errorf("= %+v, %v, %v; want the first entry, duplicate", got, dup, err)
		}
	})
	t.Run("SameIDOtherGateway", func(t *testing.T) {
		other := in
		other.Gateway = "codepay"
		got, dup, err := db.ReceiveNotification(ctx, other)
		if err != nil || dup || got.ID == first.ID {
			t.Errorf("= %+v, %v, %v; want a new entry", got, dup, err)
		}
	})
	for _, tt := range []struct {
		name  string
		entry posbridge.InboxEntry
	}{
		{"ErrNoGateway", posbridge.InboxEntry{NotificationID: "x"}},
		{"ErrNoID", posbridge.InboxEntry{Gateway: "payby"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := db.ReceiveNotification(ctx, tt.entry)
			wantCode(posbridge.EINVALID)(t, err)
		})
	}
	t.Run("Apply", func(t *testing.T) {
		un, err := db.UnappliedNotifications(ctx, 10)
		if err != nil || len(un) != 2 || un[0].ID != first.ID {
			t.Fatalf("unapplied = %+v, %v; want 2, oldest first", un, err)
		}
		at := start.Add(time.Hour).Truncate(time.Millisecond)
		if err := db.MarkNotificationApplied(ctx, first.ID, at, "applied"); err != nil {
			t.Fatal(err)
		}
		// The first mark wins.
		if err := db.MarkNotificationApplied(ctx, first.ID, at.Add(time.Hour), "duplicate"); err != nil {
			t.Fatal(err)
		}
		un, err = db.UnappliedNotifications(ctx, 10)
		if err != nil || len(un) != 1 || un[0].ID == first.ID {
			t.Fatalf("unapplied after apply = %+v, %v", un, err)
		}
		got, _, err := db.ReceiveNotification(ctx, in)
		if err != nil || !got.AppliedAt.Equal(at) || got.Result != "applied" || !got.ReceivedAt.Equal(first.ReceivedAt) {
			t.Errorf("applied entry = %+v, %v; want applied at %v, received unchanged", got, err, at)
		}
	})
	t.Run("ErrApplyNotFound", func(t *testing.T) {
		if err := db.MarkNotificationApplied(ctx, 9999, start, "applied"); !errors.Is(err, posbridge.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestDB_RecordCheck(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	o := MustCreate(t, db, newOrder("1"))
	c1 := posbridge.Check{OrderNo: o.No, Kind: posbridge.CheckQuery, Request: "query", Result: "PAID_SUCCESS", Latency: 1234567 * time.Nanosecond}
	c2 := posbridge.Check{OrderNo: o.No, Kind: posbridge.CheckCancel, At: start.Add(time.Second), Result: "timeout", Err: true}
	for _, c := range []posbridge.Check{c1, c2} {
		if err := db.RecordCheck(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Checks(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	c1.ID, c1.At = 1, start.Truncate(time.Millisecond)
	c2.ID, c2.At = 2, c2.At.Truncate(time.Millisecond)
	if !reflect.DeepEqual(got, []posbridge.Check{c1, c2}) {
		t.Errorf("checks\n got %+v\nwant %+v", got, []posbridge.Check{c1, c2})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		err := db.RecordCheck(ctx, posbridge.Check{OrderNo: "Missing1", Kind: posbridge.CheckQuery})
		if !errors.Is(err, posbridge.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("ErrNoKind", func(t *testing.T) {
		wantCode(posbridge.EINVALID)(t, db.RecordCheck(ctx, posbridge.Check{OrderNo: o.No}))
	})
}

// TestDB_EventsSince_RollbackLeavesNoGap: an event inserted by a transaction
// that rolls back gives its seq back, so committed seqs stay gap-free.
func TestDB_EventsSince_RollbackLeavesNoGap(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	o := MustCreate(t, db, newOrder("1"))
	seq, err := storeWriteWithoutCommit(ctx, db, o.No)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 2 {
		t.Fatalf("uncommitted event took seq %d, want 2", seq)
	}
	MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks = 1 })
	events := MustEvents(t, db)
	assertGapFree(t, events)
	if len(events) != 2 || events[1].Payment.Checks != 1 {
		t.Errorf("events = %+v, want create and the committed update", events)
	}
	t.Run("Paging", func(t *testing.T) {
		for range 5 {
			MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Checks++ })
		}
		got, err := db.EventsSince(ctx, 3, 2)
		if err != nil || len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 {
			t.Fatalf("EventsSince(3, 2) = %+v, %v", got, err)
		}
		last, err := db.LastSeq(ctx)
		if err != nil || last != 7 {
			t.Errorf("LastSeq = %d, %v; want 7", last, err)
		}
		if got, err := db.EventsSince(ctx, last, 10); err != nil || len(got) != 0 {
			t.Errorf("EventsSince(last) = %+v, %v; want none", got, err)
		}
	})
}

// The inbox keeps the decoded notification, never the raw body: a body with
// a card number given to ReceiveNotification must not reach the file.
func TestDB_InboxKeepsNoRawBody(t *testing.T) {
	ctx := context.Background()
	db, _, path := MustOpen(t)
	pan := "4111111111111111"
	n := posbridge.Notification{Gateway: "payby", ID: "N9", Kind: posbridge.NotifyOrder, OrderNo: "O9",
		Status: posbridge.GatewayPaid, Amount: posbridge.Money{Minor: 100, Currency: "AED"},
		Card: posbridge.Card{Brand: "VISA", Last4: "1111"}, Body: []byte(`{"cardNo":"` + pan + `"}`)}
	got, _, err := db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "payby", NotificationID: "N9", Notification: &n})
	if err != nil {
		t.Fatal(err)
	}
	if got.Notification == nil || got.Notification.Body != nil || got.Notification.Status != posbridge.GatewayPaid || got.Notification.Card.Last4 != "1111" {
		t.Fatalf("stored notification %+v", got.Notification)
	}
	db.Close()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(pan)) {
			t.Fatalf("%s holds the card number", f)
		}
	}
}

// A change that applies an inbox entry marks it in the same transaction:
// when the write fails nothing is marked, and a no-change still marks it.
func TestDB_UpdateOrderMarksInboxEntry(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	o := MustCreate(t, db, newOrder("1"))
	e1, _, err := db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "payby", NotificationID: "A"})
	if err != nil {
		t.Fatal(err)
	}
	e2, _, err := db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "payby", NotificationID: "B"})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("refused")
	cause := posbridge.Cause{Actor: posbridge.ActorNotification, Applies: &posbridge.InboxMark{ID: e1.ID, Result: "applied"}}
	if _, _, err := db.UpdateOrder(ctx, o.No, cause, func(*posbridge.Order) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed change: %v", err)
	}
	if un, _ := db.UnappliedNotifications(ctx, 10); len(un) != 2 {
		t.Fatalf("a failed change marked its notification: %d unapplied", len(un))
	}
	if _, _, err := db.UpdateOrder(ctx, o.No, cause, func(o *posbridge.Order) error { o.NeedsAttention = true; o.Attention = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	cause.Applies = &posbridge.InboxMark{ID: e2.ID, Result: "duplicate"}
	if _, _, err := db.UpdateOrder(ctx, o.No, cause, func(*posbridge.Order) error { return posbridge.ErrNoChange }); err != nil {
		t.Fatal(err)
	}
	if un, _ := db.UnappliedNotifications(ctx, 10); len(un) != 0 {
		t.Fatalf("%d entries still unapplied", len(un))
	}
}
