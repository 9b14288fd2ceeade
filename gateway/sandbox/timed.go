package sandbox

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/posbridge/posbridge"
)

// clockwork moves orders and refunds along on the sandbox clock when
// Config.ExpireAfter, SettleAfter or RefundSucceedAfter ask for it: one
// goroutine, owned by the Sandbox, that sleeps until the next change is due.
// Every API call and snapshot also applies what is due first, so callers
// never see a state that should already have moved.
type clockwork struct {
	expireAfter  time.Duration
	settleAfter  time.Duration
	refundAfter  time.Duration
	kick         chan struct{}
	ctx          context.Context
	cancel       context.CancelFunc
	done         chan struct{}
	fullCardNums bool
}

func (c *clockwork) on() bool { return c.expireAfter > 0 || c.settleAfter > 0 || c.refundAfter > 0 }

func (s *Sandbox) startClockwork() {
	c := &s.timed
	c.kick = make(chan struct{}, 1)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = make(chan struct{})
	// Always running: cloud sales (codepay_cloud.go) move on the clock too.
	go func() {
		defer close(c.done)
		for {
			s.mu.Lock()
			next := s.advanceLocked()
			s.mu.Unlock()
			var t posbridge.Timer
			var fire <-chan time.Time
			if !next.IsZero() {
				t = s.clock.NewTimer(next.Sub(s.clock.Now()))
				fire = t.C()
			}
			select {
			case <-c.ctx.Done():
			case <-c.kick:
			case <-fire:
			}
			if t != nil {
				t.Stop()
			}
			if c.ctx.Err() != nil {
				return
			}
		}
	}()
}

func (s *Sandbox) stopClockwork() {
	s.timed.cancel()
	<-s.timed.done
}

// poke tells the clockwork that something changed; s.mu may be held.
func (s *Sandbox) poke() {
	if s.timed.kick == nil {
		return
	}
	select {
	case s.timed.kick <- struct{}{}:
	default:
	}
}

// expiresAt returns when a CREATED order expires on its own (zero: never).
func (s *Sandbox) expiresAt(o *order) time.Time {
	if s.timed.expireAfter <= 0 {
		return time.Time{}
	}
	if o.expiredTime > 0 {
		return time.UnixMilli(o.expiredTime)
	}
	return o.created.Add(s.timed.expireAfter)
}

// advanceLocked applies every timed change that is due, oldest order first,
// and returns when the next one is due (zero when none is); s.mu must be held.
func (s *Sandbox) advanceLocked() time.Time {
	next := s.advanceCloudLocked()
	if !s.timed.on() {
		return next
	}
	now := s.clock.Now()
	due := func(at time.Time) bool {
		if at.IsZero() {
			return false
		}
		if !at.After(now) {
			return true
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
		return false
	}
	orders := make([]*order, 0, len(s.orders))
	for _, o := range s.orders {
		orders = append(orders, o)
	}
	sort.Slice(orders, func(i, j int) bool { return orders[i].orderNo < orders[j].orderNo })
	for _, o := range orders {
		switch o.status {
		case StatusCreated:
			if due(s.expiresAt(o)) {
				s.fail(o, "ORDER_EXPIRED", "order expired")
			}
		case StatusPaid:
			if s.timed.settleAfter > 0 && due(o.paidTime.Add(s.timed.settleAfter)) {
				o.status = StatusSettled
			}
		}
		if s.timed.refundAfter <= 0 {
			continue
		}
		for _, r := range o.refunds {
			if (r.status == RefundCreated || r.status == RefundSettled) && !r.internal && due(r.created.Add(s.timed.refundAfter)) {
				r.status = RefundSuccess
				s.notifyRefund(r)
			}
		}
	}
	return next
}

// Revoke reverses an order as revokeOrder does (research §1.7), as if the
// merchant did it from PayBy's portal. ErrNotFound, or ErrConflict when
// PayBy would refuse it (the order has refunds).
func (s *Sandbox) Revoke(no string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return fmt.Errorf("revoke %s: %w", no, ErrNotFound)
	}
	if code := s.revoke(o); code != "" {
		return fmt.Errorf("revoke %s: code %s: %w", no, code, ErrConflict)
	}
	return nil
}

// SetFullCardNumbers makes order objects (answers and notifications) carry a
// full, Luhn-valid card number in paymentInfo.cardInfo.cardNo instead of the
// masked one, as a careless gateway might: what a receiver must never keep.
func (s *Sandbox) SetFullCardNumbers(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timed.fullCardNums = on
}

// fullCardNo returns a 16-digit Luhn-valid Visa number ending in last4,
// derived from the order's number.
func fullCardNo(orderNo, last4 string) string {
	digits := make([]byte, 0, 16)
	digits = append(digits, '4')
	for i := 0; len(digits) < 11; i++ {
		c := byte('7')
		if i < len(orderNo) && orderNo[len(orderNo)-1-i] >= '0' && orderNo[len(orderNo)-1-i] <= '9' {
			c = orderNo[len(orderNo)-1-i]
		}
		digits = append(digits, c)
	}
	digits = append(digits, '0')
	for len(last4) < 4 {
		last4 = "0" + last4
	}
	digits = append(digits, last4[len(last4)-4:]...)
	// Position 11 is not doubled by Luhn (an even distance from the check
	// digit): choose it so that the sum is a multiple of ten.
	sum := 0
	for i := range digits {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	digits[11] = byte('0' + (10-sum%10)%10)
	return string(digits)
}
