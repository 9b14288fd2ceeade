package posbridge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// newQROrder opens an engine over gw with one QR lane "Q" (and no
// terminal), the reconciler's loop running, and pays amount on it.
func newQROrder(t *testing.T, gw *posbridgetest.HostedGateway, q posbridge.QRLane, amount string) (*testEngine, posbridge.Order) {
	t.Helper()
	te := newTestEngine(t, engineOpts{Gateway: gw, QR: &q})
	return te, payOn(t, te, "Q", amount)
}

func orderOf(t *testing.T, te *testEngine, no posbridge.OrderNo) posbridge.Order {
	t.Helper()
	o, err := te.Payment(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The QR flow, customer by customer: when (if ever) they pay on their
// phone, and what the order ends as. Nothing but the gateway's answer makes
// an order paid; an order never paid is closed at its expiry by a query and
// then a cancel, and stays closed.
func TestQRLane_Customers(t *testing.T) {
	tests := []struct {
		name      string
		payAt     time.Duration // when the customer pays, from Pay; 0 never
		want      posbridge.Status
		reason    posbridge.Reason
		lastCalls []string // the gateway calls for the order, last ones
	}{
		{"pays while the cashier waits", 10 * time.Second, posbridge.StatusPaid, "", []string{"create", "query"}},
		{"pays after the wait (pending, found by the reconciler)", 90 * time.Second, posbridge.StatusPaid, "", []string{"query"}},
		{"pays a moment before expiry", 4*time.Minute + 50*time.Second, posbridge.StatusPaid, "", []string{"query"}},
		{"never pays: closed at expiry, query first", 0, posbridge.StatusCanceled, posbridge.ReasonExpired, []string{"query", "cancel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gw := posbridgetest.NewHostedGateway()
				start := time.Now()
				te, o := newQROrder(t, gw, posbridge.QRLane{}, "12.50")
				if o.Status != posbridge.StatusAtTerminal || !o.PaymentExpiresAt.Equal(start.Add(posbridge.DefaultQRExpiry).UTC().Truncate(time.Millisecond)) {
					t.Fatalf("Pay returned %s expiring %v; want at_terminal (write-ahead) expiring in %v", o.Status, o.PaymentExpiresAt, posbridge.DefaultQRExpiry)
				}
				synctest.Wait()
				shown := orderOf(t, te, o.No)
				if shown.Status != posbridge.StatusVerifying || shown.PaymentURL != "https://pay.test/"+string(o.No) || shown.GatewayNo == "" {
					t.Fatalf("after the open: %s url %q gateway no %q", shown.Status, shown.PaymentURL, shown.GatewayNo)
				}
				if tt.payAt > 0 {
					time.Sleep(tt.payAt)
					if !gw.PayPage(o.No) {
						t.Fatal("the customer could not pay an open order")
					}
				}
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				if tt.payAt == 0 {
					// Closed at its expiry, long before the schedule's end.
					if got := orderOf(t, te, o.No); got.Status != posbridge.StatusCanceled || got.UpdatedAt.Sub(o.PaymentExpiresAt) > 10*time.Second {
						t.Fatalf("%v after the expiry: %s, last changed %v after it; want closed at the expiry", 10*time.Minute-posbridge.DefaultQRExpiry, got.Status, got.UpdatedAt.Sub(o.PaymentExpiresAt))
					}
				}
				// A customer who comes back after the close cannot pay.
				if gw.PayPage(o.No) {
					t.Fatal("the customer paid an order posbridge had closed")
				}
				time.Sleep(3 * time.Hour)
				synctest.Wait()
				got := orderOf(t, te, o.No)
				if got.Status != tt.want || got.Reason != tt.reason || got.NeedsAttention {
					t.Fatalf("order %s (%s, attention %v %q), want %s (%s)", got.Status, got.Reason, got.NeedsAttention, got.Attention, tt.want, tt.reason)
				}
				calls := gw.CallsFor(o.No)
				if gw.Count("create") != 1 {
					t.Errorf("%d opens, want 1", gw.Count("create"))
				}
				var beforeWatch []string
				for i, c := range calls {
					beforeWatch = calls[:i+1]
					if c == "cancel" {
						break
					}
				}
				if tail := beforeWatch[len(beforeWatch)-len(tt.lastCalls):]; tt.want == posbridge.StatusCanceled && !slices.Equal(tail, tt.lastCalls) {
					t.Errorf("calls %v, want them to end with %v", calls, tt.lastCalls)
				}
				if tt.want == posbridge.StatusPaid && slices.Contains(calls, "cancel") {
					t.Errorf("a paid QR order was canceled: %v", calls)
				}
			})
		})
	}
}

