package posbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of Engine settings.
const (
	DefaultSaleDeadline   = 6 * time.Minute  // safety-net check for an order stuck at the terminal
	DefaultRetryBackoff   = 5 * time.Second  // first backoff after a gateway error
	DefaultMaxBackoff     = 5 * time.Minute  // cap of the backoff
	DefaultRefundCheck    = 30 * time.Second // how often open refunds are queried
	reconcileBatch        = 20
	maxConsecutiveLogged  = 1
	maxAwaitSubscriptions = 64
)

// Engine runs the checkout flow of docs/architecture.md over a Store, a Gateway and
// one Terminal per lane. It implements PaymentService and
// NotificationService. Set the exported fields before Open.
type Engine struct {
	Clock        Clock
	Logger       *slog.Logger
	Reconcile    ReconcileConfig
	Bus          *Bus      // events are published here after each commit
	Random       io.Reader // for order numbers; crypto/rand when nil
	SaleDeadline time.Duration
	MaxBackoff   time.Duration
	// Location is the till's time zone, for "a payment of today" (a void);
	// time.Local when nil.
	Location *time.Location
	// ReconcileInterval 0 starts no reconciler goroutine: tests call
	// ReconcileOnce. Any positive value starts it (the value itself is only a
	// ceiling on how long the loop sleeps when nothing is scheduled).
	ReconcileInterval time.Duration

	store   Store
	gateway Gateway
	lanes   *laneTable

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	rec    *Reconciler

	claims *claimTable // which goroutine works on which order

	gw            gatewayCalls
	notifyResults sync.Map // result → *atomic.Uint64
}

// NewEngine returns an engine over store, gateway and the lanes' terminals
// (lane id → terminal), with default settings.
func NewEngine(store Store, gateway Gateway, terminals map[string]Terminal) *Engine {
	e := &Engine{
		Clock:             SystemClock{},
		Logger:            slog.Default().With(LogKeyComponent, "engine"),
		Reconcile:         DefaultReconcileConfig(),
		Bus:               NewBus(),
		SaleDeadline:      DefaultSaleDeadline,
		MaxBackoff:        DefaultMaxBackoff,
		ReconcileInterval: time.Minute,
		store:             store,
		gateway:           gateway,
		lanes:             newLaneTable(terminals),
		claims:            newClaimTable(),
	}
	e.rec = newReconciler(e)
	return e
}

var (
	_ PaymentService      = (*Engine)(nil)
	_ NotificationService = (*Engine)(nil)
)

