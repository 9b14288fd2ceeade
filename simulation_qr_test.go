package posbridge_test

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/gateway/payprotocol"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// The QR lane in the seeded simulation (PayBy and Pay Protocol: the CodePay
// client opens no hosted orders). A third of PayBy's worlds have lane "Q"
// beside their terminal lanes, and Pay Protocol's worlds have it alone; its
// customers pay on their phone, on the sandbox's page reached over the
// in-memory network, or do not. Its draws come from a stream of their own,
// so a seed's terminal customers and faults stay as they were.

const simQRLane = "Q"

// simQR is the QR lane's timers: the defaults (2 s polls for 60 s, 5 min).
var simQR = posbridge.QRLane{}

// qrCustomer is what a QR lane's customer does.
type qrCustomer int

const (
	qrPays              qrCustomer = iota // while the cashier waits
	qrPaysLate                            // after the cashier's wait, before the expiry
	qrNeverPays                           // opens the page and leaves
	qrPaysTooLate                         // after the expiry: the page refuses
	qrCallbackLost                        // pays while the cashier waits; the notification is lost
	qrDuplicateCallback                   // pays; the notification arrives more than once
	qrPaysPartially                       // Pay Protocol: pays 0.5× to below 1× of the amount
	qrOverpays                            // Pay Protocol: pays above 1× to 1.2× of the amount
	qrCustomerKinds
)

func (c qrCustomer) String() string {
	return [...]string{"pays", "pays late", "never pays", "pays too late", "callback lost", "duplicate callback", "pays partially", "overpays"}[c]
}

// qrCustomerCount is how many kinds of customer the world's gateway has:
// only Pay Protocol takes another amount than the order's.
func (w *world) qrCustomerCount() int {
	if w.pp != nil {
		return int(qrCustomerKinds)
	}
	return int(qrPaysPartially)
}

// setupQR decides whether the world has a QR lane; the lane's draws then
// come from w.qrR.
func (w *world) setupQR(seed int64) {
	r := rand.New(rand.NewSource(seed ^ 0x9a11))
	switch {
	case w.pp != nil:
		// Pay Protocol's pages are where its client says: on "gateway".
	case w.gw != "payby" || r.Intn(3) != 0:
		return
	default:
		w.sb.SetPayPageURL("http://gateway")
	}
	w.qrR = r
	w.note("lane %s is a QR lane", simQRLane)
}

// qrLanes are the world's QR lane, for each new life's daemon (none without one).
func (w *world) qrLanes() []daemon.QRLane {
	if w.qrR == nil {
		return nil
	}
	return []daemon.QRLane{{ID: simQRLane, Config: simQR}}
}

// maybeQRPurchase runs a QR lane's purchase now and then.
func (w *world) maybeQRPurchase(i int) {
	if w.qrR == nil || w.qrR.Intn(2) != 0 {
		return
	}
	w.qrPurchase(fmt.Sprintf("Q%d", i), rand.New(rand.NewSource(w.qrR.Int63())))
}

