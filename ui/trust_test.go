package ui

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// The trust boundary: no web page on another origin, DNS name or proxy, and
// no forged field, may move money or read orders.

// withPaidOrder returns a service with one paid order, which a verify
// answers unchanged, and the order's number.
func withPaidOrder() (*fakeService, string) {
	o := paidOrder(testOrder("F1000001", "1", 5000))
	f := withLanes("1", "2")
	f.PaymentFunc = paymentsOf(&o)
	f.VerifyFunc = func(ctx context.Context, no posbridge.OrderNo, _ posbridge.By) (posbridge.Order, error) {
		return f.PaymentFunc(ctx, no)
	}
	return f, string(o.No)
}

func TestServer_CSRF(t *testing.T) {
	f, no := withPaidOrder()
	s := mustOpenServer(t, f, Config{AllowedOrigins: []string{"https://pos.example.com"}})
	_, port, _ := net.SplitHostPort(s.Addr())
	base := s.URL() + "/api/v1/payments"
	writes := []struct{ name, path, body string }{
		{"Pay", "", `{"lane":"2","amount":"999.00","currency":"AED","reference":"x"}`},
		{"Cancel", "/" + no + "/cancel", `{}`},
		{"Verify", "/" + no + "/verify", `{}`},
		{"Retry", "/" + no + "/retry", `{}`},
		{"Override", "/" + no + "/override", `{"reason":"seen on the terminal"}`},
		{"Refund", "/" + no + "/refunds", `{"amount":"1.00","reason":"returned"}`},
	}
	refused := []struct {
		name   string
		header http.Header
		status int
		code   string
	}{
		{"ErrTextPlainNoCors", http.Header{"Content-Type": {"text/plain;charset=UTF-8"}, "Origin": {"https://evil.example"}}, 415, codeUnsupportedMedia},
		{"ErrTextPlainNoOrigin", http.Header{"Content-Type": {"text/plain"}}, 415, codeUnsupportedMedia},
		{"ErrFormEncoded", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, 415, codeUnsupportedMedia},
		{"ErrMultipart", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, 415, codeUnsupportedMedia},
		{"ErrNoContentType", http.Header{}, 415, codeUnsupportedMedia},
		{"ErrJSONLookalike", http.Header{"Content-Type": {"application/jsonx"}}, 415, codeUnsupportedMedia},
		{"ErrForeignOrigin", http.Header{"Content-Type": {"application/json"}, "Origin": {"https://evil.example"}}, 403, codeForbidden},
		{"ErrNullOrigin", http.Header{"Content-Type": {"application/json"}, "Origin": {"null"}}, 403, codeForbidden},
		{"ErrOwnHostOtherPort", http.Header{"Content-Type": {"application/json"}, "Origin": {"http://127.0.0.1:1"}}, 403, codeForbidden},
		{"ErrOwnHostOtherScheme", http.Header{"Content-Type": {"application/json"}, "Origin": {"https://" + s.Addr()}}, 403, codeForbidden},
		{"ErrAllowedLookalike", http.Header{"Content-Type": {"application/json"}, "Origin": {"https://pos.example.com.evil.example"}}, 403, codeForbidden},
	}
	for _, w := range writes {
		for _, tt := range refused {
			t.Run(w.name+"/"+tt.name, func(t *testing.T) {
				before := len(f.PaymentsCalls())
				r := doReqHeader(t, "POST", base+w.path, w.body, tt.header.Clone())
				if r.status != tt.status || r.errCode() != tt.code {
					t.Fatalf("got %d %q, want %d %q: %s", r.status, r.errCode(), tt.status, tt.code, r.raw)
				}
				if calls := f.PaymentsCalls(); len(calls) != before {
					t.Errorf("a refused request reached the service: %v", calls[before:])
				}
			})
		}
	}

	allowed := []struct {
		name   string
		header http.Header
	}{
		{"NoOrigin", http.Header{"Content-Type": {"application/json"}}},
		{"Charset", http.Header{"Content-Type": {"application/json; charset=utf-8"}}},
		{"UpperCase", http.Header{"Content-Type": {"Application/JSON"}}},
		{"OwnOrigin", http.Header{"Content-Type": {"application/json"}, "Origin": {"http://" + s.Addr()}}},
		{"OwnOriginLocalhost", http.Header{"Content-Type": {"application/json"}, "Origin": {"http://localhost:" + port}}},
		{"AllowedOrigin", http.Header{"Content-Type": {"application/json"}, "Origin": {"https://pos.example.com"}}},
		{"AllowedOriginDefaultPort", http.Header{"Content-Type": {"application/json"}, "Origin": {"https://POS.example.com:443"}}},
	}
	for _, tt := range allowed {
		t.Run("Verify/"+tt.name, func(t *testing.T) {
			r := doReqHeader(t, "POST", base+"/"+no+"/verify", "", tt.header)
			if r.status != 200 {
				t.Fatalf("got %d: %s", r.status, r.raw)
			}
		})
	}

	t.Run("NoCORSPreflight", func(t *testing.T) {
		r := doReqHeader(t, "OPTIONS", base, "", http.Header{
			"Origin":                         {"https://pos.example.com"},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type"},
		})
		for k := range r.header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("preflight answered with %s: %v", k, r.header[k])
			}
		}
		if r.status < 400 {
			t.Errorf("preflight status %d, want an error", r.status)
		}
	})
	t.Run("ReadsNeedNoContentType", func(t *testing.T) {
		if r := doReqHeader(t, "GET", base+"/"+no, "", http.Header{}); r.status != 200 {
			t.Fatalf("got %d: %s", r.status, r.raw)
		}
	})
}

