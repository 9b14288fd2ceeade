package posbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// The Pay Protocol world of the simulation: the daemon's gateway is the Pay
// Protocol client, against the sandbox's Pay Protocol (its own orders, HMAC,
// callbacks) over the in-memory network. Pay Protocol has no card
// terminals: the world has the QR lane alone (simulation_qr_test.go), whose
// customers may also pay part of the amount or more than it. The checks of
// simulation_test.go read Pay Protocol's orders as the gateway's truth
// (gatewayOrders); checkPP adds what only partial payments can break.

// ppStatusPartial is a partially paid Pay Protocol order as gatewayOrders
// reports it: money arrived (PaidAt is set), but the order is not paid.
const ppStatusPartial = "PARTIALLY_PAID"

// setupPayProtocol starts the world's Pay Protocol sandbox and serves it,
// behind the request log and the faults of ppFront, as host "gateway".
func (w *world) setupPayProtocol() (stop func()) {
	pp, err := sandbox.NewPayProtocol(sandbox.PayProtocolConfig{HTTPClient: w.net.Client(),
		NotifyURL: "http://notify" + payprotocol.DefaultNotifyPath, Logger: w.log})
	if err != nil {
		w.t.Fatalf("Pay Protocol sandbox: %v", err)
	}
	w.pp = pp
	w.ppFront = &ppFront{h: pp.Handler()}
	stopHTTP := w.net.Serve("gateway", w.ppFront)
	return func() {
		stopHTTP()
		pp.Close()
	}
}

// ppFront is the network in front of the Pay Protocol sandbox: it logs
// every API request with its answer (the sandbox keeps no log) and plays the
// faults the sandbox does not: a request served whose answer is lost, and
// one whose answer comes a minute late (after the client gave up).
type ppFront struct {
	h      http.Handler
	mu     sync.Mutex
	log    []sandbox.Request
	faults []ppFrontFault
}

type ppFrontFault struct {
	path  string // relative to /api/mer, or "*"
	kind  sandbox.FaultKind
	times int
}

func (f *ppFront) setFault(path string, kind sandbox.FaultKind, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, ppFrontFault{path, kind, times})
}

func (f *ppFront) clearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

func (f *ppFront) takeFault(path string) sandbox.FaultKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		if ft := &f.faults[i]; ft.path == path || ft.path == "*" {
			kind := ft.kind
			if ft.times--; ft.times <= 0 {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
			}
			return kind
		}
	}
	return ""
}

// requests returns the API requests seen, in the order they were answered.
func (f *ppFront) requests() []sandbox.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sandbox.Request(nil), f.log...)
}