// qrPurchase is one customer at the QR lane: the cashier asks for the
// payment, the page shows the code, the customer does what they do, and the
// cashier presses "Payment completed" or cancels at awkward moments.
func (w *world) qrPurchase(ref string, r *rand.Rand) {
	cust := qrCustomer(r.Intn(w.qrCustomerCount()))
	w.pickGatewayFault(r)
	w.pickStoreFault(r)
	amount := posbridge.Money{Minor: int64(100 + r.Intn(50000)), Currency: w.currency()}
	req := posbridge.PayRequest{Lane: simQRLane, Amount: amount, Reference: ref, By: posbridge.By{Actor: posbridge.ActorAPI, Who: "pos"}}
	o, _, err := w.eng().Pay(context.Background(), req)
	if posbridge.ErrorCode(err) == posbridge.ELANEBUSY {
		if prev := w.openOrder(simQRLane); prev != "" && r.Intn(2) == 0 {
			req.Replaces = prev
			w.note("replace %s", prev)
			o, _, err = w.eng().Pay(context.Background(), req)
		}
	}
	if err != nil {
		w.note("QR pay %s refused: %v", ref, err)
		return
	}
	w.note("QR paying %s: %s (%s), customer %s", ref, o.No, o.Amount, cust)
	page := w.qrPage(o.No)
	if page == "" {
		w.note("%s: no payment page shown", o.No)
		time.Sleep(10 * time.Minute)
		return
	}
	if w.pp == nil {
		switch cust {
		case qrCallbackLost:
			w.sb.SetOrderNotifications(string(o.No), sandbox.NotificationsLost)
		case qrDuplicateCallback:
			w.sb.SetOrderNotifications(string(o.No), sandbox.NotificationsDuplicated)
		}
	}
	paid := o.Amount
	if w.pp != nil {
		paid = ppPaidAmount(cust, o.Amount, r)
	}
	var payAt time.Duration
	switch cust {
	case qrPays, qrCallbackLost, qrDuplicateCallback, qrPaysPartially, qrOverpays:
		payAt = time.Duration(1+r.Intn(50)) * time.Second
	case qrPaysLate:
		payAt = time.Duration(65+r.Intn(220)) * time.Second
	case qrPaysTooLate:
		payAt = posbridge.DefaultQRExpiry + time.Duration(30+r.Intn(300))*time.Second
	}
	// The cashier, meanwhile: "Payment completed", a cancel, or a crash,
	// at any moment of the customer's minutes.
	actAt := time.Duration(r.Intn(int((7 * time.Minute).Milliseconds()))) * time.Millisecond
	act := r.Intn(6)
	start := time.Now()
	steps := []struct {
		at time.Duration
		do func()
	}{{actAt, func() { w.qrCashier(o.No, act, r) }}}
	if payAt > 0 {
		steps = append(steps, struct {
			at time.Duration
			do func()
		}{payAt, func() { w.qrPay(o.No, page, paid, cust) }})
		if steps[1].at < steps[0].at {
			steps[0], steps[1] = steps[1], steps[0]
		}
	}
	for _, s := range steps {
		if d := s.at - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		s.do()
	}
	time.Sleep(10 * time.Minute)
	if got, err := w.eng().Payment(context.Background(), o.No); err == nil {
		w.note("QR %s ends %s (%s)", o.No, got.Status, got.Reason)
	}
}

// qrPage waits (a bounded poll, as the cashier's screen would) for the
// order's payment page to be shown.
func (w *world) qrPage(no posbridge.OrderNo) string {
	for i := 0; i < 60; i++ {
		o, err := w.eng().Payment(context.Background(), no)
		if err == nil && o.PaymentURL != "" {
			return o.PaymentURL
		}
		if err == nil && !o.Open() {
			return ""
		}
		time.Sleep(time.Second)
	}
	return ""
}

