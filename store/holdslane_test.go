package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/posbridge/posbridge"
)

// OrderFilter.HoldsLane selects exactly the orders Order.HoldsLane says hold
// their lane (the SQL and the Go must not drift apart), on that lane only.
func TestDB_ListOrdersHoldingALane(t *testing.T) {
	db, _, _ := MustOpen(t)
	ctx := context.Background()
	statuses := []posbridge.Status{posbridge.StatusCreated, posbridge.StatusAtTerminal, posbridge.StatusVerifying,
		posbridge.StatusPending, posbridge.StatusPaid, posbridge.StatusFailed, posbridge.StatusCanceled}
	reasons := []posbridge.Reason{"", posbridge.ReasonUnconfirmed, posbridge.ReasonPartiallyPaid, posbridge.ReasonDeclined, posbridge.ReasonCancelSent}
	var want []posbridge.OrderNo
	for _, lane := range []string{"1", "2"} {
		for _, st := range statuses {
			for _, r := range reasons {
				o := MustCreate(t, db, newOrder(lane))
				o = MustUpdate(t, db, o.No, func(o *posbridge.Order) { o.Status, o.Reason = st, r })
				if lane == "1" && o.HoldsLane() {
					want = append(want, o.No)
				}
			}
		}
	}
	page, err := db.ListOrders(ctx, posbridge.OrderFilter{Lane: "1", HoldsLane: true, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var got []posbridge.OrderNo
	for _, o := range page.Orders {
		got = append(got, o.No)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || len(want) != 3*len(reasons)+len(reasons)-2 {
		t.Fatalf("orders holding lane 1:\n got %v\nwant %v", got, want)
	}
}