func (f *ppFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, api := strings.CutPrefix(r.URL.Path, sandbox.PayProtocolAPIPath)
	if !api {
		f.h.ServeHTTP(w, r) // the hosted page and the control API
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	// Logged in the order the requests arrive, answered or not.
	f.mu.Lock()
	i := len(f.log)
	f.log = append(f.log, sandbox.Request{Path: path, At: time.Now()})
	f.mu.Unlock()
	fault := f.takeFault(path)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	var env payprotocol.Envelope
	code := "HTTP " + http.StatusText(rec.Code)
	sandboxFault := sandbox.FaultKind("")
	if json.Unmarshal(rec.Body.Bytes(), &env) == nil {
		code = strconv.Itoa(env.Code)
		if env.Msg == "injected fault" {
			sandboxFault = sandbox.FaultCode
		}
	} else if rec.Code == http.StatusBadGateway {
		sandboxFault = sandbox.FaultHTTP502
	}
	if fault == "" {
		fault = sandboxFault
	}
	// The order a GET names is in its query: log it as a body would name it.
	logged := string(body)
	if no := r.URL.Query().Get("outTradeNo"); no != "" {
		logged = `{"outTradeNo":"` + no + `"}`
	}
	f.mu.Lock()
	f.log[i].SignOK, f.log[i].Body, f.log[i].Code, f.log[i].Fault = rec.Code != http.StatusUnauthorized, logged, code, fault
	f.mu.Unlock()
	if fault == sandbox.FaultDelay {
		time.Sleep(time.Minute) // served; the answer comes after the client gave up
	}
	if fault == sandbox.FaultCommit500 {
		// Served, and the answer lost on its way back.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// ppClient is the world's Pay Protocol client: pages on the sandbox, every
// callback to the daemon's notify endpoint.
func (w *world) ppClient() posbridge.Gateway {
	c, err := payprotocol.New(payprotocol.Config{
		BaseURL: "http://gateway" + sandbox.PayProtocolAPIPath, PageURL: "http://gateway",
		APIKey: w.pp.APIKey(), Secret: w.pp.Secret(), ChainID: 1,
		NotifyURL:  "http://notify" + payprotocol.DefaultNotifyPath,
		HTTPClient: w.net.Client(), Timeout: 5 * time.Second, RatePerSecond: -1, Logger: w.log,
	})
	if err != nil {
		w.t.Fatalf("payprotocol client: %v", err)
	}
	return c
}

// ppNotifyHandler is the daemon's Pay Protocol callback endpoint.
func (w *world) ppNotifyHandler(svc posbridge.NotificationService) http.Handler {
	h, err := payprotocol.NewNotifyHandler(payprotocol.NotifyConfig{APIKey: w.pp.APIKey(), Secret: w.pp.Secret(), Logger: w.log}, svc)
	if err != nil {
		w.t.Fatalf("notify handler: %v", err)
	}
	return h
}

// pickPPFault arms a Pay Protocol fault for the next calls to a path: the
// sandbox's own (system error, busy, no service, a proxy's 502), or the
// network's (the answer lost after the order was served, a minute's delay).
func (w *world) pickPPFault(r *rand.Rand) {
	path := []string{payprotocol.PathPaymentDetail, payprotocol.PathCreatePayment, "*"}[r.Intn(3)]
	times := 1 + r.Intn(5)
	var kind string
	switch r.Intn(6) {
	case 0:
		w.pp.SetFault(sandbox.PPFault{Path: path, Code: payprotocol.CodeSystem, HTTP: http.StatusInternalServerError, Times: times})
		kind = "system error"
	case 1:
		w.pp.SetFault(sandbox.PPFault{Path: path, Code: payprotocol.CodeBusy, HTTP: http.StatusTooManyRequests, Times: times})
		kind = "busy"
	case 2:
		w.pp.SetFault(sandbox.PPFault{Path: path, Code: payprotocol.CodeNoService, HTTP: http.StatusServiceUnavailable, Times: times})
		kind = "no service"
	case 3:
		w.pp.SetFault(sandbox.PPFault{Path: path, HTTP: http.StatusBadGateway, Times: times})
		kind = "proxy 502"
	case 4:
		w.ppFront.setFault(path, sandbox.FaultCommit500, times)
		kind = "answer lost"
	case 5:
		w.ppFront.setFault(path, sandbox.FaultDelay, times)
		kind = "a minute late"
	}
	w.note("gateway fault %s %s x%d", path, kind, times)
}

// ppRefusedCodes are Pay Protocol's answers to an open that did nothing and
// may be sent again without a query (the client's retryable classes).
var ppRefusedCodes = map[string]bool{strconv.Itoa(payprotocol.CodeBusy): true, strconv.Itoa(payprotocol.CodeNoService): true}

// ppPaidAmount draws what a Pay Protocol customer pays for amount: in full,
// part of it (0.5× to below 1×), or more (above 1× to 1.2×).
func ppPaidAmount(c qrCustomer, amount posbridge.Money, r *rand.Rand) posbridge.Money {
	paid := amount
	switch c {
	case qrPaysPartially:
		low := (amount.Minor + 1) / 2
		paid.Minor = low + r.Int63n(amount.Minor-low)
	case qrOverpays:
		paid.Minor = amount.Minor + 1 + r.Int63n(amount.Minor*12/10-amount.Minor)
	}
	return paid
}

// gatewayOrders returns the gateway's orders as the checks read them: the
// sandbox's, or Pay Protocol's in the same shape (paid in full is
// PAID_SUCCESS; partially paid is ppStatusPartial, with PaidAt, since money
// arrived; an order whose page closed unpaid is FAILURE, closed at its
// expiry).
func (w *world) gatewayOrders() []sandbox.Order {
	if w.pp == nil {
		return w.sb.Orders()
	}
	var out []sandbox.Order
	for _, o := range w.pp.Orders() {
		g := sandbox.Order{MerchantOrderNo: o.OutTradeNo, OrderNo: o.OutPaymentNo, Status: sandbox.StatusCreated,
			Amount: o.Amount, Paid: o.Paid, Charges: o.Charges, NotifyURL: o.NotifyURL, CreatedAt: o.CreatedAt, PaidAt: o.PaidAt}
		switch o.Status {
		case sandbox.PPPaid:
			g.Status = sandbox.StatusPaid
		case sandbox.PPPartiallyPaid:
			g.Status = ppStatusPartial
		case sandbox.PPFailed:
			g.Status, g.ClosedAt = sandbox.StatusFailure, o.ExpiresAt
		}
		out = append(out, g)
	}
	return out
}

// gatewayCharges returns how often the gateway charged each order.
func (w *world) gatewayCharges() map[string]int {
	if w.pp == nil {
		return w.sb.Charges()
	}
	return w.pp.Charges()
}

// gatewayRequests returns the API requests the gateway answered, in order.
func (w *world) gatewayRequests() []sandbox.Request {
	if w.pp == nil {
		return w.sb.Requests()
	}
	return w.ppFront.requests()
}

// ackedPaidNotifications returns, for each paid-in-full notification the
// daemon acknowledged, its id and order.
func (w *world) ackedPaidNotifications() [][2]string {
	var out [][2]string
	if w.pp != nil {
		for _, d := range w.pp.Deliveries() {
			if d.Delivered && d.Kind == "payment" && d.Status == sandbox.PPPaid {
				out = append(out, [2]string{strconv.Itoa(d.ID), d.No})
			}
		}
		return out
	}
	for _, d := range w.sb.Notifications() {
		if d.Delivered && d.Kind == "acquireOrder" && d.Status == sandbox.StatusPaid {
			out = append(out, [2]string{d.NotifyID, d.MerchantOrderNo})
		}
	}
	return out
}

// paidAfterClose reports whether the gateway took the customer's payment
// for no after it had closed the order (expired or canceled).
func (w *world) paidAfterClose(no posbridge.OrderNo) bool {
	if w.pp != nil {
		o, _ := w.pp.Order(string(no))
		return !o.PaidAt.IsZero() && !o.PaidAt.Before(o.ExpiresAt)
	}
	o, _ := w.sb.Order(string(no))
	return !o.ClosedAt.IsZero()
}

// gatewayPartial reports whether the gateway has no partially paid.
func gatewayPartial(truth map[string]sandbox.Order, no posbridge.OrderNo) bool {
	return truth[string(no)].Status == ppStatusPartial
}

// checkPP checks the promises about Pay Protocol's partial payments and
// overpayments: a partially paid order is never shown paid, at any moment,
// and ends pending, flagged partially_paid with the amount the gateway
// received; an overpaid order is paid and flagged; no payment is taken for
// one made after a close (paid_after_close).
func (w *world) checkPP(local map[posbridge.OrderNo]posbridge.Order) {
	if w.pp == nil {
		return
	}
	t := w.t
	partial := map[posbridge.OrderNo]sandbox.PPOrder{}
	for _, g := range w.pp.Orders() {
		no := posbridge.OrderNo(g.OutTradeNo)
		o, ok := local[no]
		if !ok {
			continue // the common checks report it
		}
		switch {
		case g.Status == sandbox.PPPartiallyPaid:
			partial[no] = g
			if want := posbridge.PartialAttention(g.Paid, o.Amount); o.Status != posbridge.StatusPending || o.Reason != posbridge.ReasonPartiallyPaid ||
				!o.NeedsAttention || o.Attention != want {
				t.Errorf("partial: %s is partially paid at the gateway (%s of %s) but %s (%s) here, attention %v %q, want pending (partially_paid) %q",
					no, g.Paid, g.Amount, o.Status, o.Reason, o.NeedsAttention, o.Attention, want)
			}
		case g.Status == sandbox.PPPaid && g.Paid.Minor > g.Amount.Minor:
			if o.Status != posbridge.StatusPaid || !o.NeedsAttention {
				t.Errorf("partial: %s was overpaid at the gateway (%s for %s) but is %s here, attention %v", no, g.Paid, g.Amount, o.Status, o.NeedsAttention)
			}
		}
		// Pay Protocol never closes an order and takes its payment later
		// (it has no cancel; its page takes nothing after expiry): no
		// payment here was captured on an order the shop had closed.
		if g.Status == sandbox.PPPaid && o.Reason == posbridge.ReasonPaidAfterClose {
			t.Errorf("pp: %s was paid on its open page at %s, but is flagged paid_after_close here", no, g.PaidAt.UTC().Format("15:04:05.000"))
		}
	}
	if len(partial) == 0 {
		return
	}
	ctx := context.Background()
	var seq int64
	for {
		evs, err := w.d().engine.EventsSince(ctx, seq, 1000)
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		if len(evs) == 0 {
			return
		}
		for _, ev := range evs {
			seq = ev.Seq
			if p := ev.Payment; p != nil && p.Status == posbridge.StatusPaid {
				if g, ok := partial[p.No]; ok {
					t.Errorf("partial: %s was shown paid at %s, but the gateway received only %s of %s", p.No, ev.At.UTC().Format("15:04:05.000"), g.Paid, g.Amount)
					delete(partial, p.No)
				}
			}
		}
	}
}

// forgePP posts a Pay Protocol callback saying no is paid 0.01: signed with
// another secret (forged), or with the real one (a wrong amount).
func (w *world) forgePP(no posbridge.OrderNo, signedWrongAmount bool) {
	body, err := json.Marshal(payprotocol.Payment{OutTradeNo: string(no), OutPaymentNo: "PPFORGED", PaymentStatus: payprotocol.StatusPaid,
		QuoteCurrencySymbol: w.currency(), QuoteAmount: json.RawMessage("0.01"), PaidAmount: json.RawMessage("0.01"), PaymentTime: time.Now().Unix()})
	if err != nil {
		w.t.Error(err)
		return
	}
	secret := []byte("not the merchant's secret")
	if signedWrongAmount {
		secret = w.pp.Secret()
	}
	req, _ := http.NewRequest(http.MethodPost, "http://notify"+payprotocol.DefaultNotifyPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	payprotocol.SetHeaders(req.Header, w.pp.APIKey(), secret, time.Now(), http.MethodPost, payprotocol.DefaultNotifyPath, body)
	w.sendForged(req, no, signedWrongAmount)
}