// Open resumes every order a previous run left open (docs/architecture.md: terminal
// query, then gateway verification), re-applies notifications received but not
// applied, and starts the reconciler. After Open no open order is without a
// scheduled check.
func (e *Engine) Open(ctx context.Context) error {
	if err := e.Reconcile.Validate(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	if err := e.recover(ctx); err != nil {
		e.cancel(ErrClosed)
		e.wg.Wait()
		return fmt.Errorf("engine: recover open orders: %w", err)
	}
	if e.ReconcileInterval > 0 {
		e.rec.Open(e.ctx)
	}
	return nil
}

// Close stops every goroutine the engine started and waits for them. Orders
// in flight stay as stored; the next Open resumes them.
func (e *Engine) Close() error {
	if e.cancel != nil {
		// The cause tells the terminal driver this is a shutdown: a sale
		// in progress is left open for the next start to re-attach to.
		e.cancel(ErrClosed)
	}
	e.rec.Close()
	e.wg.Wait()
	return nil
}

func (e *Engine) now() time.Time { return e.Clock.Now().UTC() }

// wake makes the reconciler run a pass now.
func (e *Engine) wake() { e.rec.wake() }

// ReconcileOnce runs one pass of the reconciler (Reconciler.Once); safe
// while its loop runs.
func (e *Engine) ReconcileOnce(ctx context.Context) (time.Time, error) { return e.rec.Once(ctx) }

// sleep waits d on the engine clock; false if ctx ended first.
func (e *Engine) sleep(ctx context.Context, d time.Duration) bool {
	t := e.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// recover resumes what a crash or restart left open.
func (e *Engine) recover(ctx context.Context) error {
	open, err := e.store.OpenOrders(ctx)
	if err != nil {
		return err
	}
	now := e.now()
	for _, o := range open {
		if l := e.lanes.get(o.Lane); l != nil {
			e.lanes.setLast(l, o.No)
		}
		cause := Cause{Actor: ActorRecovery, Action: "resume", Detail: "found " + string(o.Status) + " at start-up"}
		switch o.Status {
		case StatusCreated:
			if _, err := e.applyInput(ctx, o.No, cause, Input{Kind: InputResume}, nil); err != nil {
				return err
			}
		case StatusAtTerminal:
			if l := e.lanes.get(o.Lane); l != nil && l.qr != nil {
				// Its open may or may not have reached the gateway: asked
				// first, then opened (with the same parameters).
				if tok := e.claims.claim(o.No); tok != 0 {
					e.wg.Go(func() { e.resumeQR(l, o, tok) })
				}
				continue
			}
			// The terminal is asked first, in the background: a sale the
			// customer is still deciding on is followed, not closed. Its
			// check at the sale's deadline stays as the safety net.
			if tok := e.claims.claim(o.No); tok != 0 {
				e.wg.Go(func() { e.resume(o, tok) })
			}
		case StatusVerifying:
			o, err := e.update(ctx, o.No, cause, func(o *Order) error {
				if _, err := o.Apply(Input{Kind: InputResume}, now); err != nil {
					return err
				}
				e.plan(o, Fact{Due: DueVerifyWindow}, now)
				return nil
			})
			if err != nil {
				return err
			}
			if o.Status == StatusVerifying {
				if tok := e.claims.claim(o.No); tok != 0 {
					e.wg.Go(func() { e.resume(o, tok) })
				}
			}
		case StatusPending:
			if o.NextCheckAt.IsZero() {
				if _, err := e.update(ctx, o.No, cause, func(o *Order) error {
					e.plan(o, Fact{Due: DueNow}, now)
					return nil
				}); err != nil {
					return err
				}
			}
		}
	}
	last, err := e.store.ListOrders(ctx, OrderFilter{Limit: 50})
	if err == nil {
		for i := len(last.Orders) - 1; i >= 0; i-- {
			if l := e.lanes.get(last.Orders[i].Lane); l != nil {
				e.lanes.setLast(l, last.Orders[i].No)
			}
		}
	}
	// Notifications received but not applied are applied in the background:
	// readiness never waits for them (one may need the gateway).
	e.wg.Go(e.applyUnapplied)
	return nil
}

// applyUnapplied applies the inbox entries a previous run stored but did
// not apply. One that fails stays in the inbox: its next delivery, or the
// next start, applies it.
func (e *Engine) applyUnapplied() {
	ctx := e.ctx
	inbox, err := e.store.UnappliedNotifications(ctx, 1000)
	if err != nil {
		if ctx.Err() == nil {
			e.Logger.Error("read unapplied notifications", LogKeyError, err)
		}
		return
	}
	for _, in := range inbox {
		if err := e.applyInbox(ctx, in); err != nil && ctx.Err() == nil {
			e.Logger.Warn("apply stored notification", LogKeyOrder, in.OrderNo, LogKeyError, err)
		}
	}
	if len(inbox) > 0 {
		e.wake()
	}
}

// resume finishes an order found at the terminal or verifying after a
// restart. A sale the terminal still has in progress (the customer is
// deciding) is re-attached and followed like a new one, until its deadline.
// Otherwise: ask the terminal (close, then query), then verify with the
// gateway.
func (e *Engine) resume(o Order, tok claimToken) {
	defer e.claims.release(o.No, tok)
	ctx := e.ctx
	l := e.lanes.get(o.Lane)
	if o.Status == StatusAtTerminal {
		deadline := o.NextCheckAt
		if l != nil && e.now().Before(deadline) {
			r, err := e.queryTerminal(ctx, l, o.No)
			if err == nil && r.Outcome == OutcomeUnknown && (r.TransStatus == "0" || r.TransStatus == "9") {
				e.lanes.adopt(l, o.No)
				e.driveSale(l, o, tok, func(ctx context.Context) (TerminalResult, error) {
					return l.term.Reattach(ctx, o.No, deadline)
				})
				return
			}
		}
		now := e.now()
		after, err := e.update(ctx, o.No, Cause{Actor: ActorRecovery, Action: "resume", Detail: "found at_terminal at start-up; the terminal has no sale in progress"}, func(o *Order) error {
			if _, err := o.Apply(Input{Kind: InputResume}, now); err != nil {
				return err
			}
			e.plan(o, Fact{Due: DueVerifyWindow}, now)
			return nil
		})
		if err != nil || after.Status != StatusVerifying {
			return
		}
	}
	if l != nil {
		if r, ok := e.terminalFollowUp(ctx, l, o.No); ok && r.Outcome.NotCharged() && !r.NoRecord {
			if e.closeInterrupted(ctx, o.No, "after a restart the terminal says not charged") {
				return
			}
		}
	}
	e.followVerification(ctx, o.No, tok)
}

// closeInterrupted closes an order whose sale was cut off when the terminal
// has closed it and says the customer was not charged: query the gateway
// first (a payment found there wins), then cancel. It reports whether the
// order is final afterwards.
func (e *Engine) closeInterrupted(ctx context.Context, no OrderNo, why string) bool {
	o, err := e.closeOrder(ctx, no, Cause{Actor: ActorTerminal, Action: "close interrupted sale", Detail: why}, ReasonInterrupted, true)
	return err == nil && !o.Open()
}

// terminalFollowUp closes the order's sale on the terminal and queries it,
// recording both as checks, and returns the query's result (ok false when the
// terminal did not answer). The terminal saying "charged" is only
// information: the gateway decides that.
func (e *Engine) terminalFollowUp(ctx context.Context, l *lane, no OrderNo) (TerminalResult, bool) {
	e.closeTerminal(ctx, l, no)
	r, err := e.queryTerminal(ctx, l, no)
	if err == nil && (r.Card.Last4 != "" || r.Outcome == OutcomeApproved) {
		e.update(ctx, no, Cause{Actor: ActorTerminal, Action: "terminal query", Detail: string(r.Outcome)}, func(o *Order) error {
			changed := false
			if r.Card.Last4 != "" && o.Card != r.Card {
				o.Card, changed = r.Card, true
			}
			if r.Outcome == OutcomeApproved && o.Open() && o.TerminalOutcome != OutcomeApproved {
				// Remembered: a terminal that later restarts and loses its
				// table would otherwise let a retry charge the card again.
				o.TerminalOutcome, changed = OutcomeApproved, true
			}
			if !changed {
				return ErrNoChange
			}
			return nil
		})
	}
	return r, err == nil
}

func resultText(ok string, err error) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

// beginClose marks o as being closed, so that no sale starts for it (a
// retry) while it is; false when its sale is on the terminal now.
func (e *Engine) beginClose(o Order) bool {
	return e.lanes.beginClose(e.lanes.get(o.Lane), o.No)
}

func (e *Engine) endClose(no OrderNo) { e.lanes.endClose(no) }

// freeTerminal marks the lane's terminal as no longer used by no's sale.
func (e *Engine) freeTerminal(l *lane, no OrderNo) { e.lanes.free(l, no) }

// onTerminal reports whether o's sale is running on its lane's terminal now.
func (e *Engine) onTerminal(o Order) bool {
	return e.lanes.onTerminal(e.lanes.get(o.Lane), o.No)
}

// update runs Store.UpdateOrder and publishes the event after the commit.
func (e *Engine) update(ctx context.Context, no OrderNo, cause Cause, fn func(*Order) error) (Order, error) {
	o, ev, err := e.store.UpdateOrder(ctx, no, cause, fn)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return o, &Error{Code: ENOTFOUND, Message: "No such payment.", Err: err}
		}
		return o, err
	}
	if ev.Seq != 0 {
		e.Bus.Publish(ev)
	}
	return o, nil
}

