package payby_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

var (
	keysOnce sync.Once
	keys     sandbox.Keys
	keysErr  error
)

// testKeys generates the sandbox key pairs once per test binary: RSA key
// generation is slow under the race detector.
func testKeys(t testing.TB) sandbox.Keys {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = sandbox.GenerateKeys() })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys
}

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	clock  *posbridgetest.ManualClock
	client *payby.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	k := testKeys(t)
	clock := posbridgetest.NewManualClock(start)
	sb, err := sandbox.New(sandbox.Config{Keys: k, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	e := &env{sb: sb, srv: srv, clock: clock}
	e.client = e.newClient(t, nil)
	return e
}

// newClient returns a client of e's sandbox; edit changes its config.
func (e *env) newClient(t *testing.T, edit func(*payby.Config)) *payby.Client {
	t.Helper()
	k := testKeys(t)
	cfg := payby.Config{
		BaseURL:       e.srv.URL + "/sgs/api",
		PartnerID:     sandbox.DefaultPartnerID,
		MerchantKey:   k.Merchant,
		GatewayKey:    &k.Gateway.PublicKey,
		Clock:         e.clock,
		Timeout:       5 * time.Second,
		RatePerSecond: -1,
		HTTPClient:    e.srv.Client(),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := payby.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func aed(t testing.TB, s string) posbridge.Money {
	t.Helper()
	m, err := posbridge.ParseAmount(s, "AED")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// record makes an order as a terminal's acquirer would, in status.
func (e *env) record(t *testing.T, no string, status posbridge.GatewayStatus) {
	t.Helper()
	err := e.sb.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), Amount: aed(t, "12.50"),
		Status: status, Card: posbridge.Card{Brand: "VISA", Last4: "4242"}})
	if err != nil {
		t.Fatalf("record %s: %v", no, err)
	}
}

var classes = []error{posbridge.ErrUnknownOutcome, posbridge.ErrRetryable, posbridge.ErrGatewayNotFound, posbridge.ErrGatewayFinal}

// assertClass checks that err matches want and no other class.
func assertClass(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", want)
	}
	for _, c := range classes {
		if got := errors.Is(err, c); got != (c == want || (want == posbridge.ErrOrderPaid || want == posbridge.ErrOrderClosed) && c == posbridge.ErrGatewayFinal) {
			t.Fatalf("errors.Is(%v, %v) = %v; want class %v", err, c, got, want)
		}
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func TestClient_QueryPayRefund(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client

	_, err := c.QueryOrder(ctx, "NEVERSEEN")
	assertClass(t, err, posbridge.ErrGatewayNotFound)

	e.record(t, "A1", posbridge.GatewayCreated)
	g, err := c.QueryOrder(ctx, "A1")
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != posbridge.GatewayCreated || g.Amount != aed(t, "12.50") || g.GatewayNo == "" || g.OrderNo != "A1" {
		t.Fatalf("query created = %+v", g)
	}
	_, err = c.Refund(ctx, posbridge.RefundRequest{RefundNo: "R0", OrderNo: "A1", Amount: aed(t, "1")})
	assertClass(t, err, posbridge.ErrGatewayFinal) // 62015 not paid

	if err := e.sb.Pay("A1", posbridge.Card{Brand: "VISA", Last4: "4242"}); err != nil {
		t.Fatal(err)
	}
	g, err = c.QueryOrder(ctx, "A1")
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != posbridge.GatewayPaid || g.Card != (posbridge.Card{Brand: "VISA", Last4: "4242"}) || !g.PaidAt.Equal(start) {
		t.Fatalf("query paid = %+v", g)
	}

	r, err := c.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1", OrderNo: "A1", Amount: aed(t, "10.00"), Reason: "returned"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != posbridge.GatewayRefundCreated || r.Amount != aed(t, "10") || r.OrderNo != "A1" || r.RefundNo != "R1" {
		t.Fatalf("refund = %+v", r)
	}
	again, err := c.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1", OrderNo: "A1", Amount: aed(t, "10.00"), Reason: "returned"})
	if err != nil || again.GatewayNo != r.GatewayNo {
		t.Fatalf("identical refund again = %+v, %v; want the same refund %s", again, err, r.GatewayNo)
	}
	_, err = c.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1", OrderNo: "A1", Amount: aed(t, "1.00")})
	assertClass(t, err, posbridge.ErrGatewayFinal)
	if !strings.Contains(err.Error(), "62017") {
		t.Fatalf("refund with other parameters: %v, want 62017", err)
	}
	_, err = c.Refund(ctx, posbridge.RefundRequest{RefundNo: "R2", OrderNo: "A1", Amount: aed(t, "2.51")})
	if !strings.Contains(errString(err), "62006") {
		t.Fatalf("refund over the pending remainder: %v, want 62006", err)
	}
	_, err = c.Refund(ctx, posbridge.RefundRequest{RefundNo: "R3", OrderNo: "A1", Amount: posbridge.Money{Minor: 100, Currency: "USD"}})
	assertClass(t, err, posbridge.ErrGatewayFinal)

	if err := e.sb.SucceedRefund("R1"); err != nil {
		t.Fatal(err)
	}
	r, err = c.QueryRefund(ctx, "R1")
	if err != nil || r.Status != posbridge.GatewayRefundSuccess {
		t.Fatalf("query refund = %+v, %v", r, err)
	}
	_, err = c.QueryRefund(ctx, "NOREFUND")
	assertClass(t, err, posbridge.ErrGatewayNotFound)

	// Revoke of an order with refunds is refused (62041, final).
	_, err = c.RevokeOrder(ctx, "A1")
	assertClass(t, err, posbridge.ErrGatewayFinal)
	if got := e.sb.Charges()["A1"]; got != 1 {
		t.Fatalf("charges = %d, want 1", got)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestClient_CancelRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(no string)
		want  error
	}{
		{"created", func(no string) { e.record(t, no, posbridge.GatewayCreated) }, nil},
		{"paid", func(no string) { e.record(t, no, posbridge.GatewayPaid) }, posbridge.ErrOrderPaid},
		{"settled", func(no string) {
			e.record(t, no, posbridge.GatewayPaid)
			if err := e.sb.Settle(no); err != nil {
				t.Fatal(err)
			}
		}, posbridge.ErrOrderPaid},
		{"failed", func(no string) { e.record(t, no, posbridge.GatewayFailed) }, posbridge.ErrOrderClosed},
		{"unknown", func(string) {}, posbridge.ErrGatewayNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			no := posbridge.OrderNo("C" + string(rune('a'+i)))
			tt.setup(string(no))
			g, err := e.client.CancelOrder(ctx, no)
			if tt.want == nil {
				if err != nil || g.Status != posbridge.GatewayFailed {
					t.Fatalf("cancel = %+v, %v; want failed", g, err)
				}
				// A second cancel finds it closed.
				_, err = e.client.CancelOrder(ctx, no)
				assertClass(t, err, posbridge.ErrOrderClosed)
				// And it can never be paid any more.
				if err := e.sb.Pay(string(no), posbridge.Card{}); !errors.Is(err, sandbox.ErrConflict) {
					t.Fatalf("pay after cancel: %v", err)
				}
				return
			}
			assertClass(t, err, tt.want)
		})
	}
}

