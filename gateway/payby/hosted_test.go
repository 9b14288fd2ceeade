package payby_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// A DYNQR order: its tokenUrl is the sandbox's hosted page; an identical
// repeat returns the same order and URL; paying on the page makes it paid at
// the gateway (the page's own answer is only for the customer); a repeat of
// a paid order is refused with ErrOrderPaid, of a closed one ErrOrderClosed.
func TestClient_CreateHostedOrder(t *testing.T) {
	e := newEnv(t)
	e.sb.SetPayPageURL(e.srv.URL)
	ctx := context.Background()
	req := posbridge.HostedOrderRequest{OrderNo: "QR1", Amount: aed(t, "12.50"), Subject: "Table 4", ExpiresAt: start.Add(5 * time.Minute)}
	h, err := e.client.CreateHostedOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.URL, e.srv.URL+sandbox.PayPagePath) || h.GatewayNo == "" || !h.ExpiresAt.Equal(req.ExpiresAt) {
		t.Fatalf("hosted order = %+v", h)
	}
	again, err := e.client.CreateHostedOrder(ctx, req)
	if err != nil || again != h {
		t.Fatalf("identical repeat = %+v, %v; want %+v", again, err, h)
	}
	if o, _ := e.sb.Order("QR1"); o.PaySceneCode != "DYNQR" {
		t.Fatalf("paySceneCode %q, want DYNQR", o.PaySceneCode)
	}

	page := func(method string) string {
		t.Helper()
		var res *http.Response
		var err error
		if method == http.MethodPost {
			res, err = e.srv.Client().PostForm(h.URL, url.Values{})
		} else {
			res, err = e.srv.Client().Get(h.URL)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, h.URL, res.StatusCode, b)
		}
		return string(b)
	}
	if body := page(http.MethodGet); !strings.Contains(body, "12.50 AED") || !strings.Contains(body, `id="pay"`) {
		t.Fatalf("page before paying:\n%s", body)
	}
	g, err := e.client.QueryOrder(ctx, "QR1")
	if err != nil || g.Status != posbridge.GatewayCreated {
		t.Fatalf("before paying: %+v, %v", g, err)
	}
	if body := page(http.MethodPost); !strings.Contains(body, "Payment successful") || strings.Contains(body, `id="pay"`) {
		t.Fatalf("page after paying:\n%s", body)
	}
	g, err = e.client.QueryOrder(ctx, "QR1")
	if err != nil || !g.Status.Paid() || g.Card != sandbox.QRCard {
		t.Fatalf("after paying: %+v, %v", g, err)
	}
	if body := page(http.MethodPost); !strings.Contains(body, "already paid") {
		t.Fatalf("paying twice:\n%s", body)
	}
	if n := e.sb.Charges()["QR1"]; n != 1 {
		t.Fatalf("charged %d times, want once", n)
	}
	if _, err := e.client.CreateHostedOrder(ctx, req); !errors.Is(err, posbridge.ErrOrderPaid) || !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("repeat of a paid order: %v, want ErrOrderPaid", err)
	}

	closed := posbridge.HostedOrderRequest{OrderNo: "QR2", Amount: aed(t, "3"), Subject: "x", ExpiresAt: start.Add(5 * time.Minute)}
	if _, err := e.client.CreateHostedOrder(ctx, closed); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Expire("QR2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateHostedOrder(ctx, closed); !errors.Is(err, posbridge.ErrOrderClosed) {
		t.Fatalf("repeat of a closed order: %v, want ErrOrderClosed", err)
	}
	res, err := e.srv.Client().Get(e.srv.URL + sandbox.PayPagePath + "nope")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown page: %d, want 404", res.StatusCode)
	}
}

func TestValidTokenURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want bool
	}{
		{"https://pay.payby.com/cashier?token=abc", true},
		{"http://127.0.0.1:8081/payby/pay/131", true},
		{"", false},
		{"javascript:alert(1)", false},
		{"/payby/pay/131", false},
		{"https://", false},
		{"https://pay.example/\n", false},
		{"https://pay.example/" + strings.Repeat("a", 2100), false},
	} {
		if got := payby.ValidTokenURL(tt.url); got != tt.want {
			t.Errorf("validTokenURL(%.40q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}