// applyInput applies a state-machine input, and then extra (if any) to the
// changed order. Late information that a final order refuses
// (ErrOrderFinal) writes nothing and is not an error.
func (e *Engine) applyInput(ctx context.Context, no OrderNo, cause Cause, in Input, extra func(*Order) bool) (Order, error) {
	if cause.Action == "" {
		cause.Action = string(in.Kind)
	}
	return e.update(ctx, no, cause, func(o *Order) error {
		changed, err := o.Apply(in, e.now())
		if errors.Is(err, ErrOrderFinal) && extra == nil {
			return ErrNoChange
		}
		if err != nil && !errors.Is(err, ErrOrderFinal) {
			return err
		}
		if extra != nil && extra(o) {
			changed = true
		}
		if !changed {
			return ErrNoChange
		}
		return nil
	})
}

// requestHash identifies a payment request for idempotency.
func requestHash(r PayRequest) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s\x00%s", r.Lane, r.Amount.Minor, r.Amount.Currency, r.Reference, r.Replaces)
	return hex.EncodeToString(h.Sum(nil))
}

// Pay implements PaymentService.
func (e *Engine) Pay(ctx context.Context, r PayRequest) (Order, error) {
	l := e.lanes.get(r.Lane)
	if l == nil {
		return Order{}, &Error{Code: EINVALID, Field: "lane", Message: fmt.Sprintf("Unknown lane %q.", r.Lane)}
	}
	if err := r.Validate(); err != nil {
		return Order{}, err
	}
	hash := requestHash(r)
	if r.IdempotencyKey != "" {
		if o, done, err := e.idempotentReplay(ctx, r.IdempotencyKey, hash); done {
			return o, err
		}
	}

	// Reserve the lane before anything is stored, so two requests cannot both
	// reach the terminal.
	busy, ok := e.lanes.reserve(l)
	if !ok && busy != "" {
		if o, err := e.store.Order(ctx, busy); err == nil && !o.Open() {
			// Final already (the gateway confirmed it while the sale was on
			// the terminal): its terminal call is ending; the lane is free
			// in a moment, so the cashier's next payment waits for it.
			busy, ok = e.lanes.reserveWithin(ctx, e.Clock, l, laneEndWait)
		}
	}
	if !ok {
		if busy == "" {
			return Order{}, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Lane %s is starting another payment.", r.Lane)}
		}
		return Order{}, &Error{Code: ELANEBUSY, Message: fmt.Sprintf("Lane %s is taking payment %s.", r.Lane, busy)}
	}
	reserved := true
	defer func() {
		if reserved {
			e.lanes.unreserve(l)
		}
	}()

	if err := e.checkLaneFree(ctx, r); err != nil {
		return Order{}, err
	}
	if err := e.closePrevious(ctx, l); err != nil {
		return Order{}, err
	}

	now := e.now()
	no, err := NewOrderNo(now, r.Lane, e.Random)
	if err != nil {
		return Order{}, err
	}
	// The number is claimed before it is stored, so the reconciler leaves
	// it alone while this call owns it; the check stored with it is what
	// frees the lane if this call cannot finish (a failed write).
	tok := e.claims.claim(no)
	claimed := true
	defer func() {
		if claimed {
			e.claims.release(no, tok)
			e.wake()
		}
	}()
	o := &Order{
		No: no, Lane: r.Lane, Amount: r.Amount, Reference: r.Reference, Status: StatusCreated,
		CreatedAt: now, UpdatedAt: now, Refunded: Money{Currency: r.Amount.Currency},
		IdempotencyKey: r.IdempotencyKey, RequestHash: hash,
	}
	// Checked at once should this call not finish: it frees the lane.
	e.plan(o, Fact{Due: DueNow}, now)
	ev, err := e.store.CreateOrder(ctx, o, Cause{Actor: r.By.Actor, Who: r.By.Who, Action: "create", Detail: "payment requested"})
	if errors.Is(err, ErrIdempotencyKeyUsed) {
		o, _, err := e.idempotentReplay(ctx, r.IdempotencyKey, hash)
		return o, err
	}
	if err != nil {
		return Order{}, fmt.Errorf("store order: %w", err)
	}
	e.Bus.Publish(ev)

	if l.qr != nil {
		sent, err := e.payQR(ctx, l, o, tok)
		if err != nil {
			return Order{}, err
		}
		claimed = false // runQR owns the claim now; the reservation ends here
		return sent, nil
	}

	// The lane names the order before at_terminal is committed, so a cancel
	// that commits after it sees the sale as on the terminal (closeOrder).
	e.lanes.activate(l, no)

	// Write-ahead: at_terminal is committed before the first byte goes out.
	sent, err := e.update(ctx, no, Cause{Actor: ActorEngine, Action: "send", Detail: "sale sent to the terminal"}, func(o *Order) error {
		if _, err := o.Apply(Input{Kind: InputSend}, now); err != nil {
			return err
		}
		o.Attempts++
		e.plan(o, Fact{Due: DueSaleDeadline}, now)
		return nil
	})
	if err != nil {
		// Nothing was sent; the check stored with the order closes it as
		// not sent, and the lane is free again.
		return Order{}, fmt.Errorf("mark order at terminal: %w", err)
	}
	e.lanes.started(l, no)
	reserved, claimed = false, false
	e.wg.Go(func() { e.runSale(l, sent, tok) })
	return sent, nil
}

