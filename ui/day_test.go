package ui

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/posbridge/posbridge"
)

// fakeDay is a DayService answering a fixed record and report.
type fakeDay struct {
	closed []string
	by     []posbridge.By
	err    error
}

func dayAED(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }

func (f *fakeDay) record(date string) posbridge.DayClose {
	at := time.Date(2026, 3, 10, 19, 30, 0, 0, time.UTC)
	return posbridge.DayClose{Date: date, FirstRunAt: at, LastRunAt: at, Runs: len(f.closed), Items: []posbridge.DayItem{
		{Kind: posbridge.DayOrder, No: "M1", Bucket: posbridge.BucketMatched, Action: posbridge.ActNone, LocalStatus: "paid", GatewayStatus: "paid", LocalAmount: dayAED(1000), GatewayAmount: dayAED(1000)},
		{Kind: posbridge.DayOrder, No: "G1", Bucket: posbridge.BucketOnlyGateway, Action: posbridge.ActImport, GatewayStatus: "paid", GatewayAmount: dayAED(2500),
			Detail: "=cmd|' /C calc'!A0", Result: "imported paid, needs attention"},
		{Kind: posbridge.DayRefund, No: "R1", OrigNo: "M1", Bucket: posbridge.BucketOnlyGateway, Action: posbridge.ActFlag, GatewayStatus: "success", GatewayAmount: dayAED(300)},
	}}
}

func (f *fakeDay) CloseDay(ctx context.Context, date string, by posbridge.By) (posbridge.DayClose, error) {
	if f.err != nil {
		return posbridge.DayClose{}, f.err
	}
	if date == "" {
		date = "2026-03-10"
	}
	f.closed = append(f.closed, date)
	f.by = append(f.by, by)
	return f.record(date), nil
}

func (f *fakeDay) DayReport(ctx context.Context, date string) (posbridge.DayReport, error) {
	if date == "" {
		date = "2026-03-10"
	}
	rec := f.record(date)
	orders := []posbridge.Order{
		{No: "M1", Lane: "1", Amount: dayAED(1000), Status: posbridge.StatusPaid, Card: posbridge.Card{Brand: "VISA", Last4: "4242"}},
		{No: "G1", Lane: posbridge.ImportLane, Amount: dayAED(2500), Status: posbridge.StatusPaid, NeedsAttention: true, Attention: posbridge.AttentionOnlyAtGateway},
		{No: "F1", Lane: "2", Amount: dayAED(700), Status: posbridge.StatusFailed},
	}
	refunds := []posbridge.Refund{{No: "R2", OrderNo: "M1", Amount: dayAED(200), Status: posbridge.RefundSucceeded}}
	at := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	return posbridge.BuildDayReport(date, at, at.AddDate(0, 0, 1), at.Add(20*time.Hour), orders,
		map[posbridge.OrderNo]string{"M1": "amira"}, refunds, &rec), nil
}

