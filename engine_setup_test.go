package posbridge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// How the engine tests build their engine: the real engine over a real
// SQLite file, with the doubles of posbridgetest for the gateway and the
// terminal.

var cashier = posbridge.By{Actor: posbridge.ActorCashier, Who: "amal"}

// engineOpts says what newTestEngine builds. The zero value is an engine
// with lane "1" on a FakeTerminal that approves and charges every sale,
// over a new FakeGateway, a new SQLite file, and the reconciler's loop.
type engineOpts struct {
	// Path is the SQLite file: a restart passes the stopped engine's path.
	// Empty: a new file in a temp dir.
	Path string
	// Gateway is what the engine calls. Nil: a new FakeGateway. A
	// FakeGateway (given or new) is te.gw.
	Gateway posbridge.Gateway
	// Terminal is lane "1". Nil: a new FakeTerminal on te.gw playing Sales
	// (te.term).
	Terminal posbridge.Terminal
	Sales    []posbridgetest.SaleScript
	// Lanes, when set, are the engine's lanes instead of lane "1".
	Lanes map[string]posbridge.Terminal
	// QR, when set, makes the engine's one lane the QR lane "Q" (no terminal).
	QR *posbridge.QRLane
	// Store, when set, stands in front of the SQLite store (a BusyStore, a
	// FailingStore): the engine writes through it.
	Store interface {
		Wrap(posbridge.Store) posbridge.Store
	}
	// NoLoop stops the reconciler's loop (ReconcileInterval 0): the test
	// calls ReconcileOnce.
	NoLoop bool
	// ReconcileEvery is the loop's interval when not the engine's default.
	ReconcileEvery time.Duration
}

// testEngine is an open engine over a real SQLite store, closed (engine,
// then store) when the test ends unless the test closed it first.
type testEngine struct {
	*posbridge.Engine
	db   *store.DB
	path string
	gw   *posbridgetest.FakeGateway  // the engine's gateway, when a FakeGateway
	term *posbridgetest.FakeTerminal // lane "1", when newTestEngine made it
}