// laneEndWait bounds how long a new payment waits for the terminal call of
// a sale already final to end.
const laneEndWait = 5 * time.Second

// idempotentReplay returns the order created earlier with key, or a conflict
// when it was created by a different request. done is false when the key is unused.
func (e *Engine) idempotentReplay(ctx context.Context, key, hash string) (Order, bool, error) {
	page, err := e.store.ListOrders(ctx, OrderFilter{Limit: 1, IdempotencyKey: key})
	if err != nil {
		return Order{}, true, fmt.Errorf("look up idempotency key: %w", err)
	}
	if len(page.Orders) == 0 {
		return Order{}, false, nil
	}
	o := page.Orders[0]
	if o.RequestHash != hash {
		return Order{}, true, &Error{Code: EIDEMPOTENCY, Field: "Idempotency-Key",
			Message: fmt.Sprintf("This idempotency key was used for payment %s with a different request.", o.No)}
	}
	return o, true, nil
}

// checkLaneFree refuses a payment while an earlier order of the lane is not
// confirmed, unless the request replaces it — in which case the earlier order
// is closed first (query first), and a payment it turns out to have taken
// stops the new one.
func (e *Engine) checkLaneFree(ctx context.Context, r PayRequest) error {
	page, err := e.store.ListOrders(ctx, OrderFilter{Lane: r.Lane, Statuses: []Status{StatusCreated, StatusAtTerminal, StatusVerifying, StatusPending}, Limit: 10})
	if err != nil {
		return fmt.Errorf("list open orders of lane %s: %w", r.Lane, err)
	}
	for _, o := range page.Orders {
		if o.Status == StatusPending && (o.Reason == ReasonUnconfirmed || o.Reason == ReasonPartiallyPaid) {
			continue // flagged and checked daily; the customer is long gone
		}
		if o.No != r.Replaces {
			return &Error{Code: ELANEBUSY, Message: fmt.Sprintf(
				"Payment %s on lane %s is not confirmed yet. Do not take payment again: wait, or replace it (which cancels it first).", o.No, r.Lane)}
		}
	}
	if r.Replaces == "" {
		return nil
	}
	prev, err := e.store.Order(ctx, r.Replaces)
	if err != nil {
		return &Error{Code: EINVALID, Field: "replaces", Message: fmt.Sprintf("No payment %s to replace.", r.Replaces), Err: err}
	}
	if prev.Lane != r.Lane {
		return &Error{Code: EINVALID, Field: "replaces", Message: "The payment to replace is on another lane."}
	}
	switch prev.Status {
	case StatusPaid:
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("Payment %s was paid; it cannot be replaced.", prev.No)}
	case StatusFailed, StatusCanceled:
		return nil
	}
	closed, err := e.closeOrder(ctx, prev.No, Cause{Actor: r.By.Actor, Who: r.By.Who, Action: "replace", Detail: "canceled before a replacement"}, ReasonCanceledByClerk, true)
	if err != nil {
		return err
	}
	if closed.Status == StatusPaid {
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("Payment %s went through; do not take payment again.", prev.No)}
	}
	return nil
}

