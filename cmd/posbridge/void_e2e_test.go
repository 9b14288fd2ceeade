package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
)

// apiCall posts body to the daemon's API and decodes the JSON answer.
func apiCall(t *testing.T, d *daemon.Daemon, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(d.API.URL()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answered %d %s", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// waitRefund waits until the daemon's refund no of order is final.
func waitRefund(t *testing.T, d *daemon.Daemon, order, no posbridge.OrderNo) posbridge.Refund {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rs, err := d.Engine.Refunds(context.Background(), order)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.No == no && r.Status.Final() {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund %s of %s not final: %+v", no, order, rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The whole daemon with CodePay (sandbox) and the simulated terminal on a
// pty: a same-day void and a card-present refund through the API, each
// confirmed by the gateway and never sent to it as a refund; then "posbridge
// day settle" closes lane 1's batch, after which a void is refused with the
// reason and a refund still works.
func TestE2E_VoidRefundAndSettle(t *testing.T) {
	d, w, dir := startCodePayDemo(t)
	voided := payAndWait(t, d, "11.00")
	status, v := apiCall(t, d, "/api/v1/payments/"+string(voided.No)+"/void", `{"reason":"wrong item"}`)
	if status != http.StatusCreated || v["method"] != "terminal_void" {
		t.Fatalf("void: %d %v", status, v)
	}
	if r := waitRefund(t, d, voided.No, posbridge.OrderNo(v["refund_no"].(string))); r.Status != posbridge.RefundSucceeded {
		t.Fatalf("void: %+v", r)
	}
	refunded := payAndWait(t, d, "20.00")
	status, rf := apiCall(t, d, "/api/v1/payments/"+string(refunded.No)+"/refunds", `{"amount":"5.00","reason":"returned","method":"card_present"}`)
	if status != http.StatusCreated || rf["method"] != "terminal_refund" {
		t.Fatalf("card-present refund: %d %v", status, rf)
	}
	if r := waitRefund(t, d, refunded.No, posbridge.OrderNo(rf["refund_no"].(string))); r.Status != posbridge.RefundSucceeded {
		t.Fatalf("card-present refund: %+v", r)
	}
	for _, q := range w.Sandbox.Requests() {
		if strings.HasSuffix(q.Path, "#order.refund.submit") {
			t.Fatalf("a terminal refund was sent to the gateway: %+v", q)
		}
	}

	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	if err := m.Run(context.Background(), []string{"day", "settle", "--config", dir + "/demo.toml", "--lane", "1"}); err != nil {
		t.Fatalf("day settle: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "DEMO-SERIAL-1") || !strings.Contains(out.String(), "Sales") {
		t.Fatalf("day settle printed:\n%s", out.String())
	}
	status, e := apiCall(t, d, "/api/v1/payments/"+string(refunded.No)+"/void", `{"reason":"too late"}`)
	if status != http.StatusConflict {
		t.Fatalf("void after settlement: %d %v", status, e)
	}
	status, rf = apiCall(t, d, "/api/v1/payments/"+string(refunded.No)+"/refunds", `{"amount":"15.00","reason":"the rest","method":"card_present"}`)
	if status != http.StatusCreated {
		t.Fatalf("refund after settlement: %d %v", status, rf)
	}
	if r := waitRefund(t, d, refunded.No, posbridge.OrderNo(rf["refund_no"].(string))); r.Status != posbridge.RefundSucceeded {
		t.Fatalf("refund after settlement: %+v", r)
	}
}
