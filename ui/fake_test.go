package ui

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// What ui's tests give a Server: posbridgetest's function-field fakes, each
// test setting the funcs its calls need over orders and events it builds
// itself. The engine's rules are tested in the root package; these tests
// say what the API asks the service and how it answers what it is told.

type fakeService = posbridgetest.PaymentsServiceFake

func aed(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }

// testOrder is an order as Pay returns it: on the terminal since testStart.
func testOrder(no posbridge.OrderNo, lane string, minor int64) posbridge.Order {
	return posbridge.Order{No: no, Lane: lane, Amount: aed(minor), Status: posbridge.StatusAtTerminal,
		CreatedAt: testStart, UpdatedAt: testStart, Attempts: 1, Version: 2}
}

// paidOrder is o confirmed paid by the gateway.
func paidOrder(o posbridge.Order) posbridge.Order {
	o.Status, o.Card, o.PaidAt = posbridge.StatusPaid, posbridge.Card{Brand: "VISA", Last4: "4242"}, testStart
	o.Checks++
	o.Version++
	return o
}

// lane is a lane whose terminal link is in state, with payment when not nil.
func lane(id string, state posbridge.LinkState, payment *posbridge.Order) posbridge.LaneStatus {
	return posbridge.LaneStatus{ID: id, Payment: payment,
		Link: posbridge.LinkStatus{State: state, Since: testStart, Port: "/dev/ttyACM0", Frames: 10, CRCErrors: 1}}
}

// lanesUp is a LanesFunc: the lanes' terminals connected, no payments.
func lanesUp(ids ...string) func(context.Context) ([]posbridge.LaneStatus, error) {
	return func(context.Context) ([]posbridge.LaneStatus, error) {
		var out []posbridge.LaneStatus
		for _, id := range ids {
			out = append(out, lane(id, posbridge.LinkUp, nil))
		}
		return out, nil
	}
}

// paymentsOf is a PaymentFunc answering the orders given (read at each
// call, so a test may change them) and ENOTFOUND for any other.
func paymentsOf(orders ...*posbridge.Order) func(context.Context, posbridge.OrderNo) (posbridge.Order, error) {
	return func(_ context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
		for _, o := range orders {
			if o.No == no {
				return *o, nil
			}
		}
		return posbridge.Order{}, posbridge.Errorf(posbridge.ENOTFOUND, "No payment %s.", no)
	}
}

// ready is a ReadyFunc: the store answers.
func ready(context.Context) error { return nil }

// withEvents returns a service whose event log is log.
func withEvents(log *posbridgetest.EventsLog) *fakeService {
	f := &fakeService{}
	f.EventsSinceFunc, f.LastSeqFunc, f.SubscribeFunc = log.EventsSince, log.LastSeq, log.Subscribe
	return f
}

// commit appends o's change to log, as the engine does after each commit.
func commit(log *posbridgetest.EventsLog, o posbridge.Order) posbridge.Order {
	log.Append(posbridge.Event{Type: posbridge.EventPayment, At: testStart, Payment: &o})
	return o
}

// payEvents commits what Pay commits: the order created, then on the
// terminal.
func payEvents(log *posbridgetest.EventsLog, no posbridge.OrderNo, lane string, minor int64) posbridge.Order {
	o := testOrder(no, lane, minor)
	o.Status, o.Version = posbridge.StatusCreated, 1
	commit(log, o)
	o.Status, o.Version = posbridge.StatusAtTerminal, 2
	return commit(log, o)
}

// approveEvents commits a sale the terminal approves and the gateway
// confirms: verifying, then paid.
func approveEvents(log *posbridgetest.EventsLog, o posbridge.Order) posbridge.Order {
	o.Status, o.TerminalOutcome = posbridge.StatusVerifying, posbridge.OutcomeApproved
	o.Version++
	o = commit(log, o)
	return commit(log, paidOrder(o))
}

