package posbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

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