func TestServer_HostCheck(t *testing.T) {
	f := withLanes("1", "2")
	f.PaymentsFunc = func(context.Context, posbridge.OrderFilter) (posbridge.OrderPage, error) {
		return posbridge.OrderPage{Orders: []posbridge.Order{testOrder("F1000001", "1", 500)}}, nil
	}
	f.StatsFunc = func(context.Context) (posbridge.Stats, error) { return posbridge.Stats{}, nil }
	s := mustOpenServer(t, f, Config{AllowedHosts: []string{"till1.shop.lan"}})
	_, port, _ := net.SplitHostPort(s.Addr())
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"127.0.0.1", true},
		{"127.9.8.7:" + port, true},
		{"[::1]:" + port, true},
		{"localhost:" + port, true},
		{"LocalHost", true},
		{"till1.shop.lan:" + port, true},
		{"TILL1.shop.lan", true},
		{"evil.example:8080", false},
		{"evil.example:" + port, false},
		{"localhost.evil.example:" + port, false},
		{"127.0.0.1.nip.io:" + port, false},
		{"shop.lan:" + port, false},
		{"192.168.1.20:" + port, false},
		{"[::ffff:192.168.1.20]:" + port, false},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/v1/payments", "/api/v1/lanes", "/", "/metrics", "/healthz"} {
			t.Run(tt.host+path, func(t *testing.T) {
				r := doReqHeader(t, "GET", s.URL()+path, "", http.Header{"Host": {tt.host}})
				if tt.ok {
					if r.status != 200 {
						t.Fatalf("got %d: %.200s", r.status, r.raw)
					}
					if path == "/api/v1/payments" && !strings.Contains(r.raw, "F1000001") {
						t.Fatalf("the list lacks the payment: %.200s", r.raw)
					}
					return
				}
				if r.status != http.StatusMisdirectedRequest || r.errCode() != codeMisdirected {
					t.Fatalf("got %d %q, want 421 %q: %.200s", r.status, r.errCode(), codeMisdirected, r.raw)
				}
				if strings.Contains(r.raw, "order_no") {
					t.Errorf("orders leaked: %.200s", r.raw)
				}
			})
		}
	}
	t.Run("ErrForeignHostWrites", func(t *testing.T) {
		before := len(f.PaymentsCalls())
		r := doReqHeader(t, "POST", s.URL()+"/api/v1/payments", `{"lane":"2","amount":"1","currency":"AED"}`,
			http.Header{"Host": {"evil.example:" + port}, "Content-Type": {"application/json"}, "Origin": {"http://evil.example:" + port}})
		if calls := f.PaymentsCalls(); r.status != http.StatusMisdirectedRequest || len(calls) != before {
			t.Fatalf("got %d, service calls %v: %s", r.status, calls[before:], r.raw)
		}
	})
	t.Run("ErrForeignHostStream", func(t *testing.T) {
		h := http.Header{"Host": {"evil.example:" + port}, "Origin": {"http://evil.example:" + port}}
		c, res, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events?since=0", h)
		if err == nil {
			c.Close()
			t.Fatal("the event stream opened for a foreign Host")
		}
		if res == nil || res.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("got %v, want 421", res)
		}
	})
	t.Run("ListenAddressIP", func(t *testing.T) {
		h := NewServer(f, Config{Addr: "192.168.7.7:8080", Logger: discardLogger()}).Handler()
		for host, want := range map[string]int{"192.168.7.7:8080": 200, "192.168.7.8:8080": 421} {
			req := httptest.NewRequest("GET", "http://"+host+"/healthz", nil)
			req.RemoteAddr = "127.0.0.1:4000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("Host %s: got %d, want %d", host, rec.Code, want)
			}
		}
	})
}