// newTestEngine opens the engine o says, with logs discarded.
func newTestEngine(tb testing.TB, o engineOpts) *testEngine {
	tb.Helper()
	te := &testEngine{path: o.Path}
	if te.path == "" {
		te.path = filepath.Join(tb.TempDir(), "posbridge.db")
	}
	if o.Gateway == nil {
		o.Gateway = posbridgetest.NewFakeGateway()
	}
	te.gw, _ = o.Gateway.(*posbridgetest.FakeGateway)
	lanes := o.Lanes
	switch {
	case o.QR != nil:
		lanes = nil
	case lanes == nil && o.Terminal != nil:
		lanes = map[string]posbridge.Terminal{"1": o.Terminal}
	case lanes == nil:
		if te.gw == nil {
			tb.Fatal("newTestEngine: a FakeTerminal is built on a FakeGateway; pass the Terminal")
		}
		te.term = posbridgetest.NewFakeTerminal(te.gw, o.Sales...)
		lanes = map[string]posbridge.Terminal{"1": te.term}
	}
	te.db = mustOpenStore(tb, te.path)
	var st posbridge.Store = te.db
	if o.Store != nil {
		st = o.Store.Wrap(te.db)
	}
	e := posbridge.NewEngine(st, o.Gateway, lanes)
	e.Logger = slog.New(slog.DiscardHandler)
	switch {
	case o.NoLoop:
		e.ReconcileInterval = 0
	case o.ReconcileEvery != 0:
		e.ReconcileInterval = o.ReconcileEvery
	}
	if o.QR != nil {
		if err := e.AddQRLane("Q", *o.QR); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.Open(context.Background()); err != nil {
		te.db.Close()
		tb.Fatalf("open engine: %v", err)
	}
	te.Engine = e
	tb.Cleanup(func() { te.close(tb) })
	return te
}

// close stops the engine, then its store (the process stops); once.
func (te *testEngine) close(tb testing.TB) {
	if te.Engine == nil {
		return
	}
	te.Engine.Close()
	if err := te.db.Close(); err != nil {
		tb.Errorf("close store: %v", err)
	}
	te.Engine = nil
}

func mustOpenStore(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.OpenOptions(path, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	return db
}

func mustAED(tb testing.TB, s string) posbridge.Money {
	tb.Helper()
	m, err := posbridge.ParseAmount(s, "AED")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// pay starts a cashier's payment of amount on lane "1".
func pay(t *testing.T, te *testEngine, amount string) posbridge.Order {
	t.Helper()
	return payOn(t, te, "1", amount)
}

// payOn starts a cashier's payment of amount on lane.
func payOn(t *testing.T, te *testEngine, lane, amount string) posbridge.Order {
	t.Helper()
	o, _, err := te.Pay(context.Background(), posbridge.PayRequest{Lane: lane, Amount: mustAED(t, amount), By: cashier})
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	return o
}

// await waits (up to 10 minutes of the test's time) until the cashier's
// wait for order no is over.
func await(t *testing.T, te *testEngine, no posbridge.OrderNo) posbridge.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o, err := te.Await(ctx, no)
	if err != nil {
		t.Fatalf("Await: %v", err)
	}
	return o
}

// answerLost is a sale whose answer is lost while the gateway has the
// order, unpaid: the cashier's wait ends with the order pending.
var answerLost = posbridgetest.SaleScript{Result: saleTimeout, Create: true}

// payPending pays amount on lane "1" and waits out the cashier's wait,
// which must leave the order pending.
func payPending(t *testing.T, te *testEngine, amount string) posbridge.Order {
	t.Helper()
	o := await(t, te, pay(t, te, amount).No)
	if o.Status != posbridge.StatusPending {
		t.Fatalf("after the cashier's wait: %s (%s), want pending", o.Status, o.Reason)
	}
	return o
}

// paid pays amount on lane "1"; the payment must end paid.
func paid(t *testing.T, te *testEngine, amount string) posbridge.Order {
	t.Helper()
	o := pay(t, te, amount)
	if got := await(t, te, o.No); got.Status != posbridge.StatusPaid {
		t.Fatalf("payment %s, want paid", got.Status)
	}
	o, _ = te.Payment(context.Background(), o.No)
	return o
}

// failedRefund asks for a refund of amount of order no while the gateway
// refuses refunds with a final error; the refund must be stored failed.
func failedRefund(t *testing.T, te *testEngine, no posbridge.OrderNo, amount string) posbridge.Refund {
	t.Helper()
	te.gw.SetErr(fmt.Errorf("refund: code 999: %w", posbridge.ErrGatewayFinal))
	r, _, err := te.Refund(context.Background(), no, posbridge.RefundParams{Amount: mustAED(t, amount)}, cashier)
	te.gw.SetErr(nil)
	if err != nil || r.Status != posbridge.RefundFailed {
		t.Fatalf("refund: %s, %v; want failed", r.Status, err)
	}
	return r
}

// refusesSecondFullRefund checks that order no, refunded in full, refuses
// another refund of amount (ErrRefundExceeded).
func refusesSecondFullRefund(t *testing.T, te *testEngine, no posbridge.OrderNo, amount string) {
	t.Helper()
	if _, _, err := te.Refund(context.Background(), no, posbridge.RefundParams{Amount: mustAED(t, amount)}, cashier); !errors.Is(err, posbridge.ErrRefundExceeded) {
		t.Fatalf("a second full refund: %v, want ErrRefundExceeded", err)
	}
}

// newPendingOrder opens an engine whose first sale's answer is lost while
// the gateway has the order, unpaid (answerLost), and pays amount: the
// cashier's wait must end with the order pending. Later sales play later.
func newPendingOrder(t *testing.T, amount string, later ...posbridgetest.SaleScript) (*testEngine, posbridge.Order) {
	t.Helper()
	te := newTestEngine(t, engineOpts{Sales: append([]posbridgetest.SaleScript{answerLost}, later...)})
	return te, payPending(t, te, amount)
}
