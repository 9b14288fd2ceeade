package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/posbridge/posbridge"
)

// TestUpdateOrder_ReceivesNotification: a change whose cause receives a
// notification stores the inbox entry, applied, with the order, its event
// and audit row in one commit; a second delivery of the same notification
// writes nothing at all and says ErrNotificationStored.
func TestUpdateOrder_ReceivesNotification(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx := context.Background()
	o := MustCreate(t, db, newOrder("1"))
	n := posbridge.Notification{Gateway: "payby", ID: "n1", Kind: posbridge.NotifyOrder, OrderNo: o.No,
		Status: posbridge.GatewayPaid, Amount: o.Amount, Card: posbridge.Card{Brand: "VISA", Last4: "4242"}}
	entry := posbridge.InboxEntry{Gateway: "payby", NotificationID: "n1", Kind: posbridge.NotifyOrder, OrderNo: o.No,
		Status: string(posbridge.GatewayPaid), Notification: &n, Verified: true}
	c := cause
	c.Applies, c.Receives = &posbridge.InboxMark{Result: posbridge.NotifyApplied}, &entry
	paid := func(o *posbridge.Order) error { o.Status = posbridge.StatusPaid; return nil }

	before := db.WriteStats()
	got, ev, err := db.UpdateOrder(ctx, o.No, c, paid)
	if err != nil || got.Status != posbridge.StatusPaid || ev.Seq == 0 {
		t.Fatalf("update: %s seq %d, %v", got.Status, ev.Seq, err)
	}
	if s := db.WriteStats(); s.Commits-before.Commits != 1 {
		t.Errorf("%d commits for one notification, want 1", s.Commits-before.Commits)
	}
	stored, dup, err := db.ReceiveNotification(ctx, entry)
	if err != nil || !dup || stored.AppliedAt.IsZero() || stored.Result != posbridge.NotifyApplied {
		t.Fatalf("inbox entry: dup %v applied %v result %q, %v", dup, stored.AppliedAt, stored.Result, err)
	}
	if stored.Notification == nil || stored.Notification.Card.Last4 != "4242" {
		t.Errorf("stored notification %+v", stored.Notification)
	}

	events := len(MustEvents(t, db))
	again := func(o *posbridge.Order) error { o.Checks = 99; return nil }
	if _, _, err := db.UpdateOrder(ctx, o.No, c, again); !errors.Is(err, posbridge.ErrNotificationStored) {
		t.Fatalf("second delivery: %v, want ErrNotificationStored", err)
	}
	if _, _, err := db.UpdateOrder(ctx, o.No, c, func(*posbridge.Order) error { return posbridge.ErrNoChange }); !errors.Is(err, posbridge.ErrNotificationStored) {
		t.Fatalf("second delivery, no change: %v, want ErrNotificationStored", err)
	}
	MustCreate(t, db, newOrder("2")) // answered once every earlier batch is committed
	if now, _ := db.Order(ctx, o.No); now.Checks != 0 || now.Version != got.Version {
		t.Errorf("a refused delivery changed the order: checks %d version %d", now.Checks, now.Version)
	}
	if n := len(MustEvents(t, db)); n != events+1 {
		t.Errorf("%d events after a refused delivery and a new order, want %d", n, events+1)
	}

	c.Applies = nil
	if _, _, err := db.UpdateOrder(ctx, o.No, c, again); err == nil {
		t.Error("Receives without Applies was accepted")
	}
}
