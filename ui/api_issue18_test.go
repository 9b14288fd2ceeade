package ui

import (
	"context"
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
	link := posbridge.LinkUp
	first := testOrder("F1000001", "1", 500)
	first.IdempotencyKey = "till-1"
	var pays []posbridge.PayRequest
	f := &fakeService{}
	f.LanesFunc = func(context.Context) ([]posbridge.LaneStatus, error) {
		return []posbridge.LaneStatus{lane("1", link, nil), lane("2", posbridge.LinkUp, nil)}, nil
	}
	f.PaymentsFunc = func(_ context.Context, flt posbridge.OrderFilter) (posbridge.OrderPage, error) {
		if flt.IdempotencyKey == first.IdempotencyKey {
			return posbridge.OrderPage{Orders: []posbridge.Order{first}}, nil
		}
		return posbridge.OrderPage{}, nil
	}
	f.PayFunc = func(_ context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error) {
		pays = append(pays, r)
		if r.IdempotencyKey == first.IdempotencyKey {
			return first, len(pays) > 1, nil
		}
		return testOrder("F1000002", r.Lane, r.Amount.Minor), false, nil
	}
	s := mustOpenServer(t, f, Config{})
	body := `{"lane":"1","amount":"5.00","currency":"AED"}`
	r := doReq(t, "POST", s.URL()+"/api/v1/payments", body, "Idempotency-Key", "till-1")
	if r.status != http.StatusCreated {
		t.Fatalf("pay: %d %s", r.status, r.raw)
	}
	// The customer canceled on the terminal; then its link goes down.
	first.Status, first.Reason = posbridge.StatusFailed, posbridge.ReasonCanceledByUser
	link = posbridge.LinkDown

	r = doReq(t, "POST", s.URL()+"/api/v1/payments", `{"lane":"1","amount":"6.00","currency":"AED"}`)
	if r.status != http.StatusServiceUnavailable || r.errCode() != posbridge.EUNAVAILABLE || r.errField() != "lane" ||
		!strings.Contains(str(r.body, "error", "message"), "terminal of lane 1 is not connected") {
		t.Errorf("pay with the terminal down: %d %s, want 503 unavailable on lane saying the terminal is not connected", r.status, r.raw)
	}
	if n := len(pays); n != 1 {
		t.Errorf("%d payments asked of the service, want the refused one not asked", n)
	}
	replay := doReq(t, "POST", s.URL()+"/api/v1/payments", body, "Idempotency-Key", "till-1")
	if replay.status != http.StatusOK || str(replay.body, "order_no") != string(first.No) {
		t.Errorf("replay with the terminal down: %d %s, want 200 and the first payment", replay.status, replay.raw)
	}
	// Handshaking is not down: the engine waits for the link.
	link = posbridge.LinkHandshaking
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
	// The terminal's answer is lost and the gateway does not know the
	// payment when the cashier's wait ends: pending.
	o := testOrder("F1000001", "1", 700)
	f := withLanes("1", "2")
	f.PayFunc = func(context.Context, posbridge.PayRequest) (posbridge.Order, bool, error) { return o, false, nil }
	f.AwaitFunc = func(context.Context, posbridge.OrderNo) (posbridge.Order, error) {
		p := o
		p.Status, p.TerminalOutcome, p.Checks = posbridge.StatusPending, posbridge.OutcomeTimeout, 3
		return p, nil
	}
	s := mustOpenServer(t, f, Config{})
	r := doReq(t, "POST", s.URL()+"/api/v1/payments?wait=90s", `{"lane":"1","amount":"7","currency":"AED"}`)
	if r.status != http.StatusCreated || str(r.body, "status") != "pending" {
		t.Errorf("pay ?wait=90s in an outage: %d %s, want 201 pending", r.status, r.raw)
	}
}
