package sandbox

import (
	"fmt"

	"github.com/posbridge/posbridge"
)

// Pay makes the customer pay a CREATED order in full, with card (which may be
// zero). ErrNotFound, or ErrConflict when it is not CREATED.
func (s *Sandbox) Pay(no string, card posbridge.Card) error {
	return s.moveOrder("pay", no, StatusCreated, func(o *order) { s.pay(o, card) })
}

// Fail makes a CREATED order's payment fail.
func (s *Sandbox) Fail(no string) error {
	return s.closeCreated(no, "DECLINED", "payment declined")
}

// Expire lets a CREATED order expire.
func (s *Sandbox) Expire(no string) error {
	return s.closeCreated(no, "ORDER_EXPIRED", "order expired")
}

func (s *Sandbox) closeCreated(no, code, des string) error {
	return s.moveOrder("close", no, StatusCreated, func(o *order) { s.fail(o, code, des) })
}

// Settle moves a PAID_SUCCESS order to SETTLED.
func (s *Sandbox) Settle(no string) error {
	return s.moveOrder("settle", no, StatusPaid, func(o *order) { o.status = StatusSettled })
}

// moveOrder applies move to order no when it is in status from, under the
// lock and after what time has changed (advanceLocked): ErrNotFound, or
// ErrConflict in any other status; what names the change in the error.
func (s *Sandbox) moveOrder(what, no, from string, move func(o *order)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return fmt.Errorf("%s %s: %w", what, no, ErrNotFound)
	}
	if o.status != from {
		return fmt.Errorf("%s %s in %s: %w", what, no, o.status, ErrConflict)
	}
	move(o)
	return nil
}

// SettleRefund moves a CREATED refund to REFUNDED_SETTLED.
func (s *Sandbox) SettleRefund(no string) error {
	return s.moveRefund(no, RefundSettled)
}

// SucceedRefund makes a refund that is not final succeed.
func (s *Sandbox) SucceedRefund(no string) error { return s.moveRefund(no, RefundSuccess) }

// FailRefund makes a refund that is not final fail.
func (s *Sandbox) FailRefund(no string) error { return s.moveRefund(no, RefundFailure) }

func (s *Sandbox) moveRefund(no, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	r, ok := s.refunds[no]
	if !ok {
		return fmt.Errorf("refund %s: %w", no, ErrNotFound)
	}
	if r.status == RefundSuccess || r.status == RefundFailure || (to == RefundSettled && r.status != RefundCreated) {
		return fmt.Errorf("refund %s from %s to %s: %w", no, r.status, to, ErrConflict)
	}
	r.status = to
	if to == RefundFailure {
		r.failCode, r.failDes = "REFUND_FAILED", "refund failed"
	}
	if to == RefundSuccess || to == RefundFailure {
		s.notifyRefund(r)
	}
	return nil
}
