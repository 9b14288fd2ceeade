package posbridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// gatewayCalls is the one way the engine calls the gateway: foreground
// calls (a cashier is waiting) go first, and every call is counted for the
// metrics, its error by class.
type gatewayCalls struct {
	gate    gatewayGate
	queries atomic.Uint64 // order queries made
	errors  sync.Map      // error class → *atomic.Uint64
}

// call runs fn as one gateway call; query says whether it is an order
// query (counted as a verification). When ctx ends while a background call
// waits its turn, fn is not called: ran is false and err is ctx's error.
func (g *gatewayCalls) call(ctx context.Context, foreground, query bool, fn func() error) (ran bool, err error) {
	if !g.gate.enter(foreground, ctx) {
		return false, ctx.Err()
	}
	err = fn()
	g.gate.leave(foreground)
	if query {
		g.queries.Add(1)
	}
	if err != nil {
		bump(&g.errors, errorClass(err))
	}
	return true, err
}

// bump adds one to the counter named key in m.
func bump(m *sync.Map, key string) {
	v, _ := m.LoadOrStore(key, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

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