func TestDay_RoutesMatchSpec(t *testing.T) {
	doc := loadSpec(t)
	day := &fakeDay{}
	s := mustOpenServer(t, &fakeService{}, Config{Lanes: []string{"1"}, Day: day})
	host := s.Addr()
	calls := []struct {
		name, method, template, path, body string
		header                             []string
		want                               int
		before                             func()
	}{
		{name: "close today", method: "POST", template: "/api/v1/day/close", want: 200, header: []string{"X-Cashier", "Supervisor Huda"}},
		{name: "close a date", method: "POST", template: "/api/v1/day/close", body: `{"date":"2026-03-09"}`, want: 200},
		{name: "close a bad date", method: "POST", template: "/api/v1/day/close", body: `{"date":"9/3/2026"}`, want: 400},
		{name: "close an unknown field", method: "POST", template: "/api/v1/day/close", body: `{"day":"2026-03-09"}`, want: 400},
		{name: "close not json", method: "POST", template: "/api/v1/day/close", body: `{}`, header: []string{"Content-Type", "text/plain"}, want: 415},
		{name: "close, gateway down", method: "POST", template: "/api/v1/day/close", want: 503,
			before: func() {
				day.err = &posbridge.Error{Code: posbridge.EUNAVAILABLE, Message: "The gateway's list of orders could not be read; nothing was changed. Try again."}
			}},
		{name: "report", method: "GET", template: "/api/v1/day/report", path: "/api/v1/day/report?date=2026-03-10", want: 200},
		{name: "report csv", method: "GET", template: "/api/v1/day/report", path: "/api/v1/day/report?format=csv", want: 200},
		{name: "report bad format", method: "GET", template: "/api/v1/day/report", path: "/api/v1/day/report?format=xml", want: 400},
		{name: "report bad date", method: "GET", template: "/api/v1/day/report", path: "/api/v1/day/report?date=yesterday", want: 400},
	}
	for _, c := range calls {
		if c.before != nil {
			c.before()
		}
		path := c.path
		if path == "" {
			path = c.template
		}
		r := doReq(t, c.method, s.URL()+path, c.body, c.header...)
		if r.status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, r.status, c.want, r.raw)
			continue
		}
		item := doc.Paths.Value(c.template)
		op := item.GetOperation(c.method)
		req := httptest.NewRequest(c.method, "http://"+host+path, strings.NewReader(c.body))
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req,
				Route:   &routers.Route{Spec: doc, Path: c.template, PathItem: item, Method: c.method, Operation: op},
				Options: &openapi3filter.Options{IncludeResponseStatus: true}},
			Status: r.status, Header: r.header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		in.SetBodyBytes([]byte(r.raw))
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("%s: does not match openapi.yaml: %v\n%.300s", c.name, err, r.raw)
		}
		if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			var v any
			_ = json.Unmarshal([]byte(r.raw), &v)
			mt := op.Responses.Status(r.status).Value.Content.Get("application/json")
			if extra := undocumentedFields(mt.Schema.Value, v, "$"); len(extra) > 0 {
				t.Errorf("%s: fields openapi.yaml does not name: %q", c.name, extra)
			}
		}
	}
	if len(day.closed) != 2 || day.closed[1] != "2026-03-09" || day.by[0].Who != "Supervisor Huda" {
		t.Errorf("closed %v by %+v", day.closed, day.by)
	}
}

func TestDay_ReportCSV(t *testing.T) {
	rep, _ := (&fakeDay{}).DayReport(context.Background(), "2026-03-10")
	b, err := reportCSV(rep)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows {
		got[r[0]+"/"+r[1]] = r[2:]
	}
	for key, want := range map[string][]string{
		"paid/AED": {"2", "35.00", "AED"}, "refunded/AED": {"1", "2.00", "AED"}, "net/AED": {"0", "33.00", "AED"},
		"brand/VISA": {"1", "10.00", "AED"}, "brand/unknown": {"1", "25.00", "AED"}, "lane/gateway": {"1", "25.00", "AED"},
		"cashier/amira": {"1", "10.00", "AED"}, "status/failed": {"1", "7.00", "AED"}, "reconciliation/only_gateway": {"2", "", ""},
	} {
		if g := got[key]; strings.Join(g, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %v, want %v", key, g, want)
		}
	}
	if strings.Contains(string(b), ",=cmd") || !strings.Contains(string(b), "'=cmd") {
		t.Errorf("a formula reached the CSV unquoted:\n%s", b)
	}
}

func TestDay_ReportPage(t *testing.T) {
	s := mustOpenServer(t, &fakeService{}, Config{Day: &fakeDay{}})
	for _, c := range []struct{ lang, dir, word string }{{"", "ltr", "Day report"}, {"ar", "rtl", "تقرير اليوم"}} {
		r := doReq(t, "GET", s.URL()+"/day/report?date=2026-03-10&lang="+c.lang, "")
		if r.status != 200 || !strings.Contains(r.raw, `dir="`+c.dir+`"`) || !strings.Contains(r.raw, c.word) ||
			!strings.Contains(r.raw, `data-total="paid" data-currency="AED" data-count="2">35.00`) {
			t.Errorf("lang %q: %d\n%.600s", c.lang, r.status, r.raw)
		}
	}
	if r := doReq(t, "GET", s.URL()+"/day/report?lang=fr", ""); r.status != 400 {
		t.Errorf("lang fr: %d", r.status)
	}
	// Without a DayService the day routes answer 404.
	plain := mustOpenServer(t, &fakeService{}, Config{})
	if r := doReq(t, "POST", plain.URL()+"/api/v1/day/close", ""); r.status != 404 {
		t.Errorf("day close without a day service: %d", r.status)
	}
}
