package posbridge

import (
	"context"
	"sync"
	"time"
)

// claimToken names one claim of an order; 0 is no claim.
type claimToken uint64

// claimTable owns which goroutine works on which order: a sale, the
// cashier's fast verification, a reconciler check or a cashier's action
// claims an order first, and everyone else leaves it alone (or waits).
type claimTable struct {
	mu       sync.Mutex
	inflight map[OrderNo]claimToken // orders claimed now, and by which claim
	last     claimToken             // the last token handed out
	freed    chan struct{}          // closed (and replaced) when a claim ends
	// wanted holds the claimed orders the reconciler passed over: it
	// left their checks out of its timer, so their release must wake it
	// (onWanted), or a check that fell due meanwhile would wait for the
	// reconciler's next other check, hours away on a till with watched
	// orders.
	wanted   map[OrderNo]struct{}
	onWanted func()
}

// newClaimTable returns an empty table; onWanted (may be nil) is called,
// outside the table's lock, when a claim on an order the reconciler wanted
// ends.
func newClaimTable(onWanted func()) *claimTable {
	return &claimTable{inflight: map[OrderNo]claimToken{}, wanted: map[OrderNo]struct{}{}, onWanted: onWanted}
}

// claim marks no as owned by the caller; 0 when another claim holds it.
func (c *claimTable) claim(no OrderNo) claimToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimLocked(no)
}

func (c *claimTable) claimLocked(no OrderNo) claimToken {
	if c.inflight[no] != 0 {
		return 0
	}
	c.last++
	c.inflight[no] = c.last
	return c.last
}

// claimOrWant claims no as claim does; when another claim holds it, the
// caller (the reconciler) wants it, and that claim's release calls
// onWanted. One lock for both: a release between a failed claim and the
// mark would be missed.
func (c *claimTable) claimOrWant(no OrderNo) claimToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok := c.claimLocked(no); tok != 0 {
		return tok
	}
	c.wanted[no] = struct{}{}
	return 0
}

// wait claims no, waiting up to d on clock for a claim another goroutine
// holds (a reconciler check takes one gateway call) to end; 0 if it did not.
func (c *claimTable) wait(ctx context.Context, clock Clock, no OrderNo, d time.Duration) claimToken {
	t := clock.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		if tok := c.claimLocked(no); tok != 0 {
			c.mu.Unlock()
			return tok
		}
		if c.freed == nil {
			c.freed = make(chan struct{})
		}
		freed := c.freed
		c.mu.Unlock()
		select {
		case <-freed:
		case <-t.C():
			return 0
		case <-ctx.Done():
			return 0
		}
	}
}

// release ends the claim tok of no. A claim that was already handed on and
// taken by someone else (a retry after the wait was over) is left alone.
func (c *claimTable) release(no OrderNo, tok claimToken) {
	c.mu.Lock()
	wanted := false
	if tok != 0 && c.inflight[no] == tok {
		delete(c.inflight, no)
		if _, wanted = c.wanted[no]; wanted {
			delete(c.wanted, no)
		}
		if c.freed != nil {
			close(c.freed)
			c.freed = nil
		}
	}
	c.mu.Unlock()
	if wanted && c.onWanted != nil {
		c.onWanted()
	}
}

// heldWanted reports whether a claim holds no now; when one does, the
// caller (the reconciler) wants it, as with claimOrWant.
func (c *claimTable) heldWanted(no OrderNo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[no] == 0 {
		return false
	}
	c.wanted[no] = struct{}{}
	return true
}

// count returns how many orders are claimed now.
func (c *claimTable) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight)
}
