package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSandbox_IndependentClient runs "posbridge sandbox" and drives it as a
// client written from PayBy's public API alone (its own signing code), with
// every response signature checked against the sandbox's public key.
func TestSandbox_IndependentClient(t *testing.T) {
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

	// The file appears once the sandbox listens; key generation takes a moment.
	var raw []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
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
			BaseURL            string `json:"base_url"`
			PartnerID          string `json:"partner_id"`
			MerchantPrivateKey string `json:"merchant_private_key"`
			GatewayPublicKey   string `json:"gateway_public_key"`
		} `json:"payby"`
		ControlURL string `json:"control_url"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatalf("sandbox.json: %v\n%s", err, raw)
	}
	if info.PayBy.PartnerID != "200000000888" {
		t.Fatalf("partner id %q", info.PayBy.PartnerID)
	}
	c := &indepClient{t: t, info: info.PayBy.BaseURL, partner: info.PayBy.PartnerID,
		priv: readPrivate(t, info.PayBy.MerchantPrivateKey), pub: readPublic(t, info.PayBy.GatewayPublicKey)}

	// Create, query, pay (control API), query, cancel refused, refund, query refund.
	h, body := c.call("/acquire2/placeOrder", `{"merchantOrderNo":"IND-001","subject":"Tea","totalAmount":{"currency":"AED","amount":10.00},"paySceneCode":"DYNQR"}`)
	c.wantOrder(h, body, "CREATED")
	h, body = c.call("/acquire2/getOrder", `{"merchantOrderNo":"IND-001"}`)
	c.wantOrder(h, body, "CREATED")
	control(t, info.ControlURL+"/payby/orders/IND-001/pay", "")
	h, body = c.call("/acquire2/getOrder", `{"merchantOrderNo":"IND-001"}`)
	c.wantOrder(h, body, "PAID_SUCCESS")
	h, _ = c.call("/acquire2/cancelOrder", `{"merchantOrderNo":"IND-001"}`)
	if h.Code != "62001" {
		t.Fatalf("cancel a paid order: code %s, want 62001", h.Code)
	}
	h, body = c.call("/acquire2/refund/placeOrder", `{"refundMerchantOrderNo":"IND-R1","originMerchantOrderNo":"IND-001","amount":{"currency":"AED","amount":"4.50"},"reason":"change of mind"}`)
	c.wantRefund(h, body, "CREATED", "5.50")
	h, body = c.call("/acquire2/refund/getOrder", `{"refundMerchantOrderNo":"IND-R1"}`)
	c.wantRefund(h, body, "CREATED", "5.50")

	// Another order: cancel it while CREATED.
	c.call("/acquire2/placeOrder", `{"merchantOrderNo":"IND-002","subject":"Cake","totalAmount":{"currency":"AED","amount":3},"paySceneCode":"DYNQR"}`)
	h, body = c.call("/acquire2/cancelOrder", `{"merchantOrderNo":"IND-002"}`)
	c.wantOrder(h, body, "FAILURE")

	// An order made on a terminal reaches the gateway through the control API.
	control(t, info.ControlURL+"/payby/orders", `{"merchantOrderNo":"TERM1","amount":"12.50","currency":"AED","status":"PAID_SUCCESS"}`)
	h, body = c.call("/acquire2/getOrder", `{"merchantOrderNo":"TERM1"}`)
	c.wantOrder(h, body, "PAID_SUCCESS")
}

type payHead struct {
	ApplyStatus string `json:"applyStatus"`
	Code        string `json:"code"`
	Msg         string `json:"msg"`
}

type indepClient struct {
	t       *testing.T
	info    string
	partner string
	priv    *rsa.PrivateKey
	pub     *rsa.PublicKey
}

// call posts a signed request and returns the verified answer.
func (c *indepClient) call(path, biz string) (payHead, json.RawMessage) {
	c.t.Helper()
	body := []byte(`{"requestTime":` + jsonInt(time.Now().UnixMilli()) + `,"bizContent":` + biz + `}`)
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.priv, crypto.SHA256, sum[:])
	if err != nil {
		c.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.info+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Content-Language", "en")
	req.Header.Set("partner-id", c.partner)
	req.Header.Set("sign", base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	rsig, err := base64.StdEncoding.DecodeString(resp.Header.Get("sign"))
	if err != nil || len(rsig) == 0 {
		c.t.Fatalf("%s: answer not signed: %q", path, resp.Header.Get("sign"))
	}
	rsum := sha256.Sum256(raw)
	if err := rsa.VerifyPKCS1v15(c.pub, crypto.SHA256, rsum[:], rsig); err != nil {
		c.t.Fatalf("%s: answer signature does not verify: %v", path, err)
	}
	var env struct {
		Head payHead         `json:"head"`
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		c.t.Fatalf("%s: %v\n%s", path, err, raw)
	}
	return env.Head, env.Body
}

func (c *indepClient) wantOrder(h payHead, body json.RawMessage, status string) {
	c.t.Helper()
	var b struct {
		AcquireOrder struct {
			Status  string `json:"status"`
			OrderNo string `json:"orderNo"`
		} `json:"acquireOrder"`
	}
	if h.ApplyStatus != "SUCCESS" || h.Code != "0" || json.Unmarshal(body, &b) != nil || b.AcquireOrder.Status != status || b.AcquireOrder.OrderNo == "" {
		c.t.Fatalf("head %+v body %s; want status %s", h, body, status)
	}
}

func (c *indepClient) wantRefund(h payHead, body json.RawMessage, status, remain string) {
	c.t.Helper()
	var b struct {
		RefundOrder struct {
			Status string `json:"status"`
		} `json:"refundOrder"`
		RefundSummary struct {
			RemainRefundAmount struct {
				Amount json.Number `json:"amount"`
			} `json:"remainRefundAmount"`
		} `json:"refundSummary"`
	}
	if h.Code != "0" || json.Unmarshal(body, &b) != nil || b.RefundOrder.Status != status || b.RefundSummary.RemainRefundAmount.Amount.String() != remain {
		c.t.Fatalf("head %+v body %s; want refund %s, remaining %s", h, body, status, remain)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func control(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

func readPrivate(t *testing.T, file string) *rsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return k.(*rsa.PrivateKey)
}

func readPublic(t *testing.T, file string) *rsa.PublicKey {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", file)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return k.(*rsa.PublicKey)
}
