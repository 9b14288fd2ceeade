package posbridgetest

import (
	"context"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
)

// SaleScript says what a FakeTerminal does with one sale, and what its
// acquirer tells the FakeGateway about it. The zero value answers at once
// with a zero TerminalResult and tells the gateway nothing.
type SaleScript struct {
	Result posbridge.TerminalResult // the sale's answer
	Err    error                    // returned with Result
	// Delay is how long the customer takes; the sale's context ending
	// first ends it with the context's error.
	Delay time.Duration
	// Charge: the acquirer tells the gateway the order is paid before the
	// answer (at the start of the sale).
	Charge bool
	// Create: the acquirer tells the gateway the order exists, unpaid.
	Create bool
	// ChargeLate: the customer pays at the end of the delay, so the gateway
	// learns of the order only then (the acquirer reports after the tap).
	ChargeLate bool
	// CloseEnds: ecrhub.pay.close (CloseOrder) during the delay ends the
	// sale with 102, closed on request (not charged), as termsim and the
	// real terminal do.
	CloseEnds bool
	// ChargeAfter: the acquirer reports the payment to the gateway this long
	// after the terminal answered (a late acquirer).
	ChargeAfter time.Duration
	// Decline: the acquirer tells the gateway the order failed.
	Decline bool
}

// approved is the answer of a sale the customer paid (000, trans_status 2).
var approved = posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2"}

// FakeTerminal is a posbridge.Terminal that answers sales from a script, in
// turn, and tells its FakeGateway what the acquirer would. A sale beyond
// the script is approved and charged. Its link is always up. A query
// answers "no record" (104) unless SetQuery says otherwise; a re-attached
// sale answers with the query's result at once unless HoldReattach.
type FakeTerminal struct {
	mu       sync.Mutex
	gw       *FakeGateway
	script   []SaleScript
	sales    map[posbridge.OrderNo]int
	closes   int
	queries  int
	query    posbridge.TerminalResult
	queryErr error         // returned by Query while set (the cable is out)
	closing  chan struct{} // closed by CloseOrder to end a CloseEnds sale
	// codePay: like a real CodePay terminal, a sale for a number the terminal
	// has seen answers 113 (duplicate number, unknown outcome), and a query
	// for a seen number answers with its transaction (declined, status 1).
	codePay bool
	// reattach, when set, answers a re-attached sale (the customer taps after
	// a restart); Reattach waits for it.
	reattach chan posbridge.TerminalResult
}

var _ posbridge.Terminal = (*FakeTerminal)(nil)

// NewFakeTerminal returns a terminal whose acquirer tells gw, playing
// script one sale at a time.
func NewFakeTerminal(gw *FakeGateway, script ...SaleScript) *FakeTerminal {
	return &FakeTerminal{gw: gw, script: script, sales: map[posbridge.OrderNo]int{},
		query: posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "104", NoRecord: true}}
}

// SetCodePay makes the terminal behave as a CodePay one: a sale for a
// number it has seen answers 113 (duplicate number, unknown outcome), and a
// query for a seen number answers its transaction declined (status 1).
func (t *FakeTerminal) SetCodePay() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.codePay = true
}

// SetQuery sets what Query answers from now on.
func (t *FakeTerminal) SetQuery(r posbridge.TerminalResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.query = r
}

// SetQueryErr makes Query fail with err from now on (the cable is out);
// nil ends it.
func (t *FakeTerminal) SetQueryErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queryErr = err
}

// HoldReattach makes a later Reattach wait for AnswerReattach (the
// customer still deciding after a restart) instead of answering at once.
func (t *FakeTerminal) HoldReattach() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reattach = make(chan posbridge.TerminalResult, 1)
}

// AnswerReattach ends the re-attached sale HoldReattach holds with r (the
// customer tapped). It does not block.
func (t *FakeTerminal) AnswerReattach(r posbridge.TerminalResult) {
	t.mu.Lock()
	ch := t.reattach
	t.mu.Unlock()
	ch <- r
}

// Counts returns how many closes and queries the terminal got.
func (t *FakeTerminal) Counts() (closes, queries int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closes, t.queries
}

// SalesOf returns how many sales for no reached the terminal.
func (t *FakeTerminal) SalesOf(no posbridge.OrderNo) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sales[no]
}

// Sale plays the next script for s.
func (t *FakeTerminal) Sale(ctx context.Context, s posbridge.Sale) (posbridge.TerminalResult, error) {
	t.mu.Lock()
	if t.codePay && t.sales[s.OrderNo] > 0 {
		t.sales[s.OrderNo]++
		t.mu.Unlock()
		return posbridge.TerminalResult{Outcome: posbridge.OutcomeUnknown, Code: "113", Message: "Duplicate merchant order number"}, nil
	}
	t.sales[s.OrderNo]++
	sc := SaleScript{Result: approved, Charge: true}
	if len(t.script) > 0 {
		sc, t.script = t.script[0], t.script[1:]
	}
	t.mu.Unlock()
	if sc.Charge {
		t.gw.Set(s.OrderNo, s.Amount, posbridge.GatewayPaid)
	} else if sc.Create {
		t.gw.Set(s.OrderNo, s.Amount, posbridge.GatewayCreated)
	}
	if sc.Decline {
		t.gw.Set(s.OrderNo, s.Amount, posbridge.GatewayFailed)
	}
	if sc.Delay > 0 {
		closed := make(chan struct{})
		if sc.CloseEnds {
			t.mu.Lock()
			t.closing = closed
			t.mu.Unlock()
		}
		select {
		case <-time.After(sc.Delay):
		case <-closed:
			// As terminal.Conn reports a 102 in answer to its own close.
			return posbridge.TerminalResult{Outcome: posbridge.OutcomeClosedOnRequest, Code: "102", TransStatus: "1"}, nil
		case <-ctx.Done():
			return posbridge.TerminalResult{}, ctx.Err()
		}
	}
	if sc.ChargeLate {
		t.gw.Set(s.OrderNo, s.Amount, posbridge.GatewayPaid)
	}
	if sc.ChargeAfter > 0 {
		time.AfterFunc(sc.ChargeAfter, func() { t.gw.Set(s.OrderNo, s.Amount, posbridge.GatewayPaid) })
	}
	return sc.Result, sc.Err
}

// Query answers what SetQuery set (on a CodePay terminal, a seen number's
// transaction), or SetQueryErr's error.
func (t *FakeTerminal) Query(ctx context.Context, no posbridge.OrderNo) (posbridge.TerminalResult, error) {
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

// CloseOrder counts the close and ends a CloseEnds sale in its delay.
func (t *FakeTerminal) CloseOrder(ctx context.Context, no posbridge.OrderNo) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closes++
	if t.closing != nil {
		close(t.closing)
		t.closing = nil
	}
	return nil
}

// Link reports the link up.
func (t *FakeTerminal) Link() posbridge.LinkStatus {
	return posbridge.LinkStatus{State: posbridge.LinkUp}
}

// Reattach follows a sale of a previous process: it answers with Query's
// result at once, or under HoldReattach waits for AnswerReattach until
// until (then OutcomeTimeout) or the context ends.
func (t *FakeTerminal) Reattach(ctx context.Context, no posbridge.OrderNo, until time.Time) (posbridge.TerminalResult, error) {
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
