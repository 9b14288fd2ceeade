package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/embedded"
	"github.com/posbridge/posbridge/outbox/fleet"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// soakTill is one simulated till: a daemon with its own terminal simulator
// and database, shipping to the shared NATS server.
type soakTill struct {
	id, dir, api string
	stop         func() error
}

// startSoakTill starts a daemon for till id against the shared sandbox.
func startSoakTill(t *testing.T, id string, sb *sandbox.Sandbox, sbURL, natsURL string) *soakTill {
	t.Helper()
	tl := &soakTill{id: id, dir: t.TempDir()}
	keysDir := t.TempDir()
	if _, err := sandbox.LoadOrCreateKeys(keysDir); err != nil {
		t.Fatal(err)
	}
	sim := termsim.New(termsim.Config{Acquirer: sb, Default: termsim.Script{Action: termsim.Approve}})
	link := filepath.Join(tl.dir, "terminal")
	pty, err := termsim.OpenPTY(link)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sim.Serve(ctx, pty) }()
	t.Cleanup(func() { cancel(); pty.Close(); <-done })

	apiAddr := freeAddr(t)
	tl.api = "http://" + apiAddr
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
timeout = "5s"
rate_limit = 1000.0
[reconcile]
fast_poll_every = "50ms"
fast_poll_for = "10s"
[[lane]]
id = "1"
port = %q
app_id = "soak"
sale_timeout = "10s"
[outbox]
kind = "nats"
url = %q
merchant = "acme"
store = "soak"
till = %q
[log]
level = "warn"
`, apiAddr, freeAddr(t), sbURL+"/sgs/api", sb.PartnerID(), filepath.Join(soakKeys, sandbox.MerchantPrivateKeyFile),
		filepath.Join(soakKeys, sandbox.GatewayPublicKeyFile), link, natsURL, id)
	cfgPath := filepath.Join(tl.dir, "posbridge.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &e2eWorld{dir: tl.dir, cfgPath: cfgPath, apiURL: tl.api}
	tl.stop = w.startDaemon(t)
	return tl
}

// soakKeys is the sandbox's key directory, shared by the tills.
var soakKeys string

// pay takes n payments one after the other on the till's lane, each
// answered once final (?wait).
func (tl *soakTill) pay(t *testing.T, n int) error {
	client := &http.Client{Timeout: 60 * time.Second}
	for i := range n {
		body := fmt.Sprintf(`{"lane":"1","amount":"%d.%02d","currency":"AED"}`, 1+i%50, i%100)
		resp, err := client.Post(tl.api+"/api/v1/payments?wait=30s", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"paid"`) {
			return fmt.Errorf("till %s payment %d: %d %s", tl.id, i, resp.StatusCode, b)
		}
	}
	return nil
}

