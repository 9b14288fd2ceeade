package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
	"github.com/posbridge/posbridge/ui"
)

// The cashier page in real headless Chromium (Debian's chromium package,
// which scripts/test installs) against the real daemon: store on SQLite,
// engine, API and page on a loopback port, the PayBy sandbox on loopback and
// termsim on a pseudo-terminal opened through the serial driver. These tests
// run, never skip.

const chromiumPath = "/usr/bin/chromium"

// browserWait bounds every wait for the page or the daemon. It is generous
// because the machine may be loaded; it is a bound, not a timing assertion.
const browserWait = 60 * time.Second

// browserRig is a running demo world and a browser tab on its cashier page.
type browserRig struct {
	t     *testing.T
	d     *daemon.Daemon
	w     *demoWorld
	dir   string
	ctx   context.Context
	shots string
}

// rigOptions change the world a test starts with.
type rigOptions struct {
	script      termsim.Script // the simulated customer's default behaviour
	scenario    string         // a demo scenario instead of script (with its picker)
	saleTimeout time.Duration
	reconcile   *ReconcileConfig
	// hostRules maps host names for the browser (Chromium's
	// --host-resolver-rules), e.g. "MAP evil.test 127.0.0.1".
	hostRules string
	// gateway is the gateway the sandbox plays ("payby" when empty, or
	// "codepay", which adds the cloud lane).
	gateway string
	// qrTimers are the QR lane's timers (demoSetup.qrTimers).
	qrTimers *demoQRTimers
}

func newBrowserRig(t *testing.T, o rigOptions) *browserRig {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("chromium is required for the browser tests (apt-get install chromium; scripts/test installs it): %v", err)
	}
	r := &browserRig{t: t, dir: t.TempDir(), shots: t.TempDir()}

	// The daemon's log goes to a file, shown when a test fails: writing to
	// t.Log from the daemon's goroutines could outlive the test.
	logPath := filepath.Join(r.dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, w, stop, err := startDemoWorld(context.Background(), demoSetup{
		dir: r.dir, listen: "127.0.0.1:0", script: o.script, scenario: o.scenario, logger: logger,
		saleTimeout: o.saleTimeout, reconcile: o.reconcile, gateway: o.gateway, qrTimers: o.qrTimers,
	})
	if err != nil {
		logFile.Close()
		t.Fatalf("start the daemon: %v", err)
	}
	r.d, r.w = d, w
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Errorf("stop the daemon: %v", err)
		}
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				const tail = 16 << 10
				if len(b) > tail {
					b = b[len(b)-tail:]
				}
				t.Logf("daemon log (end):\n%s", b)
			}
		}
	})
	if w.PTY == nil {
		t.Fatal("no pseudo-terminal: the browser tests need termsim on a real pty")
	}

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
		chromedp.Flag("host-resolver-rules", o.hostRules),
		chromedp.WindowSize(1024, 768),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	// A bound for a hung browser, not a timing assertion.
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*browserWait)
	// Registered after the daemon's cleanup, so it runs first: the browser
	// goes before the server it talks to.
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	r.ctx = ctx
	r.do(chromedp.EmulateViewport(1024, 768), chromedp.Navigate(d.API.URL()+"/"))
	r.waitJS(`document.body.dataset.connected === "true"`)
	// The terminal handshakes in the background; a sale needs the link up.
	r.waitJS(`document.getElementById("ind-link").dataset.state === "up"`)
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
	if _, err := chromedp.Run(r.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserWait))); err != nil {
		r.screenshot("failure")
		r.t.Fatalf("wait for %s: %v (instruction %q)", expr, err, r.text("instruction"))
	}
}

