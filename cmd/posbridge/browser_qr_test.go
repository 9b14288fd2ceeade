package main

import (
	"bytes"
	"context"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// The QR lane's timers in these tests: a short wait and expiry, so that a
// payment nobody pays is closed while the test watches.
var browserQRTimers = &demoQRTimers{Wait: 6 * time.Second, PollEvery: time.Second, Expiry: 30 * time.Second}

// startQRPayment switches the page to the QR lane, charges amount and waits
// for the QR code; it returns the order number shown.
func (r *browserRig) startQRPayment(keys ...string) string {
	r.t.Helper()
	r.waitJS(`[...document.getElementById("lane").options].some((o) => o.value === "qr")`)
	eval[bool](r, `(() => { const s = document.getElementById("lane"); s.value = "qr"; return s.dispatchEvent(new Event("change")); })()`)
	r.waitJS(`document.getElementById("lane").value === "qr"`)
	r.payOnPage(keys...)
	r.waitJS(`!document.getElementById("qr").hidden && document.getElementById("qr-img").complete && document.getElementById("qr-img").naturalWidth > 0`)
	r.waitInstruction(posbridge.InstructionQRShow)
	return eval[string](r, `document.getElementById("panel").dataset.orderNo`)
}

// scanQR takes the QR code as the page shows it (a screenshot of the image)
// and decodes it, as the customer's phone would.
func (r *browserRig) scanQR() string {
	r.t.Helper()
	shot, err := chromedp.Run(r.ctx, chromedp.Screenshot(chromedp.ID("qr-img")))
	if err != nil {
		r.t.Fatalf("screenshot the QR code: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		r.t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 250 || b.Dy() < 250 {
		r.t.Errorf("the QR code is %dx%d px on a 1024x768 page, want at least 250 px (7.5 cm on a 15-inch screen) to scan across a counter", b.Dx(), b.Dy())
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		r.t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		r.screenshot("qr-undecodable")
		r.t.Fatalf("decode the QR code shown: %v", err)
	}
	return res.GetText()
}

// customerTab opens url in a second browser context (the customer's phone:
// no cookies or storage shared with the cashier's page). It returns the
// tab's context.
func (r *browserRig) customerTab(url string) context.Context {
	r.t.Helper()
	ctx, cancel := chromedp.NewContext(r.ctx, chromedp.WithNewBrowserContext())
	r.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		r.t.Fatalf("the customer opens %s: %v", url, err)
	}
	return ctx
}

// The customer scans the cashier's QR code, opens the payment page on their
// phone (a second browser context on the sandbox) and pays: the cashier's
// page turns to paid by itself, without a click, from the gateway's word.
func TestBrowser_QRLaneCustomerPays(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove, qrTimers: browserQRTimers})
	no := r.startQRPayment("1", "2", ".", "5")
	if got := r.text("qr-amount"); got != "12.50 AED" {
		t.Errorf("amount beside the QR code %q, want 12.50 AED", got)
	}
	r.waitJS(`/^Expires in \d+:\d\d$/.test(document.getElementById("qr-countdown").textContent)`)
	r.screenshot("qr-shown")

	url := r.scanQR()
	o := r.order(no)
	if url != o.PaymentURL || !strings.Contains(url, sandbox.PayPagePath) {
		t.Fatalf("the QR code says %q, want the order's page %q", url, o.PaymentURL)
	}
	phone := r.customerTab(url)
	if err := chromedp.Do(phone, chromedp.WaitVisible(chromedp.ID("pay"))); err != nil {
		t.Fatalf("the payment page has no Pay button: %v", err)
	}
	amount, err := chromedp.Run(phone, chromedp.Evaluate[string](`document.getElementById("amount").textContent`))
	if err != nil || amount != "12.50 AED" {
		t.Fatalf("the payment page shows %q (%v), want 12.50 AED", amount, err)
	}
	if err := chromedp.Do(phone, chromedp.Click(chromedp.ID("pay"))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(phone, chromedp.WaitVisible(chromedp.ID("message"))); err != nil {
		t.Fatal(err)
	}

	// No click on the cashier's page: the gateway's notification (or the
	// poll) turns it paid.
	r.waitInstruction("Payment successful")
	r.waitJS(`document.getElementById("qr").hidden && document.getElementById("panel").dataset.status === "paid"`)
	r.screenshot("qr-paid")
	if got := r.order(no); got.Status != posbridge.StatusPaid || got.Card != sandbox.QRCard {
		t.Fatalf("order %s card %+v, want paid", got.Status, got.Card)
	}
	if sb, _ := r.w.Sandbox.Order(string(no)); sb.Charges != 1 || sb.PaySceneCode != "DYNQR" {
		t.Fatalf("sandbox order charged %d times, scene %q", sb.Charges, sb.PaySceneCode)
	}
}

