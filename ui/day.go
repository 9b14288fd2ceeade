package ui

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/posbridge/posbridge"
)

// The day's routes, served only when Config.Day is set: closing a day
// (reconciling it with the gateway) and its report as JSON, CSV and a
// printable HTML page (report.go).

type dayItemJSON struct {
	Kind            string `json:"kind"`
	No              string `json:"no"`
	OrigNo          string `json:"orig_no"`
	Bucket          string `json:"bucket"`
	Action          string `json:"action"`
	LocalStatus     string `json:"local_status"`
	GatewayStatus   string `json:"gateway_status"`
	LocalAmount     string `json:"local_amount"`
	LocalCurrency   string `json:"local_currency"`
	GatewayAmount   string `json:"gateway_amount"`
	GatewayCurrency string `json:"gateway_currency"`
	Detail          string `json:"detail"`
	Result          string `json:"result"`
}

type dayCountsJSON struct {
	Matched     int `json:"matched"`
	OnlyGateway int `json:"only_gateway"`
	OnlyLocal   int `json:"only_local"`
	Different   int `json:"different"`
}

type dayCloseJSON struct {
	Date       string        `json:"date"`
	FirstRunAt *string       `json:"first_run_at"`
	LastRunAt  *string       `json:"last_run_at"`
	Runs       int           `json:"runs"`
	Counts     dayCountsJSON `json:"counts"`
	Items      []dayItemJSON `json:"items"`
}

type reportLineJSON struct {
	Key      string `json:"key"`
	Count    int    `json:"count"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

type dayReportJSON struct {
	Date        string           `json:"date"`
	From        *string          `json:"from"`
	To          *string          `json:"to"`
	GeneratedAt *string          `json:"generated_at"`
	Orders      int              `json:"orders"`
	Paid        []reportLineJSON `json:"paid"`
	Refunded    []reportLineJSON `json:"refunded"`
	Net         []reportLineJSON `json:"net"`
	ByStatus    []reportLineJSON `json:"by_status"`
	ByBrand     []reportLineJSON `json:"by_brand"`
	ByLane      []reportLineJSON `json:"by_lane"`
	ByCashier   []reportLineJSON `json:"by_cashier"`
	Refunds     []reportLineJSON `json:"refunds"`
	// RefundMethods: refunds not failed by method (gateway, terminal_refund, terminal_void).
	RefundMethods []reportLineJSON `json:"refund_methods"`
	Attention     []paymentJSON    `json:"attention"`
	Close         *dayCloseJSON    `json:"close"`
}

// amountText is a Money's decimal, "" when it has no currency (absent).
func amountText(m posbridge.Money) string {
	if m.Currency == "" {
		return ""
	}
	return m.Decimal()
}

func toDayClose(d posbridge.DayClose) dayCloseJSON {
	c := d.Counts()
	out := dayCloseJSON{Date: d.Date, FirstRunAt: timeJSON(d.FirstRunAt), LastRunAt: timeJSON(d.LastRunAt), Runs: d.Runs,
		Counts: dayCountsJSON{Matched: c[posbridge.BucketMatched], OnlyGateway: c[posbridge.BucketOnlyGateway],
			OnlyLocal: c[posbridge.BucketOnlyLocal], Different: c[posbridge.BucketDifferent]},
		Items: []dayItemJSON{}}
	for _, it := range d.Items {
		out.Items = append(out.Items, dayItemJSON{Kind: string(it.Kind), No: string(it.No), OrigNo: string(it.OrigNo),
			Bucket: string(it.Bucket), Action: string(it.Action), LocalStatus: it.LocalStatus, GatewayStatus: it.GatewayStatus,
			LocalAmount: amountText(it.LocalAmount), LocalCurrency: it.LocalAmount.Currency,
			GatewayAmount: amountText(it.GatewayAmount), GatewayCurrency: it.GatewayAmount.Currency,
			Detail: it.Detail, Result: it.Result})
	}
	return out
}

func toLines(ls []posbridge.ReportLine) []reportLineJSON {
	out := make([]reportLineJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, reportLineJSON{Key: l.Key, Count: l.Count, Amount: l.Amount.Decimal(), Currency: l.Currency})
	}
	return out
}

func toDayReport(r posbridge.DayReport) dayReportJSON {
	out := dayReportJSON{Date: r.Date, From: timeJSON(r.From), To: timeJSON(r.To), GeneratedAt: timeJSON(r.GeneratedAt),
		Orders: r.Orders, Paid: toLines(r.Paid), Refunded: toLines(r.Refunded), Net: toLines(r.Net),
		ByStatus: toLines(r.ByStatus), ByBrand: toLines(r.ByBrand), ByLane: toLines(r.ByLane), ByCashier: toLines(r.ByCashier),
		Refunds: toLines(r.Refunds), RefundMethods: toLines(r.RefundMethods), Attention: []paymentJSON{}}
	for _, o := range r.Attention {
		out.Attention = append(out.Attention, toPayment(o))
	}
	if r.Close != nil {
		c := toDayClose(*r.Close)
		out.Close = &c
	}
	return out
}

// needDay answers 404 when no DayService is configured (a gateway that
// cannot list a day).
func (s *Server) needDay(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Day == nil {
			writeError(w, r, s.logger, posbridge.Errorf(posbridge.ENOTFOUND, "Closing the day is not available: the gateway cannot list a day's orders."))
			return
		}
		h(w, r)
	}
}

// dayRequest is the body of POST /day/close.
type dayRequest struct {
	Date string `json:"date"`
}

// dateOf checks a date given by a client: "" (today) or YYYY-MM-DD.
func dateOf(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return "", invalid("date", "The date must be YYYY-MM-DD, like \"2026-03-10\".")
	}
	return s, nil
}

func (s *Server) handleDayClose(w http.ResponseWriter, r *http.Request) error {
	var req dayRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	date, err := dateOf(req.Date)
	if err != nil {
		return err
	}
	by, err := byOf(r)
	if err != nil {
		return err
	}
	d, err := s.cfg.Day.CloseDay(r.Context(), date, by)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDayClose(d))
	return nil
}

// report loads the report of the request's ?date= (today when absent).
func (s *Server) report(r *http.Request) (posbridge.DayReport, error) {
	date, err := dateOf(r.URL.Query().Get("date"))
	if err != nil {
		return posbridge.DayReport{}, err
	}
	return s.cfg.Day.DayReport(r.Context(), date)
}

func (s *Server) handleDayReport(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return invalid("format", "The format is json or csv.")
	}
	rep, err := s.report(r)
	if err != nil {
		return err
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, toDayReport(rep))
		return nil
	}
	body, err := reportCSV(rep)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="posbridge-day-`+rep.Date+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
	return nil
}