func (r *browserRig) text(id string) string {
	r.t.Helper()
	s, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`(document.getElementById(`+strconv.Quote(id)+`) || {}).textContent || ""`))
	if err != nil {
		r.t.Errorf("read #%s: %v", id, err)
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

// order reads an order from the daemon's store.
func (r *browserRig) order(no string) posbridge.Order {
	r.t.Helper()
	o, err := r.d.Engine.Payment(context.Background(), posbridge.OrderNo(no))
	if err != nil {
		r.t.Fatalf("order %s: %v", no, err)
	}
	return o
}

// lastSeq is the newest stored event's seq.
func (r *browserRig) lastSeq() int64 {
	r.t.Helper()
	var seq int64
	for {
		evs, err := r.d.Engine.EventsSince(context.Background(), seq, 500)
		if err != nil {
			r.t.Fatalf("read events: %v", err)
		}
		if len(evs) == 0 {
			return seq
		}
		seq = evs[len(evs)-1].Seq
	}
}

// browserApprove is the simulated customer paying after a moment, as at a till.
var browserApprove = termsim.Script{Action: termsim.Approve, Delay: 300 * time.Millisecond}

func TestBrowser_PaymentSuccessful(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove})
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

	// What the page says is what the daemon stored and the gateway holds.
	no := r.text("d-order")
	if o := r.order(no); o.Status != posbridge.StatusPaid || o.Amount != (posbridge.Money{Minor: 1250, Currency: "AED"}) {
		t.Errorf("stored order %s: %s %s, want paid 12.50 AED", no, o.Status, o.Amount)
	}
	if got := r.w.Sandbox.Charges()[no]; got != 1 {
		t.Errorf("the gateway charged order %s %d times, want once", no, got)
	}
}

func TestBrowser_CustomerCancel(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: termsim.Script{Action: termsim.Cancel, Delay: 300 * time.Millisecond}})
	r.payOnPage("7")
	r.waitInstruction("Payment not completed")
	r.waitJS(`document.getElementById("panel").dataset.status === "failed"`)
	r.screenshot("customer-cancel")
	no := r.text("d-order")
	if o := r.order(no); o.Status != posbridge.StatusFailed {
		t.Errorf("stored order %s is %s, want failed", no, o.Status)
	}
	if got := r.w.Sandbox.Charges()[no]; got != 0 {
		t.Errorf("a canceled sale was charged %d times", got)
	}
}

func TestBrowser_LostResponseThenVerified(t *testing.T) {
	// The customer pays but the terminal's answer never arrives. The driver
	// gives up after saleTimeout, closes and queries the sale; the gateway
	// is down meanwhile, so the cashier's short wait ends unconfirmed. The
	// reconciler's first check is far off: "Verify now" confirms it.
	rc := defaultConfig().Reconcile
	rc.FastPollEvery = Duration(500 * time.Millisecond)
	rc.FastPollFor = Duration(2 * time.Second)
	rc.Schedule = []Duration{Duration(time.Hour)}
	r := newBrowserRig(t, rigOptions{
		script:      termsim.Script{Action: termsim.Approve, Delay: 300 * time.Millisecond, LoseResponse: true},
		saleTimeout: 3 * time.Second,
		reconcile:   &rc,
	})
	// The gateway is down and its notifications are held: nothing can
	// confirm the charge while the cashier waits.
	if err := r.w.Sandbox.SetFault("/acquire2/getOrder", sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true, Times: 1000}); err != nil {
		t.Fatal(err)
	}
	r.w.Sandbox.SetNotifier(sandbox.NotifierOptions{OutOfOrder: true})

	r.payOnPage("4", "0")
	r.waitInstruction("Not confirmed yet — do not take payment again")
	r.waitJS(`document.querySelector('#attention-list li[data-status="pending"]') !== null`)
	r.screenshot("lost-response-pending")
	no := r.text("d-order")
	if got := r.w.Sandbox.Charges()[no]; got != 1 {
		t.Fatalf("the terminal's acquirer charged order %s %d times, want once", no, got)
	}

	r.w.Sandbox.ClearFaults()
	// Not confirmed blocks the screen with one main action: "Check again".
	r.waitJS(`!document.getElementById("act-check").disabled && document.getElementById("act-check").offsetParent !== null`)
	r.do(chromedp.Click(chromedp.ID("act-check")))
	r.waitInstruction("Payment successful")
	r.screenshot("lost-response-verified")
	if o := r.order(no); o.Status != posbridge.StatusPaid || o.Attempts != 1 {
		t.Errorf("stored order %s: %s after %d attempts, want paid after one", no, o.Status, o.Attempts)
	}
	if got := r.w.Sandbox.Charges()[no]; got != 1 {
		t.Errorf("order %s charged %d times, want once", no, got)
	}
}