// paidLateHold is how long a lane's last order, found paid after it was
// shown not paid, stops a new payment on the lane: the cashier is about to
// take payment again from a customer who has paid.
const paidLateHold = 2 * time.Minute

// closePrevious closes the lane's most recent order at the gateway before a
// new payment starts, when it failed and is not closed there yet (query
// first, then cancel). A payment found there (now, or by the reconciler a
// moment ago) stops the new payment with a conflict. A gateway that cannot
// be reached does not: the reconciler closes the old order later.
func (e *Engine) closePrevious(ctx context.Context, l *lane) error {
	prev := e.lanes.lastOf(l)
	if prev == "" {
		return nil
	}
	o, err := e.store.Order(ctx, prev)
	if err != nil {
		return nil
	}
	if (o.Status == StatusFailed || o.Status == StatusCanceled) && !o.NextCheckAt.IsZero() {
		// Its sale's goroutine may still hold it for a moment after the
		// order became final (or a check does): wait, rather than start a
		// new payment with the previous order still open at the gateway.
		if tok := e.claims.wait(ctx, e.Clock, prev, claimWait); tok != 0 {
			e.closeFinal(ctx, o, true)
			e.claims.release(prev, tok)
		}
		if o, err = e.store.Order(ctx, prev); err != nil {
			return nil
		}
	}
	if o.Status == StatusPaid && o.Reason == ReasonPaidAfterClose && e.now().Sub(o.PaidAt) < paidLateHold {
		return &Error{Code: ECONFLICT, Message: fmt.Sprintf("Payment %s went through after all; do not take payment again.", o.No)}
	}
	return nil
}

