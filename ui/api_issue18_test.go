package ui

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

// TestServer_PayRefusedTerminalDown: a new payment on a lane whose terminal
// is not connected is refused at once with a reason the cashier can act on,
// instead of "Waiting for the customer" until the sale times out; a replay
// of a payment already made still answers that payment.
func TestServer_PayRefusedTerminalDown(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	body := `{"lane":"1","amount":"5.00","currency":"AED"}`
	first := doReq(t, "POST", s.URL()+"/api/v1/payments", body, "Idempotency-Key", "till-1")
	if first.status != http.StatusCreated {
		t.Fatalf("pay: %d %s", first.status, first.raw)
	}
	f.flowCustomerCancel(posbridge.OrderNo(str(first.body, "order_no")))
	f.setLink("1", posbridge.LinkDown)

	r := doReq(t, "POST", s.URL()+"/api/v1/payments", `{"lane":"1","amount":"6.00","currency":"AED"}`)
	if r.status != http.StatusServiceUnavailable || r.errCode() != posbridge.EUNAVAILABLE || r.errField() != "lane" ||
		!strings.Contains(str(r.body, "error", "message"), "terminal of lane 1 is not connected") {
		t.Errorf("pay with the terminal down: %d %s, want 503 unavailable on lane saying the terminal is not connected", r.status, r.raw)
	}
	if n := len(f.created); n != 1 {
		t.Errorf("%d orders stored, want the refused one not stored", n)
	}
	replay := doReq(t, "POST", s.URL()+"/api/v1/payments", body, "Idempotency-Key", "till-1")
	if replay.status != http.StatusOK || str(replay.body, "order_no") != str(first.body, "order_no") {
		t.Errorf("replay with the terminal down: %d %s, want 200 and the first payment", replay.status, replay.raw)
	}
	// Handshaking is not down: the engine waits for the link.
	f.setLink("1", posbridge.LinkHandshaking)
	if r := doReq(t, "POST", s.URL()+"/api/v1/payments", `{"lane":"1","amount":"6.00","currency":"AED"}`); r.status != http.StatusCreated {
		t.Errorf("pay while the link handshakes: %d %s", r.status, r.raw)
	}
}

// TestServer_PayWaitOutlastsVerification: ?wait= may outlast the terminal's
// answer plus the gateway's whole confirmation window, so a POS that waits
// the longest gets pending (or final), never verifying, during an outage.
func TestServer_PayWaitOutlastsVerification(t *testing.T) {
	if maxWait < posbridge.DefaultFastPollFor+15*time.Second {
		t.Errorf("the longest wait, %s, does not outlast the confirmation window (%s) plus a terminal's answer", maxWait, posbridge.DefaultFastPollFor)
	}
	if writeTimeout <= maxWait {
		t.Errorf("write timeout %s cuts the longest wait %s", writeTimeout, maxWait)
	}
	f := newTestFake()
	f.onPay = f.flowLostResponse
	s := mustOpenServer(t, f, Config{})
	r := doReq(t, "POST", s.URL()+"/api/v1/payments?wait=90s", `{"lane":"1","amount":"7","currency":"AED"}`)
	if r.status != http.StatusCreated || str(r.body, "status") != "pending" {
		t.Errorf("pay ?wait=90s in an outage: %d %s, want 201 pending", r.status, r.raw)
	}
}