func TestEvents_OriginNotHost(t *testing.T) {
	s := mustOpenServer(t, withEvents(posbridgetest.NewEventsLog()), Config{AllowedOrigins: []string{"https://pos.example.com"}})
	_, port, _ := net.SplitHostPort(s.Addr())
	tests := []struct {
		name, host, origin string
		ok                 bool
	}{
		{"OwnOrigin", "", "http://" + s.Addr(), true},
		{"OwnOriginViaLocalhost", "", "http://localhost:" + port, true},
		{"LocalhostPageLoopbackHost", "localhost:" + port, "http://127.0.0.1:" + port, true},
		{"Allowed", "", "https://pos.example.com", true},
		{"ErrSchemeDiffers", "", "https://" + s.Addr(), false},
		{"ErrPortDiffers", "", "http://127.0.0.1:1", false},
		{"ErrForeignOriginEqualsHost", "127.0.0.1:" + port, "http://127.0.0.1.evil.example:" + port, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Origin": {tt.origin}}
			if tt.host != "" {
				h.Set("Host", tt.host)
			}
			dialOrigin(t, s, h, tt.ok)
		})
	}
}

func TestServer_AuthProxiedAndScheme(t *testing.T) {
	f := withLanes("1", "2")
	h := NewServer(f, Config{Token: "s3cret-token", Logger: discardLogger()}).Handler()
	tests := []struct {
		name   string
		remote string
		header http.Header
		status int
	}{
		{"ErrForwardedFor", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, 401},
		{"ErrForwarded", "127.0.0.1:5000", http.Header{"Forwarded": {"for=203.0.113.9;proto=https"}}, 401},
		{"ErrRealIP", "[::1]:5000", http.Header{"X-Real-Ip": {"203.0.113.9"}}, 401},
		{"ErrForwardedLoopbackClaim", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"127.0.0.1"}}, 401},
		{"ErrForwardedWrongToken", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Authorization": {"Bearer nope"}}, 403},
		{"ForwardedWithToken", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Authorization": {"Bearer s3cret-token"}}, 200},
		{"SchemeLower", "192.168.1.20:5000", http.Header{"Authorization": {"bearer s3cret-token"}}, 200},
		{"SchemeUpper", "192.168.1.20:5000", http.Header{"Authorization": {"BEARER s3cret-token"}}, 200},
		{"ErrSchemeOnly", "192.168.1.20:5000", http.Header{"Authorization": {"Bearer"}}, 401},
		{"ErrBasic", "192.168.1.20:5000", http.Header{"Authorization": {"Basic s3cret-token"}}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://127.0.0.1:8080/api/v1/lanes", nil)
			req.RemoteAddr = tt.remote
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
}

func TestServer_ControlCharacters(t *testing.T) {
	f, no := withPaidOrder()
	var pays []posbridge.PayRequest
	f.PayFunc = func(_ context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error) {
		pays = append(pays, r)
		return testOrder("F2000002", r.Lane, r.Amount.Minor), false, nil
	}
	s := mustOpenServer(t, f, Config{})
	base := s.URL() + "/api/v1/payments"
	tests := []struct {
		name, path, body string
		header           []string
		field            string
	}{
		{"ReferenceESC", "", `{"lane":"2","amount":"1","currency":"AED","reference":"R\u001b[2J1"}`, nil, "reference"},
		{"ReferenceNewline", "", `{"lane":"2","amount":"1","currency":"AED","reference":"R1\nPAID"}`, nil, "reference"},
		{"ReferenceDEL", "", `{"lane":"2","amount":"1","currency":"AED","reference":"R1\u007f"}`, nil, "reference"},
		{"ReferenceC1CSI", "", `{"lane":"2","amount":"1","currency":"AED","reference":"R1\u009b2J"}`, nil, "reference"},
		{"CancelReason", "/" + no + "/cancel", `{"reason":"left\u001b]0;owned\u0007"}`, nil, "reason"},
		{"VerifyReason", "/" + no + "/verify", `{"reason":"\r"}`, nil, "reason"},
		{"OverrideReason", "/" + no + "/override", `{"reason":"seen\u0085ok"}`, nil, "reason"},
		{"OverrideBy", "/" + no + "/override", `{"reason":"seen","by":"Sam\u001b[8m"}`, nil, "by"},
		{"RefundReason", "/" + no + "/refunds", `{"amount":"1","reason":"x\u0000y"}`, nil, "reason"},
		{"CashierHeaderC1", "/" + no + "/verify", `{}`, []string{"X-Cashier", "Mona\u009b31m"}, "X-Cashier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.PaymentsCalls())
			r := doReq(t, "POST", base+tt.path, tt.body, tt.header...)
			if r.status != 400 || r.errCode() != posbridge.EINVALID || r.errField() != tt.field {
				t.Fatalf("got %d %q field %q, want 400 invalid field %q: %s", r.status, r.errCode(), r.errField(), tt.field, r.raw)
			}
			if !strings.Contains(str(r.body, "error", "message"), "control") {
				t.Errorf("message does not say why: %s", r.raw)
			}
			if calls := f.PaymentsCalls(); len(calls) != before {
				t.Errorf("a refused request reached the service: %v", calls[before:])
			}
		})
	}
	t.Run("PrintableTextPasses", func(t *testing.T) {
		r := doReq(t, "POST", base, `{"lane":"2","amount":"1","currency":"AED","reference":"فاتورة 1001 — \"A\\B\""}`, "X-Cashier", "منى")
		if r.status != 201 {
			t.Fatalf("got %d: %s", r.status, r.raw)
		}
		if got := pays[len(pays)-1]; got.Reference != "فاتورة 1001 — \"A\\B\"" || got.By.Who != "منى" {
			t.Errorf("the service was asked %+v", got)
		}
	})
}

func TestEvents_SinceBeyondNewest(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	payEvents(log, "F1000001", "1", 100) // seqs 1, 2
	t.Run("Beyond", func(t *testing.T) {
		c := dialEvents(t, s, "?since=40", nil)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("got message %q (err %v), want close %d", msg, err, closeResync)
		}
		if ce.Code != closeResync || !strings.Contains(ce.Text, "since=0") {
			t.Fatalf("close %d %q, want %d telling to resync from since=0", ce.Code, ce.Text, closeResync)
		}
	})
	t.Run("AtNewest", func(t *testing.T) {
		c := dialEvents(t, s, "?since=2", nil)
		if h := readEvent(t, c); h.Type != "hello" || h.Seq != 2 {
			t.Fatalf("hello = %+v", h)
		}
	})
	t.Run("ResyncFromZero", func(t *testing.T) {
		c := dialEvents(t, s, "?since=0", nil)
		readEvent(t, c) // hello
		readStored(t, c, 1, 2)
	})
}

