package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge/terminal/termsim"
)

// buildBinary builds posbridge into dir and returns its path.
func buildBinary(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "posbridge")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs the real binary on the world's config and waits until
// its API answers.
func (w *e2eWorld) startProcess(t testing.TB, bin string) *exec.Cmd {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", w.cfgPath)
	cmd.Dir, cmd.Stdout, cmd.Stderr = w.dir, logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(w.apiURL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not answer /healthz\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The real binary is killed (SIGKILL: nothing runs on the way out) while
// the customer is still deciding on the terminal. After a restart the sale
// is re-attached, not closed: the customer's one tap pays it, and the
// terminal got one sale.
func TestE2E_KillMidSaleCustomerStillDeciding(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; run without -short")
	}
	w := newE2EWorld(t)
	w.sim.SetDefault(termsim.Script{Action: termsim.Approve, Delay: 6 * time.Second})
	bin := buildBinary(t, t.TempDir())
	first := w.startProcess(t, bin)
	p := w.post(t, "/api/v1/payments", `{"lane":"1","amount":"42.00","currency":"AED"}`)
	if p.Status != "at_terminal" {
		t.Fatalf("new payment is %s, want at_terminal", p.Status)
	}
	// The sale is on the terminal; the customer reads the screen.
	for deadline := time.Now().Add(30 * time.Second); w.sim.SaleRequests(posbridgeOrderNo(p.OrderNo)) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sale never reached the terminal")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()

	w.startProcess(t, bin)
	got := w.waitStatus(t, p.OrderNo, "paid")
	if got.Message != "Payment successful" {
		t.Fatalf("after the restart: %+v", got)
	}
	if n := w.sim.SaleRequests(posbridgeOrderNo(p.OrderNo)); n != 1 {
		t.Fatalf("the terminal got %d sales for %s, want 1 (no second tap)", n, p.OrderNo)
	}
	if o, ok := w.sb.Order(p.OrderNo); !ok || o.Charges != 1 {
		t.Fatalf("the gateway has %+v, want one charge", o)
	}
}