// While the customer has not paid, polling sees "created" and the order
// stays open: at the end of the wait it is pending (never paid on anything
// but a paid answer), and it is checked again no later than its expiry.
func TestQRLane_WaitEndsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewHostedGateway()
		te, o := newQROrder(t, gw, posbridge.QRLane{Wait: 30 * time.Second, PollEvery: 2 * time.Second, Expiry: 2 * time.Minute}, "3.00")
		got := await(t, te, o.No)
		if got.Status != posbridge.StatusPending || got.PaymentURL == "" {
			t.Fatalf("after the wait: %s url %q, want pending with its URL", got.Status, got.PaymentURL)
		}
		if q := gw.Count("query"); q < 14 || q > 16 {
			t.Errorf("%d queries during a 30 s wait polled every 2 s, want about 15", q)
		}
		if got.NextCheckAt.After(got.PaymentExpiresAt) {
			t.Errorf("next check %v after the expiry %v", got.NextCheckAt, got.PaymentExpiresAt)
		}
	})
}

// An order paid between expiry's query and its cancel: the cancel is
// refused because it is paid, and the order is paid.
func TestQRLane_ExpiryCancelRefusedMakesPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewHostedGateway()
		te, o := newQROrder(t, gw, posbridge.QRLane{}, "8.00")
		gw.BeforeCancel(func(no posbridge.OrderNo) { gw.PayPage(no) })
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		got := orderOf(t, te, o.No)
		if got.Status != posbridge.StatusPaid || !got.NeedsAttention || got.Attention != string(posbridge.ReasonCancelRefused) {
			t.Fatalf("order %s attention %v %q, want paid flagged cancel_refused", got.Status, got.NeedsAttention, got.Attention)
		}
	})
}

// Opening the hosted order: an answer lost on the way is asked about
// before the next open (which, identical, returns the same order).
func TestQRLane_OpenOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		script []posbridgetest.OpenStep
		calls  []string // the first gateway calls for the order
		want   posbridge.Status
		url    bool
	}{
		{"opened", nil, []string{"create"}, posbridge.StatusVerifying, true},
		{"answer lost, order made: query, then the same open again", []posbridgetest.OpenStep{posbridgetest.OpenLostAnswer}, []string{"create", "query", "create"}, posbridge.StatusVerifying, true},
		{"answer lost, no order: query, then open", []posbridgetest.OpenStep{posbridgetest.OpenNoneUnknown}, []string{"create", "query", "create"}, posbridge.StatusVerifying, true},
		{"rate limited: open again, no query needed", []posbridgetest.OpenStep{posbridgetest.OpenRetryable}, []string{"create", "create"}, posbridge.StatusVerifying, true},
		{"refused, unknown at the gateway: failed", []posbridgetest.OpenStep{posbridgetest.OpenRefused}, []string{"create", "query"}, posbridge.StatusFailed, false},
		{"never opened: pending without a page, for the reconciler", []posbridgetest.OpenStep{posbridgetest.OpenNoneUnknown, posbridgetest.OpenNoneUnknown, posbridgetest.OpenNoneUnknown}, []string{"create", "query", "create", "query", "create"}, posbridge.StatusPending, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gw := posbridgetest.NewHostedGateway()
				gw.ScriptOpens(tt.script...)
				te, o := newQROrder(t, gw, posbridge.QRLane{}, "4.00")
				time.Sleep(10 * time.Second)
				synctest.Wait()
				got := orderOf(t, te, o.No)
				if got.Status != tt.want || (got.PaymentURL != "") != tt.url {
					t.Fatalf("order %s url %q, want %s (url %v)", got.Status, got.PaymentURL, tt.want, tt.url)
				}
				if calls := gw.CallsFor(o.No); len(calls) < len(tt.calls) || !slices.Equal(calls[:len(tt.calls)], tt.calls) {
					t.Fatalf("calls %v, want them to start with %v", calls, tt.calls)
				}
				reqs := gw.Requests()
				for _, r := range reqs[1:] {
					if r != reqs[0] {
						t.Fatalf("a repeated open differs: %+v, first %+v (the gateway would refuse it)", r, reqs[0])
					}
				}
				if n := gw.OrderCount(); n > 1 {
					t.Fatalf("%d orders at the gateway, want at most 1", n)
				}
				if tt.want == posbridge.StatusPending {
					// Closed at expiry all the same: query first, then cancel.
					time.Sleep(10 * time.Minute)
					synctest.Wait()
					if got := orderOf(t, te, o.No); got.Open() || got.Status == posbridge.StatusPaid {
						t.Fatalf("after expiry: %s, want closed", got.Status)
					}
				}
			})
		})
	}
}