// runSale sends the sale and follows the order until the cashier's wait is over.
func (e *Engine) runSale(l *lane, o Order, tok claimToken) {
	defer e.claims.release(o.No, tok)
	e.driveSale(l, o, tok, func(ctx context.Context) (TerminalResult, error) {
		return l.term.Sale(ctx, Sale{OrderNo: o.No, Amount: o.Amount})
	})
}

// driveSale runs a terminal call for o's sale (a new sale, or one
// re-attached after a restart) and, while it runs, asks the gateway every
// FastPollEvery: a payment the gateway confirms makes the order paid and
// frees the lane at once, whatever the terminal says later. Then it records
// the terminal's answer and follows the order until the cashier's wait is over.
func (e *Engine) driveSale(l *lane, o Order, tok claimToken, call func(context.Context) (TerminalResult, error)) {
	ctx := e.ctx
	// A payment the gateway confirms ends the terminal call too (the driver
	// then closes and queries, never sells again), so the terminal is free
	// for the next customer even when its answer was lost.
	saleCtx, endSale := context.WithCancel(ctx)
	pollCtx, stopPoll := context.WithCancel(ctx)
	var poller sync.WaitGroup
	poller.Go(func() {
		if e.pollWhileAtTerminal(pollCtx, l, o.No) {
			endSale()
		}
	})
	res, err := call(saleCtx)
	stopPoll()
	poller.Wait()
	endSale()
	e.freeTerminal(l, o.No)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the next Open resumes the order
		}
		if errors.Is(err, ErrTerminalUnavailable) {
			// Not one byte was written: the customer cannot have been charged.
			e.applyInput(ctx, o.No, Cause{Actor: ActorTerminal, Action: "terminal unavailable", Detail: err.Error()},
				Input{Kind: InputTerminalUnavailable}, nil)
			return
		}
		res = TerminalResult{Outcome: OutcomeTimeout, Message: err.Error()}
	}
	now := e.now()
	detail := strings.TrimSpace(fmt.Sprintf("%s %s %s", res.Outcome, res.Code, res.Message))
	after, err := e.applyInput(ctx, o.No, Cause{Actor: ActorTerminal, Action: "terminal outcome", Detail: detail},
		Input{Kind: InputTerminal, Outcome: res.Outcome}, func(o *Order) bool {
			o.TerminalOutcome = res.Outcome
			if res.TransNo != "" {
				o.TerminalNo = res.TransNo
			}
			if res.Card.Last4 != "" {
				o.Card = res.Card
			}
			if o.Status == StatusVerifying {
				e.plan(o, Fact{Due: DueVerifyWindow}, now)
			}
			if o.Status == StatusFailed {
				// Close it at the gateway too (query first), so it can
				// never be paid later.
				e.plan(o, Fact{Due: DueNow}, now)
			}
			if o.Status == StatusFailed && o.Reason == ReasonGatewayFailed && res.Outcome == OutcomeDeclined {
				// The gateway's "failed" (a notification) came before the
				// terminal's answer; both agree, and the cashier is told why.
				o.Reason = ReasonDeclined
			}
			if o.Status == StatusPaid && res.Outcome.NotCharged() && !o.NeedsAttention {
				o.NeedsAttention, o.Attention = true, "the gateway confirmed the payment but the terminal answered "+string(res.Outcome)
			}
			return true
		})
	if err != nil {
		if ctx.Err() == nil {
			e.Logger.Error("record terminal outcome", LogKeyOrder, o.No, LogKeyError, err)
		}
		return
	}
	if after.Status == StatusFailed {
		e.wake()
		return
	}
	if !after.Open() {
		return
	}
	if q := res.QueryAfter; q != nil && q.Outcome.NotCharged() && !q.NoRecord && e.closeInterrupted(ctx, o.No, "the sale was cut off; the terminal closed it and says not charged") {
		return
	}
	e.followVerification(ctx, o.No, tok)
}

