package terminal_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// scenario is one sale against the simulated terminal and what it must come to.
type scenario struct {
	name   string
	script termsim.Script
	faults termsim.Faults
	amount posbridge.Money
	want   posbridge.Outcome
	// wantQuery is the outcome of the close+query the driver must make
	// after an ambiguous sale; empty when no follow-up is expected.
	wantQuery posbridge.Outcome
}

var quiet = slog.New(slog.DiscardHandler)

var aed = func(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }

// scenarios covers every scripted outcome and every link fault of termsim.
var scenarios = []scenario{
	{name: "approve", want: posbridge.OutcomeApproved},
	{name: "approve-code-0", script: termsim.Script{SuccessCode: "0"}, want: posbridge.OutcomeApproved},
	{name: "approve-after-delay", script: termsim.Script{Delay: 300 * time.Millisecond}, want: posbridge.OutcomeApproved},
	{name: "decline", script: termsim.Script{Action: termsim.Decline}, want: posbridge.OutcomeDeclined},
	{name: "customer-cancel", script: termsim.Script{Action: termsim.Cancel}, want: posbridge.OutcomeCanceledByUser},
	{name: "read-card-timeout", script: termsim.Script{Action: termsim.ReadTimeout}, want: posbridge.OutcomeDeclined},
	{name: "bad-amount", amount: aed(0), want: posbridge.OutcomeDeclined},
	{name: "ambiguous-code-108", script: termsim.Script{Action: termsim.Approve, Code: "108"}, want: posbridge.OutcomeUnknown, wantQuery: posbridge.OutcomeApproved},
	{name: "never-answer", script: termsim.Script{Action: termsim.Never}, want: posbridge.OutcomeTimeout, wantQuery: posbridge.OutcomeDeclined},
	{name: "answer-twice", script: termsim.Script{Twice: true}, want: posbridge.OutcomeApproved},
	{name: "approve-lose-response", script: termsim.Script{LoseResponse: true}, want: posbridge.OutcomeTimeout, wantQuery: posbridge.OutcomeApproved},
	{name: "answer-after-reconnect", script: termsim.Script{AfterReconnect: true}, faults: termsim.Faults{CloseMidSale: true}, want: posbridge.OutcomeTimeout, wantQuery: posbridge.OutcomeApproved},
	{name: "close-port-mid-sale", faults: termsim.Faults{CloseMidSale: true}, want: posbridge.OutcomeTimeout, wantQuery: posbridge.OutcomeApproved},
	{name: "drop-response-frames", faults: termsim.Faults{DropOut: 3}, want: posbridge.OutcomeApproved},
	{name: "corrupt-frames", faults: termsim.Faults{CorruptOut: 4}, want: posbridge.OutcomeApproved},
	{name: "drop-acks", faults: termsim.Faults{DropAcks: 3}, want: posbridge.OutcomeApproved},
	{name: "drop-sale-frames", faults: termsim.Faults{DropIn: 3}, want: posbridge.OutcomeApproved},
	{name: "sale-never-acked", faults: termsim.Faults{DropIn: 10}, want: posbridge.OutcomeTimeout, wantQuery: posbridge.OutcomeDeclined},
	{name: "split-writes", faults: termsim.Faults{Split: true}, want: posbridge.OutcomeApproved},
	{name: "coalesce-frames", faults: termsim.Faults{Coalesce: true}, want: posbridge.OutcomeApproved},
	{name: "garbage", faults: termsim.Faults{Garbage: 64}, want: posbridge.OutcomeApproved},
	{name: "oversize-response", faults: termsim.Faults{Oversize: 1}, want: posbridge.OutcomeApproved},
	{name: "heartbeats-stop", script: termsim.Script{Action: termsim.Never}, faults: termsim.Faults{NoHeartbeats: true}, want: posbridge.OutcomeTimeout, wantQuery: posbridge.OutcomeDeclined},
}

// testConfig has short timers so that the pty tests run in real time; the
// synctest tests use it too, where time is virtual.
func testConfig(open terminal.Opener) terminal.Config {
	return terminal.Config{
		Open: open, Port: "test", AppID: "A1",
		HandshakeResend: 200 * time.Millisecond, HandshakeTimeout: 2 * time.Second,
		Heartbeat: 200 * time.Millisecond, LinkTimeout: time.Second,
		Retransmit: 50 * time.Millisecond, MaxTransmissions: 10,
		SaleTimeout: 1500 * time.Millisecond, RequestTimeout: time.Second,
		ConnectWait: 3 * time.Second, ResolveTimeout: 5 * time.Second,
		ReopenMin: 20 * time.Millisecond, ReopenMax: 200 * time.Millisecond,
		ReadTick: 20 * time.Millisecond,
		Logger:   quiet,
	}
}

func simConfig() termsim.Config {
	return termsim.Config{Heartbeat: 300 * time.Millisecond, Retransmit: 30 * time.Millisecond, Logger: quiet}
}

func orderNoFor(name string) posbridge.OrderNo {
	s := "T" + strings.ReplaceAll(name, "-", "")
	return posbridge.OrderNo(s[:min(len(s), posbridge.MaxOrderNoLen)])
}

// checkScenario runs sc's sale on conn against sim and checks the outcome,
// the follow-up, and that no second sale was ever sent.
func checkScenario(t *testing.T, conn *terminal.Conn, sim *termsim.Sim, sc scenario) {
	t.Helper()
	no := orderNoFor(sc.name)
	sim.SetScript(no, sc.script)
	sim.SetFaults(sc.faults)
	amount := sc.amount
	if amount.Currency == "" {
		amount = aed(1250)
	}
	r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: no, Amount: amount})
	if err != nil {
		t.Fatalf("sale: %v", err)
	}
	if r.Outcome != sc.want {
		t.Fatalf("outcome %q (code %q status %q), want %q", r.Outcome, r.Code, r.TransStatus, sc.want)
	}
	switch {
	case sc.wantQuery == "" && r.QueryAfter != nil:
		t.Fatalf("unexpected follow-up query: %+v", *r.QueryAfter)
	case sc.wantQuery != "" && r.QueryAfter == nil:
		t.Fatalf("no follow-up query after %q", r.Outcome)
	case sc.wantQuery != "" && r.QueryAfter.Outcome != sc.wantQuery:
		t.Fatalf("follow-up query outcome %q (code %q status %q), want %q", r.QueryAfter.Outcome, r.QueryAfter.Code, r.QueryAfter.TransStatus, sc.wantQuery)
	}
	if n := sim.SaleRequests(no); n > 1 {
		t.Fatalf("terminal received %d sales for %s", n, no)
	}
	if r.Outcome == posbridge.OutcomeApproved && (r.Card.Brand != "Visa" || r.Card.Last4 != "1111" || r.TransNo == "") {
		t.Fatalf("approved without card or trans no: %+v", r)
	}
}
