package terminal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posbridge/posbridge"
)

// Sale sends ecrhub.pay.order (trans_type 1) for s; see posbridge.Terminal.
func (c *Conn) Sale(ctx context.Context, s posbridge.Sale) (posbridge.TerminalResult, error) {
	return c.order(ctx, TransSale, s.OrderNo, "", s.Amount)
}

// Void voids the sale orig with a new order number no (trans_type 2). The
// outcome follows the same rules as Sale: approved means the void happened.
func (c *Conn) Void(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	return c.order(ctx, TransVoid, no, orig, amount)
}

// Refund refunds amount of the sale orig with a new order number no
// (trans_type 3). The outcome follows the same rules as Sale.
func (c *Conn) Refund(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	return c.order(ctx, TransRefund, no, orig, amount)
}

func (c *Conn) order(ctx context.Context, transType string, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	if err := no.Validate(); err != nil {
		return posbridge.TerminalResult{}, fmt.Errorf("sale: %w: %w", posbridge.ErrTerminalUnavailable, err)
	}
	c.saleMu.Lock()
	defer c.saleMu.Unlock()
	f := false
	m := Message{Topic: TopicOrder, Biz: BizData{
		TransType: transType, MerchantOrderNo: string(no), OrigMerchantNo: string(orig),
		OrderAmount: amount.Decimal(), PriceCurrency: amount.Currency,
		PayScenario: "SWIPE_CARD", ConfirmOnTerminal: &f, Expires: c.cfg.Expires,
	}}
	log := c.log.With(posbridge.LogKeyOrder, string(no))
	inf := c.startSale(no)
	defer c.endSale(inf)
	resp, written, err := c.exchange(ctx, m, c.cfg.ConnectWait, c.cfg.SaleTimeout, nil, inf.closed)
	var r posbridge.TerminalResult
	switch {
	case err != nil && !written:
		return posbridge.TerminalResult{}, err
	case errors.Is(err, errSaleClosed):
		// The terminal closed the sale at the ECR's request. Whether and
		// when it answers the closed sale is not documented, so ask it.
		q, _, qerr := c.exchange(ctx, queryMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
		if qerr == nil {
			r = resultOf(q, QueryOutcome(q))
		}
		if qerr != nil || r.Outcome == posbridge.OutcomeUnknown {
			log.Warn("closed sale not settled by a query", posbridge.LogKeyError, qerr)
			r = posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
		} else {
			r.Message = strings.TrimSpace("closed by the ECR; queried: " + r.Message)
		}
		if r.Outcome == posbridge.OutcomeDeclined && !r.NoRecord {
			// The close was accepted before the sale was answered, and the
			// terminal's record says not charged: the cashier's cancel.
			r.Outcome = posbridge.OutcomeClosedOnRequest
		}
	case err != nil:
		log.Warn("sale without answer", posbridge.LogKeyError, err)
		r = posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
	default:
		r = resultOf(resp, SaleOutcome(resp))
		if r.Code == CodeCanceled && r.Outcome == posbridge.OutcomeDeclined && inf.closeAsked.Load() {
			// "Transaction cancellation" in answer to the ECR's close.
			r.Outcome = posbridge.OutcomeClosedOnRequest
		}
	}
	if c.ctx.Err() != nil || errors.Is(context.Cause(ctx), posbridge.ErrClosed) {
		// Shutting down (the driver, or the engine, whose context ends with
		// ErrClosed as its cause): the sale stays open on the terminal for
		// the next start to re-attach to (Reattach); closing it now would
		// make the customer tap again.
		log.Info("sale left on the terminal at shutdown")
		return r, nil
	}
	if r.Outcome == posbridge.OutcomeUnknown || r.Outcome == posbridge.OutcomeTimeout {
		r.QueryAfter = c.resolve(context.WithoutCancel(ctx), no)
	}
	log.Info("sale done", posbridge.LogKeyOutcome, string(r.Outcome))
	return r, nil
}

// Reattach follows a sale started by a previous process; see
// posbridge.Terminal. It holds the sale slot like Sale. Its waiter has no
// request id, so the sale's answer (which names the old process's request)
// is matched by order number; the waiter is registered before the first
// query, so an answer that lands between the two is not lost.
func (c *Conn) Reattach(ctx context.Context, no posbridge.OrderNo, until time.Time) (posbridge.TerminalResult, error) {
	c.saleMu.Lock()
	defer c.saleMu.Unlock()
	inf := c.startSale(no)
	defer c.endSale(inf)
	log := c.log.With(posbridge.LogKeyOrder, string(no))
	w := c.wait("", TopicOrder, string(no))
	defer c.unwait(w)
	deadline := c.clock.NewTimer(max(until.Sub(c.clock.Now()), 0))
	defer deadline.Stop()
	for {
		resp, _, err := c.exchange(ctx, queryMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
		if err == nil {
			if q := resultOf(resp, QueryOutcome(resp)); q.Outcome != posbridge.OutcomeUnknown {
				log.Info("re-attached sale done", posbridge.LogKeyOutcome, string(q.Outcome))
				return q, nil
			}
		}
		poll := c.clock.NewTimer(c.cfg.ReattachPoll)
		select {
		case m := <-w.ch:
			poll.Stop()
			r := resultOf(m, SaleOutcome(m))
			if r.Outcome == posbridge.OutcomeUnknown {
				r.QueryAfter = c.resolve(context.WithoutCancel(ctx), no)
			}
			log.Info("re-attached sale answered", posbridge.LogKeyOutcome, string(r.Outcome))
			return r, nil
		case <-poll.C():
		case <-inf.closed:
			// Closed at the ECR's request: query at once, not at the next poll.
			poll.Stop()
			inf.closed = nil
		case <-deadline.C():
			poll.Stop()
			r := posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
			r.QueryAfter = c.resolve(context.WithoutCancel(ctx), no)
			log.Warn("re-attached sale without answer")
			return r, nil
		case <-ctx.Done():
			poll.Stop()
			return posbridge.TerminalResult{}, ctx.Err()
		case <-c.ctx.Done():
			poll.Stop()
			return posbridge.TerminalResult{}, posbridge.ErrClosed
		}
	}
}

// saleInFlight is the sale (or re-attached sale) holding the sale slot.
type saleInFlight struct {
	no       posbridge.OrderNo
	closedCh chan struct{}
	closed   <-chan struct{} // closedCh, for the sale's own use
	once     sync.Once
	// closeAsked: CloseOrder was sent for this sale while it waited for
	// its answer, so a 102 answer is the terminal honouring it.
	closeAsked atomic.Bool
}

func (c *Conn) startSale(no posbridge.OrderNo) *saleInFlight {
	ch := make(chan struct{})
	f := &saleInFlight{no: no, closedCh: ch, closed: ch}
	c.mu.Lock()
	c.inflight = f
	c.mu.Unlock()
	return f
}

func (c *Conn) endSale(f *saleInFlight) {
	c.mu.Lock()
	if c.inflight == f {
		c.inflight = nil
	}
	c.mu.Unlock()
}
