package posbridgetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/posbridge/posbridge"
)

// Function-field fakes of the services the adapters call back
// (posbridge.Payments, posbridge.EventLog, posbridge.Health), after the
// mocks of benbjohnson/wtf: a test sets only the funcs its calls need, and
// a call whose func is not set fails with ErrNotFaked, naming the method.
// Every fake records the names of the methods called, in order, so a test
// can say that a refused request reached no service.

// ErrNotFaked is the error (wrapped with the method's name) of a fake's
// method whose func field is not set.
var ErrNotFaked = errors.New("posbridgetest: not faked")

func notFaked(method string) error { return fmt.Errorf("%s: %w", method, ErrNotFaked) }

// callLog records the names of the methods called on a fake.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) record(method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, method)
}

func (l *callLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// PaymentsFake is a posbridge.Payments whose methods call the func field
// of their name; an unset one returns ErrNotFaked. Use it by pointer.
type PaymentsFake struct {
	PayFunc      func(ctx context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error)
	AwaitFunc    func(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error)
	PaymentFunc  func(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error)
	PaymentsFunc func(ctx context.Context, f posbridge.OrderFilter) (posbridge.OrderPage, error)
	CancelFunc   func(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error)
	VerifyFunc   func(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error)
	RetryFunc    func(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error)
	OverrideFunc func(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error)
	RefundFunc   func(ctx context.Context, no posbridge.OrderNo, p posbridge.RefundParams, by posbridge.By) (posbridge.Refund, bool, error)
	VoidFunc     func(ctx context.Context, no posbridge.OrderNo, p posbridge.VoidParams, by posbridge.By) (posbridge.Refund, bool, error)
	RefundsFunc  func(ctx context.Context, no posbridge.OrderNo) ([]posbridge.Refund, error)
	LanesFunc    func(ctx context.Context) ([]posbridge.LaneStatus, error)

	log callLog
}

var _ posbridge.Payments = (*PaymentsFake)(nil)

// PaymentsCalls returns the names of the Payments methods called so far, in
// order.
func (f *PaymentsFake) PaymentsCalls() []string { return f.log.list() }

// Pay calls PayFunc.
func (f *PaymentsFake) Pay(ctx context.Context, r posbridge.PayRequest) (posbridge.Order, bool, error) {
	f.log.record("Pay")
	if f.PayFunc == nil {
		return posbridge.Order{}, false, notFaked("Pay")
	}
	return f.PayFunc(ctx, r)
}

// Await calls AwaitFunc.
func (f *PaymentsFake) Await(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
	f.log.record("Await")
	if f.AwaitFunc == nil {
		return posbridge.Order{}, notFaked("Await")
	}
	return f.AwaitFunc(ctx, no)
}

// Payment calls PaymentFunc.
func (f *PaymentsFake) Payment(ctx context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
	f.log.record("Payment")
	if f.PaymentFunc == nil {
		return posbridge.Order{}, notFaked("Payment")
	}
	return f.PaymentFunc(ctx, no)
}

// Payments calls PaymentsFunc.
func (f *PaymentsFake) Payments(ctx context.Context, flt posbridge.OrderFilter) (posbridge.OrderPage, error) {
	f.log.record("Payments")
	if f.PaymentsFunc == nil {
		return posbridge.OrderPage{}, notFaked("Payments")
	}
	return f.PaymentsFunc(ctx, flt)
}

// Cancel calls CancelFunc.
func (f *PaymentsFake) Cancel(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.log.record("Cancel")
	if f.CancelFunc == nil {
		return posbridge.Order{}, notFaked("Cancel")
	}
	return f.CancelFunc(ctx, no, by)
}

// Verify calls VerifyFunc.
func (f *PaymentsFake) Verify(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.log.record("Verify")
	if f.VerifyFunc == nil {
		return posbridge.Order{}, notFaked("Verify")
	}
	return f.VerifyFunc(ctx, no, by)
}

// Retry calls RetryFunc.
func (f *PaymentsFake) Retry(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.log.record("Retry")
	if f.RetryFunc == nil {
		return posbridge.Order{}, notFaked("Retry")
	}
	return f.RetryFunc(ctx, no, by)
}

// Override calls OverrideFunc.
func (f *PaymentsFake) Override(ctx context.Context, no posbridge.OrderNo, by posbridge.By) (posbridge.Order, error) {
	f.log.record("Override")
	if f.OverrideFunc == nil {
		return posbridge.Order{}, notFaked("Override")
	}
	return f.OverrideFunc(ctx, no, by)
}

// Refund calls RefundFunc.
func (f *PaymentsFake) Refund(ctx context.Context, no posbridge.OrderNo, p posbridge.RefundParams, by posbridge.By) (posbridge.Refund, bool, error) {
	f.log.record("Refund")
	if f.RefundFunc == nil {
		return posbridge.Refund{}, false, notFaked("Refund")
	}
	return f.RefundFunc(ctx, no, p, by)
}

// Void calls VoidFunc.
func (f *PaymentsFake) Void(ctx context.Context, no posbridge.OrderNo, p posbridge.VoidParams, by posbridge.By) (posbridge.Refund, bool, error) {
	f.log.record("Void")
	if f.VoidFunc == nil {
		return posbridge.Refund{}, false, notFaked("Void")
	}
	return f.VoidFunc(ctx, no, p, by)
}

// Refunds calls RefundsFunc.
func (f *PaymentsFake) Refunds(ctx context.Context, no posbridge.OrderNo) ([]posbridge.Refund, error) {
	f.log.record("Refunds")
	if f.RefundsFunc == nil {
		return nil, notFaked("Refunds")
	}
	return f.RefundsFunc(ctx, no)
}

// Lanes calls LanesFunc.
func (f *PaymentsFake) Lanes(ctx context.Context) ([]posbridge.LaneStatus, error) {
	f.log.record("Lanes")
	if f.LanesFunc == nil {
		return nil, notFaked("Lanes")
	}
	return f.LanesFunc(ctx)
}

// EventsFake is a posbridge.EventLog whose methods call the func field of
// their name; an unset EventsSince or LastSeq returns ErrNotFaked, an unset
// Subscribe a live feed on which nothing is ever published. EventsLog
// provides all three over events held in memory.
type EventsFake struct {
	EventsSinceFunc func(ctx context.Context, seq int64, limit int) ([]posbridge.Event, error)
	LastSeqFunc     func(ctx context.Context) (int64, error)
	SubscribeFunc   func(size int) *posbridge.Subscription

	log callLog
}

var _ posbridge.EventLog = (*EventsFake)(nil)

// EventsCalls returns the names of the EventLog methods called so far, in
// order.
func (f *EventsFake) EventsCalls() []string { return f.log.list() }

// EventsSince calls EventsSinceFunc.
func (f *EventsFake) EventsSince(ctx context.Context, seq int64, limit int) ([]posbridge.Event, error) {
	f.log.record("EventsSince")
	if f.EventsSinceFunc == nil {
		return nil, notFaked("EventsSince")
	}
	return f.EventsSinceFunc(ctx, seq, limit)
}

// LastSeq calls LastSeqFunc.
func (f *EventsFake) LastSeq(ctx context.Context) (int64, error) {
	f.log.record("LastSeq")
	if f.LastSeqFunc == nil {
		return 0, notFaked("LastSeq")
	}
	return f.LastSeqFunc(ctx)
}

// Subscribe calls SubscribeFunc.
func (f *EventsFake) Subscribe(size int) *posbridge.Subscription {
	f.log.record("Subscribe")
	if f.SubscribeFunc == nil {
		return posbridge.NewBus().Subscribe(size)
	}
	return f.SubscribeFunc(size)
}

// HealthFake is a posbridge.Health whose methods call the func field of
// their name; an unset one returns ErrNotFaked (so Ready reports not
// ready).
type HealthFake struct {
	ReadyFunc func(ctx context.Context) error
	StatsFunc func(ctx context.Context) (posbridge.Stats, error)
}

var _ posbridge.Health = (*HealthFake)(nil)

// Ready calls ReadyFunc.
func (f *HealthFake) Ready(ctx context.Context) error {
	if f.ReadyFunc == nil {
		return notFaked("Ready")
	}
	return f.ReadyFunc(ctx)
}

// Stats calls StatsFunc.
func (f *HealthFake) Stats(ctx context.Context) (posbridge.Stats, error) {
	if f.StatsFunc == nil {
		return posbridge.Stats{}, notFaked("Stats")
	}
	return f.StatsFunc(ctx)
}

// PaymentsServiceFake is a posbridge.PaymentService made of the three
// fakes: set the func fields of any of them. Use it by pointer.
type PaymentsServiceFake struct {
	PaymentsFake
	EventsFake
	HealthFake
}

var _ posbridge.PaymentService = (*PaymentsServiceFake)(nil)

// EventsLog is an in-memory posbridge.EventLog: stored events numbered
// without gaps from 1, a posbridge.Bus for the live feed, and what a test
// needs to make the feed misbehave (an event stored but not published,
// pruned events, dropped subscribers). Its methods fit EventsFake's func
// fields.
type EventsLog struct {
	bus *posbridge.Bus

	mu     sync.Mutex
	events []posbridge.Event // events[i].Seq == i+1
	pruned int64             // events with Seq <= pruned are gone
	subs   []*posbridge.Subscription
}

var _ posbridge.EventLog = (*EventsLog)(nil)

// NewEventsLog returns an empty log.
func NewEventsLog() *EventsLog { return &EventsLog{bus: posbridge.NewBus()} }

// Append stores e with the next seq and publishes it, as the engine does
// after a commit; it returns e as stored.
func (l *EventsLog) Append(e posbridge.Event) posbridge.Event {
	e = l.Store(e)
	l.bus.Publish(e)
	return e
}

// Store stores e with the next seq without publishing it: a commit whose
// publish comes late (Publish) or never.
func (l *EventsLog) Store(e posbridge.Event) posbridge.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = int64(len(l.events)) + 1
	l.events = append(l.events, e)
	return e
}

