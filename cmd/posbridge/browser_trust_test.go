package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/posbridge/posbridge"
)

// attackPage is a page on another origin that tries to take a payment of
// 999.00 on the daemon at DAEMON in every way a page can without CORS: a
// no-cors fetch with a text/plain body, a CORS fetch with a JSON body (needs
// a preflight), a text/plain form auto-submitted into an iframe (its body
// is valid JSON), and a websocket to the event stream. It writes what each
// attempt saw to document.body.dataset.done.
const attackPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>cheap watches</title></head><body>
<iframe name="sink"></iframe>
<form id="f" method="post" enctype="text/plain" action="DAEMON/api/v1/payments" target="sink">
<input type="hidden" name='{"lane":"1","amount":"999.00","currency":"AED","reference":"csrf-form' value='"}'>
</form>
<script>
const D = "DAEMON";
const out = {};
const body = (ref) => JSON.stringify({lane: "1", amount: "999.00", currency: "AED", reference: ref});
async function attack() {
  try {
    await fetch(D + "/api/v1/payments", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: body("csrf-no-cors")});
    out.noCors = "sent";
  } catch (e) { out.noCors = "error " + e; }
  try {
    const r = await fetch(D + "/api/v1/payments", {method: "POST", headers: {"Content-Type": "application/json"}, body: body("csrf-cors")});
    out.cors = "status " + r.status;
  } catch (e) { out.cors = "blocked"; }
  try {
    const r = await fetch(D + "/api/v1/payments?limit=5");
    out.read = "status " + r.status + " " + (await r.text()).slice(0, 80);
  } catch (e) { out.read = "blocked"; }
  out.ws = await new Promise((resolve) => {
    const ws = new WebSocket(D.replace("http:", "ws:") + "/api/v1/events?since=0");
    let got = 0;
    ws.onmessage = () => { got++; ws.close(); };
    ws.onclose = (e) => resolve((got ? "received " + got : "nothing received") + ", close " + e.code);
  });
  out.form = await new Promise((resolve) => {
    const sink = document.querySelector("iframe");
    sink.onload = () => resolve("submitted");
    document.getElementById("f").submit();
  });
  document.body.dataset.done = JSON.stringify(out);
}
attack();
</script>
</body></html>`

// A page on another origin, and a DNS name rebound to loopback, cannot move
// money or read orders: nothing is stored, nothing reaches the terminal.
func TestBrowser_ForeignPageCannotPay(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove, hostRules: "MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1"})
	daemon := r.d.API.URL()
	_, daemonPort, _ := net.SplitHostPort(r.d.API.Addr())

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(strings.ReplaceAll(attackPage, "DAEMON", daemon)))
	}))
	defer evil.Close()
	_, evilPort, _ := net.SplitHostPort(evil.Listener.Addr().String())

	before := r.lastSeq()
	r.do(chromedp.Navigate("http://evil.test:" + evilPort + "/"))
	r.waitJS(`document.body.dataset.done !== undefined`)
	got, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`document.body.dataset.done`))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(got), &out); err != nil {
		t.Fatalf("attack page result %q: %v", got, err)
	}
	t.Logf("what the foreign page saw: %v", out)
	if out["cors"] != "blocked" || out["read"] != "blocked" {
		t.Errorf("a cross-origin CORS request got an answer: %v", out)
	}
	if !strings.HasPrefix(out["ws"], "nothing received") {
		t.Errorf("the foreign page read the event stream: %s", out["ws"])
	}

	// DNS rebinding: a name of the attacker's that resolves to loopback, so
	// the page is same-origin with the daemon's port.
	r.do(chromedp.Navigate("http://rebind.test:" + daemonPort + "/"))
	page, err := chromedp.Run(r.ctx, chromedp.Evaluate[string](`document.body ? document.body.textContent : ""`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "misdirected_request") {
		t.Errorf("the daemon answered a rebound name: %.200q", page)
	}
	status, err := chromedp.Run(r.ctx, chromedp.Evaluate[float64](`fetch("/api/v1/payments", {method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({lane: "1", amount: "999.00", currency: "AED", reference: "rebind"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusMisdirectedRequest {
		t.Errorf("a same-origin POST on a rebound name got %v, want 421", status)
	}

	// Nothing was stored, charged or sent to the terminal. (A sale reaches
	// the terminal only for an order stored first, so no order means no sale.)
	page2, err := r.d.Engine.Payments(context.Background(), posbridge.OrderFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page2.Orders) != 0 || r.lastSeq() != before {
		t.Fatalf("the foreign page created orders: %d stored, seq %d -> %d", len(page2.Orders), before, r.lastSeq())
	}
	if charges := r.w.Sandbox.Charges(); len(charges) != 0 {
		t.Errorf("the gateway saw charges: %v", charges)
	}
}
