package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge"
)

var testStart = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// mustOpenServer runs a Server over f on a loopback port, closed at cleanup.
func mustOpenServer(t testing.TB, f posbridge.PaymentService, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	s := NewServer(f, cfg)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s
}

// response is an HTTP answer with its JSON body decoded loosely.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r response) errCode() string  { return str(r.body, "error", "code") }
func (r response) errField() string { return str(r.body, "error", "field") }

// str digs a string out of nested JSON objects.
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = obj[p]
	}
	s, _ := v.(string)
	return s
}

func doReq(t testing.TB, method, url, body string, header ...string) response {
	t.Helper()
	h := http.Header{}
	if method != "GET" && method != "HEAD" {
		// What every API client sends with a state-changing request.
		h.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return doReqHeader(t, method, url, body, h)
}

// doReqHeader sends exactly the headers given (and Go's own, such as Host
// and User-Agent): no Content-Type is added.
func doReqHeader(t testing.TB, method, url, body string, h http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if host := h.Get("Host"); host != "" {
		req.Host = host
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func mustPay(t testing.TB, s *Server, lane, amount string) response {
	t.Helper()
	r := doReq(t, "POST", s.URL()+"/api/v1/payments", `{"lane":"`+lane+`","amount":"`+amount+`","currency":"AED"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("pay: status %d: %s", r.status, r.raw)
	}
	return r
}

func TestServer_Pay(t *testing.T) {
	f := withLanes("1", "2")
	first := testOrder("F1000001", "1", 1250)
	first.Reference, first.IdempotencyKey = "R-1", "k1"
	var pays []posbridge.PayRequest
	f.PayFunc = func(_ context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error) {
		pays = append(pays, r)
		switch {
		case r.IdempotencyKey == "k1" && r.Lane == "1" && r.Amount == first.Amount && r.Reference == "R-1":
			return first, len(pays) > 1, nil
		case r.IdempotencyKey == "k1":
			return posbridge.Order{}, false, posbridge.Errorf(posbridge.EIDEMPOTENCY, "This Idempotency-Key was used for another payment.")
		case r.Lane == "1":
			return posbridge.Order{}, false, posbridge.Errorf(posbridge.ELANEBUSY, "Lane 1 has a payment in progress.")
		}
		t.Errorf("unexpected pay %+v", r)
		return posbridge.Order{}, false, errors.New("unexpected pay")
	}
	s := mustOpenServer(t, f, Config{Lanes: []string{"1", "2", "3"}})
	url := s.URL() + "/api/v1/payments"

	r := doReq(t, "POST", url, `{"lane":"1","amount":"12.50","currency":"AED","reference":"R-1"}`, "Idempotency-Key", "k1")
	if r.status != http.StatusCreated {
		t.Fatalf("first pay: status %d: %s", r.status, r.raw)
	}
	if got := pays[0]; got.Lane != "1" || got.Amount != aed(1250) || got.Reference != "R-1" || got.IdempotencyKey != "k1" ||
		got.Replaces != "" || got.By.Actor != posbridge.ActorAPI || !strings.HasPrefix(got.By.Who, "127.0.0.1:") {
		t.Errorf("the service was asked %+v", got)
	}
	no := str(r.body, "order_no")
	for k, want := range map[string]string{"lane": "1", "amount": "12.50", "currency": "AED", "status": "at_terminal",
		"reference": "R-1", "refunded": "0.00", "message": "Waiting for the customer on the terminal", "created_at": "2025-03-01T09:00:00Z"} {
		if got := str(r.body, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.body["paid_at"] != nil || r.body["next_check_at"] != nil {
		t.Errorf("paid_at/next_check_at = %v/%v, want null", r.body["paid_at"], r.body["next_check_at"])
	}

	t.Run("ReplaySameKey", func(t *testing.T) {
		r := doReq(t, "POST", url, `{"lane":"1","amount":"12.50","currency":"AED","reference":"R-1"}`, "Idempotency-Key", "k1")
		if r.status != http.StatusOK || str(r.body, "order_no") != no {
			t.Fatalf("replay: status %d order %q, want 200 %q: %s", r.status, str(r.body, "order_no"), no, r.raw)
		}
	})
	t.Run("ReplayAmountAsNumber", func(t *testing.T) {
		r := doReq(t, "POST", url, `{"lane":"1","amount":12.5,"currency":"AED","reference":"R-1"}`, "Idempotency-Key", "k1")
		if r.status != http.StatusOK || str(r.body, "order_no") != no {
			t.Fatalf("replay: status %d: %s", r.status, r.raw)
		}
	})

	tests := []struct {
		name, body string
		header     []string
		status     int
		code       string
		field      string
		bySvc      bool // refused by the service, not at the door
	}{
		{"ErrIdempotencyConflict", `{"lane":"1","amount":"13.00","currency":"AED"}`, []string{"Idempotency-Key", "k1"}, 409, posbridge.EIDEMPOTENCY, "", true},
		{"ErrLaneBusy", `{"lane":"1","amount":"5","currency":"AED"}`, nil, 409, posbridge.ELANEBUSY, "", true},
		{"ErrLaneMissing", `{"amount":"5","currency":"AED"}`, nil, 400, posbridge.EINVALID, "lane", false},
		{"ErrLaneUnknown", `{"lane":"9","amount":"5","currency":"AED"}`, nil, 400, posbridge.EINVALID, "lane", false},
		{"ErrCurrencyMissing", `{"lane":"2","amount":"5"}`, nil, 400, posbridge.EINVALID, "currency", false},
		{"ErrCurrencyUnknown", `{"lane":"2","amount":"5","currency":"XXX"}`, nil, 400, posbridge.EINVALID, "currency", false},
		{"ErrAmountMissing", `{"lane":"2","currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrAmountZero", `{"lane":"2","amount":"0.00","currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrAmountNegative", `{"lane":"2","amount":"-1","currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrAmountTooManyDecimals", `{"lane":"2","amount":"1.005","currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrAmountExponent", `{"lane":"2","amount":1e3,"currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrAmountText", `{"lane":"2","amount":"ten","currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrAmountTooLarge", `{"lane":"2","amount":"99999999999999999","currency":"AED"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrJPYDecimals", `{"lane":"2","amount":"5.5","currency":"JPY"}`, nil, 400, posbridge.EINVALID, "amount", false},
		{"ErrReferenceTooLong", `{"lane":"2","amount":"5","currency":"AED","reference":"` + strings.Repeat("x", 129) + `"}`, nil, 400, posbridge.EINVALID, "reference", false},
		{"ErrUnknownField", `{"lane":"2","amount":"5","currency":"AED","tip":"1"}`, nil, 400, posbridge.EINVALID, "tip", false},
		{"ErrWrongType", `{"lane":2,"amount":"5","currency":"AED"}`, nil, 400, posbridge.EINVALID, "lane", false},
		{"ErrMalformed", `{"lane":"2",`, nil, 400, posbridge.EINVALID, "", false},
		{"ErrSyntax", `{"lane" "2"}`, nil, 400, posbridge.EINVALID, "", false},
		{"ErrTwoValues", `{"lane":"2","amount":"5","currency":"AED"}{}`, nil, 400, posbridge.EINVALID, "", false},
		{"ErrTrailingGarbage", `{"lane":"2","amount":"5","currency":"AED"} x`, nil, 400, posbridge.EINVALID, "", false},
		{"ErrEmptyBody", ``, nil, 400, posbridge.EINVALID, "", false},
		{"ErrNotObject", `[1,2]`, nil, 400, posbridge.EINVALID, "", false},
		{"ErrOversized", `{"lane":"2","amount":"5","currency":"AED","reference":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, codeTooLarge, "", false},
		{"ErrIdempotencyKeyControlChars", `{"lane":"2","amount":"5","currency":"AED"}`, []string{"Idempotency-Key", "a\tb"}, 400, posbridge.EINVALID, "Idempotency-Key", false},
		{"ErrReplacesInvalid", `{"lane":"2","amount":"5","currency":"AED","replaces":"no-good"}`, nil, 400, posbridge.EINVALID, "replaces", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(pays)
			r := doReq(t, "POST", url, tt.body, tt.header...)
			if r.status != tt.status || r.errCode() != tt.code || r.errField() != tt.field {
				t.Fatalf("got %d %q field %q, want %d %q field %q: %s", r.status, r.errCode(), r.errField(), tt.status, tt.code, tt.field, r.raw)
			}
			if str(r.body, "error", "message") == "" {
				t.Errorf("no message: %s", r.raw)
			}
			if !tt.bySvc && len(pays) != before {
				t.Errorf("a request refused at the door reached Pay: %+v", pays[before:])
			}
		})
	}

	t.Run("ErrOversizedChunked", func(t *testing.T) {
		// No Content-Length: the limit must hold while reading.
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(`{"lane":"2","amount":"5","currency":"AED","reference":"`))
			_, _ = pw.Write([]byte(strings.Repeat("y", 100<<10)))
			_, _ = pw.Write([]byte(`"}`))
			_ = pw.Close()
		}()
		req, _ := http.NewRequest("POST", url, pr)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", res.StatusCode)
		}
	})
	t.Run("ErrWaitInvalid", func(t *testing.T) {
		r := doReq(t, "POST", url+"?wait=forever", `{"lane":"2","amount":"5","currency":"AED"}`)
		if r.status != 400 || r.errField() != "wait" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
}

func TestServer_PayWait(t *testing.T) {
	o := testOrder("F1000001", "1", 700)
	f := withLanes("1", "2")
	f.PayFunc = func(context.Context, posbridge.PayRequest) (posbridge.Order, bool, error) { return o, false, nil }
	f.AwaitFunc = func(_ context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
		if no != o.No {
			t.Errorf("awaited %s, want %s", no, o.No)
		}
		return paidOrder(o), nil
	}
	s := mustOpenServer(t, f, Config{})
	r := doReq(t, "POST", s.URL()+"/api/v1/payments?wait=30s", `{"lane":"1","amount":"7","currency":"AED"}`)
	if r.status != 201 || str(r.body, "status") != "paid" || str(r.body, "message") != "Payment successful" {
		t.Fatalf("got %d: %s", r.status, r.raw)
	}
	if str(r.body, "card", "last4") != "4242" || str(r.body, "paid_at") == "" {
		t.Errorf("card or paid_at missing: %s", r.raw)
	}
}

func TestServer_PaymentsList(t *testing.T) {
	f := &fakeService{}
	canceled := testOrder("F2000005", "2", 100)
	canceled.Status = posbridge.StatusCanceled
	page := posbridge.OrderPage{Orders: []posbridge.Order{testOrder("F1000006", "1", 200), canceled}, NextCursor: "4"}
	var asked []posbridge.OrderFilter
	f.PaymentsFunc = func(_ context.Context, flt posbridge.OrderFilter) (posbridge.OrderPage, error) {
		asked = append(asked, flt)
		return page, nil
	}
	s := mustOpenServer(t, f, Config{})

	yes := true
	for _, tt := range []struct {
		name, query string
		want        posbridge.OrderFilter
	}{
		{"All", "", posbridge.OrderFilter{Limit: 50}},
		{"ByStatus", "?status=at_terminal", posbridge.OrderFilter{Statuses: []posbridge.Status{posbridge.StatusAtTerminal}, Limit: 50}},
		{"ByStatuses", "?status=canceled,paid", posbridge.OrderFilter{Statuses: []posbridge.Status{posbridge.StatusCanceled, posbridge.StatusPaid}, Limit: 50}},
		{"ByLane", "?lane=2", posbridge.OrderFilter{Lane: "2", Limit: 50}},
		{"ByTime", "?from=2025-03-01T08:00:00Z&to=2025-03-01T10:00:00Z",
			posbridge.OrderFilter{From: testStart.Add(-time.Hour), To: testStart.Add(time.Hour), Limit: 50}},
		{"From", "?from=2025-03-01T09:00:01Z", posbridge.OrderFilter{From: testStart.Add(time.Second), Limit: 50}},
		{"NeedsAttention", "?needs_attention=true", posbridge.OrderFilter{NeedsAttention: &yes, Limit: 50}},
		{"Cursor", "?limit=4&cursor=4", posbridge.OrderFilter{Cursor: "4", Limit: 4}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := doReq(t, "GET", s.URL()+"/api/v1/payments"+tt.query, "")
			if r.status != 200 {
				t.Fatalf("list %s: %d %s", tt.query, r.status, r.raw)
			}
			if got := asked[len(asked)-1]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("asked the service for %+v, want %+v", got, tt.want)
			}
			var got []string
			for _, p := range r.body["payments"].([]any) {
				got = append(got, p.(map[string]any)["order_no"].(string))
			}
			if !slices.Equal(got, []string{"F1000006", "F2000005"}) || str(r.body, "next_cursor") != "4" {
				t.Fatalf("listed %v next %q, want the service's page in its order: %s", got, str(r.body, "next_cursor"), r.raw)
			}
		})
	}
	for _, tt := range []struct{ name, query, field string }{
		{"ErrStatus", "?status=lost", "status"},
		{"ErrFrom", "?from=yesterday", "from"},
		{"ErrFromAfterTo", "?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", "from"},
		{"ErrLimit", "?limit=0", "limit"},
		{"ErrNeedsAttention", "?needs_attention=maybe", "needs_attention"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(asked)
			r := doReq(t, "GET", s.URL()+"/api/v1/payments"+tt.query, "")
			if r.status != 400 || r.errField() != tt.field {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if len(asked) != before {
				t.Errorf("a refused query reached the service")
			}
		})
	}
}

func TestServer_PaymentActions(t *testing.T) {
	// One order the cashier cancels, one whose terminal answer was lost
	// (pending), which a check finds paid once the gateway knows it.
	book := &orderBook{}
	done := book.add(testOrder("F1000001", "1", 300))
	lost := testOrder("F2000002", "2", 4000)
	lost.Status, lost.Checks, lost.NextCheckAt = posbridge.StatusPending, 3, testStart.Add(30*time.Second)
	book.add(lost)
	f := &fakeService{}
	f.PaymentFunc, f.CancelFunc, f.VerifyFunc, f.RetryFunc = book.payment, book.cancel, book.verify, book.retry
	f.OverrideFunc, f.RefundFunc, f.RefundsFunc = book.override, book.refund, book.refundsOf
	s := mustOpenServer(t, f, Config{})
	base := s.URL() + "/api/v1/payments/"

	t.Run("Get", func(t *testing.T) {
		no := string(done)
		r := doReq(t, "GET", base+no, "")
		if r.status != 200 || str(r.body, "order_no") != no {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		if r := doReq(t, "GET", base+"NOPE1", ""); r.status != 404 || r.errCode() != posbridge.ENOTFOUND {
			t.Fatalf("missing: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "GET", base+strings.Repeat("A", 33), ""); r.status != 400 || r.errField() != "order_no" {
			t.Fatalf("bad no: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "POST", base+no+"/cancel", `{"reason":"customer left"}`, "X-Cashier", "Mona"); r.status != 200 || str(r.body, "status") != "canceled" {
			t.Fatalf("cancel: %d %s", r.status, r.raw)
		}
		if by := book.lastBy(); by.Actor != posbridge.ActorCashier || by.Who != "Mona" || by.Reason != "customer left" {
			t.Errorf("by = %+v", by)
		}
		if r := doReq(t, "POST", base+no+"/cancel", ""); r.status != 409 || r.errCode() != posbridge.EFINAL {
			t.Fatalf("cancel again: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "POST", base+no+"/retry", ""); r.status != 409 || r.errCode() != posbridge.EFINAL {
			t.Fatalf("retry final: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "POST", base+no+"/cancel", `{"why":"x"}`); r.status != 400 || r.errField() != "why" {
			t.Fatalf("unknown field: %d %s", r.status, r.raw)
		}
	})

	// A lost terminal answer: pending, then verify, retry, override.
	no := string(lost.No)
	t.Run("VerifyUnpaid", func(t *testing.T) {
		r := doReq(t, "POST", base+no+"/verify", "")
		if r.status != 200 || str(r.body, "status") != "pending" || str(r.body, "message") != "Not confirmed yet — do not take payment again" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		if by := book.lastBy(); by.Actor != posbridge.ActorAPI || !strings.HasPrefix(by.Who, "127.0.0.1:") {
			t.Errorf("by = %+v, want the API client's address", by)
		}
	})
	t.Run("Retry", func(t *testing.T) {
		r := doReq(t, "POST", base+no+"/retry", "")
		if r.status != 200 || str(r.body, "status") != "at_terminal" || r.body["attempts"] != 2.0 {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		book.change(lost.No, func(o *posbridge.Order) { // the terminal's answer is lost again
			o.Status, o.TerminalOutcome = posbridge.StatusVerifying, posbridge.OutcomeTimeout
		})
	})
	t.Run("Override", func(t *testing.T) {
		if r := doReq(t, "POST", base+no+"/override", `{"reason":"  "}`); r.status != 400 || r.errField() != "reason" {
			t.Fatalf("no reason: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "POST", base+no+"/override", ``); r.status != 400 {
			t.Fatalf("no body: %d %s", r.status, r.raw)
		}
		r := doReq(t, "POST", base+no+"/override", `{"reason":"receipt printed APPROVED","by":"Sam"}`)
		if r.status != 200 || str(r.body, "override", "by") != "Sam" || r.body["needs_attention"] != true || str(r.body, "status") != "verifying" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
		if by := book.lastBy(); by.Actor != posbridge.ActorCashier || by.Who != "Sam" || by.Reason != "receipt printed APPROVED" {
			t.Errorf("by = %+v", by)
		}
	})
	t.Run("ErrRefundUnpaid", func(t *testing.T) {
		r := doReq(t, "POST", base+no+"/refunds", `{"amount":"1","reason":"x"}`)
		if r.status != 409 || r.errCode() != posbridge.ECONFLICT {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("VerifyPaid", func(t *testing.T) {
		book.change(lost.No, func(*posbridge.Order) { book.gatewayPaid = true })
		r := doReq(t, "POST", base+no+"/verify", "{}")
		if r.status != 200 || str(r.body, "status") != "paid" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("Refunds", func(t *testing.T) {
		for _, tt := range []struct {
			body   string
			status int
			field  string
		}{
			{`{"amount":"15.00","reason":"returned shoes"}`, 201, ""},
			{`{"amount":"30.00","reason":"too much"}`, 400, "amount"},
			{`{"amount":"1.001","reason":"decimals"}`, 400, "amount"},
			{`{"amount":"1"}`, 400, "reason"},
			{`{"reason":"no amount"}`, 400, "amount"},
			{`{"amount":25,"reason":"the rest"}`, 201, ""},
		} {
			r := doReq(t, "POST", base+no+"/refunds", tt.body)
			if r.status != tt.status || r.errField() != tt.field {
				t.Fatalf("%s: got %d %s", tt.body, r.status, r.raw)
			}
		}
		r := doReq(t, "GET", base+no+"/refunds", "")
		refunds, _ := r.body["refunds"].([]any)
		if r.status != 200 || len(refunds) != 2 || str(refunds[0].(map[string]any), "amount") != "15.00" {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "GET", base+no, ""); str(r.body, "refunded") != "40.00" {
			t.Fatalf("refunded: %s", r.raw)
		}
		if r := doReq(t, "GET", base+"MISSING/refunds", ""); r.status != 404 {
			t.Fatalf("missing: %d", r.status)
		}
	})
}

func TestServer_LanesProbesMetrics(t *testing.T) {
	extra := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "posbridge_extra_total", Help: "test"})
	c.Add(3)
	extra.MustRegister(c)
	payment := testOrder("F1000001", "1", 999)
	var notReady error
	f := &fakeService{}
	f.LanesFunc = func(context.Context) ([]posbridge.LaneStatus, error) {
		return []posbridge.LaneStatus{lane("1", posbridge.LinkUp, &payment), lane("2", posbridge.LinkDown, nil)}, nil
	}
	f.ReadyFunc = func(context.Context) error { return notReady }
	f.StatsFunc = func(context.Context) (posbridge.Stats, error) {
		return posbridge.Stats{
			PaymentsByStatus: map[posbridge.Status]int{posbridge.StatusAtTerminal: 1},
			Verifications:    7,
			GatewayErrors:    map[string]uint64{"retryable": 2},
			Notifications:    map[string]uint64{"applied": 3, "duplicate": 1},
		}, nil
	}
	s := mustOpenServer(t, f, Config{Registry: extra})

	r := doReq(t, "GET", s.URL()+"/api/v1/lanes", "")
	lanes, _ := r.body["lanes"].([]any)
	if r.status != 200 || len(lanes) != 2 || str(r.body, "currency") != "AED" {
		t.Fatalf("lanes: %d %s", r.status, r.raw)
	}
	l1, l2 := lanes[0].(map[string]any), lanes[1].(map[string]any)
	if str(l1, "link", "state") != "up" || str(l1, "payment", "amount") != "9.99" || str(l2, "link", "state") != "down" || l2["payment"] != nil {
		t.Fatalf("lanes: %s", r.raw)
	}

	for _, p := range []string{"/healthz", "/api/v1/healthz", "/readyz", "/api/v1/readyz"} {
		if r := doReq(t, "GET", s.URL()+p, ""); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
	notReady = errors.New("database is locked")
	if r := doReq(t, "GET", s.URL()+"/readyz", ""); r.status != 503 || r.errCode() != posbridge.EUNAVAILABLE || strings.Contains(r.raw, "locked") {
		t.Errorf("readyz not ready: %d %s", r.status, r.raw)
	}

	for _, p := range []string{"/metrics", "/api/v1/metrics"} {
		r := doReq(t, "GET", s.URL()+p, "")
		for _, want := range []string{
			`posbridge_payments{status="at_terminal"} 1`,
			`posbridge_payments{status="paid"} 0`,
			`posbridge_verifications_total 7`,
			`posbridge_gateway_errors_total{class="retryable"} 2`,
			`posbridge_gateway_errors_total{class="unknown_outcome"} 0`,
			`posbridge_notifications_total{result="applied"} 3`,
			`posbridge_terminal_link_state{lane="1",state="up"} 1`,
			`posbridge_terminal_link_state{lane="2",state="down"} 1`,
			`posbridge_terminal_link_state{lane="2",state="up"} 0`,
			`posbridge_terminal_frame_errors_total{lane="1"} 1`,
			`posbridge_reconcile_backlog 0`,
			`posbridge_extra_total 3`,
		} {
			if !strings.Contains(r.raw, want) {
				t.Errorf("%s lacks %q", p, want)
			}
		}
	}
}

func TestServer_Errors(t *testing.T) {
	var payErr error
	f := withLanes("1", "2")
	f.PayFunc = func(context.Context, posbridge.PayRequest) (posbridge.Order, bool, error) {
		return posbridge.Order{}, false, payErr
	}
	s := mustOpenServer(t, f, Config{})
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"Internal", errors.New("disk I/O error at /var/lib/secret"), 500, posbridge.EINTERNAL},
		{"Unavailable", posbridge.Errorf(posbridge.EUNAVAILABLE, "The store is not ready."), 503, posbridge.EUNAVAILABLE},
		{"Conflict", posbridge.Errorf(posbridge.ECONFLICT, "No."), 409, posbridge.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payErr = tt.err
			r := doReq(t, "POST", s.URL()+"/api/v1/payments", `{"lane":"1","amount":"1","currency":"AED"}`)
			if r.status != tt.status || r.errCode() != tt.code {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if strings.Contains(r.raw, "secret") {
				t.Errorf("internal detail leaked: %s", r.raw)
			}
		})
	}
	t.Run("UnknownRoute", func(t *testing.T) {
		r := doReq(t, "GET", s.URL()+"/api/v1/nothing", "")
		if r.status != 404 || r.errCode() != posbridge.ENOTFOUND {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("WrongMethod", func(t *testing.T) {
		r := doReq(t, "DELETE", s.URL()+"/api/v1/payments", "")
		if r.status != http.StatusMethodNotAllowed {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("Page", func(t *testing.T) {
		r := doReq(t, "GET", s.URL()+"/", "")
		if r.status != 200 || !strings.Contains(r.raw, "<html") || !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("got %d %.200s", r.status, r.raw)
		}
	})
}

func TestServer_Auth(t *testing.T) {
	f := withLanes("1", "2")
	h := NewServer(f, Config{Token: "s3cret-token", Logger: discardLogger()}).Handler()
	noToken := NewServer(f, Config{Logger: discardLogger()}).Handler()
	tests := []struct {
		name    string
		handler http.Handler
		remote  string
		path    string
		auth    string
		status  int
	}{
		{"LoopbackV4", h, "127.0.0.1:5000", "/api/v1/lanes", "", 200},
		{"LoopbackV4Other", h, "127.3.4.5:5000", "/api/v1/lanes", "", 200},
		{"LoopbackV6", h, "[::1]:5000", "/api/v1/lanes", "", 200},
		{"ErrRemoteNoToken", h, "192.168.1.20:5000", "/api/v1/lanes", "", 401},
		{"ErrRemoteNotBearer", h, "192.168.1.20:5000", "/api/v1/lanes", "Basic czNjcmV0", 401},
		{"ErrRemoteWrongToken", h, "192.168.1.20:5000", "/api/v1/lanes", "Bearer s3cret-tokeN", 403},
		{"ErrRemotePrefixToken", h, "192.168.1.20:5000", "/api/v1/lanes", "Bearer s3cret", 403},
		{"RemoteToken", h, "192.168.1.20:5000", "/api/v1/lanes", "Bearer s3cret-token", 200},
		{"ErrRemoteV6", h, "[fe80::1]:5000", "/api/v1/payments", "", 401},
		{"ErrRemotePage", h, "10.0.0.2:5000", "/", "", 401},
		{"ErrRemoteMetrics", h, "10.0.0.2:5000", "/metrics", "", 401},
		{"RemoteHealthz", h, "10.0.0.2:5000", "/healthz", "", 200},
		{"ErrNoTokenConfigured", noToken, "10.0.0.2:5000", "/api/v1/lanes", "Bearer anything", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://127.0.0.1:8080"+tt.path, nil)
			req.RemoteAddr = tt.remote
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("RealNonLoopback", func(t *testing.T) {
		ip := nonLoopbackIP(t)
		if ip == "" {
			t.Log("this machine has no non-loopback address; the RemoteAddr cases above cover the check")
			return
		}
		s := mustOpenServer(t, f, Config{Addr: net.JoinHostPort(ip, "0"), Token: "tok"})
		if r := doReq(t, "GET", s.URL()+"/api/v1/lanes", ""); r.status != 401 || r.errCode() != codeUnauthorized {
			t.Fatalf("no token: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "GET", s.URL()+"/api/v1/lanes", "", "Authorization", "Bearer nope"); r.status != 403 {
			t.Fatalf("wrong token: %d %s", r.status, r.raw)
		}
		if r := doReq(t, "GET", s.URL()+"/api/v1/lanes", "", "Authorization", "Bearer tok"); r.status != 200 {
			t.Fatalf("token: %d %s", r.status, r.raw)
		}
	})
}

// nonLoopbackIP returns an address of this machine that is not loopback,
// or "" when there is none.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

func TestServer_Open(t *testing.T) {
	t.Run("DefaultsToLoopback", func(t *testing.T) {
		if got := NewServer(&fakeService{}, Config{}).Addr(); got != "127.0.0.1:8080" {
			t.Fatalf("default addr %q", got)
		}
	})
	t.Run("ErrPortInUse", func(t *testing.T) {
		s := mustOpenServer(t, &fakeService{}, Config{})
		s2 := NewServer(&fakeService{}, Config{Addr: s.Addr(), Logger: discardLogger()})
		if err := s2.Open(); err == nil {
			_ = s2.Close(context.Background())
			t.Fatal("second Open on the same port succeeded")
		}
	})
}

// TestServer_CloseTwice: a second Close returns instead of waiting forever
// for a serve result the first one consumed.
func TestServer_CloseTwice(t *testing.T) {
	s := NewServer(&fakeService{}, Config{Addr: "127.0.0.1:0", Logger: discardLogger()})
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
