package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/posbridge/posbridge/outbox/fleet"
)

// demo --fleet: a payment on the demo till reaches head office's database
// through the embedded NATS server, and `fleet orders` shows it.
func TestDemo_Fleet(t *testing.T) {
	dir := t.TempDir()
	f := &demoFleet{}
	d, _, stop, err := startDemoWorld(context.Background(), demoSetup{dir: dir, listen: "127.0.0.1:0", scenario: "approve",
		logger: slog.New(slog.DiscardHandler), fleet: f})
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	resp, err := http.Post(d.API.URL()+"/api/v1/payments", "application/json", strings.NewReader(`{"lane":"1","amount":"7.25","currency":"AED"}`))
	if err != nil {
		t.Fatal(err)
	}
	var p apiPayment
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if p.OrderNo == "" {
		t.Fatalf("payment not taken: %+v", p)
	}
	waitCond(t, "the paid order in the fleet database", func() bool {
		orders, err := f.DB.Orders(context.Background(), fleet.Filter{})
		return err == nil && len(orders) == 1 && orders[0].No == p.OrderNo && orders[0].Status == "paid" && orders[0].AmountMinor == 725
	})
	var out bytes.Buffer
	if err := (&Main{Stdout: &out, Stderr: &out}).Run(context.Background(), []string{"fleet", "orders", "--db", f.DBPath}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "demo/demo-shop/demo-till-1  "+p.OrderNo+"  paid") {
		t.Errorf("fleet orders:\n%s", out.String())
	}
}
