package posbridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// A QR lane has no terminal: the customer pays on their own phone, on the
// gateway's hosted page, whose URL the cashier's screen shows as a QR code.
// The flow is the terminal's, with the gateway call in place of the sale:
//
//   - Pay stores the order (created), then commits at_terminal with the
//     order's expiry before the gateway is asked to open it (write-ahead).
//   - The hosted order is opened (HostedCheckout.CreateHostedOrder). An
//     answer lost on the way is asked about before another open is sent
//     (an identical open returns the same order, with its URL).
//   - Its URL and expiry are committed with hosted_open (verifying): the
//     page shows the QR code, and the gateway is asked every PollEvery
//     for Wait; then the order is pending under the reconciler, checked no
//     later than its expiry (Scheduler.Next).
//   - At expiry the order is closed as any other: query first, then
//     cancel; a cancel refused because it is paid makes it paid.
//
// The customer's page redirecting proves nothing: only a verified
// notification or a query makes the order paid.

// Defaults of a QR lane.
const (
	DefaultQRWait      = 60 * time.Second // the cashier's screen waits, polling, this long
	DefaultQRPollEvery = 2 * time.Second  // how often the gateway is asked meanwhile
	DefaultQRExpiry    = 5 * time.Minute  // the gateway closes the order unpaid after this
	// hostedOpenTries bounds the opens (each after a query when an earlier
	// answer was lost) while the cashier waits; after them the order is
	// left to the reconciler, which closes it at expiry.
	hostedOpenTries = 3
)

// QRLane configures a lane without a terminal. Zero fields take the defaults.
type QRLane struct {
	Wait      time.Duration // the cashier's wait, polling the gateway, before the order is pending
	PollEvery time.Duration // how often the gateway is asked during Wait
	Expiry    time.Duration // asked of the gateway; the order is closed then
}

func (q QRLane) withDefaults() QRLane {
	if q.Wait <= 0 {
		q.Wait = DefaultQRWait
	}
	if q.PollEvery <= 0 {
		q.PollEvery = DefaultQRPollEvery
	}
	if q.Expiry <= 0 {
		q.Expiry = DefaultQRExpiry
	}
	return q
}

// errNoTerminal: a terminal call for an order of a lane that has none.
var errNoTerminal = errors.New("the lane has no terminal")

// AddQRLane adds a lane without a terminal whose payments the customer makes
// on the gateway's hosted page. Call it before Open. It fails when the
// gateway cannot open hosted orders (it is not a HostedCheckout), the id is
// taken, or Wait is not shorter than Expiry.
func (e *Engine) AddQRLane(id string, q QRLane) error {
	if e.ctx != nil {
		return fmt.Errorf("lane %s: add QR lanes before the engine opens", id)
	}
	if _, ok := e.gateway.(HostedCheckout); !ok {
		return fmt.Errorf("lane %s: the %s gateway cannot open hosted (QR) orders", id, e.gateway.Name())
	}
	q = q.withDefaults()
	if q.Wait >= q.Expiry {
		return fmt.Errorf("lane %s: the wait (%s) must be shorter than the expiry (%s)", id, q.Wait, q.Expiry)
	}
	return e.lanes.addQR(id, q)
}

// addQR adds a lane without a terminal; before the engine opens only.
func (t *laneTable) addQR(id string, q QRLane) error {
	if id == "" {
		return errors.New("a lane needs an id")
	}
	if _, dup := t.byID[id]; dup {
		return fmt.Errorf("lane %s: configured twice", id)
	}
	t.byID[id] = &lane{id: id, qr: &q}
	t.ids = append(t.ids, id)
	sort.Strings(t.ids)
	return nil
}

// isQR reports whether o is an order of a QR lane.
func (e *Engine) isQR(o Order) bool {
	l := e.lanes.get(o.Lane)
	return l != nil && l.qr != nil
}

// qrLink is what a QR lane shows as its link: always up (it has no cable).
func qrLink() LinkStatus { return LinkStatus{State: LinkUp} }