func TestServer_RefundIdempotency(t *testing.T) {
	book := &orderBook{}
	no := string(book.add(paidOrder(testOrder("F1000001", "1", 5000))))
	f := &fakeService{}
	f.PaymentFunc, f.RefundFunc, f.RefundsFunc = book.payment, book.refund, book.refundsOf
	s := mustOpenServer(t, f, Config{})
	url := s.URL() + "/api/v1/payments/" + no + "/refunds"
	body := `{"amount":"5.00","reason":"returned item"}`

	first := doReq(t, "POST", url, body, "Idempotency-Key", "till1-refund-7")
	if first.status != 201 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	again := doReq(t, "POST", url, body, "Idempotency-Key", "till1-refund-7")
	if again.status != 200 || str(again.body, "refund_no") != str(first.body, "refund_no") {
		t.Fatalf("retry: %d %s, want 200 with refund %s", again.status, again.raw, str(first.body, "refund_no"))
	}
	list := doReq(t, "GET", url, "")
	if refunds, _ := list.body["refunds"].([]any); len(refunds) != 1 {
		t.Fatalf("refunds after a retry: %s", list.raw)
	}
	if r := doReq(t, "POST", url, `{"amount":"6.00","reason":"returned item"}`, "Idempotency-Key", "till1-refund-7"); r.status != 409 || r.errCode() != posbridge.EIDEMPOTENCY {
		t.Fatalf("other body, same key: %d %s", r.status, r.raw)
	}
	if r := doReq(t, "POST", url, body, "Idempotency-Key", "a\tb"); r.status != 400 || r.errField() != "Idempotency-Key" {
		t.Fatalf("bad key: %d %s", r.status, r.raw)
	}
	if r := doReq(t, "POST", url, body, "Idempotency-Key", "till1-refund-8"); r.status != 201 || str(r.body, "refund_no") == str(first.body, "refund_no") {
		t.Fatalf("new key: %d %s", r.status, r.raw)
	}
}
