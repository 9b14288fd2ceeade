package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/posbridge/posbridge"
)

// loadSpec parses and validates ui/openapi.yaml.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	return doc
}

func TestOpenAPI_OperationIDs(t *testing.T) {
	doc := loadSpec(t)
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
				continue
			}
			if prev, ok := seen[op.OperationID]; ok {
				t.Errorf("operationId %q of %s is also %s's", op.OperationID, where, prev)
			}
			seen[op.OperationID] = where
		}
	}
	// A wrong method on a known route is 405 with an Allow header; the spec
	// must say so (it cannot be an operation's response).
	if !strings.Contains(doc.Info.Description, "405") || !strings.Contains(doc.Info.Description, "Allow") {
		t.Errorf("info.description does not document 405 method_not_allowed and its Allow header")
	}
}

// undocumentedFields lists the keys of v that schema s does not declare,
// recursively, as JSON paths.
func undocumentedFields(s *openapi3.Schema, v any, at string) []string {
	if s == nil {
		return nil
	}
	props := map[string]*openapi3.SchemaRef{}
	var collect func(s *openapi3.Schema)
	collect = func(s *openapi3.Schema) {
		for k, p := range s.Properties {
			props[k] = p
		}
		for _, sub := range s.AllOf {
			collect(sub.Value)
		}
	}
	collect(s)
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if len(props) == 0 {
			return nil
		}
		for k, val := range v {
			p, ok := props[k]
			if !ok {
				out = append(out, at+"."+k)
				continue
			}
			out = append(out, undocumentedFields(p.Value, val, at+"."+k)...)
		}
	case []any:
		if s.Items != nil {
			for _, item := range v {
				out = append(out, undocumentedFields(s.Items.Value, item, at+"[]")...)
			}
		}
	}
	return out
}

