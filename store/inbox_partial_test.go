package store_test

import (
	"context"
	"testing"

	"github.com/posbridge/posbridge"
)

// A partially paid notification keeps the amount received through the
// inbox; a received amount in another currency is refused.
func TestDB_InboxKeepsReceivedAmount(t *testing.T) {
	ctx := context.Background()
	db, _, _ := MustOpen(t)
	n := posbridge.Notification{Gateway: "payprotocol", ID: "pp-1", Kind: posbridge.NotifyOrder, OrderNo: "P1",
		Status: posbridge.GatewayPartiallyPaid, Amount: posbridge.Money{Minor: 1000, Currency: "AED"}, Received: posbridge.Money{Minor: 600, Currency: "AED"}}
	got, _, err := db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "payprotocol", NotificationID: "pp-1", Kind: posbridge.NotifyOrder, OrderNo: "P1", Notification: &n})
	if err != nil {
		t.Fatal(err)
	}
	if got.Notification == nil || got.Notification.Received != n.Received || got.Notification.Status != posbridge.GatewayPartiallyPaid {
		t.Fatalf("stored notification %+v", got.Notification)
	}
	entries, err := db.UnappliedNotifications(ctx, 10)
	if err != nil || len(entries) != 1 || entries[0].Notification == nil || entries[0].Notification.Received != n.Received {
		t.Fatalf("read back %+v, %v", entries, err)
	}
	bad := n
	bad.ID, bad.Received = "pp-2", posbridge.Money{Minor: 600, Currency: "USD"}
	_, _, err = db.ReceiveNotification(ctx, posbridge.InboxEntry{Gateway: "payprotocol", NotificationID: "pp-2", Notification: &bad})
	wantCode(posbridge.EINVALID)(t, err)
}
