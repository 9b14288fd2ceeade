package posbridgetest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/posbridge/posbridge"
)

// FakeGateway is an in-memory posbridge.Gateway with PayBy's rules: an
// order is canceled only while created, a paid (or partly paid) or failed
// order refuses the cancel with posbridge.ErrGatewayFinal, and an order or
// refund it has not heard of is posbridge.ErrGatewayNotFound. A refund
// succeeds at once (see HoldRefunds) and a repeated refund number returns
// the refund made first. It records every call, so a test can check what
// was asked and in which order.
type FakeGateway struct {
	mu      sync.Mutex
	orders  map[posbridge.OrderNo]*posbridge.GatewayOrder
	refunds map[posbridge.OrderNo]*posbridge.GatewayRefund
	err     error // returned by every call but QueryRefund while set
	// loseCancelAnswer: a cancel is done, but its answer is lost (the
	// caller gets an unknown outcome).
	loseCancelAnswer bool
	holdRefunds      bool // new refunds stay created until the test settles them
	refundErr        error
	refundErrs       int // how many more refund calls fail with refundErr
	calls            map[string]int
	log              []string // "query NO", "cancel NO", in the order they were made
}

var _ posbridge.Gateway = (*FakeGateway)(nil)

// NewFakeGateway returns a gateway that knows no order and no refund.
func NewFakeGateway() *FakeGateway {
	return &FakeGateway{
		orders:  map[posbridge.OrderNo]*posbridge.GatewayOrder{},
		refunds: map[posbridge.OrderNo]*posbridge.GatewayRefund{},
		calls:   map[string]int{},
	}
}

// Name returns "fake", the Gateway a Notification from it names.
func (g *FakeGateway) Name() string { return "fake" }

// Set makes the gateway know order no with amount in status st (gateway
// number "G"+no), replacing what it knew of it. An acquirer reporting a
// sale, or a customer paying, is a Set.
func (g *FakeGateway) Set(no posbridge.OrderNo, amount posbridge.Money, st posbridge.GatewayStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.orders[no] = &posbridge.GatewayOrder{OrderNo: no, GatewayNo: "G" + string(no), Status: st, Amount: amount}
}

// SetPartial makes the gateway report no as partially paid: received of
// its amount arrived.
func (g *FakeGateway) SetPartial(no posbridge.OrderNo, amount, received posbridge.Money) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.orders[no] = &posbridge.GatewayOrder{OrderNo: no, GatewayNo: "G" + string(no), Status: posbridge.GatewayPartiallyPaid, Amount: amount, Received: received}
}

// Revoke marks order no failed and revoked, as PayBy shows a sale voided
// on the terminal before settlement. An order it does not know stays
// unknown.
func (g *FakeGateway) Revoke(no posbridge.OrderNo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.orders[no]; o != nil {
		o.Status, o.Revoked = posbridge.GatewayFailed, true
	}
}

// Forget makes the gateway no longer know order no (QueryOrder answers not
// found), as a gateway that loses an order it opened.
func (g *FakeGateway) Forget(no posbridge.OrderNo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.orders, no)
}

// SetErr makes every call but QueryRefund fail with err from now on; nil
// ends the outage.
func (g *FakeGateway) SetErr(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.err = err
}

// LoseCancelAnswers makes every later cancel that the gateway does answer
// posbridge.ErrUnknownOutcome instead (the order is closed all the same).
func (g *FakeGateway) LoseCancelAnswers() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.loseCancelAnswer = true
}

// FailRefunds makes the next n refund calls fail with err, and the ones
// after them succeed: a test of retries that ends even if the code under
// test retries in a loop (the loop ends at the n-th call, and the test
// counts the calls).
func (g *FakeGateway) FailRefunds(err error, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refundErr, g.refundErrs = err, n
}

// HoldRefunds makes every later new refund stay created (waiting for the
// merchant's approval) until the test settles it with SetRefundStatus.
func (g *FakeGateway) HoldRefunds() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holdRefunds = true
}

// RecordRefund makes the gateway know refund no of orig, for amount, as
// succeeded: a refund done on the terminal that its acquirer reported, or
// one the gateway did after answering that it failed.
func (g *FakeGateway) RecordRefund(no, orig posbridge.OrderNo, amount posbridge.Money) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refunds[no] = &posbridge.GatewayRefund{RefundNo: no, OrderNo: orig, Status: posbridge.GatewayRefundSuccess, Amount: amount}
}

