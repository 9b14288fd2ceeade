package posbridge

import (
	"context"
)

// recover resumes what a crash or restart left open.
func (e *Engine) recover(ctx context.Context) error {
	open, err := e.store.OrdersToResume(ctx)
	if err != nil {
		return err
	}
	now := e.now()
	for _, o := range open {
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
	// Each lane's screen shows its newest order until a new one starts.
	for _, id := range e.lanes.ids {
		last, err := e.store.ListOrders(ctx, OrderFilter{Lane: id, Limit: 1})
		if err == nil && len(last.Orders) == 1 {
			e.lanes.setLast(e.lanes.get(id), last.Orders[0].No)
		}
	}
	// Notifications received but not applied are applied in the background:
	// readiness never waits for them (one may need the gateway).
	e.wg.Go(e.applyUnapplied)
	return nil
}

// applyUnapplied applies the inbox entries a previous run stored but did
// not apply. One that fails stays in the inbox: its next delivery, the
// reconciler's next pass (inboxWaiting) or the next start applies it.
func (e *Engine) applyUnapplied() {
	if e.applyInboxWaiting(e.ctx) > 0 {
		e.wake()
	}
}

// applyInboxWaiting applies every stored entry not applied yet and returns
// how many it found. One that fails sets inboxWaiting again.
func (e *Engine) applyInboxWaiting(ctx context.Context) int {
	inbox, err := e.store.UnappliedNotifications(ctx, 1000)
	if err != nil {
		if ctx.Err() == nil {
			e.Logger.Error("read unapplied notifications", LogKeyError, err)
		}
		e.inboxWaiting.Store(true)
		return 0
	}
	for _, in := range inbox {
		if err := e.applyInbox(ctx, in); err != nil && ctx.Err() == nil {
			e.inboxWaiting.Store(true)
			e.Logger.Warn("apply stored notification", LogKeyOrder, in.OrderNo, LogKeyError, err)
		}
	}
	return len(inbox)
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
			// A sale being closed (a cashier's cancel) is not re-attached:
			// it is resumed as verifying below, and the close goes on.
			if err == nil && r.Outcome == OutcomeUnknown && (r.TransStatus == "0" || r.TransStatus == "9") && e.lanes.adopt(l, o.No) {
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
