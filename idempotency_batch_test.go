package posbridge_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
)

// inBatchKeyStore answers CreateOrderThen as the store does when another
// write of the same group-commit batch took the key a moment earlier: the
// key is seen inside the batch's transaction, but the batch has not
// committed, so a read on another connection does not find the order yet.
type inBatchKeyStore struct{ posbridge.Store }

func (s *inBatchKeyStore) Wrap(st posbridge.Store) posbridge.Store { s.Store = st; return s }

func (s *inBatchKeyStore) CreateOrderThen(ctx context.Context, o *posbridge.Order, cause posbridge.Cause, then posbridge.OrderStep) (posbridge.Event, posbridge.Event, error) {
	return posbridge.Event{}, posbridge.Event{}, &posbridge.IdempotencyError{Key: o.IdempotencyKey, OrderNo: "20260101-2-AAAAAAAA", RequestHash: "another request"}
}

func TestKeyTakenInSameBatchIsNotAnEmptySuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Store: &inBatchKeyStore{}})
		o, replay, err := te.Pay(context.Background(), posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "5.00"), By: cashier, IdempotencyKey: "k-1"})
		if err == nil && o.No == "" {
			t.Fatalf("Pay answered success (replay %v) with an empty order for a key another request holds", replay)
		}
	})
}