// "Payment completed": the cashier's check asks the gateway now. Unpaid,
// the order stays open (the page says not paid yet); paid, it is paid. A
// QR order is never retried on a terminal.
func TestQRLane_PaymentCompletedCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewHostedGateway()
		ctx := context.Background()
		te, o := newQROrder(t, gw, posbridge.QRLane{}, "6.00")
		synctest.Wait()
		got, err := te.Verify(ctx, o.No, cashier)
		if err != nil || !got.Open() {
			t.Fatalf("check of an unpaid order: %s, %v; want it open", got.Status, err)
		}
		var pe *posbridge.Error
		if _, err := te.Retry(ctx, o.No, cashier); !errors.As(err, &pe) || pe.Code != posbridge.ECONFLICT {
			t.Fatalf("retry of a QR order: %v, want conflict", err)
		}
		gw.PayPage(o.No)
		got, err = te.Verify(ctx, o.No, cashier)
		if err != nil || got.Status != posbridge.StatusPaid {
			t.Fatalf("check of a paid order: %s, %v; want paid", got.Status, err)
		}
	})
}

// The cashier cancels a QR order: the gateway is asked first, then the
// order canceled there; the customer can no longer pay it.
func TestQRLane_CashierCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewHostedGateway()
		te, o := newQROrder(t, gw, posbridge.QRLane{}, "6.00")
		synctest.Wait()
		got, err := te.Cancel(context.Background(), o.No, cashier)
		if err != nil || got.Status != posbridge.StatusCanceled {
			t.Fatalf("cancel: %s, %v", got.Status, err)
		}
		if gw.PayPage(o.No) {
			t.Fatal("paid after the cancel")
		}
		if calls := gw.CallsFor(o.No); !slices.Equal(calls[len(calls)-2:], []string{"query", "cancel"}) {
			t.Fatalf("calls %v, want query then cancel", calls)
		}
	})
}