// Publish delivers e on the live feed only: a lane event (which carries the
// newest seq but is not stored), or a stored event published late.
func (l *EventsLog) Publish(e posbridge.Event) { l.bus.Publish(e) }

// Prune forgets the stored events up to and including seq, as the store's
// events_keep does.
func (l *EventsLog) Prune(seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruned = max(l.pruned, seq)
}

// DropSubscribers closes every live subscription, as the Bus does to a
// subscriber that falls behind.
func (l *EventsLog) DropSubscribers() {
	l.mu.Lock()
	subs := l.subs
	l.subs = nil
	l.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// EventsSince returns the stored events after seq that are not pruned, at
// most limit.
func (l *EventsLog) EventsSince(ctx context.Context, seq int64, limit int) ([]posbridge.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq = max(seq, l.pruned, 0)
	if seq >= int64(len(l.events)) {
		return nil, nil
	}
	evs := l.events[seq:]
	if len(evs) > limit {
		evs = evs[:limit]
	}
	return slices.Clone(evs), nil
}

// LastSeq returns the newest stored event's seq (0 when none).
func (l *EventsLog) LastSeq(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.events)), nil
}

// Subscribe returns a live feed of what Append and Publish deliver.
func (l *EventsLog) Subscribe(size int) *posbridge.Subscription {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.bus.Subscribe(size)
	l.subs = append(l.subs, s)
	return s
}
