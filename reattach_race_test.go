package posbridge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// holdListStore holds the first lane-busy read (OrderFilter.HoldsLane)
// until release is closed, telling in when it got there.
type holdListStore struct {
	posbridge.Store
	in, release chan struct{}
	once        sync.Once
}

func (s *holdListStore) Wrap(st posbridge.Store) posbridge.Store { s.Store = st; return s }

func (s *holdListStore) ListOrders(ctx context.Context, f posbridge.OrderFilter) (posbridge.OrderPage, error) {
	if f.HoldsLane {
		s.once.Do(func() { close(s.in); <-s.release })
	}
	return s.Store.ListOrders(ctx, f)
}

// holdQueryTerminal holds every Query until release is closed.
type holdQueryTerminal struct {
	*posbridgetest.FakeTerminal
	release chan struct{}
}

func (t *holdQueryTerminal) Query(ctx context.Context, no posbridge.OrderNo) (posbridge.TerminalResult, error) {
	<-t.release
	return t.FakeTerminal.Query(ctx, no)
}

// After a restart the sale the customer is still deciding on is re-attached
// (adopt). A payment refused as lane-busy while that happened must not
// forget that the sale is on the terminal: its unreserve clears l.active, and
// a cancel then closes the order at the gateway while the customer can still tap.
func TestRefusedPaymentDoesNotForgetAReattachedSale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: saleApproved, Delay: time.Hour, Create: true}}})
		gw := te.gw
		ctx := context.Background()
		o := pay(t, te, "64.00")
		time.Sleep(5 * time.Second)
		te.close(t) // kill: the sale stays open on the terminal

		term2 := &holdQueryTerminal{FakeTerminal: posbridgetest.NewFakeTerminal(gw), release: make(chan struct{})}
		term2.SetQuery(posbridge.TerminalResult{Outcome: posbridge.OutcomeUnknown, Code: "000", TransStatus: "0"})
		term2.HoldReattach()
		hs := &holdListStore{in: make(chan struct{}), release: make(chan struct{})}
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw, Terminal: term2, Store: hs})

		payErr := make(chan error, 1)
		go func() {
			_, _, err := te2.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "1.00"), By: cashier})
			payErr <- err
		}()
		<-hs.in              // the payment holds the lane's reservation
		close(term2.release) // resume's query answers: in progress; the sale is adopted
		synctest.Wait()
		close(hs.release)
		var pe *posbridge.Error
		if err := <-payErr; !errors.As(err, &pe) || pe.Code != posbridge.ELANEBUSY {
			t.Fatalf("Pay: %v, want lane busy", err)
		}
		synctest.Wait()

		// The customer is still deciding on the re-attached sale.
		got, err := te2.Cancel(ctx, o.No, cashier)
		if err == nil && got.Status == posbridge.StatusCanceled {
			t.Fatalf("the order was canceled at the gateway while its re-attached sale was on the terminal (a refused Pay's unreserve cleared the lane's active sale)")
		}
		t.Logf("cancel: %s %v", got.Status, err)
	})
}
