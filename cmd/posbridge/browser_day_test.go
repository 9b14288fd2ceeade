package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/posbridge/posbridge"
)

// dayTotals reads today's figures from the daemon's database: how many
// orders, the paid orders' count and sum, and how many need attention.
func dayTotals(t *testing.T, r *browserRig) (orders, paid int, sum posbridge.Money, attention int) {
	t.Helper()
	now := time.Now()
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local)
	sum = posbridge.Money{Currency: "AED"}
	err := eachOrder(context.Background(), r.d.Store, posbridge.OrderFilter{From: from, To: from.AddDate(0, 0, 1)}, func(o posbridge.Order) error {
		orders++
		if o.Status == posbridge.StatusPaid {
			paid++
			sum.Minor += o.Amount.Minor
		}
		if o.NeedsAttention {
			attention++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return orders, paid, sum, attention
}

// printReport opens the printable day report in lang and prints it to PDF
// with Chromium's Page.printToPDF, returning the PDF's text.
func (r *browserRig) printReport(lang string) string {
	r.t.Helper()
	r.do(chromedp.Navigate(r.d.API.URL() + "/day/report?lang=" + lang))
	r.waitJS(`document.querySelector('[data-total="orders"]') !== null`)
	pdf, err := chromedp.Run(r.ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPrintBackground()))
	if err != nil {
		r.t.Fatalf("print to PDF: %v", err)
	}
	if dir := os.Getenv("POSBRIDGE_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "day-report-"+lang+".pdf"), pdf, 0o644)
	}
	text, err := pdfText(pdf)
	if err != nil {
		r.t.Fatal(err)
	}
	return text
}

// TestBrowser_DayCloseAndPrintedReport: the supervisor closes the day on
// the cashier page while the gateway holds a charge posbridge never stored;
// the report, printed to PDF by Chromium, shows the database's totals, in
// English and in Arabic.
func TestBrowser_DayCloseAndPrintedReport(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove})
	r.payOnPage("1", "2", ".", "5", "0")
	r.waitInstruction("Payment successful")
	paidNo := r.text("d-order")

	// A charge the gateway has and posbridge never stored.
	if err := r.w.Sandbox.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: "GWONLY1", Kind: "sale",
		Amount: posbridge.Money{Minor: 3000, Currency: "AED"}, Status: posbridge.GatewayPaid, Card: posbridge.Card{Brand: "VISA", Last4: "1881"}}); err != nil {
		t.Fatal(err)
	}

	r.waitJS(`!document.getElementById("day").hidden`)
	r.do(chromedp.Click(chromedp.ID("act-day-close")))
	r.waitJS(`document.getElementById("dlg-confirm").open`)
	r.do(chromedp.SendKeys(chromedp.ID("dlg-by"), "Huda"), chromedp.Click(chromedp.ID("dlg-ok")))
	r.waitJS(`document.getElementById("day-result").textContent !== ""`)
	result := r.text("day-result")
	if !strings.Contains(result, "1 only at the bank") || !strings.Contains(result, "1 matched") {
		t.Errorf("day result %q", result)
	}
	r.screenshot("day-closed")
	imported := r.order("GWONLY1")
	if imported.Status != posbridge.StatusPaid || !imported.NeedsAttention || imported.Attention != posbridge.AttentionOnlyAtGateway {
		t.Errorf("GWONLY1 imported as %s, attention %v %q", imported.Status, imported.NeedsAttention, imported.Attention)
	}
	if o := r.order(paidNo); o.NeedsAttention {
		t.Errorf("the matched order %s was flagged: %s", paidNo, o.Attention)
	}
	// The audit names the supervisor.
	audit, err := r.d.Store.Audit(context.Background(), "GWONLY1")
	if err != nil || len(audit) == 0 || audit[0].Cause.Who != "Huda" {
		t.Errorf("audit of the import %+v, %v", audit, err)
	}

	orders, paid, sum, attention := dayTotals(t, r)
	if paid != 2 || sum.Decimal() != "42.50" {
		t.Fatalf("database: %d paid, %s", paid, sum)
	}
	for _, lang := range []string{"en", "ar"} {
		text := r.printReport(lang)
		// Chromium places glyphs one by one: compare without spaces.
		compact := strings.Join(strings.Fields(text), "")
		if !strings.Contains(compact, sum.Decimal()) {
			t.Errorf("%s: the PDF lacks the paid total %s:\n%s", lang, sum.Decimal(), compact)
		}
		// The figures follow their labels in the printed table.
		checks := map[string]string{
			"en": `Orders` + strconv.Itoa(orders) + `Paid\(AED\)` + regexp.QuoteMeta(sum.Decimal()) + `.*Needsattention\(` + strconv.Itoa(attention) + `\).*Onlyatthegateway1`,
			"ar": `\(AED\)[^0-9]*` + regexp.QuoteMeta(sum.Decimal()) + `.*\(` + strconv.Itoa(attention) + `\)`,
		}
		if !regexp.MustCompile(checks[lang]).MatchString(compact) {
			t.Errorf("%s: the PDF's totals do not match the database (paid %s, attention %d):\n%s", lang, sum.Decimal(), attention, compact)
		}
		if lang == "en" && !strings.Contains(compact, "VISA") {
			t.Errorf("en: no card brand line:\n%s", compact)
		}
	}
}