// reportCSV writes the report as rows of section, key, count, amount,
// currency: one table a spreadsheet reads whole. Text cells that a
// spreadsheet would run as a formula are quoted with a leading '.
func reportCSV(r posbridge.DayReport) ([]byte, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cell := func(s string) string {
		if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
			return "'" + s
		}
		return s
	}
	rows := [][]string{{"section", "key", "count", "amount", "currency"}, {"date", r.Date, strconv.Itoa(r.Orders), "", ""}}
	for _, sec := range []struct {
		name  string
		lines []posbridge.ReportLine
	}{
		{"paid", r.Paid}, {"refunded", r.Refunded}, {"net", r.Net}, {"status", r.ByStatus}, {"brand", r.ByBrand},
		{"lane", r.ByLane}, {"cashier", r.ByCashier}, {"refund_status", r.Refunds}, {"refund_method", r.RefundMethods},
	} {
		for _, l := range sec.lines {
			rows = append(rows, []string{sec.name, cell(l.Key), strconv.Itoa(l.Count), l.Amount.Decimal(), l.Currency})
		}
	}
	for _, o := range r.Attention {
		rows = append(rows, []string{"attention", string(o.No), "1", o.Amount.Decimal(), o.Amount.Currency})
	}
	if c := r.Close; c != nil {
		counts := c.Counts()
		for _, b := range []posbridge.DayBucket{posbridge.BucketMatched, posbridge.BucketOnlyGateway, posbridge.BucketOnlyLocal, posbridge.BucketDifferent} {
			rows = append(rows, []string{"reconciliation", string(b), strconv.Itoa(counts[b]), "", ""})
		}
		for _, it := range c.Items {
			if it.Bucket == posbridge.BucketMatched {
				continue
			}
			m := it.GatewayAmount
			if m.Currency == "" {
				m = it.LocalAmount
			}
			rows = append(rows, []string{"difference", fmt.Sprintf("%s %s: %s", it.Kind, it.No, cell(it.Detail)), "1", m.Decimal(), m.Currency})
		}
	}
	if err := cw.WriteAll(rows); err != nil {
		return nil, fmt.Errorf("write report csv: %w", err)
	}
	return buf.Bytes(), nil
}