// payQR goes on from Pay once o is stored as created on QR lane l:
// at_terminal is committed with the order's expiry before the gateway is
// asked to open it, and the rest runs in the background under tok.
func (e *Engine) payQR(ctx context.Context, l *lane, o *Order, tok claimToken) (Order, error) {
	now := e.now()
	sent, err := e.update(ctx, o.No, Cause{Actor: ActorEngine, Action: "send", Detail: "opening the hosted order at the gateway (QR)"}, func(o *Order) error {
		if _, err := o.Apply(Input{Kind: InputSend}, now); err != nil {
			return err
		}
		// Fixed here, so that an open repeated after a lost answer is
		// identical (the gateway then returns the same order).
		o.PaymentExpiresAt = now.Add(l.qr.Expiry)
		e.plan(o, Fact{Due: DueSaleDeadline}, now)
		return nil
	})
	if err != nil {
		// Nothing was sent; the check stored with the order closes it.
		return Order{}, fmt.Errorf("mark order sent: %w", err)
	}
	e.lanes.setLast(l, o.No)
	e.wg.Go(func() { e.runQR(l, sent, tok, false) })
	return sent, nil
}

// runQR opens o's hosted order (asking the gateway first when resumed
// after a restart) and follows it while the cashier waits.
func (e *Engine) runQR(l *lane, o Order, tok claimToken, resumed bool) {
	defer e.claims.release(o.No, tok)
	ctx := e.ctx
	after, err := e.openHosted(ctx, l, o, resumed)
	if ctx.Err() != nil {
		return // shutting down: the next Open resumes the order
	}
	switch {
	case err != nil && after.Status == StatusAtTerminal:
		e.handOver(ctx, o.No, tok, "the hosted order could not be opened: "+err.Error())
		return
	case after.Status != StatusVerifying:
		if after.Status == StatusFailed {
			e.wake()
		}
		return
	}
	e.followQR(ctx, l, o.No, tok)
}

// hostedSubject is what the customer's page says the payment is for; the
// same for every open of an order, so that a repeat is identical.
func hostedSubject(o Order) string {
	if o.Reference != "" {
		return o.Reference
	}
	return "Payment " + string(o.No)
}

// openHosted opens o's hosted order at the gateway and commits its URL and
// expiry (hosted_open). An unknown outcome is asked about before the next
// open; a gateway that already has the order paid or failed decides it.
// It returns the order as committed; an error leaves it at_terminal.
func (e *Engine) openHosted(ctx context.Context, l *lane, o Order, queryFirst bool) (Order, error) {
	hc := e.gateway.(HostedCheckout) // AddQRLane checked it
	req := HostedOrderRequest{OrderNo: o.No, Amount: o.Amount, Subject: hostedSubject(o), ExpiresAt: o.PaymentExpiresAt}
	mustQuery := queryFirst
	var lastErr error
	for try := 0; try < hostedOpenTries; try++ {
		if try > 0 && !e.sleep(ctx, l.qr.PollEvery) {
			return o, ctx.Err()
		}
		if mustQuery {
			// An earlier open may have reached the gateway: ask before
			// opening another.
			g, err := e.queryGateway(ctx, o.No, true)
			switch {
			case err == nil && g.Status != GatewayCreated:
				return e.applyGateway(ctx, o.No, Cause{Actor: ActorGatewayQuery, Action: "verify", Detail: "before opening the hosted order again; gateway says " + string(g.Status)}, g, true)
			case err != nil && !errors.Is(err, ErrGatewayNotFound):
				lastErr = err
				continue
			}
			// Open at the gateway (an identical open returns it with its
			// URL), or unknown there: open it.
			mustQuery = false
		}
		h, err := e.createHosted(ctx, hc, req)
		if err == nil {
			return e.recordHosted(ctx, l, o.No, h)
		}
		lastErr = err
		switch {
		case errors.Is(err, ErrRetryable):
			// Refused for now: nothing happened.
		case errors.Is(err, ErrUnknownOutcome):
			mustQuery = true
		default:
			// Refused: the gateway may still have the order in another
			// state (paid, closed, or opened with other parameters).
			return e.refusedOpen(ctx, o, err)
		}
	}
	return o, lastErr
}

