package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// The demo shows what README promises, on the page, with its own timings.

func TestBrowser_DemoLostResponseShowsChecking(t *testing.T) {
	r := newBrowserRig(t, rigOptions{scenario: "lost-response"})
	r.payOnPage("1", "5")
	r.waitInstruction("Checking the payment with the bank — please wait")
	// Long enough to see: the screen still says it after the engine has
	// asked the gateway twice more (a second apart in the demo).
	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	stats := func() uint64 {
		st, err := r.d.Engine.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Verifications
	}
	start := stats()
	for stats() < start+2 {
		if ctx.Err() != nil {
			t.Fatal("the gateway was not asked twice in a minute")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, not timing
	}
	if got := eval[string](r, `document.getElementById("panel").dataset.status`); got != "verifying" {
		t.Errorf("lost-response left \"Checking with the bank\" (now %s) within two gateway checks: too quick to see", got)
	}
	r.screenshot("demo-lost-response-checking")
	r.waitInstruction("Payment successful")
	if got := r.w.Sandbox.Charges()[r.text("d-order")]; got != 1 {
		t.Errorf("charged %d times, want once", got)
	}
}

func TestBrowser_DemoGatewayOutageNotConfirmed(t *testing.T) {
	r := newBrowserRig(t, rigOptions{scenario: "gateway-outage"})
	r.payOnPage("2", "5")
	r.waitInstruction("Not confirmed yet — do not take payment again")
	r.waitJS(visible("block"))
	r.screenshot("demo-gateway-outage-not-confirmed")
	r.waitInstruction("Payment successful")
	if got := r.w.Sandbox.Charges()[r.text("d-order")]; got != 1 {
		t.Errorf("charged %d times, want once", got)
	}
}

func TestBrowser_DemoScenarioPicker(t *testing.T) {
	r := newBrowserRig(t, rigOptions{scenario: "approve"})
	r.waitJS(visible("demo") + ` && document.getElementById("demo-scenario").options.length >= 5`)
	names := eval[[]string](r, `[...document.getElementById("demo-scenario").options].map(o => o.value)`)
	want := []string{"approve", "cancel", "decline", "lost-response", "gateway-outage"}
	if len(names) != len(want) {
		t.Fatalf("picker offers %q, want %q", names, want)
	}
	eval[bool](r, `(s => { s.value = "cancel"; s.dispatchEvent(new Event("change")); return true; })(document.getElementById("demo-scenario"))`)
	deadline := time.Now().Add(browserWait)
	for {
		res, err := http.Get(r.d.API.URL() + "/demo/scenario")
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Scenario string }
		json.NewDecoder(res.Body).Decode(&d)
		res.Body.Close()
		if d.Scenario == "cancel" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the picker did not switch the demo to cancel (it is %q)", d.Scenario)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, not timing
	}
	r.payOnPage("3")
	r.waitInstruction("Payment not completed")
	r.screenshot("demo-picker-cancel")
}
