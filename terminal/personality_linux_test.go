//go:build linux

package terminal_test

import (
	"context"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// personalities are the terminal quirks measured against CodePay's own
// client code; the driver must work with each.
var personalities = []struct {
	name string
	p    termsim.Personality
}{
	{"forgiving", termsim.Personality{}},
	{"snake-keys", termsim.Personality{Keys: termsim.KeysSnake}},
	{"camel-keys", termsim.Personality{Keys: termsim.KeysCamel}},
	{"ack-tick", termsim.Personality{AckTick: true}},
	{"silent-close", termsim.Personality{SilentClose: true}},
	{"keep-replies", termsim.Personality{KeepReplies: true}},
	{"no-app-id", termsim.Personality{NoAppID: true}},
	{"demo-terminal", termsim.Personality{Keys: termsim.KeysSnake, AckTick: true, SilentClose: true, NoAppID: true}},
	{"java-terminal", termsim.Personality{Keys: termsim.KeysCamel, AckTick: true, SilentClose: true}},
}

// personalitySim is a Sim with the demo's 100 ms send tick and 1 s
// heartbeat, as measured, and the given personality.
func personalitySim(p termsim.Personality) *termsim.Sim {
	cfg := simConfig()
	cfg.Heartbeat, cfg.Retransmit = time.Second, 100*time.Millisecond
	cfg.Personality = p
	return termsim.New(cfg)
}

// openPTYConnWith is openPTYConn with the timers changed by fix.
func openPTYConnWith(t *testing.T, link string, fix func(*terminal.Config)) *terminal.Conn {
	t.Helper()
	cfg := testConfig(nil)
	cfg.Port = link
	cfg.LinkTimeout = 3 * time.Second // the terminal heartbeats every second
	fix(&cfg)
	conn, err := terminal.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestPTY_Personalities runs a sale, a query, a cashier's cancel (close,
// then query) and a reconnect mid-sale against each personality over a
// real pty opened with go.bug.st/serial.
func TestPTY_Personalities(t *testing.T) {
	for _, tt := range personalities {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			t.Run("sale-and-query", func(t *testing.T) {
				sim := personalitySim(tt.p)
				pt := newPTYTerminal(t, sim, true)
				conn := openPTYConnWith(t, pt.link, func(*terminal.Config) {})
				const no = posbridge.OrderNo("PSALE1")
				r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: no, Amount: aed(1250)})
				if err != nil || r.Outcome != posbridge.OutcomeApproved || r.Card.Last4 != "1111" || r.QueryAfter != nil {
					t.Fatalf("sale: %+v, %v", r, err)
				}
				q, err := conn.Query(context.Background(), no)
				if err != nil || q.Outcome != posbridge.OutcomeApproved || q.TransNo != r.TransNo {
					t.Fatalf("query: %+v, %v", q, err)
				}
				q, err = conn.Query(context.Background(), "PNEVER1")
				if err != nil || !q.NoRecord {
					t.Fatalf("query of an unknown order: %+v, %v", q, err)
				}
				if err := conn.CloseOrder(context.Background(), no); err == nil {
					t.Fatal("closed a paid sale")
				}
			})
			t.Run("cancel-in-progress", func(t *testing.T) {
				sim := personalitySim(tt.p)
				pt := newPTYTerminal(t, sim, true)
				conn := openPTYConnWith(t, pt.link, func(c *terminal.Config) {
					c.SaleTimeout = time.Minute // only the close may end the sale
				})
				const no = posbridge.OrderNo("PCANCEL1")
				sim.SetScript(no, termsim.Script{Action: termsim.Never})
				type result struct {
					r   posbridge.TerminalResult
					err error
					at  time.Time
				}
				done := make(chan result, 1)
				go func() {
					r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: no, Amount: aed(700)})
					done <- result{r, err, time.Now()}
				}()
				waitFor(t, "the sale at the terminal", func() bool { _, ok := sim.Txn(no); return ok })
				start := time.Now()
				if err := conn.CloseOrder(context.Background(), no); err != nil {
					t.Fatalf("close: %v", err)
				}
				var res result
				select {
				case res = <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the sale did not end after its close was answered")
				}
				d := res.at.Sub(start)
				if d > 3*time.Second {
					t.Fatalf("cancel took %v, want under 3s", d)
				}
				t.Logf("the sale ended %v after its close was sent", d)
				// Closed at the ECR's request before the customer paid: the
				// operator's cancellation, whichever way the terminal tells it.
				if res.err != nil || res.r.Outcome != posbridge.OutcomeClosedOnRequest || res.r.QueryAfter != nil {
					t.Fatalf("closed sale: %+v, %v", res.r, res.err)
				}
				if txn, _ := sim.Txn(no); txn.Status != "1" {
					t.Fatalf("terminal table: %v", txn)
				}
				if n := sim.SaleRequests(no); n != 1 {
					t.Fatalf("terminal saw %d sales", n)
				}
			})
			t.Run("reconnect-mid-sale", func(t *testing.T) {
				sim := personalitySim(tt.p)
				pt := newPTYTerminal(t, sim, true)
				conn := openPTYConnWith(t, pt.link, func(*terminal.Config) {})
				const no = posbridge.OrderNo("PRECON1")
				sim.SetFaults(termsim.Faults{CloseMidSale: true})
				r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: no, Amount: aed(300)})
				if err != nil || r.Outcome != posbridge.OutcomeTimeout || r.QueryAfter == nil || r.QueryAfter.Outcome != posbridge.OutcomeApproved {
					t.Fatalf("sale cut off: %+v (after %+v), %v", r, r.QueryAfter, err)
				}
				if n := sim.SaleRequests(no); n != 1 {
					t.Fatalf("terminal saw %d sales", n)
				}
			})
		})
	}
}
