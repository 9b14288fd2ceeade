//go:build linux

package terminal_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// ptyTerminal serves a Sim on a pty behind a symlink, re-creating the pty
// (a replug) whenever the CloseMidSale fault pulls it.
type ptyTerminal struct {
	t      *testing.T
	sim    *termsim.Sim
	link   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	cur *termsim.PTY
}

func newPTYTerminal(t *testing.T, sim *termsim.Sim, replug bool) *ptyTerminal {
	t.Helper()
	p := &ptyTerminal{t: t, sim: sim, link: filepath.Join(t.TempDir(), "terminal")}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.plug(); err != nil {
		t.Fatal(err)
	}
	p.wg.Go(func() { p.serve(replug) })
	t.Cleanup(func() {
		p.cancel()
		p.unplug()
		p.wg.Wait()
	})
	return p
}

func (p *ptyTerminal) plug() error {
	pt, err := termsim.OpenPTY(p.link)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cur = pt
	p.mu.Unlock()
	return nil
}

func (p *ptyTerminal) unplug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		p.cur.Close()
	}
}

func (p *ptyTerminal) serve(replug bool) {
	for p.ctx.Err() == nil {
		p.mu.Lock()
		pt := p.cur
		p.mu.Unlock()
		err := p.sim.Serve(p.ctx, pt)
		if !replug || !errors.Is(err, termsim.ErrClosedMidSale) {
			return
		}
		if err := p.plug(); err != nil {
			p.t.Errorf("replug: %v", err)
			return
		}
	}
}

func openPTYConn(t *testing.T, link string) *terminal.Conn {
	t.Helper()
	cfg := testConfig(nil)
	cfg.Port = link // opened with go.bug.st/serial, like /dev/ttyACM0
	conn, err := terminal.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestPTY_Scenarios runs every scenario over a real pty opened with
// go.bug.st/serial.
func TestPTY_Scenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sim := termsim.New(simConfig())
			pt := newPTYTerminal(t, sim, true)
			conn := openPTYConn(t, pt.link)
			checkScenario(t, conn, sim, sc)
		})
	}
}

// waitFor polls cond over the real pty; a short real-time wait, not a timing
// assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestPTY_UnplugReplug pulls the cable while a sale is open, plugs a new pty
// in behind the same path, and checks that the driver reconnects, closes and
// queries the open sale, and never sends it again.
func TestPTY_UnplugReplug(t *testing.T) {
	for _, tt := range []struct {
		name      string
		script    termsim.Script
		wantQuery posbridge.Outcome
	}{
		{"paid-response-lost", termsim.Script{LoseResponse: true}, posbridge.OutcomeApproved},
		{"still-open", termsim.Script{Action: termsim.Never}, posbridge.OutcomeDeclined},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim := termsim.New(simConfig())
			pt := newPTYTerminal(t, sim, false)
			conn := openPTYConn(t, pt.link)
			const no = posbridge.OrderNo("UNPLUG1")
			sim.SetScript(no, tt.script)
			done := make(chan posbridge.TerminalResult, 1)
			go func() {
				r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: no, Amount: aed(500)})
				if err != nil {
					t.Errorf("sale: %v", err)
				}
				done <- r
			}()
			waitFor(t, "the sale at the terminal", func() bool { _, ok := sim.Txn(no); return ok })
			pt.cancel()
			pt.unplug()
			pt.wg.Wait()
			waitFor(t, "the link to go down", func() bool { return conn.Link().State != posbridge.LinkUp })
			pt.ctx, pt.cancel = context.WithCancel(context.Background())
			if err := pt.plug(); err != nil {
				t.Fatal(err)
			}
			pt.wg.Go(func() { pt.serve(false) })
			r := <-done
			if r.Outcome != posbridge.OutcomeTimeout {
				t.Fatalf("outcome %q, want timeout", r.Outcome)
			}
			if r.QueryAfter == nil || r.QueryAfter.Outcome != tt.wantQuery {
				t.Fatalf("query after: %+v, want %q", r.QueryAfter, tt.wantQuery)
			}
			if n := sim.SaleRequests(no); n != 1 {
				t.Fatalf("terminal saw %d sales", n)
			}
			if st := conn.Link(); st.State != posbridge.LinkUp || st.Reconnects < 1 {
				t.Fatalf("link after replug: %+v", st)
			}
		})
	}
}

// TestOpenSerial_Pty checks the port layer on a real pty: the read timeout
// is an empty read, and Close wakes a blocked Read with PortClosed.
func TestOpenSerial_Pty(t *testing.T) {
	pt, err := termsim.OpenPTY("")
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	port, err := terminal.OpenSerial(pt.Name, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := port.Read(buf); n != 0 || err != nil {
		t.Fatalf("idle read = %d, %v; want 0, nil", n, err)
	}
	if _, err := pt.Write(terminal.MustEncode(terminal.HeartbeatFrame)); err != nil {
		t.Fatal(err)
	}
	d := terminal.NewDecoder(port)
	if f, err := d.Next(); err != nil || !f.IsHeartbeat() {
		t.Fatalf("read frame: %v %v", f, err)
	}
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := port.Read(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	port.Close()
	// go.bug.st/serial answers PortClosed when the read notices the close
	// first, and the file's EBADF when the descriptor is gone first (seen
	// on a loaded machine): both say the port is closed, and the driver
	// ends the session on any read error.
	var pe *serial.PortError
	if err := <-errc; !(errors.As(err, &pe) && pe.Code() == serial.PortClosed) && !errors.Is(err, syscall.EBADF) && !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after close: %v, want the port closed", err)
	}
	if _, err := terminal.OpenSerial(filepath.Join(t.TempDir(), "missing"), 0); err == nil {
		t.Fatal("opened a missing port")
	}
}
