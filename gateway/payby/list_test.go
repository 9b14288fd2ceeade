package payby_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// listAll pages through a day's orders with pages of size.
func listAll(t *testing.T, c *payby.Client, day string, size int) ([]posbridge.ListedOrder, int) {
	t.Helper()
	var all []posbridge.ListedOrder
	pages := 0
	for n := 0; ; n++ {
		p, err := c.ListOrders(context.Background(), posbridge.DayQuery{From: day, To: day, Page: n, Size: size})
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		pages++
		all = append(all, p.Orders...)
		if n+1 >= p.TotalPages {
			if p.Total != len(all) {
				t.Fatalf("total %d, listed %d", p.Total, len(all))
			}
			return all, pages
		}
	}
}

func TestClient_ListOrdersPagesThroughTheDay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Two orders the day before, five on the day (paid, failed, created,
	// settled, revoked), one the day after.
	e.record(t, "D0A", posbridge.GatewayPaid)
	e.record(t, "D0B", posbridge.GatewayFailed)
	e.clock.Advance(24 * time.Hour)
	for _, no := range []string{"D1A", "D1B", "D1C", "D1D", "D1E"} {
		e.record(t, no, posbridge.GatewayCreated)
	}
	for _, step := range []struct {
		no string
		do func(string) error
	}{
		{"D1A", func(no string) error { return e.sb.Pay(no, posbridge.Card{Brand: "MASTERCARD", Last4: "5454"}) }},
		{"D1B", e.sb.Fail},
		{"D1D", func(no string) error {
			if err := e.sb.Pay(no, posbridge.Card{}); err != nil {
				return err
			}
			return e.sb.Settle(no)
		}},
	} {
		if err := step.do(step.no); err != nil {
			t.Fatalf("%s: %v", step.no, err)
		}
	}
	if _, err := e.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1A", OrderNo: "D1A", Amount: aed(t, "2.50")}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)
	e.record(t, "D2A", posbridge.GatewayPaid)

	all, pages := listAll(t, e.client, "2026-01-02", 2)
	if pages != 3 || len(all) != 5 {
		t.Fatalf("pages %d, orders %d; want 3 pages of 5 orders", pages, len(all))
	}
	want := map[posbridge.OrderNo]posbridge.GatewayStatus{"D1A": posbridge.GatewayPaid, "D1B": posbridge.GatewayFailed,
		"D1C": posbridge.GatewayCreated, "D1D": posbridge.GatewaySettled, "D1E": posbridge.GatewayCreated}
	for _, o := range all {
		if w, ok := want[o.OrderNo]; !ok || o.Status != w {
			t.Errorf("order %s %s; want %v", o.OrderNo, o.Status, w)
		}
		delete(want, o.OrderNo)
		if o.Amount != aed(t, "12.50") || o.GatewayNo == "" || o.CreatedAt.IsZero() {
			t.Errorf("order %s: amount %s, gateway no %q, created %v", o.OrderNo, o.Amount, o.GatewayNo, o.CreatedAt)
		}
		if o.OrderNo == "D1A" && o.Card != (posbridge.Card{Brand: "MASTERCARD", Last4: "5454"}) {
			t.Errorf("D1A card %+v", o.Card)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing %v", want)
	}

	rp, err := e.client.ListRefunds(ctx, posbridge.DayQuery{From: "2026-01-02", To: "2026-01-02", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Refunds) != 1 || rp.Refunds[0].RefundNo != "R1A" || rp.Refunds[0].OrderNo != "D1A" ||
		rp.Refunds[0].Amount != aed(t, "2.50") || rp.TotalPages != 1 {
		t.Fatalf("refunds %+v", rp)
	}
	rp, err = e.client.ListRefunds(ctx, posbridge.DayQuery{From: "2026-01-03", To: "2026-01-03", Size: 10})
	if err != nil || len(rp.Refunds) != 0 || rp.TotalPages != 0 {
		t.Fatalf("refunds of the next day %+v, %v", rp, err)
	}
}

func TestClient_ListOrdersRefusesBadQueries(t *testing.T) {
	e := newEnv(t)
	for _, q := range []posbridge.DayQuery{
		{From: "2026-1-2", To: "2026-01-02", Size: 10},
		{From: "2026-01-02", To: "yesterday", Size: 10},
		{From: "2026-01-02", To: "2026-01-02", Size: 0},
		{From: "2026-01-02", To: "2026-01-02", Size: payby.MaxPageSize + 1},
		{From: "2026-01-02", To: "2026-01-02", Size: 10, Page: -1},
	} {
		_, err := e.client.ListOrders(context.Background(), q)
		assertClass(t, err, posbridge.ErrGatewayFinal)
	}
	if n := len(e.sb.Requests()); n != 0 {
		t.Fatalf("%d requests sent for bad queries", n)
	}
}

func TestClient_ListOrdersFaultsAreUnknown(t *testing.T) {
	e := newEnv(t)
	e.record(t, "F1", posbridge.GatewayPaid)
	q := posbridge.DayQuery{From: "2026-01-01", To: "2026-01-01", Size: 10}
	for _, f := range []sandbox.Fault{{Kind: sandbox.FaultMalformed}, {Kind: sandbox.FaultBadSign}, {Kind: sandbox.FaultCode, Code: "500"}} {
		if err := e.sb.SetFault(payby.PathQueryOrderPage, f); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.ListOrders(context.Background(), q)
		assertClass(t, err, posbridge.ErrUnknownOutcome)
	}
	if err := e.sb.SetFault(payby.PathQueryRefundPage, sandbox.Fault{Kind: sandbox.FaultCode, Code: "402"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.ListRefunds(context.Background(), q)
	assertClass(t, err, posbridge.ErrRetryable)
}

// FuzzListPage decodes arbitrary list answers: never a panic, and an item
// that cannot be read is never dropped silently.
func FuzzListPage(f *testing.F) {
	f.Add([]byte(`{"totalElements":1,"totalPages":1,"items":[{"merchantOrderNo":"A1","orderNo":"131","status":"PAID_SUCCESS","totalAmount":{"currency":"AED","amount":2.25},"requestTime":1658519999999,"deviceId":"20001019"}]}`))
	f.Add([]byte(`{"totalElements":1,"totalPages":1,"items":[{"merchantOrderNo":"A1","status":"WHAT"}]}`))
	f.Add([]byte(`{"items":[{"refundMerchantOrderNo":"R1","orderNo":"19","status":"SUCCESS","amount":{"currency":"AED","amount":"0.01"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p payby.Page[payby.ListedOrder]
		if json.Unmarshal(body, &p) == nil {
			for i := range p.Items {
				g, err := p.Items[i].Gateway()
				if err == nil && (g.OrderNo == "" || g.Amount.Currency == "") {
					t.Fatalf("item %d read without number or amount: %+v", i, g)
				}
			}
		}
		var r payby.Page[payby.ListedRefund]
		if json.Unmarshal(body, &r) == nil {
			for i := range r.Items {
				g, err := r.Items[i].Gateway()
				if err == nil && (g.RefundNo == "" || g.Amount.Currency == "") {
					t.Fatalf("refund %d read without number or amount: %s", i, fmt.Sprint(g))
				}
			}
		}
	})
}