// refusedOpen decides an order whose open the gateway refused: by a query,
// what it has of the order wins; an order it does not know is failed.
func (e *Engine) refusedOpen(ctx context.Context, o Order, openErr error) (Order, error) {
	g, err := e.queryGateway(ctx, o.No, true)
	switch {
	case errors.Is(err, ErrGatewayNotFound):
		return e.applyInput(ctx, o.No, Cause{Actor: ActorEngine, Action: "hosted order refused", Detail: openErr.Error()},
			Input{Kind: InputGatewayFailed}, nil)
	case err != nil:
		return o, err
	case g.Status != GatewayCreated:
		return e.applyGateway(ctx, o.No, Cause{Actor: ActorGatewayQuery, Action: "verify", Detail: "the hosted order was refused; gateway says " + string(g.Status)}, g, true)
	}
	return o, openErr
}

// createHosted opens the hosted order as a cashier-waiting call and records it.
func (e *Engine) createHosted(ctx context.Context, hc HostedCheckout, req HostedOrderRequest) (HostedOrder, error) {
	start := e.now()
	var h HostedOrder
	ran, err := e.gw.call(ctx, true, false, func() (err error) {
		h, err = hc.CreateHostedOrder(ctx, req)
		return err
	})
	if !ran {
		return h, err
	}
	e.recordCheck(ctx, req.OrderNo, CheckCreate, "create hosted order", start, resultText("opened", err), err)
	return h, err
}

// recordHosted commits what the gateway opened: the page's URL, its number,
// an expiry no later than asked, and hosted_open with the cashier's wait.
// An order closed meanwhile (a cashier's cancel) stores no URL: it is closed
// at the gateway at once (query first), so the customer cannot pay it.
func (e *Engine) recordHosted(ctx context.Context, l *lane, no OrderNo, h HostedOrder) (Order, error) {
	now := e.now()
	after, err := e.update(ctx, no, Cause{Actor: ActorEngine, Action: "hosted order opened", Detail: "shown as a QR code; the customer pays on their phone"}, func(o *Order) error {
		changed, err := o.Apply(Input{Kind: InputHostedOpen}, now)
		if err != nil {
			return err
		}
		if o.PaymentURL != h.URL {
			o.PaymentURL, changed = h.URL, true
		}
		if h.GatewayNo != "" && o.GatewayNo != h.GatewayNo {
			o.GatewayNo, changed = h.GatewayNo, true
		}
		if !h.ExpiresAt.IsZero() && h.ExpiresAt.Before(o.PaymentExpiresAt) {
			o.PaymentExpiresAt, changed = h.ExpiresAt, true
		}
		if o.Status == StatusVerifying && changed {
			e.plan(o, Fact{Due: DueHostedWait, At: now.Add(l.qr.Wait)}, now)
		}
		if !changed {
			return ErrNoChange
		}
		return nil
	})
	if errors.Is(err, ErrOrderFinal) {
		if o, lerr := e.store.Order(ctx, no); lerr == nil && o.Status != StatusPaid {
			e.closeFinal(ctx, o, true)
			after, _ = e.store.Order(ctx, no)
		}
		return after, nil
	}
	return after, err
}

