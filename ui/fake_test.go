package ui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
)

// fakeService is an in-memory posbridge.PaymentService: orders in a map,
// every change appended to an event log with gap-free seqs and published on
// a posbridge.Bus, like the engine over the store. Transitions go through
// posbridge.Order.Apply, so the fake cannot reach a state the engine cannot.
type fakeService struct {
	clock posbridge.Clock
	bus   *posbridge.Bus

	mu          sync.Mutex
	orders      map[posbridge.OrderNo]*posbridge.Order
	created     []posbridge.OrderNo // oldest first
	events      []posbridge.Event
	pruned      int64 // events with seq <= pruned are gone ([store] events_keep)
	eventReads  int   // EventsSince calls so far
	pruneAt     int   // when set, the EventsSince call after this many prunes to pruneTo
	pruneTo     int64
	refunds     map[posbridge.OrderNo][]posbridge.Refund
	lanes       []string
	links       map[string]posbridge.LinkStatus
	current     map[string]posbridge.OrderNo // each lane's current (or last) payment
	keys        map[string]posbridge.OrderNo
	hashes      map[posbridge.OrderNo]string
	gatewayPaid map[posbridge.OrderNo]bool
	notReady    error
	failAll     error // returned by every call when set (error injection)
	changed     chan struct{}
	nextNo      int
	stats       posbridge.Stats
	byLog       []posbridge.By
	subs        []*posbridge.Subscription

	// onPay, when set, drives a new order through a flow in a goroutine
	// the fake owns (see close).
	onPay func(no posbridge.OrderNo)
	wg    sync.WaitGroup
}

var _ posbridge.PaymentService = (*fakeService)(nil)

func newFakeService(clock posbridge.Clock, lanes ...string) *fakeService {
	f := &fakeService{
		clock:       clock,
		bus:         posbridge.NewBus(),
		orders:      map[posbridge.OrderNo]*posbridge.Order{},
		refunds:     map[posbridge.OrderNo][]posbridge.Refund{},
		lanes:       lanes,
		links:       map[string]posbridge.LinkStatus{},
		current:     map[string]posbridge.OrderNo{},
		keys:        map[string]posbridge.OrderNo{},
		hashes:      map[posbridge.OrderNo]string{},
		gatewayPaid: map[posbridge.OrderNo]bool{},
		changed:     make(chan struct{}),
		stats: posbridge.Stats{
			Verifications: 7,
			GatewayErrors: map[string]uint64{"retryable": 2},
			Notifications: map[string]uint64{"applied": 3, "duplicate": 1},
		},
	}
	for _, l := range lanes {
		f.links[l] = posbridge.LinkStatus{State: posbridge.LinkUp, Since: clock.Now(), Port: "/dev/ttyACM0", Frames: 10, CRCErrors: 1}
	}
	return f
}

// close waits for the flows started by onPay.
func (f *fakeService) close() { f.wg.Wait() }

// commit appends an event for o (already changed) and publishes it. f.mu held.
func (f *fakeService) commit(o *posbridge.Order) posbridge.Event {
	o.Version++
	o.UpdatedAt = f.clock.Now()
	snap := *o
	e := posbridge.Event{Seq: int64(len(f.events)) + 1, Type: posbridge.EventPayment, At: o.UpdatedAt, Payment: &snap}
	f.events = append(f.events, e)
	f.bus.Publish(e)
	close(f.changed)
	f.changed = make(chan struct{})
	return e
}

// apply runs one input on an order and commits it. f.mu held.
func (f *fakeService) apply(o *posbridge.Order, in posbridge.Input) error {
	changed, err := o.Apply(in, f.clock.Now())
	if err != nil {
		return err
	}
	if changed {
		f.commit(o)
	}
	return nil
}

// step applies inputs to an order from outside (the flows and tests).
func (f *fakeService) step(no posbridge.OrderNo, fn func(o *posbridge.Order) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[no]
	if !ok {
		return fmt.Errorf("step %s: %w", no, posbridge.ErrNotFound)
	}
	return fn(o)
}

func (f *fakeService) setLink(lane string, state posbridge.LinkState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.links[lane]
	l.State = state
	l.Since = f.clock.Now()
	f.links[lane] = l
	ls := f.laneStatus(lane)
	f.bus.Publish(posbridge.Event{Seq: int64(len(f.events)), Type: posbridge.EventLane, At: f.clock.Now(), Lane: &ls})
}

