package payprotocol_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

type rig struct {
	sb     *sandbox.PayProtocol
	srv    *httptest.Server
	client *payprotocol.Client
	secret []byte
}

// newRig serves a Pay Protocol sandbox on loopback and a client of it.
func newRig(t *testing.T, mod func(*payprotocol.Config)) *rig {
	t.Helper()
	secret := []byte("test-secret-0123456789")
	sb, err := sandbox.NewPayProtocol(sandbox.PayProtocolConfig{APIKey: "key-1", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	cfg := payprotocol.Config{BaseURL: srv.URL + sandbox.PayProtocolAPIPath, PageURL: srv.URL, APIKey: "key-1", Secret: secret,
		ChainID: 7, RedirectURL: "https://shop.example/thanks", Timeout: 2 * time.Second, RatePerSecond: -1}
	if mod != nil {
		mod(&cfg)
	}
	c, err := payprotocol.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{sb: sb, srv: srv, client: c, secret: secret}
}

func aed(t *testing.T, s string) posbridge.Money {
	t.Helper()
	m, err := posbridge.ParseAmount(s, "AED")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *rig) create(t *testing.T, no, amount string) posbridge.HostedOrder {
	t.Helper()
	h, err := r.client.CreateHostedOrder(context.Background(), posbridge.HostedOrderRequest{OrderNo: posbridge.OrderNo(no), Amount: aed(t, amount),
		Subject: "Coffee", ExpiresAt: time.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatalf("CreateHostedOrder %s: %v", no, err)
	}
	return h
}

// payOnPage is the customer's phone: it opens the page URL and submits the
// amount, over real HTTP. It returns the answer's status.
func payOnPage(t *testing.T, pageURL, amount string) int {
	t.Helper()
	resp, err := http.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="amount"`) {
		t.Fatalf("page: HTTP %d %s", resp.StatusCode, page)
	}
	resp, err = http.PostForm(pageURL, url.Values{"amount": {amount}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestClient_HostedOrderPaidOnThePage(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	h := r.create(t, "PP1", "10.00")
	if !strings.HasPrefix(h.URL, r.srv.URL+"/pay/") || h.GatewayNo == "" {
		t.Fatalf("hosted order %+v: want a page on the sandbox", h)
	}
	if h.ExpiresAt.After(time.Now().Add(10*time.Minute)) || h.ExpiresAt.IsZero() {
		t.Fatalf("expires %v: never later than asked", h.ExpiresAt)
	}
	g, err := r.client.QueryOrder(ctx, "PP1")
	if err != nil || g.Status != posbridge.GatewayCreated || g.Amount != aed(t, "10.00") {
		t.Fatalf("before paying: %+v, %v", g, err)
	}
	// The same order again: the same order, no second one.
	if again := r.create(t, "PP1", "10.00"); again.GatewayNo != h.GatewayNo || again.URL != h.URL {
		t.Fatalf("repeat create: %+v, want %+v", again, h)
	}
	_, err = r.client.CreateHostedOrder(ctx, posbridge.HostedOrderRequest{OrderNo: "PP1", Amount: aed(t, "11.00")})
	if !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("same number, other amount: %v, want final", err)
	}
	if st := payOnPage(t, h.URL, "10.00"); st != http.StatusOK {
		t.Fatalf("paying: HTTP %d", st)
	}
	g, err = r.client.QueryOrder(ctx, "PP1")
	if err != nil || g.Status != posbridge.GatewayPaid || g.Received != aed(t, "10.00") || g.GatewayNo != h.GatewayNo || g.PaidAt.IsZero() {
		t.Fatalf("after paying: %+v, %v", g, err)
	}
	if st := payOnPage(t, h.URL, "10.00"); st != http.StatusConflict {
		t.Fatalf("paying twice: HTTP %d, want 409", st)
	}
	if c := r.sb.Charges()["PP1"]; c != 1 {
		t.Fatalf("charged %d times", c)
	}
}

func TestClient_PartialPayment(t *testing.T) {
	tests := []struct {
		name     string
		pay      string
		wantHTTP int
		want     posbridge.GatewayStatus
		received string
	}{
		{"half", "5.00", http.StatusOK, posbridge.GatewayPartiallyPaid, "5.00"},
		{"most", "9.99", http.StatusOK, posbridge.GatewayPartiallyPaid, "9.99"},
		{"over by 20%", "12.00", http.StatusOK, posbridge.GatewayPaid, "12.00"},
		{"under half: manual repair", "4.99", http.StatusBadRequest, posbridge.GatewayCreated, ""},
		{"over 1.2×: manual repair", "12.01", http.StatusBadRequest, posbridge.GatewayCreated, ""},
	}
	r := newRig(t, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			no := "PART" + string(rune('A'+i))
			h := r.create(t, no, "10.00")
			if st := payOnPage(t, h.URL, tt.pay); st != tt.wantHTTP {
				t.Fatalf("page: HTTP %d, want %d", st, tt.wantHTTP)
			}
			g, err := r.client.QueryOrder(context.Background(), posbridge.OrderNo(no))
			if err != nil || g.Status != tt.want {
				t.Fatalf("query: %+v, %v; want %s", g, err, tt.want)
			}
			if tt.received != "" && g.Received != aed(t, tt.received) {
				t.Fatalf("received %s, want %s", g.Received, tt.received)
			}
			if g.Status.Paid() != (tt.want == posbridge.GatewayPaid) {
				t.Fatalf("Paid() = %v for %s", g.Status.Paid(), g.Status)
			}
		})
	}
}

func TestClient_ErrorClasses(t *testing.T) {
	tests := []struct {
		name  string
		fault *sandbox.PPFault
		mod   func(*payprotocol.Config)
		call  string // "create", "query", "query-unknown"
		want  error
	}{
		{"system error on create", &sandbox.PPFault{Path: "/payment/createPaymentOrder", Code: 500, HTTP: 500}, nil, "create", posbridge.ErrUnknownOutcome},
		{"502 html on create", &sandbox.PPFault{Path: "/payment/createPaymentOrder", HTTP: 502}, nil, "create", posbridge.ErrUnknownOutcome},
		{"unknown code on create", &sandbox.PPFault{Path: "/payment/createPaymentOrder", Code: 777}, nil, "create", posbridge.ErrUnknownOutcome},
		{"busy", &sandbox.PPFault{Path: "/payment/detail", Code: 429, HTTP: 429}, nil, "query", posbridge.ErrRetryable},
		{"system error on query", &sandbox.PPFault{Path: "/payment/detail", Code: 500, HTTP: 500}, nil, "query", posbridge.ErrUnknownOutcome},
		{"unknown order", nil, nil, "query-unknown", posbridge.ErrGatewayNotFound},
		{"wrong secret", nil, func(c *payprotocol.Config) { c.Secret = []byte("not-the-secret") }, "create", posbridge.ErrGatewayFinal},
		{"wrong key", nil, func(c *payprotocol.Config) { c.APIKey = "key-2" }, "query", posbridge.ErrGatewayFinal},
		{"clock 61 s fast", nil, func(c *payprotocol.Config) { c.Clock = offsetClock(61 * time.Second) }, "create", posbridge.ErrGatewayFinal},
		{"no server", nil, func(c *payprotocol.Config) { c.BaseURL = "http://127.0.0.1:1/api/mer" }, "create", posbridge.ErrUnknownOutcome},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.mod)
			ctx := context.Background()
			no := posbridge.OrderNo("ERR" + string(rune('A'+i)))
			if tt.call == "query" {
				// The order exists (made by a client that signs right).
				good, _ := payprotocol.New(payprotocol.Config{BaseURL: r.srv.URL + sandbox.PayProtocolAPIPath, APIKey: "key-1", Secret: r.secret, ChainID: 7, RatePerSecond: -1})
				if _, err := good.CreateHostedOrder(ctx, posbridge.HostedOrderRequest{OrderNo: no, Amount: aed(t, "1.00")}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.fault != nil {
				r.sb.SetFault(*tt.fault)
			}
			var err error
			switch tt.call {
			case "create":
				_, err = r.client.CreateHostedOrder(ctx, posbridge.HostedOrderRequest{OrderNo: no, Amount: aed(t, "1.00")})
			case "query":
				_, err = r.client.QueryOrder(ctx, no)
			case "query-unknown":
				_, err = r.client.QueryOrder(ctx, "NEVER")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("%v, want %v", err, tt.want)
			}
		})
	}
}

// offsetClock is the system clock off by d.
type offsetClock time.Duration

func (c offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c)) }
func (c offsetClock) NewTimer(d time.Duration) posbridge.Timer {
	return posbridge.SystemClock{}.NewTimer(d)
}

func TestClient_CancelHasNoCancel(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.create(t, "C-OPEN", "3.00")
	r.create(t, "C-PAID", "3.00")
	r.create(t, "C-PART", "3.00")
	r.create(t, "C-EXP", "3.00")
	must(t, r.sb.Pay("C-PAID", nil))
	part := aed(t, "2.00")
	must(t, r.sb.Pay("C-PART", &part))
	must(t, r.sb.Expire("C-EXP"))
	tests := []struct {
		no   posbridge.OrderNo
		want error
	}{
		{"C-OPEN", posbridge.ErrGatewayFinal},
		{"C-PAID", posbridge.ErrOrderPaid},
		{"C-PART", posbridge.ErrOrderPaid},
		{"C-EXP", posbridge.ErrOrderClosed},
		{"C-NONE", posbridge.ErrGatewayNotFound},
	}
	for _, tt := range tests {
		_, err := r.client.CancelOrder(ctx, tt.no)
		if !errors.Is(err, tt.want) {
			t.Errorf("cancel %s: %v, want %v", tt.no, err, tt.want)
		}
		if tt.no == "C-OPEN" && (errors.Is(err, posbridge.ErrOrderPaid) || errors.Is(err, posbridge.ErrOrderClosed) || errors.Is(err, posbridge.ErrRetryable) || !strings.Contains(err.Error(), payprotocol.CodeNoCancel)) {
			t.Errorf("cancel of an open order: %v, want a plain refusal NO_CANCEL", err)
		}
	}
	if o, _ := r.sb.Order("C-OPEN"); o.Status != sandbox.PPUnpaid {
		t.Fatalf("the refused cancel changed the order: %s", o.Status)
	}
}

// A cancel is only a query at Pay Protocol: when that query fails (a
// system error, a proxy's 502), nothing was done, and the caller must not
// take it as a cancel whose answer was lost (the order may have closed):
// it is "try again", never an unknown outcome.
func TestClient_CancelQueryFailureIsRetryable(t *testing.T) {
	for _, f := range []sandbox.PPFault{
		{Path: payprotocol.PathPaymentDetail, Code: payprotocol.CodeSystem, HTTP: http.StatusInternalServerError},
		{Path: payprotocol.PathPaymentDetail, HTTP: http.StatusBadGateway},
	} {
		r := newRig(t, nil)
		r.create(t, "C-OPEN", "3.00")
		r.sb.SetFault(f)
		_, err := r.client.CancelOrder(context.Background(), "C-OPEN")
		if !errors.Is(err, posbridge.ErrRetryable) || errors.Is(err, posbridge.ErrUnknownOutcome) {
			t.Errorf("cancel whose query fails (%+v): %v, want retryable, not unknown", f, err)
		}
	}
}

func TestClient_RefundWaitsForApproval(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.create(t, "R1", "10.00")
	r.create(t, "R-UNPAID", "10.00")
	must(t, r.sb.Pay("R1", nil))

	g, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1-1", OrderNo: "R1", Amount: aed(t, "4.00"), Reason: "returned"})
	if err != nil || g.Status != posbridge.GatewayRefundCreated || g.Amount != aed(t, "4.00") || g.OrderNo != "R1" {
		t.Fatalf("refund: %+v, %v; want created (waiting for approval)", g, err)
	}
	again, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1-1", OrderNo: "R1", Amount: aed(t, "4.00")})
	if err != nil || again.GatewayNo != g.GatewayNo {
		t.Fatalf("repeat: %+v, %v; want the same refund", again, err)
	}
	if q, err := r.client.QueryRefund(ctx, "R1-1"); err != nil || q.Status != posbridge.GatewayRefundCreated {
		t.Fatalf("before approval: %+v, %v", q, err)
	}
	must(t, r.sb.ApproveRefund("R1-1"))
	if q, err := r.client.QueryRefund(ctx, "R1-1"); err != nil || q.Status != posbridge.GatewayRefundSuccess {
		t.Fatalf("after approval: %+v, %v", q, err)
	}
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "R1-2", OrderNo: "R1", Amount: aed(t, "6.00")}); err != nil {
		t.Fatal(err)
	}
	must(t, r.sb.RejectRefund("R1-2"))
	if q, err := r.client.QueryRefund(ctx, "R1-2"); err != nil || q.Status != posbridge.GatewayRefundFailed || !strings.Contains(q.FailMsg, "rejected") {
		t.Fatalf("rejected: %+v, %v", q, err)
	}
	tests := []struct {
		name string
		req  posbridge.RefundRequest
		want error
	}{
		{"over what is left", posbridge.RefundRequest{RefundNo: "R1-3", OrderNo: "R1", Amount: aed(t, "6.01")}, posbridge.ErrGatewayFinal},
		{"unpaid order", posbridge.RefundRequest{RefundNo: "RU-1", OrderNo: "R-UNPAID", Amount: aed(t, "1.00")}, posbridge.ErrGatewayFinal},
		{"same number, other amount", posbridge.RefundRequest{RefundNo: "R1-1", OrderNo: "R1", Amount: aed(t, "1.00")}, posbridge.ErrGatewayFinal},
		{"unknown order", posbridge.RefundRequest{RefundNo: "RX-1", OrderNo: "NOPE", Amount: aed(t, "1.00")}, posbridge.ErrGatewayNotFound},
	}
	for _, tt := range tests {
		if _, err := r.client.Refund(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := r.client.QueryRefund(ctx, "NOPE-1"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Errorf("unknown refund: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
