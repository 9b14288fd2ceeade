package posbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Engine settings.
const (
	DefaultSaleDeadline = 6 * time.Minute  // safety-net check for an order stuck at the terminal
	DefaultRetryBackoff = 5 * time.Second  // first backoff after a gateway error
	DefaultMaxBackoff   = 5 * time.Minute  // cap of the backoff
	DefaultRefundCheck  = 30 * time.Second // how often open refunds are queried, at the most
	// DefaultReconcileCeiling bounds the reconciler's sleep when nothing is
	// scheduled. Every check, refund query and retry is scheduled and every
	// change that brings one forward wakes the loop, so this is only a
	// safety net; at a minute it was an idle till's only work, 1,440
	// passes a day.
	DefaultReconcileCeiling = 15 * time.Minute
	reconcileBatch          = 20
	maxConsecutiveLogged    = 1
	maxAwaitSubscriptions   = 64
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
	// ceiling on how long the loop sleeps when nothing is scheduled;
	// DefaultReconcileCeiling by default).
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
	// inboxWaiting: a notification was stored but could not be applied
	// (the store failed); the reconciler applies it on its next pass rather
	// than waiting for a redelivery or the next start.
	inboxWaiting atomic.Bool
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
		ReconcileInterval: DefaultReconcileCeiling,
		store:             store,
		gateway:           gateway,
		lanes:             newLaneTable(terminals),
	}
	e.claims = newClaimTable(e.wake)
	e.rec = newReconciler(e)
	return e
}

var (
	_ PaymentService      = (*Engine)(nil)
	_ NotificationService = (*Engine)(nil)
)

// Open resumes every order a previous run left open (docs/architecture.md: terminal
// query, then gateway verification), re-applies notifications received but not
// applied, starts the reconciler, and then watches the link of every lane's
// terminal that is a LinkWatcher (LinkChanged). After Open no open order is
// without a scheduled check.
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
	e.watchLinks(true)
	return nil
}

// watchLinks starts (on) or stops the link watch of every lane's terminal
// that is a LinkWatcher: each change is the engine's LinkChanged.
func (e *Engine) watchLinks(on bool) {
	for _, id := range e.lanes.ids {
		w, ok := e.lanes.get(id).term.(LinkWatcher)
		switch {
		case !ok:
		case on:
			w.WatchLink(func(st LinkStatus) { e.LinkChanged(id, st) })
		default:
			w.WatchLink(nil)
		}
	}
}

// Close stops the link watches and every goroutine the engine started, and
// waits for them. Orders in flight stay as stored; the next Open resumes them.
func (e *Engine) Close() error {
	if e.ctx != nil {
		e.watchLinks(false)
	}
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
func (e *Engine) ReconcileOnce(ctx context.Context) (time.Time, error) {
	at, err := e.rec.Once(ctx)
	// The loop's timer was set without what this pass learnt (a refund's
	// next query, a failure to watch): it sets it again.
	e.wake()
	return at, err
}

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
// A change that brings an order's next check forward wakes the
// reconciler, whose timer was set for the checks as they were.
func (e *Engine) update(ctx context.Context, no OrderNo, cause Cause, fn func(*Order) error) (Order, error) {
	var sooner bool
	o, ev, err := e.store.UpdateOrder(ctx, no, cause, func(o *Order) error {
		before := o.NextCheckAt
		err := fn(o)
		sooner = checkSooner(before, o.NextCheckAt)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return o, &Error{Code: ENOTFOUND, Message: "No such payment.", Err: err}
		}
		return o, err
	}
	if ev.Seq != 0 {
		e.Bus.Publish(ev)
		if sooner {
			e.wake()
		}
	}
	return o, nil
}

// checkSooner reports whether a check scheduled at after comes before the
// one at before (none is the zero time).
func checkSooner(before, after time.Time) bool {
	return !after.IsZero() && (before.IsZero() || after.Before(before))
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

// sched is the engine's scheduling policy, from its settings.
func (e *Engine) sched() Scheduler {
	return Scheduler{SaleDeadline: e.SaleDeadline, Reconcile: e.Reconcile, MaxBackoff: e.MaxBackoff}
}

// plan sets o's next check for fact f (Scheduler.Next): the one way the
// engine changes when an order is checked.
func (e *Engine) plan(o *Order, f Fact, now time.Time) {
	*o = e.sched().Next(*o, f, now)
}