// dropSubscribers ends every live subscription, as the bus does to a
// subscriber that falls behind.
func (f *fakeService) dropSubscribers() {
	f.mu.Lock()
	subs := f.subs
	f.subs = nil
	f.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

func (f *fakeService) lastSeq() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastSeqLocked()
}

func (f *fakeService) lastSeqLocked() int64 {
	if len(f.events) == 0 {
		return 0
	}
	return f.events[len(f.events)-1].Seq
}

func (f *fakeService) laneStatus(lane string) posbridge.LaneStatus {
	ls := posbridge.LaneStatus{ID: lane, Link: f.links[lane]}
	if no, ok := f.current[lane]; ok {
		o := *f.orders[no]
		ls.Payment = &o
	}
	return ls
}

func (f *fakeService) Pay(ctx context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAll != nil {
		return posbridge.Order{}, false, f.failAll
	}
	f.byLog = append(f.byLog, r.By)
	if !slices.Contains(f.lanes, r.Lane) {
		return posbridge.Order{}, false, &posbridge.Error{Code: posbridge.EINVALID, Field: "lane", Message: "No such lane."}
	}
	hash := fmt.Sprintf("%s|%d|%s|%s", r.Lane, r.Amount.Minor, r.Amount.Currency, r.Reference)
	if r.IdempotencyKey != "" {
		if no, ok := f.keys[r.IdempotencyKey]; ok {
			if f.hashes[no] != hash {
				return posbridge.Order{}, false, posbridge.Errorf(posbridge.EIDEMPOTENCY, "This Idempotency-Key was used for another payment.")
			}
			return *f.orders[no], true, nil
		}
	}
	if no, ok := f.current[r.Lane]; ok && f.orders[no].Open() {
		return posbridge.Order{}, false, posbridge.Errorf(posbridge.ELANEBUSY, "Lane %s has a payment in progress.", r.Lane)
	}
	f.nextNo++
	now := f.clock.Now()
	o := &posbridge.Order{
		No:             posbridge.OrderNo(fmt.Sprintf("F%s%06d", r.Lane, f.nextNo)),
		Lane:           r.Lane,
		Amount:         r.Amount,
		Reference:      r.Reference,
		Status:         posbridge.StatusCreated,
		CreatedAt:      now,
		IdempotencyKey: r.IdempotencyKey,
		RequestHash:    hash,
		Attempts:       1,
	}
	f.orders[o.No] = o
	f.created = append(f.created, o.No)
	f.current[r.Lane] = o.No
	f.hashes[o.No] = hash
	if r.IdempotencyKey != "" {
		f.keys[r.IdempotencyKey] = o.No
	}
	f.commit(o)
	if err := f.apply(o, posbridge.Input{Kind: posbridge.InputSend}); err != nil {
		return posbridge.Order{}, false, err
	}
	if f.onPay != nil {
		no := o.No
		f.wg.Go(func() { f.onPay(no) })
	}
	return *o, false, nil
}

