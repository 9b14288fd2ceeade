package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// e2eWorld is what stays up while the daemon restarts: the gateway sandbox
// on loopback and the simulated terminal behind a pty.
type e2eWorld struct {
	dir, cfgPath, apiURL string
	sb                   *sandbox.Sandbox
	sim                  *termsim.Sim
	logs                 []*syncBuffer // every daemon life's log, oldest first
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newE2EWorld(t *testing.T) *e2eWorld {
	t.Helper()
	w := &e2eWorld{dir: t.TempDir()}
	keys, err := sandbox.LoadOrCreateKeys(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	notifyAddr := freeAddr(t)
	w.sb, err = sandbox.New(sandbox.Config{Keys: keys, NotifyURL: "http://" + notifyAddr + "/notify/payby"})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, stopSB, err := serveLoopback(w.sb.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopSB(context.Background()); w.sb.Close() })

	w.sim = termsim.New(termsim.Config{Acquirer: w.sb, Default: termsim.Script{Action: termsim.Approve, Delay: 500 * time.Millisecond}})
	link := filepath.Join(w.dir, "terminal")
	pty, err := termsim.OpenPTY(link)
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.sim.Serve(ctx, pty)
	}()
	t.Cleanup(func() { cancel(); pty.Close(); <-done })

	apiAddr := freeAddr(t)
	w.apiURL = "http://" + apiAddr
	cfg := fmt.Sprintf(`[api]
listen = %q
[notify]
listen = %q
[store]
path = "posbridge.db"
[gateway]
kind = "payby"
base_url = %q
partner_id = %q
merchant_private_key = %q
gateway_public_key = %q
timeout = "3s"
[reconcile]
fast_poll_every = "500ms"
fast_poll_for = "10s"
[[lane]]
id = "1"
port = %q
app_id = "e2e"
sale_timeout = "4s"
`, apiAddr, notifyAddr, sbURL+"/sgs/api", w.sb.PartnerID(), sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile, link)
	w.cfgPath = filepath.Join(w.dir, "posbridge.toml")
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// syncBuffer collects a daemon's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs "posbridge run --config" in-process and waits until its
// API answers. stop cancels it, as SIGTERM does through main's signal
// context, and waits for Run to return.
func (w *e2eWorld) startDaemon(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	w.logs = append(w.logs, logs)
	m := &Main{Stdout: logs, Stderr: logs}
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx, []string{"run", "--config", w.cfgPath}) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(w.apiURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("daemon exited at start: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("daemon did not answer /healthz\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-errc
		})
		return err
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	return stop
}

type apiPayment struct {
	OrderNo string `json:"order_no"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Amount  string `json:"amount"`
}

func (w *e2eWorld) post(t testing.TB, path, body string) apiPayment {
	t.Helper()
	resp, err := http.Post(w.apiURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	var p apiPayment
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, b)
	}
	return p
}

func (w *e2eWorld) get(t testing.TB, no string) apiPayment {
	t.Helper()
	resp, err := http.Get(w.apiURL + "/api/v1/payments/" + no)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p apiPayment
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitStatus polls the API until the payment has status want (a wait for a
// condition, bounded so a broken daemon fails the test instead of hanging it).
func (w *e2eWorld) waitStatus(t *testing.T, no, want string) apiPayment {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var p apiPayment
	for time.Now().Before(deadline) {
		if p = w.get(t, no); p.Status == want {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("payment %s is %s (%q), want %s", no, p.Status, p.Message, want)
	return p
}

func TestE2E_RunPaymentPaid(t *testing.T) {
	w := newE2EWorld(t)
	stop := w.startDaemon(t)
	p := w.post(t, "/api/v1/payments", `{"lane":"1","amount":"12.50","currency":"AED","reference":"e2e-1"}`)
	p = w.waitStatus(t, p.OrderNo, "paid")
	if p.Message != "Payment successful" || p.Amount != "12.50" {
		t.Fatalf("paid payment: %+v", p)
	}
	if o, ok := w.sb.Order(p.OrderNo); !ok || o.Status != sandbox.StatusPaid || o.Charges != 1 {
		t.Fatalf("gateway has %+v, want paid once", o)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestE2E_SigtermMidSaleThenRestart(t *testing.T) {
	tests := []struct {
		name   string
		script termsim.Script
		// paidBeforeStop: wait until the gateway has the payment before the
		// daemon is stopped (the terminal took the money, its answer is lost).
		paidBeforeStop bool
		want           string
		reason         string
	}{
		{"customer paid, answer lost", termsim.Script{Action: termsim.Approve, Delay: 300 * time.Millisecond, LoseResponse: true}, true, "paid", ""},
		// The sale is left open at shutdown and re-attached after the
		// restart: the customer's one tap pays it.
		{"customer still deciding", termsim.Script{Action: termsim.Approve, Delay: 5 * time.Second}, false, "paid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newE2EWorld(t)
			w.sim.SetDefault(tt.script)
			stop := w.startDaemon(t)
			p := w.post(t, "/api/v1/payments", `{"lane":"1","amount":"30.00","currency":"AED"}`)
			if p.Status != "at_terminal" {
				t.Fatalf("new payment is %s, want at_terminal", p.Status)
			}
			// The sale must be on the terminal before the stop (on a loaded
			// machine the daemon could otherwise stop before sending it).
			for deadline := time.Now().Add(30 * time.Second); w.sim.SaleRequests(posbridgeOrderNo(p.OrderNo)) == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the sale never reached the terminal")
				}
			}
			if tt.paidBeforeStop {
				deadline := time.Now().Add(30 * time.Second)
				for {
					if o, ok := w.sb.Order(p.OrderNo); ok && o.Status == sandbox.StatusPaid {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the simulated customer never paid")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			if err := stop(); err != nil { // SIGTERM: main's signal context is canceled
				t.Fatalf("shutdown mid-sale: %v", err)
			}

			w.startDaemon(t) // the same database
			got := w.waitStatus(t, p.OrderNo, tt.want)
			full := w.getRaw(t, p.OrderNo)
			if !strings.Contains(full, `"reason":"`+tt.reason+`"`) {
				t.Fatalf("after restart: %s, want reason %q", full, tt.reason)
			}
			o, known := w.sb.Order(p.OrderNo)
			gatewayPaid := known && o.Status == sandbox.StatusPaid
			if gatewayPaid != (got.Status == "paid") || known && o.Charges > 1 {
				t.Fatalf("posbridge says %s, the gateway has %+v", got.Status, o)
			}
			if n := w.sim.SaleRequests(posbridgeOrderNo(p.OrderNo)); n != 1 {
				t.Fatalf("the terminal got %d sales for %s, want 1", n, p.OrderNo)
			}
		})
	}
}

func (w *e2eWorld) getRaw(t *testing.T, no string) string {
	t.Helper()
	resp, err := http.Get(w.apiURL + "/api/v1/payments/" + no)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func posbridgeOrderNo(s string) posbridge.OrderNo { return posbridge.OrderNo(s) }