func TestClient_Revoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.record(t, "V1", posbridge.GatewayPaid)
	g, err := e.client.RevokeOrder(ctx, "V1")
	if err != nil || !g.Revoked || g.Status != posbridge.GatewayFailed {
		t.Fatalf("revoke paid = %+v, %v; want failed and revoked", g, err)
	}
	e.record(t, "V2", posbridge.GatewayPaid)
	if err := e.sb.Settle("V2"); err != nil {
		t.Fatal(err)
	}
	g, err = e.client.RevokeOrder(ctx, "V2")
	if err != nil || !g.Revoked || g.Status != posbridge.GatewaySettled {
		t.Fatalf("revoke settled = %+v, %v; want settled and revoked", g, err)
	}
	_, err = e.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "RV2", OrderNo: "V2", Amount: aed(t, "1")})
	assertClass(t, err, posbridge.ErrGatewayFinal) // 62040
}

func TestClient_PlaceOrderIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	req := payby.PlaceRequest{OrderNo: "Q1", Amount: aed(t, "7.25"), Subject: "Coffee", PaySceneCode: "DYNQR"}
	p1, err := e.client.PlaceOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Order.Status != posbridge.GatewayCreated || p1.TokenURL == "" {
		t.Fatalf("placed = %+v", p1)
	}
	e.clock.Advance(time.Minute) // requestTime takes no part in idempotency
	p2, err := e.client.PlaceOrder(ctx, req)
	if err != nil || p2.Order.GatewayNo != p1.Order.GatewayNo {
		t.Fatalf("identical place again = %+v, %v; want order %s", p2, err, p1.Order.GatewayNo)
	}
	if n := len(e.sb.Orders()); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	other := req
	other.Amount = aed(t, "7.26")
	_, err = e.client.PlaceOrder(ctx, other)
	assertClass(t, err, posbridge.ErrGatewayFinal)
	if !strings.Contains(err.Error(), "62016") {
		t.Fatalf("other parameters: %v, want 62016", err)
	}
	if err := e.sb.Pay("Q1", posbridge.Card{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.PlaceOrder(ctx, req)
	if !strings.Contains(errString(err), "62001") {
		t.Fatalf("place a paid order again: %v, want 62001", err)
	}
	bad := req
	bad.OrderNo, bad.ExpiresAt = "Q2", start.Add(49*time.Hour)
	_, err = e.client.PlaceOrder(ctx, bad)
	if !strings.Contains(errString(err), "62009") {
		t.Fatalf("expiry too late: %v, want 62009", err)
	}
	bad.ExpiresAt, bad.PaySceneCode = time.Time{}, "NOPE"
	_, err = e.client.PlaceOrder(ctx, bad)
	if !strings.Contains(errString(err), "62012") {
		t.Fatalf("bad scene: %v, want 62012", err)
	}
}

// TestClient_Faults runs every call against every fault class of the sandbox.
func TestClient_Faults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fast := e.newClient(t, func(c *payby.Config) { c.Timeout = 200 * time.Millisecond })
	type call struct {
		path string
		do   func(c *payby.Client, no string) error
	}
	calls := []call{
		{payby.PathGetOrder, func(c *payby.Client, no string) error { _, err := c.QueryOrder(ctx, posbridge.OrderNo(no)); return err }},
		{payby.PathCancelOrder, func(c *payby.Client, no string) error {
			_, err := c.CancelOrder(ctx, posbridge.OrderNo(no))
			return err
		}},
		{payby.PathRevokeOrder, func(c *payby.Client, no string) error {
			_, err := c.RevokeOrder(ctx, posbridge.OrderNo(no))
			return err
		}},
		{payby.PathPlaceOrder, func(c *payby.Client, no string) error {
			_, err := c.PlaceOrder(ctx, payby.PlaceRequest{OrderNo: posbridge.OrderNo("P" + no), Amount: aed(t, "3"), Subject: "x", PaySceneCode: "DYNQR"})
			return err
		}},
		{payby.PathRefund, func(c *payby.Client, no string) error {
			_, err := c.Refund(ctx, posbridge.RefundRequest{RefundNo: posbridge.OrderNo("R" + no), OrderNo: posbridge.OrderNo(no), Amount: aed(t, "1")})
			return err
		}},
		{payby.PathGetRefund, func(c *payby.Client, no string) error {
			_, err := c.QueryRefund(ctx, posbridge.OrderNo("K"+no))
			return err
		}},
	}
	faults := []struct {
		name  string
		fault sandbox.Fault
		want  error
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultCode, Code: "500"}, posbridge.ErrUnknownOutcome},
		{"504-unsigned", sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Unsigned: true}, posbridge.ErrUnknownOutcome},
		{"402-unsigned", sandbox.Fault{Kind: sandbox.FaultCode, Code: "402", Unsigned: true}, posbridge.ErrRetryable},
		{"404", sandbox.Fault{Kind: sandbox.FaultCode, Code: "404"}, posbridge.ErrRetryable},
		{"62039", sandbox.Fault{Kind: sandbox.FaultCode, Code: "62039"}, posbridge.ErrRetryable},
		{"62004", sandbox.Fault{Kind: sandbox.FaultCode, Code: "62004"}, posbridge.ErrGatewayNotFound},
		{"62035", sandbox.Fault{Kind: sandbox.FaultCode, Code: "62035"}, posbridge.ErrGatewayNotFound},
		{"62007", sandbox.Fault{Kind: sandbox.FaultCode, Code: "62007"}, posbridge.ErrGatewayNotFound},
		{"601-unsigned", sandbox.Fault{Kind: sandbox.FaultCode, Code: "601", Unsigned: true}, posbridge.ErrGatewayFinal},
		{"5801-unsigned", sandbox.Fault{Kind: sandbox.FaultCode, Code: "5801", Unsigned: true}, posbridge.ErrGatewayFinal},
		{"62045", sandbox.Fault{Kind: sandbox.FaultCode, Code: "62045"}, posbridge.ErrGatewayFinal},
		{"62045-unsigned", sandbox.Fault{Kind: sandbox.FaultCode, Code: "62045", Unsigned: true}, posbridge.ErrUnknownOutcome},
		{"http502", sandbox.Fault{Kind: sandbox.FaultHTTP502}, posbridge.ErrUnknownOutcome},
		{"drop", sandbox.Fault{Kind: sandbox.FaultDrop}, posbridge.ErrUnknownOutcome},
		{"unsigned", sandbox.Fault{Kind: sandbox.FaultUnsigned}, posbridge.ErrUnknownOutcome},
		{"badsign", sandbox.Fault{Kind: sandbox.FaultBadSign}, posbridge.ErrUnknownOutcome},
		{"malformed", sandbox.Fault{Kind: sandbox.FaultMalformed}, posbridge.ErrUnknownOutcome},
		{"commit500", sandbox.Fault{Kind: sandbox.FaultCommit500}, posbridge.ErrUnknownOutcome},
		{"commit504", sandbox.Fault{Kind: sandbox.FaultCommit504}, posbridge.ErrUnknownOutcome},
		{"delay", sandbox.Fault{Kind: sandbox.FaultDelay, Delay: time.Hour}, posbridge.ErrUnknownOutcome},
	}
	n := 0
	for _, cl := range calls {
		for _, f := range faults {
			t.Run(strings.TrimPrefix(cl.path, "/acquire2/")+"/"+f.name, func(t *testing.T) {
				n++
				no := "F" + string(rune('A'+n/26)) + string(rune('a'+n%26))
				e.record(t, no, posbridge.GatewayCreated)
				if cl.path == payby.PathRefund || cl.path == payby.PathGetRefund {
					if err := e.sb.Pay(no, posbridge.Card{}); err != nil {
						t.Fatal(err)
					}
				}
				if cl.path == payby.PathGetRefund {
					if err := e.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo("K" + no), OrigNo: posbridge.OrderNo(no),
						Kind: "refund", Amount: aed(t, "1"), Status: posbridge.GatewayCreated}); err != nil {
						t.Fatal(err)
					}
				}
				if err := cl.do(e.client, no); err != nil {
					t.Fatalf("without a fault: %v", err)
				}
				if err := e.sb.SetFault(cl.path, f.fault); err != nil {
					t.Fatal(err)
				}
				c := e.client
				if f.fault.Kind == sandbox.FaultDelay {
					c = fast
				}
				assertClass(t, cl.do(c, no), f.want)
			})
		}
	}
}