func TestBrowser_EventStreamCutAndResumed(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove})
	r.payOnPage("5")
	r.waitInstruction("Payment successful")

	// Cut the page off: the daemon's API goes away (closing the websocket
	// from the server side, 1001) and refuses connections while the engine
	// goes on taking payments.
	addr := r.d.API.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	if err := r.d.API.Close(ctx); err != nil {
		t.Fatalf("close the API: %v", err)
	}
	r.waitJS(`document.body.dataset.connected === "false" && !document.getElementById("offline").hidden`)
	if got := r.text("offline"); !strings.Contains(got, "Not connected to posbridge") {
		t.Errorf("connection banner %q", got)
	}
	r.screenshot("stream-cut-reconnecting")

	// A payment the customer cancels, made while the page is cut off.
	r.w.Sim.SetDefault(termsim.Script{Action: termsim.Cancel})
	o, _, err := r.d.Engine.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: posbridge.Money{Minor: 990, Currency: "AED"},
		By: posbridge.By{Actor: posbridge.ActorAPI, Who: "browser test"}})
	if err != nil {
		t.Fatal(err)
	}
	if o, err = r.d.Engine.Await(ctx, o.No); err != nil || o.Status != posbridge.StatusFailed {
		t.Fatalf("payment made while cut: %s, %v; want failed", o.Status, err)
	}
	// And the terminal's cable is pulled: the lane's link goes down.
	links := r.d.Engine.Subscribe(64)
	defer links.Close()
	r.w.PTY.Close()
	waitLink(t, ctx, links, "1", posbridge.LinkDown)
	want := r.lastSeq()

	// The API comes back on the same address; the page reconnects by itself
	// with the last seq it saw and shows what it missed.
	api := ui.NewServer(r.d.Engine, ui.Config{Addr: addr, Lanes: []string{"1"}, Logger: r.d.Logger})
	if err := api.Open(); err != nil {
		t.Fatalf("reopen the API on %s: %v", addr, err)
	}
	r.d.API = api // the daemon's Close closes it
	r.waitJS(`document.body.dataset.connected === "true"`)
	// At least: the reconciler may store more (closing the failed order at
	// the gateway) once the API is back.
	r.waitJS(`Number(document.body.dataset.lastSeq) >= ` + strconv.FormatInt(want, 10))
	r.waitInstruction("Payment not completed")
	if got := r.text("d-order"); got != string(o.No) {
		t.Errorf("panel shows order %q, want the one made while cut, %q", got, o.No)
	}
	r.waitJS(`document.querySelector('#recent-list li[data-order-no="` + string(o.No) + `"][data-status="failed"]') !== null`)
	r.waitJS(`document.getElementById("ind-link").dataset.state === "down"`)
	r.screenshot("stream-resumed")
}

// waitLink waits for a lane event with the given link state.
func waitLink(t *testing.T, ctx context.Context, sub *posbridge.Subscription, lane string, want posbridge.LinkState) {
	t.Helper()
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				t.Fatal("event subscription dropped")
			}
			if e.Type == posbridge.EventLane && e.Lane != nil && e.Lane.ID == lane && e.Lane.Link.State == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("lane %s link never went %s: %v", lane, want, ctx.Err())
		}
	}
}

func TestBrowser_Arabic(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove})
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
	r := newBrowserRig(t, rigOptions{script: browserApprove})
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
