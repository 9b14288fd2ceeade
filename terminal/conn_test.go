package terminal_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// openPipeConn starts a Conn against a fresh Sim; both stop at cleanup.
func openPipeConn(t *testing.T, cfg terminal.Config, simCfg termsim.Config) (*terminal.Conn, *termsim.Sim, *termsim.Pipe) {
	t.Helper()
	sim := termsim.New(simCfg)
	link := termsim.NewPipe(sim)
	cfg.Open = link.Open
	conn, err := terminal.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		link.Close()
	})
	return conn, sim, link
}

// TestConn_Scenarios runs every scenario over an in-memory pipe inside a
// synctest bubble: no real time passes.
func TestConn_Scenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				conn, sim, _ := openPipeConn(t, testConfig(nil), simConfig())
				checkScenario(t, conn, sim, sc)
			})
		})
	}
}

// TestConn_SaleSynctest is the plain case at production timers: a sale over
// an in-memory link with the default (1 s, 6 s, 300 ms, 360 s) timers.
func TestConn_SaleSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []posbridge.LinkState
		var mu sync.Mutex
		cfg := terminal.Config{AppID: "A1", Logger: quiet, OnLinkChange: func(s posbridge.LinkStatus) {
			mu.Lock()
			changes = append(changes, s.State)
			mu.Unlock()
		}}
		conn, sim, _ := openPipeConn(t, cfg, termsim.Config{Logger: quiet, Default: termsim.Script{Delay: 30 * time.Second}})
		start := time.Now()
		r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: "SYNC1", Amount: aed(999)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != posbridge.OutcomeApproved || r.Code != "000" || r.TransStatus != "2" {
			t.Fatalf("got %+v", r)
		}
		if d := time.Since(start); d < 30*time.Second {
			t.Fatalf("approved after %v of virtual time, the script waits 30s", d)
		}
		if txn, ok := sim.Txn("SYNC1"); !ok || txn.Status != "2" || txn.Amount != aed(999) {
			t.Fatalf("terminal table: %v %v", txn, ok)
		}
		st := conn.Link()
		if st.State != posbridge.LinkUp || st.Frames == 0 {
			t.Fatalf("link %+v", st)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(changes) < 2 || changes[0] != posbridge.LinkHandshaking || changes[1] != posbridge.LinkUp {
			t.Fatalf("link changes %v, want handshaking then up", changes)
		}
	})
}

func TestConn_QueryAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, sim, _ := openPipeConn(t, testConfig(nil), simConfig())
		ctx := context.Background()
		r, err := conn.Query(ctx, "NOSUCH")
		if err != nil || r.Outcome != posbridge.OutcomeDeclined || r.Code != "104" {
			t.Fatalf("query unknown: %+v %v", r, err)
		}
		if _, err := conn.Sale(ctx, posbridge.Sale{OrderNo: "Q1", Amount: aed(100)}); err != nil {
			t.Fatal(err)
		}
		r, err = conn.Query(ctx, "Q1")
		if err != nil || r.Outcome != posbridge.OutcomeApproved || r.TransStatus != "2" {
			t.Fatalf("query paid: %+v %v", r, err)
		}
		var ce *terminal.CodeError
		if err := conn.CloseOrder(ctx, "Q1"); !errors.As(err, &ce) || ce.Code != "201" {
			t.Fatalf("close paid order: %v, want 201", err)
		}
		// Close an open sale while the sale waits: the terminal answers it
		// 102, which in answer to our close is the operator's cancellation.
		sim.SetScript("Q2", termsim.Script{Action: termsim.Never})
		done := make(chan posbridge.TerminalResult)
		go func() {
			r, _ := conn.Sale(ctx, posbridge.Sale{OrderNo: "Q2", Amount: aed(100)})
			done <- r
		}()
		synctest.Wait()
		time.Sleep(200 * time.Millisecond)
		if err := conn.CloseOrder(ctx, "Q2"); err != nil {
			t.Fatalf("close open sale: %v", err)
		}
		if r := <-done; r.Outcome != posbridge.OutcomeClosedOnRequest || r.Code != "102" {
			t.Fatalf("closed sale: %+v", r)
		}
		// A 102 nobody asked for is only a decline code: verified.
		sim.SetScript("Q3", termsim.Script{Action: termsim.Decline, Code: "102"})
		if r, err := conn.Sale(ctx, posbridge.Sale{OrderNo: "Q3", Amount: aed(100)}); err != nil || r.Outcome != posbridge.OutcomeDeclined {
			t.Fatalf("unasked 102: %+v, %v; want declined", r, err)
		}
	})
}

// TestConn_DuplicateOrderNo: a retry of the same order number (the
// engine's Retry) gets 113, which is ambiguous and resolved by a query.
func TestConn_DuplicateOrderNo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, sim, _ := openPipeConn(t, testConfig(nil), simConfig())
		ctx := context.Background()
		if r, err := conn.Sale(ctx, posbridge.Sale{OrderNo: "DUP1", Amount: aed(100)}); err != nil || r.Outcome != posbridge.OutcomeApproved {
			t.Fatalf("first sale: %+v %v", r, err)
		}
		r, err := conn.Sale(ctx, posbridge.Sale{OrderNo: "DUP1", Amount: aed(100)})
		if err != nil || r.Outcome != posbridge.OutcomeUnknown || r.Code != "113" {
			t.Fatalf("second sale: %+v %v", r, err)
		}
		if r.QueryAfter == nil || r.QueryAfter.Outcome != posbridge.OutcomeApproved {
			t.Fatalf("follow-up: %+v", r.QueryAfter)
		}
		if txn, _ := sim.Txn("DUP1"); txn.Status != "2" {
			t.Fatalf("the first sale was disturbed: %v", txn)
		}
	})
}

