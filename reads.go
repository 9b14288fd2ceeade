package posbridge

import (
	"context"
)

// What the API reads: payments, lanes, the event log, health; and the link
// changes the terminals report.

// Payment implements PaymentService.
func (e *Engine) Payment(ctx context.Context, no OrderNo) (Order, error) { return e.load(ctx, no) }

// Payments implements PaymentService.
func (e *Engine) Payments(ctx context.Context, f OrderFilter) (OrderPage, error) {
	return e.store.ListOrders(ctx, f)
}

// Await implements PaymentService.
func (e *Engine) Await(ctx context.Context, no OrderNo) (Order, error) {
	sub := e.Bus.Subscribe(maxAwaitSubscriptions)
	defer sub.Close()
	for {
		o, err := e.load(ctx, no)
		if err != nil || o.Status != StatusCreated && o.Status != StatusAtTerminal && o.Status != StatusVerifying {
			return o, err
		}
		select {
		case <-ctx.Done():
			return o, nil
		case _, ok := <-sub.C:
			if !ok {
				sub = e.Bus.Subscribe(maxAwaitSubscriptions)
			}
		}
	}
}

// Lanes implements PaymentService.
func (e *Engine) Lanes(ctx context.Context) ([]LaneStatus, error) {
	out := make([]LaneStatus, 0, len(e.lanes.ids))
	for _, id := range e.lanes.ids {
		l := e.lanes.get(id)
		cur := e.lanes.shown(l)
		ls := LaneStatus{ID: id}
		if l.qr != nil {
			ls.Link, ls.QR = qrLink(), true
		} else {
			ls.Link = l.term.Link()
		}
		if cur != "" {
			if o, err := e.store.Order(ctx, cur); err == nil {
				ls.Payment = &o
			}
		}
		out = append(out, ls)
	}
	return out, nil
}

// LinkChanged tells the engine a lane's terminal link changed. A link coming
// up wakes the reconciler; every change is published as a lane event.
func (e *Engine) LinkChanged(laneID string, st LinkStatus) {
	if e.lanes.get(laneID) == nil {
		return
	}
	seq := int64(0)
	if e.ctx != nil {
		seq, _ = e.store.LastSeq(e.ctx)
	}
	e.Bus.Publish(Event{Seq: seq, Type: EventLane, At: e.now(), Lane: &LaneStatus{ID: laneID, Link: st}})
	if st.State == LinkUp {
		e.wake()
	}
}

// EventsSince implements EventLog.
func (e *Engine) EventsSince(ctx context.Context, seq int64, limit int) ([]Event, error) {
	return e.store.EventsSince(ctx, seq, limit)
}

// LastSeq implements EventLog.
func (e *Engine) LastSeq(ctx context.Context) (int64, error) { return e.store.LastSeq(ctx) }

// Subscribe implements PaymentService.
func (e *Engine) Subscribe(size int) *Subscription { return e.Bus.Subscribe(size) }

// Ready implements PaymentService.
func (e *Engine) Ready(ctx context.Context) error {
	if err := e.store.Ping(ctx); err != nil {
		return &Error{Code: EUNAVAILABLE, Message: "The database is not ready.", Err: err}
	}
	return nil
}

// Stats implements PaymentService.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	st := Stats{PaymentsByStatus: map[Status]int{}, GatewayErrors: map[string]uint64{}, Notifications: map[string]uint64{}}
	counts, err := e.store.CountOrders(ctx)
	if err != nil {
		return st, err
	}
	st.PaymentsByStatus = counts.ByStatus
	st.NeedsAttention = counts.NeedsAttention
	st.ReconcileBacklog = counts.Scheduled
	st.Verifications = e.gw.queries.Load()
	e.gw.errors.Range(func(k, v any) bool { st.GatewayErrors[k.(string)] = v.(interface{ Load() uint64 }).Load(); return true })
	e.notifyResults.Range(func(k, v any) bool { st.Notifications[k.(string)] = v.(interface{ Load() uint64 }).Load(); return true })
	return st, nil
}
