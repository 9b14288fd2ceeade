package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// TestE2E_CancelSaleTerminalNeverAnswers: the cashier cancels a sale the
// customer has not paid, on a terminal that closes it but never answers
// the closed sale itself (nothing in CodePay's documents says it does).
// The daemon's cancel must end in about one round trip, not after the
// engine's 15 s wait, and leave nothing open at the terminal or the gateway.
func TestE2E_CancelSaleTerminalNeverAnswers(t *testing.T) {
	w := newE2EWorld(t)
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// Only the close may end the sale.
	trace := filepath.Join(w.dir, "lane-1.trace")
	cfg = []byte(strings.Replace(string(cfg), `sale_timeout = "4s"`, `sale_timeout = "2m"`+"\ntrace = "+strconv.Quote(trace), 1))
	if err := os.WriteFile(w.cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	w.sim.SetPersonality(termsim.Personality{Keys: termsim.KeysSnake, AckTick: true, SilentClose: true})
	w.sim.SetDefault(termsim.Script{Action: termsim.Never})
	w.startDaemon(t)
	p := w.post(t, "/api/v1/payments", `{"lane":"1","amount":"19.00","currency":"AED"}`)
	if p.Status != "at_terminal" {
		t.Fatalf("new payment is %s, want at_terminal", p.Status)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := w.sim.Txn(posbridgeOrderNo(p.OrderNo)); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sale never reached the terminal")
		}
	}
	start := time.Now()
	resp, err := http.Post(w.apiURL+"/api/v1/payments/"+p.OrderNo+"/cancel", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK || took > 3*time.Second {
		t.Fatalf("cancel answered %d after %v, want 200 within 3s", resp.StatusCode, took)
	}
	got := w.get(t, p.OrderNo)
	if got.Status != "canceled" {
		t.Fatalf("after cancel: %+v\n%s", got, w.getRaw(t, p.OrderNo))
	}
	if txn, _ := w.sim.Txn(posbridgeOrderNo(p.OrderNo)); txn.Status != "1" {
		t.Fatalf("terminal still has %v", txn)
	}
	if o, ok := w.sb.Order(p.OrderNo); ok && (o.Status == sandbox.StatusPaid || o.Charges != 0) {
		t.Fatalf("gateway has %+v", o)
	}
	t.Logf("cancel took %v", took)
	b, err := os.ReadFile(trace)
	if err != nil || !strings.Contains(string(b), " out 55aa01") || !strings.Contains(string(b), " in  55aa02") {
		t.Fatalf("trace file: %v\n%s", err, b)
	}
}