func (f *fakeService) Await(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
	for {
		f.mu.Lock()
		o, ok := f.orders[no]
		if !ok {
			f.mu.Unlock()
			return posbridge.Order{}, posbridge.Errorf(posbridge.ENOTFOUND, "No payment %s.", no)
		}
		snap, changed := *o, f.changed
		f.mu.Unlock()
		if snap.Status.Final() || snap.Status == posbridge.StatusPending {
			return snap, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
	}
}

func (f *fakeService) get(no posbridge.OrderNo) (*posbridge.Order, error) {
	if f.failAll != nil {
		return nil, f.failAll
	}
	o, ok := f.orders[no]
	if !ok {
		return nil, posbridge.Errorf(posbridge.ENOTFOUND, "No payment %s.", no)
	}
	return o, nil
}

func (f *fakeService) Payment(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.get(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	return *o, nil
}

func (f *fakeService) Payments(ctx context.Context, flt posbridge.OrderFilter) (posbridge.OrderPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAll != nil {
		return posbridge.OrderPage{}, f.failAll
	}
	start := 0
	if flt.Cursor != "" {
		n, err := strconv.Atoi(flt.Cursor)
		if err != nil || n < 0 {
			return posbridge.OrderPage{}, &posbridge.Error{Code: posbridge.EINVALID, Field: "cursor", Message: "Bad cursor."}
		}
		start = n
	}
	limit := flt.Limit
	if limit <= 0 {
		limit = 50
	}
	var page posbridge.OrderPage
	matched := 0
	for i := len(f.created) - 1; i >= 0; i-- {
		o := f.orders[f.created[i]]
		if len(flt.Statuses) > 0 && !slices.Contains(flt.Statuses, o.Status) ||
			flt.Lane != "" && o.Lane != flt.Lane ||
			!flt.From.IsZero() && o.CreatedAt.Before(flt.From) ||
			!flt.To.IsZero() && !o.CreatedAt.Before(flt.To) ||
			flt.NeedsAttention != nil && o.NeedsAttention != *flt.NeedsAttention ||
			flt.IdempotencyKey != "" && o.IdempotencyKey != flt.IdempotencyKey {
			continue
		}
		matched++
		if matched <= start {
			continue
		}
		if len(page.Orders) == limit {
			page.NextCursor = strconv.Itoa(start + limit)
			break
		}
		page.Orders = append(page.Orders, *o)
	}
	return page, nil
}

func (f *fakeService) Cancel(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.get(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	f.byLog = append(f.byLog, by)
	if !o.Open() {
		return posbridge.Order{}, posbridge.Errorf(posbridge.EFINAL, "The payment is %s and cannot be canceled.", o.Status)
	}
	if f.gatewayPaid[no] {
		err = f.apply(o, posbridge.Input{Kind: posbridge.InputGatewayPaid})
	} else {
		err = f.apply(o, posbridge.Input{Kind: posbridge.InputCanceled, Reason: posbridge.ReasonCanceledByClerk})
	}
	return *o, err
}

func (f *fakeService) Verify(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.get(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	f.byLog = append(f.byLog, by)
	o.Checks++
	if f.gatewayPaid[no] {
		if o.Card.Brand == "" {
			o.Card = posbridge.Card{Brand: "VISA", Last4: "4242"}
		}
		err = f.apply(o, posbridge.Input{Kind: posbridge.InputGatewayPaid})
	} else {
		f.commit(o)
	}
	return *o, err
}

func (f *fakeService) Retry(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.get(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	f.byLog = append(f.byLog, by)
	if !o.Open() {
		return posbridge.Order{}, posbridge.Errorf(posbridge.EFINAL, "The payment is %s and cannot be retried.", o.Status)
	}
	if f.gatewayPaid[no] {
		return posbridge.Order{}, posbridge.Errorf(posbridge.ECONFLICT, "The gateway shows this payment paid; verify it instead.")
	}
	if err := f.apply(o, posbridge.Input{Kind: posbridge.InputRetry}); err != nil {
		return posbridge.Order{}, posbridge.Errorf(posbridge.ECONFLICT, "The payment cannot be retried while it is %s.", o.Status)
	}
	o.Attempts++
	return *o, nil
}

func (f *fakeService) Override(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.get(no)
	if err != nil {
		return posbridge.Order{}, err
	}
	f.byLog = append(f.byLog, by)
	if by.Reason == "" {
		return posbridge.Order{}, &posbridge.Error{Code: posbridge.EINVALID, Field: "reason", Message: "A reason is required."}
	}
	if !o.Open() {
		return posbridge.Order{}, posbridge.Errorf(posbridge.EFINAL, "The payment is %s.", o.Status)
	}
	o.Override = &posbridge.Override{By: by.Who, Reason: by.Reason, At: f.clock.Now()}
	o.NeedsAttention = true
	o.Attention = string(posbridge.ReasonCashierOverride)
	f.commit(o)
	return *o, nil
}

func (f *fakeService) Refund(ctx context.Context, no posbridge.OrderNo, p posbridge.RefundParams, by posbridge.By) (posbridge.Refund, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.get(no)
	if err != nil {
		return posbridge.Refund{}, err
	}
	f.byLog = append(f.byLog, by)
	amount := p.Amount
	hash := fmt.Sprintf("%s|%d|%s|%s", no, amount.Minor, amount.Currency, by.Reason)
	if p.IdempotencyKey != "" {
		for _, rs := range f.refunds {
			for _, r := range rs {
				if r.IdempotencyKey != p.IdempotencyKey {
					continue
				}
				if r.RequestHash != hash {
					return posbridge.Refund{}, posbridge.Errorf(posbridge.EIDEMPOTENCY, "This Idempotency-Key was used for another refund.")
				}
				return r, nil
			}
		}
	}
	if o.Status != posbridge.StatusPaid {
		return posbridge.Refund{}, posbridge.Errorf(posbridge.ECONFLICT, "Only a paid payment can be refunded.")
	}
	if err := posbridge.ValidateRefund(o.Amount, f.refunds[no], amount); err != nil {
		return posbridge.Refund{}, &posbridge.Error{Code: posbridge.EINVALID, Field: "amount", Message: "The refund is more than is left to refund.", Err: err}
	}
	now := f.clock.Now()
	r := posbridge.Refund{
		No: posbridge.OrderNo(fmt.Sprintf("R%s%02d", no, len(f.refunds[no])+1)), OrderNo: no, Amount: amount,
		Status: posbridge.RefundSucceeded, Reason: by.Reason, Actor: by.Who, CreatedAt: now, UpdatedAt: now, Version: 1,
		IdempotencyKey: p.IdempotencyKey, RequestHash: hash,
	}
	f.refunds[no] = append(f.refunds[no], r)
	if o.Refunded.Currency == "" {
		o.Refunded.Currency = o.Amount.Currency
	}
	o.Refunded.Minor += amount.Minor
	o.Version++
	o.UpdatedAt = now
	snap, rs := *o, r
	e := posbridge.Event{Seq: int64(len(f.events)) + 1, Type: posbridge.EventRefund, At: now, Payment: &snap, Refund: &rs}
	f.events = append(f.events, e)
	f.bus.Publish(e)
	return r, nil
}

func (f *fakeService) Refunds(ctx context.Context, no posbridge.OrderNo) ([]posbridge.Refund, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(no); err != nil {
		return nil, err
	}
	return slices.Clone(f.refunds[no]), nil
}

func (f *fakeService) Lanes(ctx context.Context) ([]posbridge.LaneStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAll != nil {
		return nil, f.failAll
	}
	var out []posbridge.LaneStatus
	for _, l := range f.lanes {
		out = append(out, f.laneStatus(l))
	}
	return out, nil
}

func (f *fakeService) EventsSince(ctx context.Context, seq int64, limit int) ([]posbridge.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAll != nil {
		return nil, f.failAll
	}
	if f.eventReads++; f.pruneAt > 0 && f.eventReads > f.pruneAt {
		f.pruned = max(f.pruned, f.pruneTo)
	}
	seq = max(seq, f.pruned, 0)
	if seq >= int64(len(f.events)) {
		return nil, nil
	}
	evs := f.events[seq:]
	if len(evs) > limit {
		evs = evs[:limit]
	}
	return slices.Clone(evs), nil
}

func (f *fakeService) LastSeq(ctx context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAll != nil {
		return 0, f.failAll
	}
	return f.lastSeqLocked(), nil
}

func (f *fakeService) Subscribe(size int) *posbridge.Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.bus.Subscribe(size)
	f.subs = append(f.subs, s)
	return s
}

func (f *fakeService) Ready(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

func (f *fakeService) Stats(ctx context.Context) (posbridge.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stats
	st.PaymentsByStatus = map[posbridge.Status]int{}
	for _, o := range f.orders {
		st.PaymentsByStatus[o.Status]++
		if o.NeedsAttention {
			st.NeedsAttention++
		}
	}
	return st, nil
}

// Flows the fake can drive a new order through, as the engine would with
// the terminal and the gateway (docs/architecture.md).

// flowApprove: the terminal approves, the gateway confirms: paid.
func (f *fakeService) flowApprove(no posbridge.OrderNo) {
	_ = f.step(no, func(o *posbridge.Order) error {
		return f.apply(o, posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeApproved})
	})
	_ = f.step(no, func(o *posbridge.Order) error {
		o.Checks++
		o.Card = posbridge.Card{Brand: "VISA", Last4: "4242"}
		f.gatewayPaid[no] = true
		return f.apply(o, posbridge.Input{Kind: posbridge.InputGatewayPaid})
	})
}

// flowCustomerCancel: the customer cancels on the terminal: failed, not charged.
func (f *fakeService) flowCustomerCancel(no posbridge.OrderNo) {
	_ = f.step(no, func(o *posbridge.Order) error {
		return f.apply(o, posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeCanceledByUser})
	})
}

// flowLostResponse: the terminal's answer never comes; the gateway does not
// know yet and the cashier's wait ends: pending. The customer was in fact
// charged (gatewayPaid), which a later verification finds.
func (f *fakeService) flowLostResponse(no posbridge.OrderNo) {
	_ = f.step(no, func(o *posbridge.Order) error {
		return f.apply(o, posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeTimeout})
	})
	_ = f.step(no, func(o *posbridge.Order) error {
		o.Checks += 3
		o.NextCheckAt = f.clock.Now().Add(30 * time.Second)
		return f.apply(o, posbridge.Input{Kind: posbridge.InputWaitOver})
	})
}

// gatewayLearnsPaid records that the gateway now has the order paid.
func (f *fakeService) gatewayLearnsPaid(no posbridge.OrderNo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gatewayPaid[no] = true
}