// followQR asks the gateway every PollEvery while the cashier waits, until
// the order is final or its VerifyUntil passes; then it is pending under
// the reconciler. Only the gateway's answer (or a verified notification,
// applied elsewhere) makes it paid.
func (e *Engine) followQR(ctx context.Context, l *lane, no OrderNo, tok claimToken) {
	for {
		if !e.sleep(ctx, l.qr.PollEvery) {
			return
		}
		o, err := e.store.Order(ctx, no)
		if err != nil || o.Status != StatusVerifying {
			return
		}
		o, _, err = e.verify(ctx, o, true, Cause{Actor: ActorGatewayQuery, Action: "verify", Detail: "while the customer pays on their phone"})
		if err == nil && o.Status != StatusVerifying {
			return
		}
		if !e.now().Before(o.VerifyUntil) {
			e.handOver(ctx, no, tok, "not paid while the cashier waited")
			return
		}
	}
}

// handOver ends the cashier's wait for an open order: released first (so a
// check or action right after finds it free), then pending with the
// schedule's first step (no later than its expiry).
func (e *Engine) handOver(ctx context.Context, no OrderNo, tok claimToken, why string) {
	e.claims.release(no, tok)
	now := e.now()
	e.update(ctx, no, Cause{Actor: ActorEngine, Action: "wait over", Detail: why}, func(o *Order) error {
		if !o.Open() {
			return ErrNoChange
		}
		if o.Status == StatusAtTerminal {
			if _, err := o.Apply(Input{Kind: InputResume}, now); err != nil {
				return err
			}
		}
		if _, err := o.Apply(Input{Kind: InputWaitOver}, now); err != nil {
			return err
		}
		e.plan(o, Fact{Due: DueFirstStep}, now)
		return nil
	})
	e.wake()
}

// hostedExpired reports whether o is an open hosted order past its expiry.
func (e *Engine) hostedExpired(o Order) bool {
	return o.Open() && !o.PaymentExpiresAt.IsZero() && !e.now().Before(o.PaymentExpiresAt)
}

// expireHosted closes an open hosted order at its expiry, as the end of
// the schedule closes any order: query first, then cancel; a payment found
// on the way (or a cancel refused because it is paid) makes it paid.
func (e *Engine) expireHosted(ctx context.Context, o Order) {
	closed, err := e.closeOrder(ctx, o.No, Cause{Actor: ActorReconciler, Action: "expire", Detail: "the hosted order expired unpaid"}, ReasonExpired, false)
	if err != nil && (closed.No == "" || closed.Open()) {
		n := e.rec.failed(o.No)
		e.reschedule(ctx, o, Fact{Due: DueBackoff, Failures: n}, Cause{Actor: ActorReconciler, Action: "expire failed", Detail: err.Error()})
		return
	}
	e.rec.succeeded(o.No)
}

// resumeQR picks up, after a restart, an order of a QR lane whose open may
// or may not have reached the gateway: asked first, then opened.
func (e *Engine) resumeQR(l *lane, o Order, tok claimToken) { e.runQR(l, o, tok, true) }

// refuseQRRetry refuses to send a QR lane's order to a terminal.
func (e *Engine) refuseQRRetry(o Order) error {
	if !e.isQR(o) {
		return nil
	}
	return &Error{Code: ECONFLICT, Message: "A QR payment has no terminal to retry on. Wait for it, or cancel it and start a new payment."}
}

// Instructions for an open order of a QR lane (Instruction).
const (
	InstructionQROpening = "Opening the payment page — please wait"
	InstructionQRShow    = "Show the QR code — the customer pays on their phone"
	// InstructionQRNotPaid is the hosted-page rule: the customer may still
	// pay, so the cashier never takes payment again for it.
	InstructionQRNotPaid = "Not paid yet — do not take payment again; check again later"
)

// qrInstruction is the cashier's instruction for an open hosted order (one
// with an expiry); ok is false for every other order.
func qrInstruction(o Order) (string, bool) {
	if o.PaymentExpiresAt.IsZero() || !o.Open() || o.Override != nil || o.Reason == ReasonUnconfirmed {
		return "", false
	}
	switch {
	case o.PaymentURL == "" && o.Status != StatusPending:
		return InstructionQROpening, true
	case o.Status == StatusPending:
		return InstructionQRNotPaid, true
	}
	return InstructionQRShow, true
}