// TestSoak_FleetThreeTills: three tills take payments into one NATS server
// and one fleet consumer; then the server is down while they take as many
// again, and comes back. The fleet's orders equal the tills' own databases,
// order by order. POSBRIDGE_SOAK_PAYMENTS sets the payments per till and
// phase (20 by default), POSBRIDGE_SOAK_OUTAGE how long the server stays
// down at least (e.g. 10m); the throughput and drain rate are logged.
func TestSoak_FleetThreeTills(t *testing.T) {
	perPhase := 20
	if v := os.Getenv("POSBRIDGE_SOAK_PAYMENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("POSBRIDGE_SOAK_PAYMENTS=%q: want a positive number", v)
		}
		perPhase = n
	}
	var outage time.Duration
	if v := os.Getenv("POSBRIDGE_SOAK_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("POSBRIDGE_SOAK_OUTAGE=%q: %v", v, err)
		}
		outage = d
	}
	soakKeys = t.TempDir()
	keys, err := sandbox.LoadOrCreateKeys(soakKeys)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, stopSB, err := serveLoopback(sb.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopSB(context.Background()); sb.Close() })
	srv, err := embedded.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	fleetDB, err := fleet.OpenDB(filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fleetDB.Close()
	consumer := fleet.New(fleetDB, fleet.Config{Conn: outbox.ConnConfig{URL: srv.URL()}})
	if err := consumer.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	var tills []*soakTill
	for i := 1; i <= 3; i++ {
		tills = append(tills, startSoakTill(t, fmt.Sprintf("t%d", i), sb, sbURL, srv.URL()))
	}
	payAll := func() time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(tills))
		for _, tl := range tills {
			wg.Go(func() { errs <- tl.pay(t, perPhase) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	fleetPaid := func() int {
		orders, err := fleetDB.Orders(context.Background(), fleet.Filter{})
		if err != nil {
			return -1
		}
		n := 0
		for _, o := range orders {
			if o.Status == "paid" {
				n++
			}
		}
		return n
	}
	waitFleet := func(want int) time.Duration {
		start := time.Now()
		deadline := start.Add(10 * time.Minute)
		for fleetPaid() != want {
			if time.Now().After(deadline) {
				t.Fatalf("fleet has %d paid orders after 10 minutes, want %d", fleetPaid(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}

	// Phase 1: the uplink is up.
	took := payAll()
	lag := waitFleet(3 * perPhase)
	t.Logf("uplink up: %d payments on 3 tills in %v (%.1f payments/s); the fleet had all of them %v after the last",
		3*perPhase, took.Round(time.Millisecond), float64(3*perPhase)/took.Seconds(), lag.Round(time.Millisecond))

	// Phase 2: the server is down; the tills keep taking payments.
	srv.Stop()
	took = payAll()
	var backlog int64
	for _, tl := range tills {
		backlog += outboxBacklog(t, tl)
	}
	if backlog < int64(3*perPhase) {
		t.Fatalf("backlog during the outage is %d events, want at least %d (one per payment)", backlog, 3*perPhase)
	}
	if outage > took {
		time.Sleep(outage - took) // POSBRIDGE_SOAK_OUTAGE: the server stays down this long
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for tillsBacklog(t, tills) > 0 {
		if time.Since(back) > 10*time.Minute {
			t.Fatalf("the tills still have %d events waiting 10 minutes after the server came back", tillsBacklog(t, tills))
		}
		time.Sleep(20 * time.Millisecond)
	}
	shipped := time.Since(back)
	drain := waitFleet(6*perPhase) + shipped
	t.Logf("outage of %v: %d payments in %v (%.1f payments/s) left %d events waiting; after the server came back the tills had shipped them all in %v (%.0f events/s) and the fleet had folded them all in %v (%.0f events/s)",
		max(outage, took).Round(time.Millisecond), 3*perPhase, took.Round(time.Millisecond), float64(3*perPhase)/took.Seconds(), backlog,
		shipped.Round(time.Millisecond), float64(backlog)/shipped.Seconds(), drain.Round(time.Millisecond), float64(backlog)/drain.Seconds())

	// The fleet equals the tills, order by order, and each event once.
	byKey := map[string]fleet.Order{}
	all, err := fleetDB.Orders(context.Background(), fleet.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		byKey[o.Till+"/"+o.No] = o
	}
	var tillTotal, fleetTotal int64
	for _, tl := range tills {
		db, err := store.Open(filepath.Join(tl.dir, "posbridge.db"))
		if err != nil {
			t.Fatal(err)
		}
		orders := allOrders(t, db)
		last, _ := db.LastSeq(context.Background())
		db.Close()
		if len(orders) != 2*perPhase {
			t.Errorf("till %s has %d orders, want %d", tl.id, len(orders), 2*perPhase)
		}
		for _, o := range orders {
			f, ok := byKey[tl.id+"/"+string(o.No)]
			if !ok || f.Status != string(o.Status) || f.AmountMinor != o.Amount.Minor || f.Version != o.Version || f.RefundedMinor != o.Refunded.Minor {
				t.Errorf("till %s order %s: fleet %+v, till %s %d v%d", tl.id, o.No, f.OrderDoc, o.Status, o.Amount.Minor, o.Version)
			}
			tillTotal += o.Amount.Minor
			fleetTotal += f.AmountMinor
		}
		waitCond(t, "the till's last event in the fleet", func() bool {
			ts, _ := fleetDB.Tills(context.Background())
			for _, x := range ts {
				if x.Till == tl.id {
					return x.LastSeq == last && x.Events == last
				}
			}
			return false
		})
	}
	if tillTotal != fleetTotal || len(all) != 6*perPhase {
		t.Errorf("totals: tills %d, fleet %d (%d orders)", tillTotal, fleetTotal, len(all))
	}
	st := consumer.Stats()
	t.Logf("fleet: %d events applied, %d redeliveries skipped; %d orders totalling %d minor units on both sides",
		st.Applied, st.Duplicates, len(all), fleetTotal)
}

// tillsBacklog sums the tills' posbridge_outbox_backlog_events metrics.
func tillsBacklog(t *testing.T, tills []*soakTill) int64 {
	t.Helper()
	var sum int64
	for _, tl := range tills {
		for _, l := range strings.Split(httpGet(t, tl.api+"/metrics"), "\n") {
			if v, ok := strings.CutPrefix(l, "posbridge_outbox_backlog_events "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("metric %q: %v", l, err)
				}
				sum += int64(f)
			}
		}
	}
	return sum
}

func outboxBacklog(t *testing.T, tl *soakTill) int64 {
	t.Helper()
	db, err := store.Open(filepath.Join(tl.dir, "posbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, _, err := db.OutboxBacklog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func allOrders(t *testing.T, db *store.DB) []posbridge.Order {
	t.Helper()
	var out []posbridge.Order
	f := posbridge.OrderFilter{Limit: 500}
	for {
		page, err := db.ListOrders(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Orders...)
		if page.NextCursor == "" {
			return out
		}
		f.Cursor = page.NextCursor
	}
}
