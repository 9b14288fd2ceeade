package posbridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// fakeGateway is an in-memory gateway with PayBy's rules: cancel only from
// created, paid orders refuse cancel, unknown orders are not found.
type fakeGateway struct {
	mu      sync.Mutex
	orders  map[posbridge.OrderNo]*posbridge.GatewayOrder
	refunds map[posbridge.OrderNo]*posbridge.GatewayRefund
	err     error // returned by every call while set
	// loseCancelAnswer: a cancel is done, but its answer is lost (the
	// caller gets an unknown outcome).
	loseCancelAnswer bool
	calls            map[string]int
	refundsWait      bool     // new refunds stay created (waiting for an approval) until the test settles them
	log              []string // "query NO", "cancel NO", in the order they were made
}

func newFakeGateway() *fakeGateway {
	return &fakeGateway{orders: map[posbridge.OrderNo]*posbridge.GatewayOrder{}, refunds: map[posbridge.OrderNo]*posbridge.GatewayRefund{}, calls: map[string]int{}}
}

func (g *fakeGateway) Name() string { return "fake" }

func (g *fakeGateway) set(no posbridge.OrderNo, amount posbridge.Money, st posbridge.GatewayStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.orders[no] = &posbridge.GatewayOrder{OrderNo: no, GatewayNo: "G" + string(no), Status: st, Amount: amount}
}

func (g *fakeGateway) setErr(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.err = err
}

func (g *fakeGateway) count(call string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[call]
}

// calls returns the calls made about no, oldest first ("query", "cancel").
func (g *fakeGateway) callsFor(no posbridge.OrderNo) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.log {
		if verb, n, _ := strings.Cut(c, " "); n == string(no) {
			out = append(out, verb)
		}
	}
	return out
}

func (g *fakeGateway) status(no posbridge.OrderNo) posbridge.GatewayStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o := g.orders[no]; o != nil {
		return o.Status
	}
	return ""
}

func (g *fakeGateway) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["query"]++
	g.log = append(g.log, "query "+string(no))
	if g.err != nil {
		return posbridge.GatewayOrder{}, g.err
	}
	o, ok := g.orders[no]
	if !ok {
		return posbridge.GatewayOrder{}, fmt.Errorf("query %s: %w", no, posbridge.ErrGatewayNotFound)
	}
	return *o, nil
}

func (g *fakeGateway) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["cancel"]++
	g.log = append(g.log, "cancel "+string(no))
	if g.err != nil {
		return posbridge.GatewayOrder{}, g.err
	}
	o, ok := g.orders[no]
	switch {
	case !ok:
		return posbridge.GatewayOrder{}, fmt.Errorf("cancel %s: %w", no, posbridge.ErrGatewayNotFound)
	case o.Status.Paid() || o.Status == posbridge.GatewayPartiallyPaid:
		// Money arrived: the gateway refuses to cancel (as Pay Protocol does).
		return *o, fmt.Errorf("cancel %s: %w (%w)", no, posbridge.ErrOrderPaid, posbridge.ErrGatewayFinal)
	case o.Status == posbridge.GatewayFailed:
		return *o, fmt.Errorf("cancel %s: %w (%w)", no, posbridge.ErrOrderClosed, posbridge.ErrGatewayFinal)
	}
	o.Status = posbridge.GatewayFailed
	if g.loseCancelAnswer {
		return posbridge.GatewayOrder{}, fmt.Errorf("cancel %s: no answer: %w", no, posbridge.ErrUnknownOutcome)
	}
	return *o, nil
}

func (g *fakeGateway) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["refund"]++
	if g.err != nil {
		return posbridge.GatewayRefund{}, g.err
	}
	if rf, ok := g.refunds[r.RefundNo]; ok {
		return *rf, nil
	}
	rf := &posbridge.GatewayRefund{RefundNo: r.RefundNo, OrderNo: r.OrderNo, Status: posbridge.GatewayRefundSuccess, Amount: r.Amount}
	if g.refundsWait {
		rf.Status = posbridge.GatewayRefundCreated
	}
	g.refunds[r.RefundNo] = rf
	return *rf, nil
}

func (g *fakeGateway) QueryRefund(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["query_refund"]++
	if rf, ok := g.refunds[no]; ok {
		return *rf, nil
	}
	return posbridge.GatewayRefund{}, posbridge.ErrGatewayNotFound
}

// saleScript says what the fake terminal does with a sale.
type saleScript struct {
	result posbridge.TerminalResult
	err    error
	delay  time.Duration
	charge bool // the acquirer tells the gateway the order is paid before the answer
	create bool // the acquirer tells the gateway the order exists, unpaid
	// chargeLate: the customer pays at the end of the delay, so the gateway
	// learns of the order only then (the acquirer reports after the tap).
	chargeLate bool
	// closeEnds: ecrhub.pay.close during the delay ends the sale with 102
	// (closed, not charged), as termsim and the real terminal do.
	closeEnds bool
	// chargeAfter: the acquirer reports the payment to the gateway this long
	// after the terminal answered (a late acquirer).
	chargeAfter time.Duration
	// decline: the acquirer tells the gateway the order failed.
	decline bool
}

