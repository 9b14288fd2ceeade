package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/posbridge/posbridge"
)

// The cashier page in real headless Chromium (Debian's chromium package,
// which scripts/test installs). These tests run, never skip.

// browserScenario is how the terminal and the gateway treat the next sale.
type browserScenario int

const (
	saleApproved       browserScenario = iota // terminal approves, gateway confirms: paid
	saleCustomerCancel                        // customer cancels on the terminal: failed
	saleLostResponse                          // terminal answer lost; the gateway learns of the charge later
)

// browserDaemon is the service behind the page plus the levers the tests
// pull. newBrowserTestService builds it; swap in the real daemon (engine +
// termsim + sandbox) there and nowhere else.
type browserDaemon interface {
	posbridge.PaymentService
	// nextSale sets how the next sale started on any lane ends.
	nextSale(browserScenario)
	// gatewayPays makes the gateway hold the order paid (the charge a lost
	// terminal answer hid).
	gatewayPays(posbridge.OrderNo)
	// setLink changes a lane's terminal link state.
	setLink(lane string, state posbridge.LinkState)
	// dropStreams ends every live event subscription, as the bus does to a
	// client that fell behind.
	dropStreams()
	// lastSeq is the newest stored event's seq.
	lastSeq() int64
	// close waits for whatever the daemon runs in the background.
	close()
}

type fakeBrowserDaemon struct{ *fakeService }

func (d fakeBrowserDaemon) nextSale(s browserScenario) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch s {
	case saleApproved:
		d.onPay = d.flowApprove
	case saleCustomerCancel:
		d.onPay = d.flowCustomerCancel
	case saleLostResponse:
		d.onPay = d.flowLostResponse
	}
}
func (d fakeBrowserDaemon) gatewayPays(no posbridge.OrderNo) { d.gatewayLearnsPaid(no) }
func (d fakeBrowserDaemon) dropStreams()                     { d.dropSubscribers() }

func newBrowserTestService(t *testing.T) browserDaemon {
	t.Helper()
	return fakeBrowserDaemon{newFakeService(posbridge.SystemClock{}, "1", "2")}
}

// browserRig is the daemon's API on a loopback port and a browser tab on it.
type browserRig struct {
	t       *testing.T
	d       browserDaemon
	srv     *httptest.Server
	ctx     context.Context
	shots   string
	cutting atomic.Bool // refuse event-stream connections while set
}

const chromiumPath = "/usr/bin/chromium"

func newBrowserRig(t *testing.T) *browserRig {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("chromium is required for the browser tests (apt-get install chromium; scripts/test installs it): %v", err)
	}
	r := &browserRig{t: t, d: newBrowserTestService(t), shots: t.TempDir()}
	s := NewServer(r.d, Config{Addr: "127.0.0.1:0", Logger: discardLogger()})
	h := s.Handler()
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.cutting.Load() && req.URL.Path == "/api/v1/events" {
			http.Error(w, "cut", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		r.srv.Close()
		r.d.close()
	})

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	// A bound for a hung browser, not a timing assertion.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	r.ctx = ctx
	r.do(chromedp.EmulateViewport(1024, 768), chromedp.Navigate(r.srv.URL+"/"))
	r.waitJS(`document.body.dataset.connected === "true"`)
	return r
}

func (r *browserRig) do(steps ...chromedp.Action[chromedp.Void]) {
	r.t.Helper()
	if err := chromedp.Do(r.ctx, steps...); err != nil {
		r.screenshot("failure")
		r.t.Fatalf("browser: %v", err)
	}
}

// waitJS waits until a JavaScript expression is true.
func (r *browserRig) waitJS(expr string) {
	r.t.Helper()
	if _, err := chromedp.Run(r.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		r.screenshot("failure")
		r.t.Fatalf("wait for %s: %v", expr, err)
	}
}

func (r *browserRig) text(id string) string {
	r.t.Helper()
	s, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`document.getElementById(`+strconv.Quote(id)+`).textContent`))
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// waitInstruction waits until the big instruction reads want.
func (r *browserRig) waitInstruction(want string) {
	r.t.Helper()
	q, _ := json.Marshal(want)
	r.waitJS(`document.getElementById("instruction").textContent === ` + string(q))
}