// customerCancelEvents commits a sale the customer cancels on the terminal:
// failed, not charged.
func customerCancelEvents(log *posbridgetest.EventsLog, o posbridge.Order) posbridge.Order {
	o.Status, o.Reason, o.TerminalOutcome = posbridge.StatusFailed, posbridge.ReasonCanceledByUser, posbridge.OutcomeCanceledByUser
	o.Version++
	return commit(log, o)
}

// withLanes returns a service whose lanes' terminals are connected: what
// POST /payments asks first.
func withLanes(ids ...string) *fakeService {
	f := &fakeService{}
	f.LanesFunc = lanesUp(ids...)
	return f
}

// orderBook is the little state the tests of the cashier's actions share:
// orders by number, each action a plain change of their fields, refused as
// the engine refuses it (ENOTFOUND, EFINAL, ECONFLICT, EIDEMPOTENCY). Its
// methods fit the fakes' func fields; a test sets those its calls need.
type orderBook struct {
	mu          sync.Mutex
	orders      []*posbridge.Order
	refunds     map[posbridge.OrderNo][]posbridge.Refund
	by          posbridge.By // who asked last
	gatewayPaid bool         // a verify finds an open order paid
}

// add stores o and returns its number.
func (b *orderBook) add(o posbridge.Order) posbridge.OrderNo {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.orders = append(b.orders, &o)
	return o.No
}

// change changes an order between calls, as the engine's own work would.
func (b *orderBook) change(no posbridge.OrderNo, fn func(o *posbridge.Order)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, err := b.find(no); err == nil {
		fn(o)
	}
}

func (b *orderBook) lastBy() posbridge.By {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.by
}

// find returns the order numbered no; b.mu held.
func (b *orderBook) find(no posbridge.OrderNo) (*posbridge.Order, error) {
	for _, o := range b.orders {
		if o.No == no {
			return o, nil
		}
	}
	return nil, posbridge.Errorf(posbridge.ENOTFOUND, "No payment %s.", no)
}