// TestClient_CommitThen500 shows why 500 is an unknown outcome: the cancel
// happened, and only a query tells.
func TestClient_CommitThen500(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.record(t, "U1", posbridge.GatewayCreated)
	if err := e.sb.SetFault(payby.PathCancelOrder, sandbox.Fault{Kind: sandbox.FaultCommit500}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.CancelOrder(ctx, "U1")
	assertClass(t, err, posbridge.ErrUnknownOutcome)
	g, err := e.client.QueryOrder(ctx, "U1")
	if err != nil || g.Status != posbridge.GatewayFailed {
		t.Fatalf("query after 500 = %+v, %v; want failed", g, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClient_TamperedRequestRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.record(t, "T1", posbridge.GatewayCreated)
	e.record(t, "T2", posbridge.GatewayCreated)
	base := e.srv.Client().Transport
	// A man in the middle redirects a cancel to another order after signing.
	c := e.newClient(t, func(cfg *payby.Config) {
		cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			body = bytes.ReplaceAll(body, []byte(`"T1"`), []byte(`"T2"`))
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			return base.RoundTrip(r)
		})}
	})
	_, err := c.CancelOrder(ctx, "T1")
	assertClass(t, err, posbridge.ErrGatewayFinal)
	for _, no := range []string{"T1", "T2"} {
		if o, _ := e.sb.Order(no); o.Status != sandbox.StatusCreated {
			t.Fatalf("%s is %s after a tampered request, want CREATED", no, o.Status)
		}
	}
	// A client with the wrong merchant key is refused the same way.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrong := e.newClient(t, func(cfg *payby.Config) { cfg.MerchantKey = other })
	_, err = wrong.QueryOrder(ctx, "T1")
	assertClass(t, err, posbridge.ErrGatewayFinal)
	reqs := e.sb.Requests()
	if last := reqs[len(reqs)-1]; last.SignOK || last.ApplyStatus != "ERROR" {
		t.Fatalf("sandbox saw %+v, want a refused signature", last)
	}
}

