package posbridge

import (
	"context"
	"sort"
	"sync"
	"time"
)

// lane is one checkout lane: its terminal, and (guarded by laneTable.mu)
// who is using the terminal.
type lane struct {
	id   string
	term Terminal // nil on a QR lane
	qr   *QRLane  // set on a QR lane only (AddQRLane)

	// reserved: a Pay holds the lane while it checks, stores and sends its
	// order, before (and while) the order is active.
	reserved bool
	// active is the order whose sale is on the terminal right now. Whether
	// the cashier is still waiting is read from the stored status, which
	// changes atomically with each commit.
	active OrderNo
	// activated is the order the reservation made active (activate): the
	// only one its unreserve may clear. A sale adopted after a restart
	// while a payment held the reservation stays active when that payment
	// is refused.
	activated OrderNo
	last      OrderNo // the lane's most recent order, shown on the cashier's screen
}

// laneTable owns who uses each lane's terminal: a payment reserving it, the
// sale on it, the lane's latest order, and the orders being closed (no sale
// may start for them). One mutex guards all of it because starting a sale
// and closing an order each decide on both.
type laneTable struct {
	byID map[string]*lane // fixed once the engine opens (AddQRLane adds before): read without the lock
	ids  []string         // sorted

	mu      sync.Mutex
	closing map[OrderNo]int // orders being closed (closeOrder), with how many closers
	freed   chan struct{}   // closed (and replaced) when a lane's sale leaves its terminal
}

func newLaneTable(terminals map[string]Terminal) *laneTable {
	t := &laneTable{byID: make(map[string]*lane, len(terminals)), closing: map[OrderNo]int{}}
	for id, term := range terminals {
		t.byID[id] = &lane{id: id, term: term}
		t.ids = append(t.ids, id)
	}
	sort.Strings(t.ids)
	return t
}

// get returns the lane with id, or nil.
func (t *laneTable) get(id string) *lane { return t.byID[id] }

// reserve holds l for a new payment. It fails while another payment holds
// it or a sale is on its terminal (busy names that sale, when there is one).
func (t *laneTable) reserve(l *lane) (busy OrderNo, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.reserved || l.active != "" {
		return l.active, false
	}
	l.reserved = true
	return "", true
}

// activate names no as the sale on l's terminal, under the reservation:
// from here a cancel sees the sale as on the terminal.
func (t *laneTable) activate(l *lane, no OrderNo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l.active, l.activated = no, no
}

// started ends the reservation of a payment whose sale went out: no is the
// sale on the terminal and the lane's latest order.
func (t *laneTable) started(l *lane, no OrderNo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l.reserved, l.active, l.activated, l.last = false, no, "", no
}

// unreserve ends a reservation that did not start a sale: the sale it made
// active, if any, is not on the terminal. A waiter (reserveWithin) is told.
func (t *laneTable) unreserve(l *lane) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l.reserved = false
	if l.activated != "" && l.active == l.activated {
		l.active = ""
	}
	l.activated = ""
	t.signalFreedLocked()
}

// signalFreedLocked wakes every reserveWithin waiting for a lane.
func (t *laneTable) signalFreedLocked() {
	if t.freed != nil {
		close(t.freed)
		t.freed = nil
	}
}

// startRetry makes no the sale on l's terminal for a retry: false while the
// lane is held or no is being closed.
func (t *laneTable) startRetry(l *lane, no OrderNo) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.reserved || l.active != "" || t.closing[no] > 0 {
		return false
	}
	l.active = no
	return true
}

// adopt makes no, a sale found in progress after a restart, the sale on l's
// terminal (unless another holds it) and the lane's latest order. It
// refuses, changing nothing, while no is being closed: the closer decided
// on no not being on the terminal (beginClose), and decides again, before
// its change is written, on the same rule.
func (t *laneTable) adopt(l *lane, no OrderNo) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing[no] > 0 {
		return false
	}
	if l.active == "" {
		l.active = no
	}
	l.last = no
	return true
}

// setLast records no as l's most recent order.
func (t *laneTable) setLast(l *lane, no OrderNo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l.last = no
}

// lastOf returns l's most recent order.
func (t *laneTable) lastOf(l *lane) OrderNo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return l.last
}

// shown returns the order l's screen shows: the sale on the terminal, or
// else the lane's most recent order.
func (t *laneTable) shown(l *lane) OrderNo {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.active != "" {
		return l.active
	}
	return l.last
}

// free marks l's terminal as no longer used by no's sale.
func (t *laneTable) free(l *lane, no OrderNo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.active == no {
		l.active = ""
		t.signalFreedLocked()
	}
}

// reserveWithin is reserve, waiting up to d on clock for the sale on l's
// terminal to leave it: the gateway can confirm a payment (and the cashier
// see it) a moment before the sale's terminal call has ended.
func (t *laneTable) reserveWithin(ctx context.Context, clock Clock, l *lane, d time.Duration) (busy OrderNo, ok bool) {
	timer := clock.NewTimer(d)
	defer timer.Stop()
	for {
		t.mu.Lock()
		if !l.reserved && l.active == "" {
			l.reserved = true
			t.mu.Unlock()
			return "", true
		}
		busy = l.active
		if t.freed == nil {
			t.freed = make(chan struct{})
		}
		freed := t.freed
		t.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C():
			return busy, false
		case <-ctx.Done():
			return busy, false
		}
	}
}

// onTerminal reports whether no's sale is on l's terminal now.
func (t *laneTable) onTerminal(l *lane, no OrderNo) bool {
	if l == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return l.active == no
}

// beginClose marks no (an order of l, which may be nil) as being closed, so
// that no sale starts for it while it is; false when its sale is on the
// terminal now.
func (t *laneTable) beginClose(l *lane, no OrderNo) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l != nil && l.active == no {
		return false
	}
	t.closing[no]++
	return true
}

// endClose ends one beginClose of no.
func (t *laneTable) endClose(no OrderNo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing[no]--; t.closing[no] <= 0 {
		delete(t.closing, no)
	}
}
