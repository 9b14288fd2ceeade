package ui

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// The printable day report: one HTML page, in English or Arabic (right to
// left), which the supervisor prints from the browser. Every figure carries
// a data-total attribute naming what it is, so a test reads it back.

// reportLabels are the page's words in one language.
type reportLabels struct {
	Lang, Dir, Title, Date, Generated, Orders, Paid, Refunded, Net, ByStatus, ByBrand, ByLane, ByCashier string
	Refunds, Attention, Recon, Key, Count, Amount, Currency, None, NotClosed, Runs, Matched, OnlyGateway string
	OnlyLocal, Different, Item, Bucket, Detail, Result, Print, Nobody, Order, Status, Why, RefundMethods string
	Statuses                                                                                             map[string]string
}

var reportText = map[string]reportLabels{
	"en": {Lang: "en", Dir: "ltr", Title: "Day report", Date: "Day", Generated: "Printed", Orders: "Orders",
		Paid: "Paid", Refunded: "Refunded", Net: "Net", ByStatus: "By status", ByBrand: "Paid by card brand",
		ByLane: "Paid by lane", ByCashier: "Paid by cashier", Refunds: "Refunds", Attention: "Needs attention",
		Recon: "Reconciliation with the gateway", Key: "", Count: "Count", Amount: "Amount", Currency: "Currency",
		None: "None", NotClosed: "The day has not been closed: run the day close first.", Runs: "Runs",
		Matched: "Matched", OnlyGateway: "Only at the gateway", OnlyLocal: "Only in posbridge", Different: "Different",
		Item: "Order or refund", Bucket: "Found", Detail: "Detail", Result: "Done", Print: "Print", Nobody: "(not named)",
		Order: "Order", Status: "Status", Why: "Why", RefundMethods: "Refunds and voids by kind",
		Statuses: map[string]string{"gateway": "Through the gateway", "terminal_refund": "Card-present refund on the terminal",
			"terminal_void": "Void on the terminal", "paid": "Paid", "failed": "Not paid", "canceled": "Canceled", "pending": "Not confirmed",
			"created": "Created", "at_terminal": "On the terminal", "verifying": "Checking", "requested": "Requested",
			"succeeded": "Succeeded"}},
	"ar": {Lang: "ar", Dir: "rtl", Title: "تقرير اليوم", Date: "اليوم", Generated: "طُبع", Orders: "الطلبات",
		Paid: "المدفوع", Refunded: "المُسترد", Net: "الصافي", ByStatus: "حسب الحالة", ByBrand: "المدفوع حسب نوع البطاقة",
		ByLane: "المدفوع حسب الصندوق", ByCashier: "المدفوع حسب الكاشير", Refunds: "المبالغ المستردة", Attention: "يحتاج إلى مراجعة",
		Recon: "المطابقة مع بوابة الدفع", Key: "", Count: "العدد", Amount: "المبلغ", Currency: "العملة",
		None: "لا يوجد", NotClosed: "لم يُغلق اليوم بعد: شغّل إغلاق اليوم أولاً.", Runs: "مرات التشغيل",
		Matched: "متطابق", OnlyGateway: "في البوابة فقط", OnlyLocal: "في posbridge فقط", Different: "مختلف",
		Item: "الطلب أو الاسترداد", Bucket: "النتيجة", Detail: "التفاصيل", Result: "الإجراء", Print: "طباعة", Nobody: "(غير مسمى)",
		Order: "الطلب", Status: "الحالة", Why: "السبب", RefundMethods: "المستردات والإلغاءات حسب النوع",
		Statuses: map[string]string{"gateway": "عبر بوابة الدفع", "terminal_refund": "استرداد بالبطاقة على الجهاز",
			"terminal_void": "إلغاء على الجهاز", "paid": "مدفوع", "failed": "غير مدفوع", "canceled": "ملغى", "pending": "غير مؤكد",
			"created": "أُنشئ", "at_terminal": "على الجهاز", "verifying": "قيد التحقق", "requested": "مطلوب",
			"succeeded": "تم"}},
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"status": func(l reportLabels, s string) string {
		if t, ok := l.Statuses[s]; ok {
			return t
		}
		return s
	},
	"bucket": func(l reportLabels, b posbridge.DayBucket) string {
		switch b {
		case posbridge.BucketMatched:
			return l.Matched
		case posbridge.BucketOnlyGateway:
			return l.OnlyGateway
		case posbridge.BucketOnlyLocal:
			return l.OnlyLocal
		}
		return l.Different
	},
	"count": func(c *posbridge.DayClose, b string) int { return c.Counts()[posbridge.DayBucket(b)] },
	"local": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
	"differences": func(c *posbridge.DayClose) []posbridge.DayItem {
		var out []posbridge.DayItem
		for _, it := range c.Items {
			if it.Bucket != posbridge.BucketMatched {
				out = append(out, it)
			}
		}
		return out
	},
	"amount": func(it posbridge.DayItem) string {
		if it.GatewayAmount.Currency != "" {
			return it.GatewayAmount.String()
		}
		return it.LocalAmount.String()
	},
}).Parse(`<!doctype html>
<html lang="{{.L.Lang}}" dir="{{.L.Dir}}">
<head>
<meta charset="utf-8">
<title>posbridge — {{.L.Title}} {{.R.Date}}</title>
<style>
body { font-family: system-ui, "Noto Sans Arabic", sans-serif; margin: 1.5rem; color: #111; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid #bbb; padding: .2rem .4rem; text-align: start; }
td.num { text-align: end; font-variant-numeric: tabular-nums; }
.meta { color: #444; font-size: .9rem; }
.summary td { font-size: 1.05rem; font-weight: 600; }
.warn { color: #8a1c00; }
@media print { .noprint { display: none; } body { margin: 0; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
</style>
</head>
<body>
<p class="noprint meta">{{.L.Print}}: Ctrl+P</p>
<h1>posbridge — {{.L.Title}}</h1>
<p class="meta">{{.L.Date}}: <b id="report-date">{{.R.Date}}</b> · {{.L.Generated}}: {{local .R.GeneratedAt}}</p>

<table class="summary">
<tr><th>{{.L.Orders}}</th><td class="num" data-total="orders">{{.R.Orders}}</td></tr>
{{range .R.Paid}}<tr><th>{{$.L.Paid}} ({{.Currency}})</th><td class="num" data-total="paid" data-currency="{{.Currency}}" data-count="{{.Count}}">{{.Amount.Decimal}}</td></tr>{{end}}
{{range .R.Refunded}}<tr><th>{{$.L.Refunded}} ({{.Currency}})</th><td class="num" data-total="refunded" data-currency="{{.Currency}}" data-count="{{.Count}}">{{.Amount.Decimal}}</td></tr>{{end}}
{{range .R.Net}}<tr><th>{{$.L.Net}} ({{.Currency}})</th><td class="num" data-total="net" data-currency="{{.Currency}}">{{.Amount.Decimal}}</td></tr>{{end}}
</table>

{{define "lines"}}<table><tr><th></th><th>{{.L.Count}}</th><th>{{.L.Amount}}</th><th>{{.L.Currency}}</th></tr>
{{range .Lines}}<tr data-section="{{$.Section}}" data-key="{{.Key}}"><td>{{if eq $.Section "status" "refund_status" "refund_method"}}{{status $.L .Key}}{{else if .Key}}{{.Key}}{{else}}{{$.L.Nobody}}{{end}}</td><td class="num">{{.Count}}</td><td class="num">{{.Amount.Decimal}}</td><td>{{.Currency}}</td></tr>
{{else}}<tr><td colspan="4">{{.L.None}}</td></tr>{{end}}</table>{{end}}

<h2>{{.L.ByStatus}}</h2>{{template "lines" (.Section "status" .R.ByStatus)}}
<h2>{{.L.ByBrand}}</h2>{{template "lines" (.Section "brand" .R.ByBrand)}}
<h2>{{.L.ByLane}}</h2>{{template "lines" (.Section "lane" .R.ByLane)}}
<h2>{{.L.ByCashier}}</h2>{{template "lines" (.Section "cashier" .R.ByCashier)}}
<h2>{{.L.Refunds}}</h2>{{template "lines" (.Section "refund_status" .R.Refunds)}}
<h2>{{.L.RefundMethods}}</h2>{{template "lines" (.Section "refund_method" .R.RefundMethods)}}

<h2 class="warn">{{.L.Attention}} (<span data-total="attention">{{len .R.Attention}}</span>)</h2>
<table><tr><th>{{.L.Order}}</th><th>{{.L.Status}}</th><th>{{.L.Amount}}</th><th>{{.L.Why}}</th></tr>
{{range .R.Attention}}<tr data-attention="{{.No}}"><td>{{.No}}</td><td>{{status $.L (print .Status)}}</td><td class="num">{{.Amount}}</td><td>{{.Attention}}</td></tr>
{{else}}<tr><td colspan="4">{{.L.None}}</td></tr>{{end}}</table>

<h2>{{.L.Recon}}</h2>
{{with .R.Close}}
<table class="summary">
<tr><th>{{$.L.Matched}}</th><td class="num" data-total="matched">{{count . "matched"}}</td></tr>
<tr><th>{{$.L.OnlyGateway}}</th><td class="num" data-total="only_gateway">{{count . "only_gateway"}}</td></tr>
<tr><th>{{$.L.OnlyLocal}}</th><td class="num" data-total="only_local">{{count . "only_local"}}</td></tr>
<tr><th>{{$.L.Different}}</th><td class="num" data-total="different">{{count . "different"}}</td></tr>
<tr><th>{{$.L.Runs}}</th><td class="num">{{.Runs}}</td></tr>
</table>
<table><tr><th>{{$.L.Item}}</th><th>{{$.L.Bucket}}</th><th>{{$.L.Amount}}</th><th>{{$.L.Detail}}</th><th>{{$.L.Result}}</th></tr>
{{range differences .}}<tr data-difference="{{.No}}"><td>{{.Kind}} {{.No}}</td><td>{{bucket $.L .Bucket}}</td><td class="num">{{amount .}}</td><td>{{.Detail}}</td><td>{{.Result}}</td></tr>
{{end}}</table>
{{else}}<p class="warn" id="not-closed">{{.L.NotClosed}}</p>{{end}}
</body>
</html>
`))

// reportView is what the template renders.
type reportView struct {
	L reportLabels
	R posbridge.DayReport
}

type sectionView struct {
	L       reportLabels
	Section string
	Lines   []posbridge.ReportLine
}

// Section is a table of lines for the template.
func (v reportView) Section(name string, lines []posbridge.ReportLine) sectionView {
	return sectionView{L: v.L, Section: name, Lines: lines}
}

// renderReport renders the page in lang ("en" or "ar").
func renderReport(r posbridge.DayReport, lang string) ([]byte, error) {
	l, ok := reportText[lang]
	if !ok {
		l = reportText["en"]
	}
	var buf bytes.Buffer
	if err := reportPage.Execute(&buf, reportView{L: l, R: r}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// handleReportPage serves GET /day/report: the printable page.
func (s *Server) handleReportPage(w http.ResponseWriter, r *http.Request) error {
	lang := strings.ToLower(r.URL.Query().Get("lang"))
	if lang != "" && lang != "en" && lang != "ar" {
		return invalid("lang", "The language is en or ar.")
	}
	rep, err := s.report(r)
	if err != nil {
		return err
	}
	body, err := renderReport(rep, lang)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	_, _ = w.Write(body)
	return nil
}