func TestClient_TamperedResponseRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.record(t, "T3", posbridge.GatewayCreated)
	base := e.srv.Client().Transport
	c := e.newClient(t, func(cfg *payby.Config) {
		cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := base.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = bytes.ReplaceAll(body, []byte(`"CREATED"`), []byte(`"PAID_SUCCESS"`))
			resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			return resp, nil
		})}
	})
	_, err := c.QueryOrder(ctx, "T3")
	assertClass(t, err, posbridge.ErrUnknownOutcome)
	if !errors.Is(err, gateway.ErrBadSignature) {
		t.Fatalf("err = %v, want a bad signature", err)
	}
}

func TestClient_RequestTimeWindow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.record(t, "W1", posbridge.GatewayCreated)
	for _, tt := range []struct {
		skew time.Duration
		ok   bool
	}{{-15 * time.Minute, true}, {15 * time.Minute, true}, {-16 * time.Minute, false}, {16 * time.Minute, false}} {
		c := e.newClient(t, func(cfg *payby.Config) { cfg.Clock = posbridgetest.NewManualClock(start.Add(tt.skew)) })
		_, err := c.QueryOrder(ctx, "W1")
		if tt.ok && err != nil {
			t.Fatalf("skew %v: %v", tt.skew, err)
		}
		if !tt.ok {
			assertClass(t, err, posbridge.ErrGatewayFinal)
			if !strings.Contains(err.Error(), "REQUESTTIME_TOO") {
				t.Fatalf("skew %v: %v", tt.skew, err)
			}
		}
	}
}

