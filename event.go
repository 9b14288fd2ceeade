package posbridge

import (
	"sync"
	"time"
)

// EventType says what an Event carries.
type EventType string

// Event types.
const (
	EventPayment EventType = "payment" // an order changed; Payment is its snapshot after the change
	EventRefund  EventType = "refund"  // a refund changed; Refund and Payment are set
	EventLane    EventType = "lane"    // a lane's terminal link changed; not stored, Seq is the last stored seq
)

// Event is one committed change. Stored events have a strictly increasing Seq
// without gaps; lane events are live only.
type Event struct {
	Seq     int64
	Type    EventType
	At      time.Time
	Payment *Order
	Refund  *Refund
	Lane    *LaneStatus
}

// LinkState is the state of a lane's terminal link.
type LinkState string

// Link states.
const (
	LinkDown        LinkState = "down"
	LinkHandshaking LinkState = "handshaking"
	LinkUp          LinkState = "up"
)

// LinkStatus is a terminal link's state and counters.
type LinkStatus struct {
	State       LinkState
	Since       time.Time
	Port        string
	Frames      uint64 // valid frames received
	CRCErrors   uint64 // frames dropped for a bad CRC or ETX
	Retransmits uint64
	Reconnects  uint64
}

// LaneStatus is a lane's link and its current (or last) payment.
type LaneStatus struct {
	ID      string
	Link    LinkStatus // a QR lane's is always up: it has no cable
	Payment *Order
	// QR: the lane has no terminal; its customers pay on their phone, on
	// the gateway's hosted page shown as a QR code.
	QR bool
}

// Bus fans events out to subscribers. A subscriber that falls more than its
// buffer behind is dropped (its channel is closed) rather than waited for; it
// reconnects and replays from the store with the last Seq it saw.
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[*Subscription]struct{})} }

// Subscription is a live feed of events. C is closed when the subscription is
// closed or dropped for being slow.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	bus     *Bus
	dropped bool
}

// Subscribe returns a subscription buffering up to size events.
func (b *Bus) Subscribe(size int) *Subscription {
	if size < 1 {
		size = 1
	}
	c := make(chan Event, size)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish delivers e to every subscriber without blocking.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- e:
		default:
			s.dropped = true
			delete(b.subs, s)
			close(s.c)
		}
	}
}

// Dropped reports whether the subscription was dropped for being slow.
func (s *Subscription) Dropped() bool {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.c)
	}
}