// pollWhileAtTerminal asks the gateway about a sale every FastPollEvery
// while it is on the terminal, as a cashier-waiting (foreground) call. A
// payment found is committed and frees the lane (it reports true); nothing
// else is acted on until the terminal answers.
func (e *Engine) pollWhileAtTerminal(ctx context.Context, l *lane, no OrderNo) bool {
	if e.Reconcile.FastPollEvery <= 0 {
		return false
	}
	for e.sleep(ctx, e.Reconcile.FastPollEvery) {
		g, err := e.queryGateway(ctx, no, true)
		if err != nil || !g.Status.Paid() {
			continue
		}
		after, err := e.applyGateway(ctx, no, Cause{Actor: ActorGatewayQuery, Action: "verify", Detail: "while the sale is on the terminal; gateway says " + string(g.Status)}, g, true)
		if err == nil && after.Status == StatusPaid {
			e.freeTerminal(l, no)
			return true
		}
	}
	return false
}

// followVerification asks the gateway every FastPollEvery while the cashier
// waits, until the order is final or VerifyUntil passes; then the order is
// pending under the reconciler. A decline is final only when the gateway
// confirms it (failed): an order it has unpaid may still be paid by an
// acquirer reporting late.
func (e *Engine) followVerification(ctx context.Context, no OrderNo, tok claimToken) {
	first := true
	for {
		if !first && !e.sleep(ctx, e.Reconcile.FastPollEvery) {
			return
		}
		first = false
		o, err := e.store.Order(ctx, no)
		if err != nil || o.Status != StatusVerifying {
			return
		}
		o, _, err = e.verify(ctx, o, true, Cause{Actor: ActorGatewayQuery, Action: "verify", Detail: "while the cashier waits"})
		if err == nil && o.Status != StatusVerifying {
			return
		}
		if !e.now().Before(o.VerifyUntil) {
			// Hand the order on before it is committed as pending, so a
			// retry or check right after finds it free.
			e.claims.release(no, tok)
			now := e.now()
			e.applyInput(ctx, no, Cause{Actor: ActorEngine, Action: "wait over", Detail: "not confirmed while the cashier waited"},
				Input{Kind: InputWaitOver}, func(o *Order) bool {
					if o.Status == StatusPending {
						e.plan(o, Fact{Due: DueFirstStep}, now)
					}
					return true
				})
			e.wake()
			return
		}
	}
}

// sched is the engine's scheduling policy, from its settings.
func (e *Engine) sched() Scheduler {
	return Scheduler{SaleDeadline: e.SaleDeadline, Reconcile: e.Reconcile, MaxBackoff: e.MaxBackoff}
}

// plan sets o's next check for fact f (Scheduler.Next): the one way the
// engine changes when an order is checked.
func (e *Engine) plan(o *Order, f Fact, now time.Time) {
	*o = e.sched().Next(*o, f, now)
}
