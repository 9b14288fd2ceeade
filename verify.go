package posbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// gatewayGate gives foreground calls (a cashier is waiting) priority over the
// reconciler's backlog: a background call waits while any foreground call is
// waiting or running. The gateway client's own rate limit is shared by both.
type gatewayGate struct {
	mu         sync.Mutex
	foreground int
	idle       chan struct{} // closed when foreground drops to 0; replaced when it rises
}

func (g *gatewayGate) enter(foreground bool, ctx context.Context) bool {
	g.mu.Lock()
	if g.idle == nil {
		g.idle = make(chan struct{})
		close(g.idle)
	}
	if foreground {
		if g.foreground == 0 {
			g.idle = make(chan struct{})
		}
		g.foreground++
		g.mu.Unlock()
		return true
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *gatewayGate) leave(foreground bool) {
	if !foreground {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.foreground--
	if g.foreground == 0 {
		close(g.idle)
	}
}

// errorClass names the class of a gateway error for metrics and logs.
func errorClass(err error) string {
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		return "unknown_outcome"
	case errors.Is(err, ErrRetryable):
		return "retryable"
	case errors.Is(err, ErrGatewayNotFound):
		return "not_found"
	default:
		return "final"
	}
}

func (e *Engine) count(m *sync.Map, key string) {
	v, _ := m.LoadOrStore(key, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

func (e *Engine) recordCheck(ctx context.Context, no OrderNo, kind CheckKind, req string, start time.Time, result string, err error) {
	c := Check{OrderNo: no, Kind: kind, At: start, Request: req, Result: result, Err: err != nil, Latency: e.now().Sub(start)}
	if err := e.store.RecordCheck(ctx, c); err != nil && ctx.Err() == nil {
		e.Logger.Warn("record check", LogKeyOrder, no, LogKeyError, err)
	}
}

// queryGateway asks the gateway about an order and records the call.
func (e *Engine) queryGateway(ctx context.Context, no OrderNo, foreground bool) (GatewayOrder, error) {
	if !e.gate.enter(foreground, ctx) {
		return GatewayOrder{}, ctx.Err()
	}
	defer e.gate.leave(foreground)
	start := e.now()
	g, err := e.gateway.QueryOrder(ctx, no)
	e.verifications.Add(1)
	if err != nil {
		e.count(&e.gwErrors, errorClass(err))
	}
	e.recordCheck(ctx, no, CheckQuery, "query", start, resultText(string(g.Status), err), err)
	return g, err
}

func (e *Engine) cancelGateway(ctx context.Context, no OrderNo, foreground bool) (GatewayOrder, error) {
	if !e.gate.enter(foreground, ctx) {
		return GatewayOrder{}, ctx.Err()
	}
	defer e.gate.leave(foreground)
	start := e.now()
	g, err := e.gateway.CancelOrder(ctx, no)
	if err != nil {
		e.count(&e.gwErrors, errorClass(err))
	}
	e.recordCheck(ctx, no, CheckCancel, "cancel", start, resultText(string(g.Status), err), err)
	return g, err
}

// closeTerminal sends ecrhub.pay.close for an order and records the call.
func (e *Engine) closeTerminal(ctx context.Context, l *lane, no OrderNo) error {
	start := e.now()
	err := l.term.CloseOrder(ctx, no)
	e.recordCheck(ctx, no, CheckTerminalClose, "ecrhub.pay.close", start, resultText("closed", err), err)
	return err
}

// queryTerminal sends ecrhub.pay.query for an order and records the call.
func (e *Engine) queryTerminal(ctx context.Context, l *lane, no OrderNo) (TerminalResult, error) {
	start := e.now()
	r, err := l.term.Query(ctx, no)
	e.recordCheck(ctx, no, CheckTerminalQuery, "ecrhub.pay.query", start, resultText(string(r.Outcome)+" "+r.Code, err), err)
	return r, err
}

// gatewayInput turns what the gateway says into a state-machine input.
func gatewayInput(g GatewayOrder) Input {
	switch {
	case g.Status.Paid():
		return Input{Kind: InputGatewayPaid}
	case g.Status == GatewayFailed:
		return Input{Kind: InputGatewayFailed}
	default:
		return Input{Kind: InputGatewayUnpaid}
	}
}

// learn copies what the gateway knows into the order; it reports whether
// anything changed. An amount that disagrees with the order is flagged.
func learn(o *Order, g GatewayOrder) bool {
	changed := false
	if g.GatewayNo != "" && o.GatewayNo != g.GatewayNo {
		o.GatewayNo, changed = g.GatewayNo, true
	}
	if g.Card.Last4 != "" && o.Card != g.Card {
		o.Card, changed = g.Card, true
	}
	if g.Status.Paid() && g.Amount.Currency != "" && g.Amount != o.Amount && !o.NeedsAttention {
		o.NeedsAttention, o.Attention, changed = true, fmt.Sprintf("gateway reports %s paid for an order of %s", g.Amount, o.Amount), true
	}
	if g.Status.Paid() && o.Override != nil && o.Attention == string(ReasonCashierOverride) {
		// The cashier said so and the gateway agrees: nothing left to look at.
		o.NeedsAttention, o.Attention, changed = false, "", true
	}
	return changed
}

// verify asks the gateway about an order and applies the answer.
func (e *Engine) verify(ctx context.Context, o Order, foreground bool, cause Cause) (Order, error) {
	g, err := e.queryGateway(ctx, o.No, foreground)
	if errors.Is(err, ErrGatewayNotFound) {
		return o, nil // not at the gateway (yet): unpaid
	}
	if err != nil {
		return o, err
	}
	cause.Detail = joinDetail(cause.Detail, "gateway says "+string(g.Status))
	return e.applyInput(ctx, o.No, cause, gatewayInput(g), func(o *Order) bool {
		learn(o, g)
		o.Checks++
		return true
	})
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// closeOrder makes sure an open order can never be paid: query the gateway
// first, close the sale on the terminal, then cancel at the gateway. A
// payment found on the way wins: the order becomes paid and closeOrder
// returns it with a nil error. When neither the gateway nor the terminal can
// vouch that it is closed, it returns an EUNAVAILABLE error and the order
// stays open under the reconciler. strict=false (the reconciler giving up
// after every check) accepts a gateway that never heard of the order.
func (e *Engine) closeOrder(ctx context.Context, no OrderNo, cause Cause, reason Reason, strict bool) (Order, error) {
	o, err := e.store.Order(ctx, no)
	if err != nil {
		return o, err
	}
	if !o.Open() {
		return o, nil
	}
	if e.onTerminal(o) {
		// The customer can still tap: closing now could record "canceled"
		// for a charge the gateway has not heard of yet, with no check left.
		return o, &Error{Code: ELANEBUSY, Message: "The sale is still on the terminal. Cancel it on the terminal, or wait for its result."}
	}
	foreground := cause.Actor == ActorCashier || cause.Actor == ActorAPI
	unavailable := func(err error) (Order, error) {
		return o, &Error{Code: EUNAVAILABLE, Message: "The gateway cannot be reached to confirm the payment is closed; try again.", Err: err}
	}
	// Query first: a paid order must never be "canceled".
	g, err := e.queryGateway(ctx, no, foreground)
	switch {
	case err == nil && g.Status != GatewayCreated:
		return e.applyInput(ctx, no, Cause{Actor: cause.Actor, Who: cause.Who, Action: cause.Action, Detail: joinDetail(cause.Detail, "gateway says "+string(g.Status))},
			gatewayInput(g), func(o *Order) bool { return learn(o, g) })
	case err != nil && !errors.Is(err, ErrGatewayNotFound):
		return unavailable(err)
	}
	knownAtGateway := err == nil

	// Close the sale on the terminal, so the customer can no longer pay it there.
	terminalClosed := false
	if l := e.lanes[o.Lane]; l != nil {
		cerr := e.closeTerminal(ctx, l, no)
		if !knownAtGateway {
			r, qerr := e.queryTerminal(ctx, l, no)
			if qerr == nil && r.Outcome == OutcomeApproved {
				// The terminal says charged but the gateway does not know yet:
				// never cancel on that; keep verifying.
				o, _ = e.update(ctx, no, Cause{Actor: ActorTerminal, Action: "terminal query", Detail: "terminal reports approved; gateway does not know the order yet"}, func(o *Order) error {
					if o.NeedsAttention {
						return ErrNoChange
					}
					o.NeedsAttention, o.Attention = true, "terminal reports a payment the gateway does not know yet"
					return nil
				})
				return o, &Error{Code: ECONFLICT, Message: "The terminal reports this payment approved; it cannot be canceled. It is being confirmed with the gateway."}
			}
			terminalClosed = qerr == nil && r.Outcome == OutcomeDeclined || cerr == nil
		}
	}

	if knownAtGateway {
		g, err = e.cancelGateway(ctx, no, foreground)
		switch {
		case err == nil:
			return e.applyInput(ctx, no, cause, Input{Kind: InputCanceled, Reason: reason}, func(o *Order) bool { return learn(o, g) })
		case errors.Is(err, ErrOrderPaid), errors.Is(err, ErrOrderClosed):
			// Refused: learn why from the gateway itself.
			g, qerr := e.queryGateway(ctx, no, foreground)
			if qerr != nil {
				return unavailable(qerr)
			}
			in := gatewayInput(g)
			if in.Kind == InputGatewayFailed {
				in = Input{Kind: InputCanceled, Reason: reason}
			}
			return e.applyInput(ctx, no, Cause{Actor: cause.Actor, Who: cause.Who, Action: cause.Action, Detail: joinDetail(cause.Detail, "cancel refused; gateway says "+string(g.Status))},
				in, func(o *Order) bool {
					changed := learn(o, g)
					if in.Kind == InputGatewayPaid && !o.NeedsAttention {
						o.NeedsAttention, o.Attention, changed = true, string(ReasonCancelRefused), true
					}
					return changed
				})
		case errors.Is(err, ErrGatewayNotFound):
			// Vanished between query and cancel: treat as unknown at the gateway.
		default:
			return unavailable(err)
		}
	}
	if strict && !terminalClosed {
		return o, &Error{Code: EUNAVAILABLE, Message: "Neither the gateway nor the terminal can confirm that this payment is closed. Check the terminal, then try again."}
	}
	// Checked again inside the commit: a sale that started since the check
	// above must not be closed on the word of a gateway that has not seen it.
	return e.update(ctx, no, Cause{Actor: cause.Actor, Who: cause.Who, Action: cause.Action, Detail: joinDetail(cause.Detail, "gateway does not know the order")},
		func(o *Order) error {
			if e.onTerminal(*o) {
				return &Error{Code: ELANEBUSY, Message: "The sale is on the terminal again. Cancel it on the terminal, or wait for its result."}
			}
			changed, err := o.Apply(Input{Kind: InputCanceled, Reason: reason}, e.now())
			if errors.Is(err, ErrOrderFinal) {
				return ErrNoChange
			}
			if err != nil {
				return err
			}
			if !changed {
				return ErrNoChange
			}
			return nil
		})
}