func TestClient_RateLimit(t *testing.T) {
	e := newEnv(t)
	e.record(t, "L1", posbridge.GatewayCreated)
	c := e.newClient(t, func(cfg *payby.Config) { cfg.RatePerSecond, cfg.Burst = 1, 1 })
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := c.QueryOrder(ctx, "L1"); err != nil {
		t.Fatal(err)
	}
	cancel() // the second call has no token and may not wait
	_, err := c.QueryOrder(ctx, "L1")
	assertClass(t, err, posbridge.ErrRetryable)
	if n := len(e.sb.Requests()); n != 1 {
		t.Fatalf("sandbox saw %d requests, want 1", n)
	}
}

func TestNew_KeyErrors(t *testing.T) {
	k := testKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mpriv, _ := gateway.EncodePrivateKeyPEM(k.Merchant)
	mpub, _ := gateway.EncodePublicKeyPEM(&k.Merchant.PublicKey)
	gpub, _ := gateway.EncodePublicKeyPEM(&k.Gateway.PublicKey)
	merchant := write("merchant.pem", mpriv)
	merchantPub := write("merchant-pub.pem", mpub)
	gw := write("gateway.pem", gpub)
	tests := []struct {
		name, merchant, gateway, wantFile string
	}{
		{"missing-merchant", filepath.Join(dir, "nope.pem"), gw, "nope.pem"},
		{"missing-gateway", merchant, filepath.Join(dir, "gone.pem"), "gone.pem"},
		{"public-as-merchant", gw, gw, "gateway.pem"},
		{"private-as-gateway", merchant, merchant, "merchant.pem"},
		{"own-key-as-gateway", merchant, merchantPub, "merchant-pub.pem"},
		{"garbage", write("junk.pem", []byte("not a key")), gw, "junk.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payby.New(payby.Config{BaseURL: "http://127.0.0.1:1/sgs/api", PartnerID: "200000000888",
				MerchantKeyFile: tt.merchant, GatewayKeyFile: tt.gateway})
			if err == nil || !strings.Contains(err.Error(), tt.wantFile) {
				t.Fatalf("New = %v, want an error naming %s", err, tt.wantFile)
			}
		})
	}
	if _, err := payby.New(payby.Config{BaseURL: "http://127.0.0.1:1/sgs/api", PartnerID: "200000000888",
		MerchantKeyFile: merchant, GatewayKeyFile: gw}); err != nil {
		t.Fatalf("good keys: %v", err)
	}
}
