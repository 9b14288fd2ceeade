package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
)

// "posbridge sandbox" serves Pay Protocol beside PayBy and names in
// sandbox.json what its client needs: a client configured from it opens
// an order, the page pays it through the control API, and detail says paid.
func TestSandbox_PayProtocolCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"sandbox", "--listen", "127.0.0.1:0", "--dir", dir}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox ended with %v\n%s", err, out.String())
		}
	}()
	var raw []byte
	for deadline := time.Now().Add(60 * time.Second); ; {
		var err error
		if raw, err = os.ReadFile(filepath.Join(dir, "sandbox.json")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("sandbox ended early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no sandbox.json")
		}
	}
	var info struct {
		PayBy struct {
			BaseURL string `json:"base_url"`
		} `json:"payby"`
		PayProtocol sandboxPayProtocolInfo `json:"payprotocol"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatalf("sandbox.json: %v\n%s", err, raw)
	}
	pp := info.PayProtocol
	c, err := payprotocol.New(payprotocol.Config{BaseURL: pp.BaseURL, PageURL: pp.PageURL, APIKey: pp.APIKey, SecretFile: pp.SecretFile, ChainID: 1, RatePerSecond: -1})
	if err != nil {
		t.Fatalf("client from sandbox.json %s: %v", raw, err)
	}
	amount, _ := posbridge.ParseAmount("8.00", "AED")
	h, err := c.CreateHostedOrder(ctx, posbridge.HostedOrderRequest{OrderNo: "SBXPP1", Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(h.URL); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("page %s: %v %v", h.URL, resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Post(pp.ControlURL+"/orders/SBXPP1/pay", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("control pay: %v %v", resp, err)
	}
	resp.Body.Close()
	if g, err := c.QueryOrder(ctx, "SBXPP1"); err != nil || g.Status != posbridge.GatewayPaid {
		t.Fatalf("after paying: %+v, %v", g, err)
	}
	// PayBy is still there.
	if resp, err := http.Post(info.PayBy.BaseURL+"/acquire2/getOrder", "application/json", nil); err != nil || resp.StatusCode == http.StatusNotFound {
		t.Fatalf("PayBy API: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
