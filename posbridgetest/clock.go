package posbridgetest

import (
	"sort"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
)

// The clock that tests move by hand. Most tests use testing/synctest
// instead; this one serves code that is given a posbridge.Clock and tests
// that must step time explicitly.

// ManualClock is a Clock that moves only when Advance or Set is called.
// Timers fire, in order of their deadline, as the clock passes them.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer firing when the clock reaches Now()+d.
func (c *ManualClock) NewTimer(d time.Duration) posbridge.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{clock: c, c: make(chan time.Time, 1)}
	c.arm(t, d)
	return t
}

// Advance moves the clock forward by d, firing every timer due on the way.
func (c *ManualClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (never backwards), firing every timer due.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		return
	}
	for {
		sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
		if len(c.timers) == 0 || c.timers[0].when.After(t) {
			break
		}
		due := c.timers[0]
		c.timers = c.timers[1:]
		due.armed = false
		if due.when.After(c.now) {
			c.now = due.when
		}
		select {
		case due.c <- c.now:
		default:
		}
	}
	c.now = t
}

// NextTimer returns the deadline of the earliest armed timer, if any.
func (c *ManualClock) NextTimer() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var min time.Time
	for _, t := range c.timers {
		if min.IsZero() || t.when.Before(min) {
			min = t.when
		}
	}
	return min, !min.IsZero()
}

func (c *ManualClock) arm(t *manualTimer, d time.Duration) {
	t.when = c.now.Add(d)
	if d <= 0 {
		select {
		case t.c <- c.now:
		default:
		}
		return
	}
	t.armed = true
	c.timers = append(c.timers, t)
}

func (c *ManualClock) disarm(t *manualTimer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			t.armed = false
			return true
		}
	}
	return false
}

type manualTimer struct {
	clock *ManualClock
	c     chan time.Time
	when  time.Time
	armed bool
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.clock.disarm(t)
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.clock.disarm(t)
	select {
	case <-t.c:
	default:
	}
	t.clock.arm(t, d)
	return was
}