// TestOpenAPI_ResponsesMatchSpec sends every route the requests that give
// each of its answers and checks each answer against ui/openapi.yaml: the
// status is documented for the operation, the body validates against its
// schema, and it has no field the schema does not name.
func TestOpenAPI_ResponsesMatchSpec(t *testing.T) {
	doc := loadSpec(t)
	book := &orderBook{}
	paidNo := book.add(paidOrder(testOrder("F1000001", "1", 2000)))
	paid := string(paidNo)
	f := &fakeService{}
	f.PaymentFunc, f.PaymentsFunc, f.CancelFunc, f.VerifyFunc, f.RetryFunc = book.payment, book.list, book.cancel, book.verify, book.retry
	f.OverrideFunc, f.RefundFunc, f.RefundsFunc, f.VoidFunc = book.override, book.refund, book.refundsOf, book.void
	f.PayFunc = func(ctx context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error) {
		if o, err := book.payment(ctx, "F1000002"); err == nil {
			if r.IdempotencyKey == "k1" {
				return o, true, nil
			}
			return posbridge.Order{}, false, posbridge.Errorf(posbridge.ELANEBUSY, "Lane 1 has a payment in progress.")
		}
		o := testOrder("F1000002", r.Lane, r.Amount.Minor)
		o.IdempotencyKey = r.IdempotencyKey
		book.add(o)
		return o, false, nil
	}
	f.LanesFunc = func(ctx context.Context) ([]posbridge.LaneStatus, error) {
		o, err := book.payment(ctx, paidNo)
		return []posbridge.LaneStatus{lane("1", posbridge.LinkUp, &o), lane("2", posbridge.LinkDown, nil)}, err
	}
	f.ReadyFunc = ready
	f.StatsFunc = func(context.Context) (posbridge.Stats, error) {
		return posbridge.Stats{PaymentsByStatus: map[posbridge.Status]int{posbridge.StatusPaid: 1}, Verifications: 1}, nil
	}
	s := mustOpenServer(t, f, Config{Lanes: []string{"1", "2"}, Settlement: &fakeSettlement{}})
	host := s.Addr()
	open := ""

	type call struct {
		name     string
		method   string
		template string // the spec's path
		path     string // what is requested; "" means template
		body     string
		header   []string
		want     int
		before   func()
	}
	pay := `{"lane":"1","amount":"3.00","currency":"AED"}`
	calls := []call{
		{name: "pay", method: "POST", template: "/api/v1/payments", body: pay, header: []string{"Idempotency-Key", "k1"}, want: 201},
		{name: "pay replay", method: "POST", template: "/api/v1/payments", body: pay, header: []string{"Idempotency-Key", "k1"}, want: 200},
		{name: "pay busy", method: "POST", template: "/api/v1/payments", body: pay, want: 409},
		{name: "pay invalid", method: "POST", template: "/api/v1/payments", body: `{"lane":"1","amount":"-1","currency":"AED"}`, want: 400},
		{name: "pay terminal down", method: "POST", template: "/api/v1/payments", body: `{"lane":"2","amount":"1","currency":"AED"}`, want: 503},
		{name: "pay not json", method: "POST", template: "/api/v1/payments", body: pay, header: []string{"Content-Type", "text/plain"}, want: 415},
		{name: "pay foreign origin", method: "POST", template: "/api/v1/payments", body: pay, header: []string{"Origin", "http://evil.test"}, want: 403},
		{name: "pay wrong host", method: "POST", template: "/api/v1/payments", body: pay, header: []string{"Host", "evil.test"}, want: 421},
		{name: "pay too large", method: "POST", template: "/api/v1/payments", body: `{"reference":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`, want: 413},
		{name: "pay wait too long", method: "POST", template: "/api/v1/payments", path: "/api/v1/payments?wait=1h", body: pay, want: 400},
		{name: "list", method: "GET", template: "/api/v1/payments", path: "/api/v1/payments?limit=2", want: 200},
		{name: "list invalid", method: "GET", template: "/api/v1/payments", path: "/api/v1/payments?status=nope", want: 400},
		{name: "payment", method: "GET", template: "/api/v1/payments/{order_no}", path: "/api/v1/payments/" + paid, want: 200},
		{name: "payment unknown", method: "GET", template: "/api/v1/payments/{order_no}", path: "/api/v1/payments/NOSUCH1", want: 404},
		{name: "payment bad number", method: "GET", template: "/api/v1/payments/{order_no}", path: "/api/v1/payments/a-b", want: 400},
		{name: "verify", method: "POST", template: "/api/v1/payments/{order_no}/verify", path: "/api/v1/payments/" + paid + "/verify", want: 200},
		{name: "verify unknown", method: "POST", template: "/api/v1/payments/{order_no}/verify", path: "/api/v1/payments/NOSUCH1/verify", want: 404},
		{name: "cancel final", method: "POST", template: "/api/v1/payments/{order_no}/cancel", path: "/api/v1/payments/" + paid + "/cancel", want: 409},
		{name: "override no reason", method: "POST", template: "/api/v1/payments/{order_no}/override", path: "/api/v1/payments/" + paid + "/override", body: `{}`, want: 400},
		{name: "refund", method: "POST", template: "/api/v1/payments/{order_no}/refunds", path: "/api/v1/payments/" + paid + "/refunds", body: `{"amount":"5.00","reason":"returned"}`, header: []string{"Idempotency-Key", "r1"}, want: 201},
		{name: "refund replay", method: "POST", template: "/api/v1/payments/{order_no}/refunds", path: "/api/v1/payments/" + paid + "/refunds", body: `{"amount":"5.00","reason":"returned"}`, header: []string{"Idempotency-Key", "r1"}, want: 200},
		{name: "refund no reason", method: "POST", template: "/api/v1/payments/{order_no}/refunds", path: "/api/v1/payments/" + paid + "/refunds", body: `{"amount":"5.00"}`, want: 400},
		{name: "card-present refund", method: "POST", template: "/api/v1/payments/{order_no}/refunds", path: "/api/v1/payments/" + paid + "/refunds", body: `{"amount":"1.00","reason":"returned","method":"card_present"}`, want: 201},
		{name: "void of a refunded payment", method: "POST", template: "/api/v1/payments/{order_no}/void", path: "/api/v1/payments/" + paid + "/void", body: `{"reason":"wrong item"}`, want: 409},
		{name: "void no reason", method: "POST", template: "/api/v1/payments/{order_no}/void", path: "/api/v1/payments/" + paid + "/void", body: `{}`, want: 400},
		{name: "settle", method: "POST", template: "/api/v1/lanes/{lane}/settle", path: "/api/v1/lanes/1/settle", want: 200},
		{name: "settle unknown lane", method: "POST", template: "/api/v1/lanes/{lane}/settle", path: "/api/v1/lanes/9/settle", want: 404},
		{name: "refunds", method: "GET", template: "/api/v1/payments/{order_no}/refunds", path: "/api/v1/payments/" + paid + "/refunds", want: 200},
		{name: "refunds unknown", method: "GET", template: "/api/v1/payments/{order_no}/refunds", path: "/api/v1/payments/NOSUCH1/refunds", want: 404},
		{name: "lanes", method: "GET", template: "/api/v1/lanes", want: 200},
		{name: "events without upgrade", method: "GET", template: "/api/v1/events", want: 400},
		{name: "healthz", method: "GET", template: "/api/v1/healthz", want: 200},
		{name: "readyz", method: "GET", template: "/api/v1/readyz", want: 200},
		{name: "metrics", method: "GET", template: "/api/v1/metrics", want: 200},
		{name: "root healthz", method: "GET", template: "/healthz", want: 200},
		{name: "root readyz", method: "GET", template: "/readyz", want: 200},
		{name: "root metrics", method: "GET", template: "/metrics", want: 200},
		{name: "status, lane 2 down", method: "GET", template: "/status", want: 503},
		{name: "day close without a day service", method: "POST", template: "/api/v1/day/close", want: 404},
		{name: "day report without a day service", method: "GET", template: "/api/v1/day/report", want: 404},
		// Open orders, made just before their calls.
		{name: "cancel", method: "POST", template: "/api/v1/payments/{order_no}/cancel", want: 200, before: func() {
			open = str(doReq(t, "GET", s.URL()+"/api/v1/payments?status=at_terminal", "").body["payments"].([]any)[0].(map[string]any), "order_no")
		}},
		{name: "retry", method: "POST", template: "/api/v1/payments/{order_no}/retry", want: 200, before: func() {
			// A payment whose terminal answer was lost: pending.
			lost := testOrder("F1000003", "1", 400)
			lost.Status, lost.TerminalOutcome, lost.Checks, lost.NextCheckAt = posbridge.StatusPending, posbridge.OutcomeTimeout, 3, testStart.Add(30*time.Second)
			open = string(book.add(lost))
		}},
		{name: "override", method: "POST", template: "/api/v1/payments/{order_no}/override", body: `{"reason":"seen approved","by":"Mona"}`, want: 200},
		{name: "check a paid payment", method: "POST", template: "/api/v1/payments/{order_no}/check", path: "/api/v1/payments/" + paid + "/check", want: 200},
		{name: "check unknown", method: "POST", template: "/api/v1/payments/{order_no}/check", path: "/api/v1/payments/NOSUCH1/check", want: 404},
		{name: "qr code of a terminal payment", method: "GET", template: "/api/v1/payments/{order_no}/qr.png", path: "/api/v1/payments/" + paid + "/qr.png", want: 404},
		{name: "qr code bad number", method: "GET", template: "/api/v1/payments/{order_no}/qr.png", path: "/api/v1/payments/a-b/qr.png", want: 400},
		{name: "cancel after override", method: "POST", template: "/api/v1/payments/{order_no}/cancel", want: 200},
		{name: "void", method: "POST", template: "/api/v1/payments/{order_no}/void", body: `{"reason":"wrong item"}`, header: []string{"Idempotency-Key", "v1"}, want: 201, before: func() {
			open = string(book.add(paidOrder(testOrder("F1000004", "1", 600))))
		}},
	}
	covered := map[string]bool{}
	for _, c := range calls {
		if c.before != nil {
			c.before()
		}
		path := c.path
		if path == "" {
			path = strings.ReplaceAll(c.template, "{order_no}", open)
		}
		r := doReq(t, c.method, s.URL()+path, c.body, c.header...)
		if r.status != c.want {
			t.Errorf("%s: %s %s answered %d, want %d: %s", c.name, c.method, path, r.status, c.want, r.raw)
			continue
		}
		item := doc.Paths.Value(c.template)
		if item == nil {
			t.Errorf("%s: %s is not in openapi.yaml", c.name, c.template)
			continue
		}
		op := item.GetOperation(c.method)
		if op == nil {
			t.Errorf("%s: %s %s is not in openapi.yaml", c.name, c.method, c.template)
			continue
		}
		covered[c.method+" "+c.template] = true
		req := httptest.NewRequest(c.method, "http://"+host+path, strings.NewReader(c.body))
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{
				Request: req,
				Route:   &routers.Route{Spec: doc, Path: c.template, PathItem: item, Method: c.method, Operation: op},
				Options: &openapi3filter.Options{IncludeResponseStatus: true},
			},
			Status:  r.status,
			Header:  r.header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		in.SetBodyBytes([]byte(r.raw))
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s: %s %s → %d does not match openapi.yaml: %v\nbody: %.300s", c.name, c.method, path, r.status, err, r.raw)
			continue
		}
		ct := r.header.Get("Content-Type")
		resp := op.Responses.Status(r.status)
		if resp == nil || !strings.HasPrefix(ct, "application/json") {
			continue
		}
		mt := resp.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.raw), &v); err != nil {
			t.Errorf("%s: body is not JSON: %v", c.name, err)
			continue
		}
		if extra := undocumentedFields(mt.Schema.Value, v, "$"); len(extra) > 0 {
			sort.Strings(extra)
			t.Errorf("%s: %s %s → %d has fields openapi.yaml does not name: %q", c.name, c.method, path, r.status, slices.Compact(extra))
		}
	}
	// Every route is exercised.
	for _, rt := range s.routes {
		if !covered[rt.method+" "+rt.path] {
			t.Errorf("no call covers %s %s", rt.method, rt.path)
		}
	}

	// A wrong method is 405 with Allow and the Error body.
	r := doReq(t, "DELETE", s.URL()+"/api/v1/payments", "")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" || r.errCode() != codeMethod {
		t.Errorf("DELETE /api/v1/payments: %d Allow=%q %s", r.status, r.header.Get("Allow"), r.raw)
	}
	var v any
	_ = json.Unmarshal([]byte(r.raw), &v)
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		t.Errorf("the 405 body is not an Error: %v", err)
	}
}