// fakeTerminal answers sales from a script and tells the fake gateway, as an
// acquirer would.
type fakeTerminal struct {
	mu       sync.Mutex
	gw       *fakeGateway
	script   []saleScript
	sales    map[posbridge.OrderNo]int
	closes   int
	queries  int
	query    posbridge.TerminalResult
	queryErr error         // returned by Query while set (the cable is out)
	closing  chan struct{} // closed by CloseOrder to end a closeEnds sale
	// codePay: like a real CodePay terminal, a sale for a number the terminal
	// has seen answers 113 (duplicate number, unknown outcome), and a query
	// for a seen number answers with its transaction (declined, status 1).
	codePay bool
	// reattach, when set, answers a re-attached sale (the customer taps after
	// a restart); Reattach waits for it.
	reattach chan posbridge.TerminalResult
}

func newFakeTerminal(gw *fakeGateway, script ...saleScript) *fakeTerminal {
	return &fakeTerminal{gw: gw, script: script, sales: map[posbridge.OrderNo]int{}, query: posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "104", NoRecord: true}}
}

func (t *fakeTerminal) Sale(ctx context.Context, s posbridge.Sale) (posbridge.TerminalResult, error) {
	t.mu.Lock()
	if t.codePay && t.sales[s.OrderNo] > 0 {
		t.sales[s.OrderNo]++
		t.mu.Unlock()
		return posbridge.TerminalResult{Outcome: posbridge.OutcomeUnknown, Code: "113", Message: "Duplicate merchant order number"}, nil
	}
	t.sales[s.OrderNo]++
	sc := saleScript{result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2"}, charge: true}
	if len(t.script) > 0 {
		sc, t.script = t.script[0], t.script[1:]
	}
	t.mu.Unlock()
	if sc.charge {
		t.gw.set(s.OrderNo, s.Amount, posbridge.GatewayPaid)
	} else if sc.create {
		t.gw.set(s.OrderNo, s.Amount, posbridge.GatewayCreated)
	}
	if sc.decline {
		t.gw.set(s.OrderNo, s.Amount, posbridge.GatewayFailed)
	}
	if sc.delay > 0 {
		closed := make(chan struct{})
		if sc.closeEnds {
			t.mu.Lock()
			t.closing = closed
			t.mu.Unlock()
		}
		select {
		case <-time.After(sc.delay):
		case <-closed:
			// As terminal.Conn reports a 102 in answer to its own close.
			return posbridge.TerminalResult{Outcome: posbridge.OutcomeClosedOnRequest, Code: "102", TransStatus: "1"}, nil
		case <-ctx.Done():
			return posbridge.TerminalResult{}, ctx.Err()
		}
	}
	if sc.chargeLate {
		t.gw.set(s.OrderNo, s.Amount, posbridge.GatewayPaid)
	}
	if sc.chargeAfter > 0 {
		time.AfterFunc(sc.chargeAfter, func() { t.gw.set(s.OrderNo, s.Amount, posbridge.GatewayPaid) })
	}
	return sc.result, sc.err
}

func (t *fakeTerminal) Query(ctx context.Context, no posbridge.OrderNo) (posbridge.TerminalResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queries++
	if t.queryErr != nil {
		return posbridge.TerminalResult{}, t.queryErr
	}
	if t.codePay && t.sales[no] > 0 {
		return posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "000", TransStatus: "1"}, nil
	}
	return t.query, nil
}

func (t *fakeTerminal) CloseOrder(ctx context.Context, no posbridge.OrderNo) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closes++
	if t.closing != nil {
		close(t.closing)
		t.closing = nil
	}
	return nil
}

func (t *fakeTerminal) Link() posbridge.LinkStatus {
	return posbridge.LinkStatus{State: posbridge.LinkUp}
}

// counts returns how many closes and queries the terminal got.
func (t *fakeTerminal) counts() (closes, queries int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closes, t.queries
}

func (t *fakeTerminal) setQueryErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queryErr = err
}

func (t *fakeTerminal) salesOf(no posbridge.OrderNo) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sales[no]
}

// testEngine is an engine over a real SQLite store in a temp dir.
type testEngine struct {
	*posbridge.Engine
	db   *store.DB
	path string
	gw   *fakeGateway
	term *fakeTerminal
}

func mustOpenStore(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db, err := store.OpenOptions(path, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	return db
}

// newTestEngine opens an engine with lane "1"; the reconciler loop runs when
// loop is true, otherwise tests call ReconcileOnce.
func newTestEngine(tb testing.TB, path string, gw *fakeGateway, term *fakeTerminal, loop bool) *testEngine {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "posbridge.db")
	}
	db := mustOpenStore(tb, path)
	e := posbridge.NewEngine(db, gw, map[string]posbridge.Terminal{"1": term})
	e.Logger = slog.New(slog.DiscardHandler)
	if !loop {
		e.ReconcileInterval = 0
	}
	if err := e.Open(context.Background()); err != nil {
		tb.Fatalf("open engine: %v", err)
	}
	te := &testEngine{Engine: e, db: db, path: path, gw: gw, term: term}
	tb.Cleanup(func() { te.close(tb) })
	return te
}

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

func mustAED(tb testing.TB, s string) posbridge.Money {
	tb.Helper()
	m, err := posbridge.ParseAmount(s, "AED")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Reattach follows a sale of a previous process: the fake answers with its
// query result at once, or waits for reattach (when set) to say.
func (t *fakeTerminal) Reattach(ctx context.Context, no posbridge.OrderNo, until time.Time) (posbridge.TerminalResult, error) {
	t.mu.Lock()
	ch := t.reattach
	t.mu.Unlock()
	if ch == nil {
		return t.Query(ctx, no)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-time.After(time.Until(until)):
		return posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}, nil
	case <-ctx.Done():
		return posbridge.TerminalResult{}, ctx.Err()
	}
}
