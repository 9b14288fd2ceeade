package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
)

// "posbridge sandbox --gateway codepay" names everything a CodePay client
// needs in sandbox.json, and serves /api/entry with JSON and form bodies.
func TestSandbox_CodePayCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"sandbox", "--listen", "127.0.0.1:0", "--dir", dir, "--gateway", "codepay"})
	}()
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
		CodePay struct {
			BaseURL          string `json:"base_url"`
			AppID            string `json:"app_id"`
			MerchantNo       string `json:"merchant_no"`
			AppPrivateKey    string `json:"app_private_key"`
			GatewayPublicKey string `json:"gateway_public_key"`
		} `json:"codepay"`
		Gateway    string `json:"gateway"`
		ControlURL string `json:"control_url"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatalf("sandbox.json: %v\n%s", err, raw)
	}
	cp := info.CodePay
	if info.Gateway != "codepay" || cp.AppID == "" || cp.MerchantNo == "" {
		t.Fatalf("sandbox.json: %s", raw)
	}
	c, err := codepay.New(codepay.Config{BaseURL: cp.BaseURL, AppID: cp.AppID, MerchantNo: cp.MerchantNo,
		AppKeyFile: cp.AppPrivateKey, GatewayKeyFile: cp.GatewayPublicKey, RatePerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	amount, _ := posbridge.ParseAmount("34.50", "USD")
	if _, err := c.PayOrder(ctx, codepay.Sale{OrderNo: "SBX1", Amount: amount, TerminalSN: "T1"}); err != nil {
		t.Fatal(err)
	}
	control(t, info.ControlURL+"/payby/orders/SBX1/pay", "")
	g, err := c.QueryOrder(ctx, "SBX1")
	if err != nil || !g.Status.Paid() || g.Amount != amount {
		t.Fatalf("query = %+v, %v", g, err)
	}
	if _, err := c.CancelOrder(ctx, "SBX1"); !errors.Is(err, posbridge.ErrOrderPaid) {
		t.Fatalf("close a paid order: %v", err)
	}

	// The Java SDK posts the same fields form-encoded; the signed string
	// is the same sorted k=v.
	key, err := gateway.LoadPrivateKey(cp.AppPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	canonical := "app_id=" + cp.AppID + "&charset=UTF-8&format=JSON&merchant_no=" + cp.MerchantNo +
		"&merchant_order_no=SBX1&method=order.query&sign_type=RSA2&timestamp=" + ts + "&version=1.0"
	sig, err := gateway.SignSHA256(key, []byte(canonical))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"app_id": {cp.AppID}, "charset": {"UTF-8"}, "format": {"JSON"}, "merchant_no": {cp.MerchantNo},
		"merchant_order_no": {"SBX1"}, "method": {"order.query"}, "sign_type": {"RSA2"}, "timestamp": {ts}, "version": {"1.0"}, "sign": {sig}}
	resp, err := http.PostForm(cp.BaseURL+codepay.EntryPath, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	gwKey, err := gateway.LoadPublicKey(cp.GatewayPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codepay.DecodeResponse(gwKey, body)
	if err != nil || r.Code != "0" {
		t.Fatalf("form query: %+v, %v: %s", r, err, body)
	}
	var tr codepay.Trans
	if err := codepay.DecodeData(r.Data, &tr); err != nil {
		t.Fatal(err)
	}
	if st, _ := tr.Status(); st != codepay.TransSuccess {
		t.Fatalf("form query status %d", st)
	}
}
