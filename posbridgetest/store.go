package posbridgetest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/posbridge/posbridge"
)

// BusyStore is a posbridge.Store whose next UpdateOrder calls (FailNext)
// fail as the SQLite store does when another writer holds the database: a
// *posbridge.Error with code EUNAVAILABLE, nothing written. Every other
// call goes to the Store it wraps.
type BusyStore struct {
	posbridge.Store
	mu   sync.Mutex
	fail int
}

// Wrap puts s in front of inner: every call s does not fail goes to inner.
// It returns s.
func (s *BusyStore) Wrap(inner posbridge.Store) posbridge.Store {
	s.Store = inner
	return s
}

// FailNext makes the next n UpdateOrder calls fail (0: none).
func (s *BusyStore) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
}

// UpdateOrder fails while FailNext's count lasts, else updates.
func (s *BusyStore) UpdateOrder(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Order) error) (posbridge.Order, posbridge.Event, error) {
	s.mu.Lock()
	fail := s.fail > 0
	if fail {
		s.fail--
	}
	s.mu.Unlock()
	if fail {
		return posbridge.Order{}, posbridge.Event{}, fmt.Errorf("begin write: %w", &posbridge.Error{Code: posbridge.EUNAVAILABLE, Message: "the database is busy"})
	}
	return s.Store.UpdateOrder(ctx, no, cause, fn)
}

// FailingStore is a posbridge.Store whose next writes of orders or refunds
// by one actor (FailNext) fail with a plain error, "database is locked", as
// a busy or broken database's driver returns; nothing is written. It
// counts the writes it failed. Every other call goes to the Store it wraps.
type FailingStore struct {
	posbridge.Store
	mu              sync.Mutex
	actor           posbridge.Actor
	orders, refunds int
	failed          int // writes failed so far
}

// Wrap puts s in front of inner: every call s does not fail goes to inner.
// It returns s.
func (s *FailingStore) Wrap(inner posbridge.Store) posbridge.Store {
	s.Store = inner
	return s
}

// FailNext makes the next orders UpdateOrder (or CreateOrderThen) and
// refunds UpdateRefund calls made for actor (any actor when "") fail, replacing what an earlier
// FailNext left.
func (s *FailingStore) FailNext(actor posbridge.Actor, orders, refunds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actor, s.orders, s.refunds = actor, orders, refunds
}

// Failed returns how many writes the store has failed so far.
func (s *FailingStore) Failed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *FailingStore) fail(cause posbridge.Cause, n *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *n > 0 && (s.actor == "" || cause.Actor == s.actor) {
		*n--
		s.failed++
		return true
	}
	return false
}

// UpdateOrder fails while FailNext's count of order writes lasts.
func (s *FailingStore) UpdateOrder(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Order) error) (posbridge.Order, posbridge.Event, error) {
	if s.fail(cause, &s.orders) {
		return posbridge.Order{}, posbridge.Event{}, errors.New("database is locked")
	}
	return s.Store.UpdateOrder(ctx, no, cause, fn)
}

// CreateOrderThen fails as its second step's write would (an order write by
// then.Cause's actor): the order is created and changed in one commit, so
// neither is stored.
func (s *FailingStore) CreateOrderThen(ctx context.Context, o *posbridge.Order, cause posbridge.Cause, then posbridge.OrderStep) (posbridge.Event, posbridge.Event, error) {
	if s.fail(then.Cause, &s.orders) {
		return posbridge.Event{}, posbridge.Event{}, errors.New("database is locked")
	}
	return s.Store.CreateOrderThen(ctx, o, cause, then)
}

// UpdateRefund fails while FailNext's count of refund writes lasts.
func (s *FailingStore) UpdateRefund(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Refund) error) (posbridge.Refund, posbridge.Event, error) {
	if s.fail(cause, &s.refunds) {
		return posbridge.Refund{}, posbridge.Event{}, errors.New("database is locked")
	}
	return s.Store.UpdateRefund(ctx, no, cause, fn)
}