// act runs fn on an order for by; an open order is required when what (the
// action, for the refusal) is not "".
func (b *orderBook) act(no posbridge.OrderNo, by posbridge.By, what string, fn func(o *posbridge.Order)) (posbridge.Order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.by = by
	o, err := b.find(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	if what != "" && !o.Open() {
		return posbridge.Order{}, posbridge.Errorf(posbridge.EFINAL, "The payment is %s and cannot be %s.", o.Status, what)
	}
	fn(o)
	return *o, nil
}

func (b *orderBook) payment(_ context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, err := b.find(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	return *o, nil
}

// list answers the orders in the filter's statuses (any when none), oldest
// first, in one page.
func (b *orderBook) list(_ context.Context, flt posbridge.OrderFilter) (posbridge.OrderPage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var page posbridge.OrderPage
	for _, o := range b.orders {
		if len(flt.Statuses) == 0 || slices.Contains(flt.Statuses, o.Status) {
			page.Orders = append(page.Orders, *o)
		}
	}
	return page, nil
}

func (b *orderBook) cancel(_ context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	return b.act(no, by, "canceled", func(o *posbridge.Order) {
		o.Status, o.Reason = posbridge.StatusCanceled, posbridge.ReasonCanceledByClerk
	})
}

func (b *orderBook) retry(_ context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	return b.act(no, by, "retried", func(o *posbridge.Order) {
		o.Status, o.NextCheckAt = posbridge.StatusAtTerminal, time.Time{}
		o.Attempts++
	})
}

func (b *orderBook) verify(_ context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	return b.act(no, by, "", func(o *posbridge.Order) {
		if b.gatewayPaid && o.Open() {
			*o = paidOrder(*o)
		}
	})
}

func (b *orderBook) override(_ context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	return b.act(no, by, "overridden", func(o *posbridge.Order) {
		o.Override = &posbridge.Override{By: by.Who, Reason: by.Reason, At: testStart}
		o.NeedsAttention, o.Attention = true, string(posbridge.ReasonCashierOverride)
	})
}

// refund refunds a paid order through the gateway: never more than is
// left, and an Idempotency-Key's repeat answers the refund made first.
func (b *orderBook) refund(_ context.Context, no posbridge.OrderNo, p posbridge.RefundParams, by posbridge.By) (posbridge.Refund, bool, error) {
	return b.refundOnce(no, p.IdempotencyKey, by, func(r posbridge.Refund) bool { return r.Amount == p.Amount && r.Reason == by.Reason },
		func(o *posbridge.Order) (posbridge.Refund, error) {
			if o.Refunded.Minor+p.Amount.Minor > o.Amount.Minor {
				return posbridge.Refund{}, &posbridge.Error{Code: posbridge.EINVALID, Field: "amount", Message: "The refund is more than is left to refund."}
			}
			o.Refunded = posbridge.Money{Minor: o.Refunded.Minor + p.Amount.Minor, Currency: o.Amount.Currency}
			return posbridge.Refund{No: "R", Amount: p.Amount, Status: posbridge.RefundSucceeded}, nil
		})
}

// void voids a paid order without refunds on its terminal: requested.
func (b *orderBook) void(_ context.Context, no posbridge.OrderNo, p posbridge.VoidParams, by posbridge.By) (posbridge.Refund, bool, error) {
	return b.refundOnce(no, p.IdempotencyKey, by, func(posbridge.Refund) bool { return true },
		func(o *posbridge.Order) (posbridge.Refund, error) {
			if len(b.refunds[no]) > 0 {
				return posbridge.Refund{}, posbridge.Errorf(posbridge.ECONFLICT, "A payment with a refund cannot be voided.")
			}
			return posbridge.Refund{No: "V", Amount: o.Amount, Status: posbridge.RefundRequested, Method: posbridge.RefundTerminalVoid}, nil
		})
}

// refundOnce answers the refund of order no that key made before when same
// says the request is the same (replayed; EIDEMPOTENCY when not); else it
// refunds a paid order with newRefund, whose refund's No is the prefix of
// its number.
func (b *orderBook) refundOnce(no posbridge.OrderNo, key string, by posbridge.By, same func(posbridge.Refund) bool,
	newRefund func(o *posbridge.Order) (posbridge.Refund, error)) (posbridge.Refund, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.by = by
	o, err := b.find(no)
	if err != nil {
		return posbridge.Refund{}, false, err
	}
	for _, r := range b.refunds[no] {
		if key == "" || r.IdempotencyKey != key {
			continue
		}
		if !same(r) {
			return posbridge.Refund{}, false, posbridge.Errorf(posbridge.EIDEMPOTENCY, "This Idempotency-Key was used for another refund.")
		}
		return r, true, nil
	}
	if o.Status != posbridge.StatusPaid {
		return posbridge.Refund{}, false, posbridge.Errorf(posbridge.ECONFLICT, "Only a paid payment can be refunded or voided.")
	}
	r, err := newRefund(o)
	if err != nil {
		return posbridge.Refund{}, false, err
	}
	if b.refunds == nil {
		b.refunds = map[posbridge.OrderNo][]posbridge.Refund{}
	}
	r.No = posbridge.OrderNo(fmt.Sprintf("%s%s%02d", r.No, no, len(b.refunds[no])+1))
	r.OrderNo, r.Reason, r.Actor, r.IdempotencyKey = no, by.Reason, by.Who, key
	r.CreatedAt, r.UpdatedAt, r.Version = testStart, testStart, 1
	b.refunds[no] = append(b.refunds[no], r)
	return r, false, nil
}

func (b *orderBook) refundsOf(_ context.Context, no posbridge.OrderNo) ([]posbridge.Refund, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.find(no); err != nil {
		return nil, err
	}
	return append([]posbridge.Refund(nil), b.refunds[no]...), nil
}