// SetRefundStatus moves refund no, which the gateway must know, to st.
func (g *FakeGateway) SetRefundStatus(no posbridge.OrderNo, st posbridge.GatewayRefundStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refunds[no].Status = st
}

// RefundOf reports the gateway's refund no, if it knows it.
func (g *FakeGateway) RefundOf(no posbridge.OrderNo) (posbridge.GatewayRefund, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rf, ok := g.refunds[no]; ok {
		return *rf, true
	}
	return posbridge.GatewayRefund{}, false
}

// RefundCount returns how many refunds the gateway knows.
func (g *FakeGateway) RefundCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.refunds)
}

// OrderCount returns how many orders the gateway knows.
func (g *FakeGateway) OrderCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.orders)
}

// Status returns the gateway's status of order no, "" when it does not
// know it.
func (g *FakeGateway) Status(no posbridge.OrderNo) posbridge.GatewayStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.orders[no]; o != nil {
		return o.Status
	}
	return ""
}

// Count returns how many calls of one kind the gateway got: "query",
// "cancel", "refund", "query_refund" (and "create" on a HostedGateway),
// failed ones included.
func (g *FakeGateway) Count(call string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[call]
}

// CallsFor returns the calls made about order no, oldest first: "query",
// "cancel" (and "create" on a HostedGateway).
func (g *FakeGateway) CallsFor(no posbridge.OrderNo) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.log {
		if verb, n, _ := strings.Cut(c, " "); n == string(no) {
			out = append(out, verb)
		}
	}
	return out
}

// record counts a call about order no; g.mu must be held.
func (g *FakeGateway) record(call string, no posbridge.OrderNo) {
	g.calls[call]++
	g.log = append(g.log, call+" "+string(no))
}

// QueryOrder returns the order as the gateway knows it.
func (g *FakeGateway) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.record("query", no)
	if g.err != nil {
		return posbridge.GatewayOrder{}, g.err
	}
	o, ok := g.orders[no]
	if !ok {
		return posbridge.GatewayOrder{}, fmt.Errorf("query %s: %w", no, posbridge.ErrGatewayNotFound)
	}
	return *o, nil
}

// CancelOrder closes a created order (failed); it refuses a paid, partly
// paid or failed one with posbridge.ErrGatewayFinal.
func (g *FakeGateway) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.record("cancel", no)
	if g.err != nil {
		return posbridge.GatewayOrder{}, g.err
	}
	o, ok := g.orders[no]
	switch {
	case !ok:
		return posbridge.GatewayOrder{}, fmt.Errorf("cancel %s: %w", no, posbridge.ErrGatewayNotFound)
	case o.Status.Paid() || o.Status == posbridge.GatewayPartiallyPaid:
		// Money arrived: the gateway refuses to cancel (as Pay Protocol does).
		return *o, fmt.Errorf("cancel %s: %w (%w)", no, posbridge.ErrOrderPaid, posbridge.ErrGatewayFinal)
	case o.Status == posbridge.GatewayFailed:
		return *o, fmt.Errorf("cancel %s: %w (%w)", no, posbridge.ErrOrderClosed, posbridge.ErrGatewayFinal)
	}
	o.Status = posbridge.GatewayFailed
	if g.loseCancelAnswer {
		return posbridge.GatewayOrder{}, fmt.Errorf("cancel %s: no answer: %w", no, posbridge.ErrUnknownOutcome)
	}
	return *o, nil
}

// Refund makes refund r.RefundNo, succeeded (created under HoldRefunds);
// a number it knows returns that refund unchanged.
func (g *FakeGateway) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["refund"]++
	if g.err != nil {
		return posbridge.GatewayRefund{}, g.err
	}
	if g.refundErrs > 0 {
		g.refundErrs--
		return posbridge.GatewayRefund{}, g.refundErr
	}
	if rf, ok := g.refunds[r.RefundNo]; ok {
		return *rf, nil
	}
	rf := &posbridge.GatewayRefund{RefundNo: r.RefundNo, OrderNo: r.OrderNo, Status: posbridge.GatewayRefundSuccess, Amount: r.Amount}
	if g.holdRefunds {
		rf.Status = posbridge.GatewayRefundCreated
	}
	g.refunds[r.RefundNo] = rf
	return *rf, nil
}

// QueryRefund returns the refund as the gateway knows it; it answers even
// while SetErr is set.
func (g *FakeGateway) QueryRefund(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["query_refund"]++
	if rf, ok := g.refunds[no]; ok {
		return *rf, nil
	}
	return posbridge.GatewayRefund{}, posbridge.ErrGatewayNotFound
}