// qrPay is the customer pressing "Pay" on the page, over the network: for
// the order's amount (PayBy's page asks nothing), or on Pay Protocol's page
// for amount. Pay Protocol has one callback switch for every order: a
// customer whose callback is lost or duplicated has it switched for the
// moment of the payment, when the callback is made.
func (w *world) qrPay(no posbridge.OrderNo, page string, amount posbridge.Money, c qrCustomer) {
	form := url.Values{}
	if w.pp != nil {
		form.Set("amount", amount.Decimal())
		if c == qrCallbackLost || c == qrDuplicateCallback {
			n := w.ppNotifier
			n.Drop, n.Duplicates = n.Drop || c == qrCallbackLost, n.Duplicates || c == qrDuplicateCallback
			w.pp.SetNotifier(n)
			defer w.pp.SetNotifier(w.ppNotifier)
		}
	}
	resp, err := w.net.Client().PostForm(page, form)
	if err != nil {
		w.note("the customer cannot reach the page of %s: %v", no, err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	paid := strings.Contains(string(body), "Payment successful") || strings.Contains(string(body), "Payment received")
	w.note("the customer presses Pay %s for %s: %d, paid=%v", form.Get("amount"), no, resp.StatusCode, paid)
	if paid && w.paidAfterClose(no) {
		w.violation("the page took a payment for %s after the gateway closed it", no)
	}
}

// qrCashier is the cashier at an awkward moment of a QR payment.
func (w *world) qrCashier(no posbridge.OrderNo, act int, r *rand.Rand) {
	switch act {
	case 0, 1:
		o, err := w.eng().Verify(context.Background(), no, simCashier)
		w.note("cashier presses Payment completed for %s: %s %v", no, o.Status, err)
	case 2:
		_, err := w.eng().Cancel(context.Background(), no, simCashier)
		w.note("cashier cancels %s: %v", no, err)
	case 3:
		w.crashRestart("during a QR payment", time.Duration(r.Intn(30_000))*time.Millisecond)
	case 4, 5:
		if w.pp != nil {
			// A callback saying paid: forged, or signed for the wrong
			// amount (PayBy's QR worlds keep their draws as they were).
			w.forge(no, act == 5)
		}
	}
}

// qrCloseSlack is how long after its expiry (or, after an outage, the
// gateway's first answer) an unpaid QR order may still be open in the
// simulation: gateway faults (a minute's delay, five times), backoffs, a
// store that refuses writes and restarts all delay the close, but never to
// the schedule's end (most of an hour).
const qrCloseSlack = 15 * time.Minute

// qrCalls names a gateway's calls as checkQR reads them: the query, the
// cancel (none: Pay Protocol has none, its client only queries), the open,
// and the answers to an open that did nothing, after which it may be sent
// again without a query.
type qrCalls struct {
	query, cancel, open string
	refused             map[string]bool
}

var qrGatewayCalls = map[string]qrCalls{
	"payby":       {"/acquire2/getOrder", "/acquire2/cancelOrder", "/acquire2/placeOrder", map[string]bool{"402": true}},
	"payprotocol": {payprotocol.PathPaymentDetail, "", payprotocol.PathCreatePayment, ppRefusedCodes},
}

// checkQR checks the QR lane's own promises: every cancel at the gateway
// was preceded by a query; an open whose answer may have been lost was
// asked about before the next open; an order nobody paid was closed at its
// expiry; an order whose page was never shown was never paid; none is left
// open but those partially paid.
func (w *world) checkQR(local map[posbridge.OrderNo]posbridge.Order) {
	if w.qrR == nil {
		return
	}
	names := qrGatewayCalls[w.gw]
	type call struct{ path, code string }
	calls := map[string][]call{}
	var answered []time.Time // when the gateway answered a request without a fault
	for _, rq := range w.gatewayRequests() {
		if rq.Fault == "" {
			answered = append(answered, rq.At)
		}
		for n, o := range local {
			if o.Lane == simQRLane && strings.Contains(rq.Body, `"`+string(n)+`"`) {
				calls[string(n)] = append(calls[string(n)], call{rq.Path, rq.Code})
				break
			}
		}
	}
	for no, cs := range calls {
		queried := false
		for i, c := range cs {
			switch c.path {
			case names.query:
				queried = true
			case names.cancel:
				if !queried {
					w.t.Errorf("QR: %s was canceled at the gateway without a query first: %v", no, cs)
				}
			case names.open:
				// The previous open of this order, if any, must have been
				// refused for now (rate limit: nothing happened), or a
				// query must have come between.
				for j := i - 1; j >= 0; j-- {
					if cs[j].path == names.query {
						break
					}
					if cs[j].path == names.open {
						if !names.refused[cs[j].code] {
							w.t.Errorf("QR: %s was opened again without a query after an open answered %q: %v", no, cs[j].code, cs)
						}
						break
					}
				}
			}
		}
	}
	ctx := context.Background()
	for _, o := range local {
		if o.Lane != simQRLane {
			continue
		}
		if o.Status == posbridge.StatusPaid && o.PaymentURL == "" && !o.NeedsAttention {
			w.t.Errorf("QR: %s is paid but its page was never shown", o.No)
		}
		if o.Open() && o.Reason != posbridge.ReasonUnconfirmed && (o.Reason != posbridge.ReasonPartiallyPaid || w.pp == nil) {
			w.t.Errorf("QR: %s is still %s after its expiry", o.No, o.Status)
		}
		if o.PaymentExpiresAt.IsZero() || !o.Status.Final() {
			continue
		}
		audit, err := w.d().db.Audit(ctx, o.No)
		if err != nil {
			w.t.Fatalf("audit: %v", err)
		}
		// The close may wait for the gateway to answer again (an outage).
		from := o.PaymentExpiresAt
		if i, _ := slices.BinarySearchFunc(answered, from, time.Time.Compare); i < len(answered) {
			from = answered[i]
		}
		for _, a := range audit {
			if a.To.Final() {
				if late := a.At.Sub(from); late > qrCloseSlack {
					w.t.Errorf("QR: %s became %s %v after its expiry (or the gateway's first answer after it), want it closed then", o.No, a.To, late)
				}
				break
			}
		}
	}
}
