package sandbox

import (
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// SetTerminalOnline says whether the CodePay terminal is online: an order
// sent while it is offline is queued (terminal_online_status 0), or refused
// with TERMINAL_OFFLINE when it asks reject_trade_when_terminal_offline.
func (s *Sandbox) SetTerminalOnline(online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpOffline = !online
	if !online {
		return
	}
	// The terminal takes the queued cloud sales.
	for _, o := range s.orders {
		if o.terminalSN != "" && o.status == StatusCreated && !o.paying && o.cloud.at.IsZero() {
			s.planCloudLocked(o)
		}
	}
}

// CloudAction is what the simulated customer does with a cloud sale (one
// pushed to the terminal by wisehub.cloud.pay.order): the sandbox plays the
// terminal for them.
type CloudAction string

// Cloud actions.
const (
	CloudApprove CloudAction = "approve" // pays: trans_status 9 → 0 → 2
	CloudDecline CloudAction = "decline" // the card is declined: 9 → 0 → 1
	CloudCancel  CloudAction = "cancel"  // cancels on the terminal: 9 → 1
	CloudIgnore  CloudAction = "ignore"  // nobody comes: stays 9 until closed (or expired)
)

// CloudCustomer is the simulated customer of cloud sales. The zero value
// ignores them (a test moves them with StartPaying, Pay and Fail).
type CloudCustomer struct {
	Action CloudAction    `json:"action"`
	Delay  time.Duration  `json:"delay"` // from the push to the result, nanoseconds in JSON; half of it to 0
	Card   posbridge.Card `json:"card"`  // the card used to pay
}

type cloudStep struct {
	at     time.Time // when the next step is due
	paying bool      // the next step is the result (0 was reached)
	do     CloudCustomer
}

// SetCloudCustomer sets what the customer does with the next cloud sales.
func (s *Sandbox) SetCloudCustomer(c CloudCustomer) error {
	switch c.Action {
	case "", CloudApprove, CloudDecline, CloudCancel, CloudIgnore:
	default:
		return fmt.Errorf("%w: cloud action %q", ErrInvalid, c.Action)
	}
	if c.Delay < 0 {
		return fmt.Errorf("%w: negative delay", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customer = c
	return nil
}

// planCloudLocked schedules the customer's steps for a new cloud sale; s.mu
// must be held.
func (s *Sandbox) planCloudLocked(o *order) {
	c := s.customer
	if c.Action == "" || c.Action == CloudIgnore {
		return
	}
	o.cloud = cloudStep{at: s.clock.Now().Add(c.Delay / 2), do: c}
	if c.Action == CloudCancel {
		o.cloud.paying = true // straight to the result
	}
	s.poke()
}

// advanceCloudLocked takes every due step of the simulated customer and
// returns when the next is due (zero when none); s.mu must be held.
func (s *Sandbox) advanceCloudLocked() time.Time {
	now := s.clock.Now()
	var next time.Time
	for _, o := range s.orders {
		st := &o.cloud
		if st.at.IsZero() {
			continue
		}
		if o.status != StatusCreated {
			*st = cloudStep{} // closed or paid meanwhile
			continue
		}
		if st.at.After(now) {
			if next.IsZero() || st.at.Before(next) {
				next = st.at
			}
			continue
		}
		if !st.paying {
			o.paying = true
			st.paying, st.at = true, st.at.Add(st.do.Delay-st.do.Delay/2)
			if next.IsZero() || st.at.Before(next) {
				next = st.at
			}
			continue
		}
		do := st.do
		*st = cloudStep{}
		switch do.Action {
		case CloudApprove:
			s.pay(o, do.Card)
		case CloudDecline:
			s.fail(o, "DECLINED", "card declined")
		case CloudCancel:
			s.fail(o, "USER_CANCEL", "canceled on the terminal")
		}
	}
	return next
}

// StartPaying moves a CREATED order to CodePay's trans_status 0: the
// customer is paying on the terminal (it cannot be closed now). Pay or
// Fail ends it.
func (s *Sandbox) StartPaying(no string) error {
	return s.moveOrder("paying", no, StatusCreated, func(o *order) { o.paying = true })
}