func (r *browserRig) screenshot(name string) string {
	buf, err := chromedp.Run(r.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		r.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(r.shots, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("screenshot: %s", path)
	if dir := os.Getenv("POSBRIDGE_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
	return path
}

// payOnPage enters an amount on the keypad and charges it.
func (r *browserRig) payOnPage(keys ...string) {
	r.t.Helper()
	r.waitJS(`!document.getElementById("act-new").disabled`)
	r.do(chromedp.Click(chromedp.ID("act-new")))
	r.waitJS(`document.getElementById("dlg-pay").open`)
	for _, k := range keys {
		r.do(chromedp.Click(chromedp.CSS(`#keypad .key[value="` + k + `"]`)))
	}
	r.do(chromedp.Click(chromedp.ID("pay-go")))
	r.waitJS(`!document.getElementById("dlg-pay").open`)
}

func TestBrowser_PaymentSuccessful(t *testing.T) {
	r := newBrowserRig(t)
	r.d.nextSale(saleApproved)
	r.payOnPage("1", "2", ".", "5", "0")
	r.waitInstruction("Payment successful")
	r.waitJS(`document.getElementById("panel").dataset.status === "paid"`)
	if got := r.text("amount"); got != "12.50 AED" {
		t.Errorf("amount shows %q", got)
	}
	if got, _ := chromedp.Run(r.ctx, chromedp.Evaluate[string](`document.getElementById("instruction").getAttribute("aria-live")`)); got != "assertive" {
		t.Errorf("instruction aria-live = %q", got)
	}
	// The new payment shows in the recent list too.
	r.waitJS(`document.querySelector('#recent-list li[data-status="paid"]') !== null`)
	r.screenshot("payment-successful-1024x768")
}

func TestBrowser_CustomerCancel(t *testing.T) {
	r := newBrowserRig(t)
	r.d.nextSale(saleCustomerCancel)
	r.payOnPage("7")
	r.waitInstruction("Payment not completed")
	r.waitJS(`document.getElementById("panel").dataset.status === "failed"`)
	r.screenshot("customer-cancel")
}

func TestBrowser_LostResponseThenVerified(t *testing.T) {
	r := newBrowserRig(t)
	r.d.nextSale(saleLostResponse)
	r.payOnPage("4", "0")
	r.waitInstruction("Not confirmed yet — do not take payment again")
	r.waitJS(`document.querySelector('#attention-list li[data-status="pending"]') !== null`)
	r.screenshot("lost-response-pending")

	no := r.text("d-order")
	r.d.gatewayPays(posbridge.OrderNo(no))
	r.do(chromedp.Click(chromedp.ID("act-verify")))
	r.waitInstruction("Payment successful")
	r.screenshot("lost-response-verified")
}

func TestBrowser_EventStreamCutAndResumed(t *testing.T) {
	r := newBrowserRig(t)
	r.d.nextSale(saleApproved)
	r.payOnPage("5")
	r.waitInstruction("Payment successful")

	// Cut the stream and keep it cut while payments go on.
	r.cutting.Store(true)
	r.d.dropStreams()
	r.waitJS(`document.body.dataset.connected === "false" && !document.getElementById("conn").hidden`)
	if got := r.text("conn"); got != "Reconnecting…" {
		t.Errorf("connection banner %q", got)
	}
	r.screenshot("stream-cut-reconnecting")

	r.d.nextSale(saleCustomerCancel)
	o, err := r.d.Pay(context.Background(), posbridge.PayRequest{Lane: "1", Amount: posbridge.Money{Minor: 990, Currency: "AED"}})
	if err != nil {
		t.Fatal(err)
	}
	r.d.close() // the flow has run
	r.d.setLink("1", posbridge.LinkDown)
	want := r.d.lastSeq()

	r.cutting.Store(false)
	r.waitJS(`document.body.dataset.connected === "true"`)
	r.waitJS(`document.body.dataset.lastSeq === "` + strconv.FormatInt(want, 10) + `"`)
	r.waitInstruction("Payment not completed")
	if got := r.text("d-order"); got != string(o.No) {
		t.Errorf("panel shows order %q, want the one made while cut, %q", got, o.No)
	}
	r.waitJS(`document.querySelector('#recent-list li[data-order-no="` + string(o.No) + `"][data-status="failed"]') !== null`)
	r.waitJS(`document.getElementById("ind-link").dataset.state === "down"`)
	r.screenshot("stream-resumed")
}

func TestBrowser_Arabic(t *testing.T) {
	r := newBrowserRig(t)
	r.d.nextSale(saleApproved)
	r.payOnPage("3")
	r.waitInstruction("Payment successful")
	r.do(chromedp.Click(chromedp.ID("lang")))
	r.waitJS(`document.documentElement.dir === "rtl" && document.documentElement.lang === "ar"`)
	r.waitInstruction("تمت الدفعة بنجاح")
	r.screenshot("arabic-rtl")
	// And back.
	r.do(chromedp.Click(chromedp.ID("lang")))
	r.waitJS(`document.documentElement.dir === "ltr"`)
	r.waitInstruction("Payment successful")
}

func TestBrowser_TouchTargets(t *testing.T) {
	r := newBrowserRig(t)
	small, err := chromedp.Run(r.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("button, select")]
		.filter(e => e.offsetParent !== null)
		.filter(e => { const b = e.getBoundingClientRect(); return b.height < 44 || b.width < 44; })
		.map(e => e.id || e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(small) > 0 {
		t.Errorf("controls smaller than 44px at 1024×768: %q", small)
	}
	overflow, err := chromedp.Run(r.ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > 1024 || document.documentElement.scrollHeight > 768`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Errorf("the page scrolls at 1024×768")
	}
	r.screenshot("idle-1024x768")
}