// The customer opens the page and closes it without paying. "Payment
// completed" asks the gateway and says not paid (English and Arabic); the
// order stays open until its expiry, is closed then (asked first, then
// canceled at the gateway), and the customer can no longer pay it.
func TestBrowser_QRLaneCustomerNeverPays(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove, qrTimers: browserQRTimers})
	no := r.startQRPayment("4")
	url := r.scanQR()
	phone := r.customerTab(url)
	if err := chromedp.Do(phone, chromedp.WaitVisible(chromedp.ID("pay"))); err != nil {
		t.Fatal(err)
	}
	// The customer closes the page: nothing is paid.

	r.waitJS(`!document.getElementById("act-completed").hidden`)
	r.do(chromedp.Click(chromedp.ID("act-completed")))
	r.waitJS(`!document.getElementById("check-result").hidden`)
	if got := r.text("check-result"); got != posbridge.InstructionQRNotPaid {
		t.Fatalf("after \"Payment completed\": %q, want %q", got, posbridge.InstructionQRNotPaid)
	}
	if o := r.order(no); !o.Open() {
		t.Fatalf("after the check the order is %s, want it open", o.Status)
	}
	r.do(chromedp.Click(chromedp.ID("lang")))
	r.waitJS(`document.documentElement.lang === "ar"`)
	if got := r.text("check-result"); got != "لم تُدفع بعد — لا تأخذ الدفعة مرة أخرى؛ تحقق مرة أخرى لاحقاً" {
		t.Errorf("Arabic check result %q", got)
	}
	r.screenshot("qr-not-paid-ar")
	r.do(chromedp.Click(chromedp.ID("lang")))
	r.waitJS(`document.documentElement.lang === "en"`)

	// After the wait it is pending, the code still up, no block: the
	// customer may still pay until it expires.
	r.waitInstruction(posbridge.InstructionQRNotPaid)
	if eval[bool](r, `document.getElementById("qr").hidden || !document.getElementById("block").hidden`) {
		t.Error("a pending QR payment hides its code or blocks the screen")
	}
	// The answer of "Payment completed" is still true: it stays, through
	// the poll's checks (a new version each second) and the end of the
	// wait, until the payment is paid or closed.
	r.waitJS(`document.getElementById("panel").dataset.status === "pending"`)
	if got := eval[string](r, `(() => { const e = document.getElementById("check-result"); return e.hidden ? "(hidden)" : e.textContent; })()`); got != posbridge.InstructionQRNotPaid {
		t.Errorf("once pending, the check's answer shows %q, want %q", got, posbridge.InstructionQRNotPaid)
	}

	// At expiry: closed, the gateway asked first. (Canceled; or, when the
	// cancel's answer was lost on a loaded machine, failed once the
	// gateway says so.)
	r.waitJS(`["canceled", "failed"].includes(document.getElementById("panel").dataset.status)`)
	r.screenshot("qr-expired")
	o := r.order(no)
	if !(o.Status == posbridge.StatusCanceled && o.Reason == posbridge.ReasonExpired || o.Status == posbridge.StatusFailed && o.Reason == posbridge.ReasonGatewayFailed) {
		t.Fatalf("after expiry: %s (%s), want canceled (expired)", o.Status, o.Reason)
	}
	var calls []string
	for _, rq := range r.w.Sandbox.Requests() {
		if strings.Contains(rq.Body, string(no)) {
			calls = append(calls, rq.Path)
		}
	}
	cancel := slices.Index(calls, "/acquire2/cancelOrder")
	if cancel < 1 || calls[cancel-1] != "/acquire2/getOrder" {
		t.Fatalf("gateway calls %v, want getOrder right before the cancelOrder", calls)
	}
	if !o.PaidAt.IsZero() {
		t.Fatalf("paid at %v", o.PaidAt)
	}
	// The customer comes back and tries to pay: refused, never paid.
	if err := chromedp.Do(phone, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(phone, chromedp.Evaluate[bool](`document.getElementById("pay") === null`)); err != nil {
		t.Fatal(err)
	}
	if err := r.w.Sandbox.Pay(string(no), posbridge.Card{}); err == nil {
		t.Fatal("the sandbox let a closed order be paid")
	}
	if later := r.order(no); later.Status != o.Status {
		t.Fatalf("later: %s, want still %s", later.Status, o.Status)
	}
	if sb, _ := r.w.Sandbox.Order(string(no)); sb.Charges != 0 || sb.Status != sandbox.StatusFailure {
		t.Fatalf("sandbox order %s charged %d times", sb.Status, sb.Charges)
	}
}