// A cashier cancels an open QR order at a gateway that does nothing: it
// refuses the cancel (Pay Protocol has no cancel: the order closes when its
// page expires), or asks to try again later (a rate limit; Pay Protocol's
// query in place of a cancel failing). Either is an answer, not a lost one:
// the cashier is told so (not "cannot be reached" for a refusal), and a
// payment the customer then makes on the still-open page is an ordinary
// payment, not one "captured after the shop closed it" that a person must
// look at (found by the Pay Protocol simulation).
func TestQRLane_CancelRefusedIsNoLostCancel(t *testing.T) {
	for _, tt := range []struct {
		name    string
		refusal error
		code    string
	}{
		{"refused", fmt.Errorf("code NO_CANCEL: %w", posbridge.ErrGatewayFinal), posbridge.ECONFLICT},
		{"try again", fmt.Errorf("rate limit: %w", posbridge.ErrRetryable), posbridge.EUNAVAILABLE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				gw := posbridgetest.NewHostedGateway()
				gw.RefuseCancels(tt.refusal)
				ctx := context.Background()
				te, o := newQROrder(t, gw, posbridge.QRLane{}, "6.00")
				time.Sleep(2 * time.Minute) // the cashier's wait is over: pending
				synctest.Wait()
				if got := orderOf(t, te, o.No); got.Status != posbridge.StatusPending {
					t.Fatalf("setup: %s, want pending", got.Status)
				}
				_, err := te.Cancel(ctx, o.No, cashier)
				if posbridge.ErrorCode(err) != tt.code || tt.code == posbridge.ECONFLICT && strings.Contains(err.Error(), "cannot be reached") {
					t.Fatalf("cancel: %v, want %s", err, tt.code)
				}
				if got := orderOf(t, te, o.No); got.Status != posbridge.StatusPending || got.Reason == posbridge.ReasonCancelSent {
					t.Fatalf("after the cancel: %s (%s), want pending, no cancel sent", got.Status, got.Reason)
				}
				if !gw.PayPage(o.No) {
					t.Fatal("the page refused the payment")
				}
				if _, err := te.Verify(ctx, o.No, cashier); err != nil {
					t.Fatal(err)
				}
				got := orderOf(t, te, o.No)
				if got.Status != posbridge.StatusPaid || got.Reason == posbridge.ReasonPaidAfterClose || got.NeedsAttention {
					t.Fatalf("got %s (%s) attention=%v %q; want paid, no flag", got.Status, got.Reason, got.NeedsAttention, got.Attention)
				}
			})
		})
	}
}

// A restart finds a QR order at_terminal (its open may or may not have
// reached the gateway): the gateway is asked first, then the same order is
// opened again.
func TestQRLane_RestartAsksFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewHostedGateway()
		gw.ScriptOpens(posbridgetest.OpenLostAnswer)
		// The open's answer is lost; the process stops while it waits to
		// ask about it.
		te, o := newQROrder(t, gw, posbridge.QRLane{PollEvery: 50 * time.Second}, "2.00")
		synctest.Wait()
		path := te.path
		te.close(t)
		peek := mustOpenStore(t, path)
		stopped, _ := peek.Order(context.Background(), o.No)
		peek.Close()
		if stopped.Status != posbridge.StatusAtTerminal {
			t.Fatalf("stopped with the order %s, want at_terminal", stopped.Status)
		}

		before := len(gw.CallsFor(o.No))
		te2 := newTestEngine(t, engineOpts{Path: path, Gateway: gw, QR: &posbridge.QRLane{}})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got := orderOf(t, te2, o.No)
		if got.Status != posbridge.StatusVerifying || got.PaymentURL == "" {
			t.Fatalf("after the restart: %s url %q", got.Status, got.PaymentURL)
		}
		if calls := gw.CallsFor(o.No)[before:]; len(calls) < 2 || calls[0] != "query" || calls[1] != "create" {
			t.Fatalf("calls after the restart %v, want query then create", calls)
		}
	})
}

// A gateway that opened a hosted order (its page was shown) and later says
// it does not know it proves nothing: the customer may have paid. At expiry
// the order is not closed but parked (pending, flagged, watched), and a
// cashier's cancel is refused.
func TestQRLane_GatewayForgetsOpenedOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewHostedGateway()
		te, o := newQROrder(t, gw, posbridge.QRLane{}, "9.00")
		synctest.Wait()
		gw.Forget(o.No)
		if _, err := te.Cancel(context.Background(), o.No, cashier); err == nil {
			t.Fatal("a cashier's cancel closed an opened order the gateway no longer knows")
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := orderOf(t, te, o.No)
		if got.Status != posbridge.StatusPending || got.Reason != posbridge.ReasonUnconfirmed || !got.NeedsAttention {
			t.Fatalf("after expiry: %s (%s) attention %v, want pending, unconfirmed, flagged", got.Status, got.Reason, got.NeedsAttention)
		}
	})
}