func TestConn_ErrTerminalUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens int
		var mu sync.Mutex
		cfg := testConfig(func(ctx context.Context) (io.ReadWriteCloser, error) {
			mu.Lock()
			opens++
			mu.Unlock()
			return nil, terminal.ErrPortNotFound
		})
		conn, err := terminal.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = conn.Sale(context.Background(), posbridge.Sale{OrderNo: "U1", Amount: aed(100)})
		if !errors.Is(err, posbridge.ErrTerminalUnavailable) {
			t.Fatalf("err %v, want ErrTerminalUnavailable", err)
		}
		if st := conn.Link(); st.State != posbridge.LinkDown {
			t.Fatalf("link %+v", st)
		}
		mu.Lock()
		defer mu.Unlock()
		// Backoff: 20ms doubling to 200ms over 3s is about 20 attempts, not hundreds.
		if opens < 3 || opens > 40 {
			t.Fatalf("%d open attempts in %v", opens, cfg.ConnectWait)
		}
	})
}

func TestConn_ReconnectAfterSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, sim, link := openPipeConn(t, testConfig(nil), simConfig())
		sim.SetFaults(termsim.Faults{NoHeartbeats: true})
		time.Sleep(5 * time.Second)
		sim.SetFaults(termsim.Faults{})
		if _, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: "R1", Amount: aed(100)}); err != nil {
			t.Fatal(err)
		}
		st := conn.Link()
		opens := link.Opens()
		if st.Reconnects == 0 || opens < 2 || sim.Handshakes() < 2 {
			t.Fatalf("link %+v, opens %d, handshakes %d: want reconnects after silence", st, opens, sim.Handshakes())
		}
	})
}

func TestConn_Retransmits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, sim, _ := openPipeConn(t, testConfig(nil), simConfig())
		sim.SetFaults(termsim.Faults{DropIn: 2, CorruptOut: 2})
		if r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: "RT1", Amount: aed(100)}); err != nil || r.Outcome != posbridge.OutcomeApproved {
			t.Fatalf("%+v %v", r, err)
		}
		st := conn.Link()
		if st.Retransmits < 2 || st.CRCErrors < 2 {
			t.Fatalf("counters %+v, want ≥2 retransmits and ≥2 crc errors", st)
		}
	})
}

// TestConn_IDWrap runs more requests than there are frame ids: ids wrap from
// 255 to 1 and every request is still answered once.
func TestConn_IDWrap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, _, _ := openPipeConn(t, testConfig(nil), simConfig())
		for i := range 300 {
			r, err := conn.Query(context.Background(), "W1")
			if err != nil || r.Code != "104" {
				t.Fatalf("query %d: %+v %v", i, r, err)
			}
		}
		if st := conn.Link(); st.Reconnects != 0 {
			t.Fatalf("link dropped during the run: %+v", st)
		}
	})
}

// TestConn_UnplugReplugPipe pulls the in-memory cable mid-sale and plugs it
// back later: the sale ends as a timeout, and the driver closes and queries
// the order once the link is back.
func TestConn_UnplugReplugPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, sim, link := openPipeConn(t, testConfig(nil), simConfig())
		sim.SetScript("PULL1", termsim.Script{Delay: 2 * time.Second})
		done := make(chan posbridge.TerminalResult)
		go func() {
			r, _ := conn.Sale(context.Background(), posbridge.Sale{OrderNo: "PULL1", Amount: aed(700)})
			done <- r
		}()
		time.Sleep(500 * time.Millisecond)
		link.Unplug()
		time.Sleep(3 * time.Second) // the customer pays while the cable is out
		if st := conn.Link(); st.State == posbridge.LinkUp {
			t.Fatalf("link still up while unplugged: %+v", st)
		}
		link.Plug()
		r := <-done
		if r.Outcome != posbridge.OutcomeTimeout || r.QueryAfter == nil || r.QueryAfter.Outcome != posbridge.OutcomeApproved {
			t.Fatalf("got %+v (query %+v)", r, r.QueryAfter)
		}
		if sim.SaleRequests("PULL1") != 1 || conn.Link().Reconnects != 1 {
			t.Fatalf("sales %d, link %+v", sim.SaleRequests("PULL1"), conn.Link())
		}
	})
}

// A process dies while its sale is on the terminal; the next process
// re-attaches to it and gets the customer's tap, with no second sale.
func TestConn_ReattachAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := termsim.New(simConfig())
		link := termsim.NewPipe(sim)
		defer link.Close()
		cfg := testConfig(link.Open)
		cfg.SaleTimeout = time.Minute
		first, err := terminal.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sim.SetScript("REATT1", termsim.Script{Delay: 20 * time.Second})
		go first.Sale(context.Background(), posbridge.Sale{OrderNo: "REATT1", Amount: aed(1250)})
		time.Sleep(2 * time.Second)
		first.Close() // the process is gone; the customer is still deciding

		second, err := terminal.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		r, err := second.Reattach(context.Background(), "REATT1", time.Now().Add(2*time.Minute))
		if err != nil || r.Outcome != posbridge.OutcomeApproved {
			t.Fatalf("re-attached sale: %+v, %v; want approved", r, err)
		}
		if n := sim.SaleRequests("REATT1"); n != 1 {
			t.Fatalf("the terminal got %d sales", n)
		}
	})
}
