package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// paidClock is an acquirer that notes when each sale was paid (the moment
// the customer's payment reached the gateway) before telling the sandbox.
type paidClock struct {
	sb *sandbox.Sandbox
	mu sync.Mutex
	at map[posbridge.OrderNo]time.Time
}

func (p *paidClock) Record(ctx context.Context, r posbridge.AcquirerRecord) error {
	err := p.sb.Record(ctx, r)
	if err == nil && r.Status == posbridge.GatewayPaid {
		p.mu.Lock()
		p.at[r.OrderNo] = time.Now()
		p.mu.Unlock()
	}
	return err
}

func (p *paidClock) paidAt(no posbridge.OrderNo) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.at[no]
	return t, ok
}

// BenchmarkE2E_PaidWithoutNotifications measures, on the real binary at the
// default config, the time from the customer's payment reaching the gateway
// to the API showing the payment paid, when the terminal's answer is lost
// and the gateway sends no notification (a shop whose notify URL is
// unreachable): only posbridge's own queries can tell. Beside it, the floor:
// one gateway query round trip measured in the same run. Run it with a
// fixed count, e.g. -benchtime=20x (scripts/bench does).
func BenchmarkE2E_PaidWithoutNotifications(b *testing.B) {
	dir := b.TempDir()
	keys, err := sandbox.LoadOrCreateKeys(dir)
	if err != nil {
		b.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Keys: keys}) // no notify URL: no notifications
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sbURL, stopSB, err := serveLoopback(sb.Handler())
	if err != nil {
		b.Fatal(err)
	}
	defer stopSB(context.Background())
	acq := &paidClock{sb: sb, at: map[posbridge.OrderNo]time.Time{}}
	sim := termsim.New(termsim.Config{Acquirer: acq, Default: termsim.Script{Action: termsim.Approve, Delay: 700 * time.Millisecond, LoseResponse: true}})
	link := filepath.Join(dir, "terminal")
	pty, err := termsim.OpenPTY(link)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { defer close(simDone); sim.Serve(ctx, pty) }()
	defer func() { cancel(); pty.Close(); <-simDone }()

	w := &e2eWorld{dir: dir, sb: sb, sim: sim}
	apiAddr := freeAddr(b)
	w.apiURL = "http://" + apiAddr
	cfg := fmt.Sprintf(`[api]
listen = %q
[store]
path = "posbridge.db"
[gateway]
kind = "payby"
base_url = %q
partner_id = %q
merchant_private_key = %q
gateway_public_key = %q
[[lane]]
id = "1"
port = %q
app_id = "bench"
`, apiAddr, sbURL+"/sgs/api", sb.PartnerID(), sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile, link)
	w.cfgPath = filepath.Join(dir, "posbridge.toml")
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	gw, err := payby.New(payby.Config{BaseURL: sbURL + "/sgs/api", PartnerID: sb.PartnerID(),
		MerchantKey: keys.Merchant, GatewayKey: &keys.Gateway.PublicKey, RatePerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	bin := buildBinary(b, dir)
	w.startProcess(b, bin)

	var lat, floor []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Customers take between 0.3 and 2.3 s to pay, spread over the
		// poll interval.
		sim.SetDefault(termsim.Script{Action: termsim.Approve, Delay: time.Duration(300+(i*373)%2000) * time.Millisecond, LoseResponse: true})
		p := w.post(b, "/api/v1/payments", fmt.Sprintf(`{"lane":"1","amount":"%d.00","currency":"AED"}`, 10+i))
		no := posbridge.OrderNo(p.OrderNo)
		for {
			got := w.get(b, p.OrderNo)
			if got.Status == "paid" {
				paid, ok := acq.paidAt(no)
				if !ok {
					b.Fatalf("%s is paid but the customer never paid", no)
				}
				lat = append(lat, time.Since(paid))
				break
			}
			if got.Status != "at_terminal" && got.Status != "verifying" {
				b.Fatalf("%s is %s", no, got.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The floor: one signed, verified gateway query of the same order.
		start := time.Now()
		if _, err := gw.QueryOrder(context.Background(), no); err != nil {
			b.Fatalf("floor query: %v", err)
		}
		floor = append(floor, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(floor)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lat, 0.5), "paid-p50-ms")
	b.ReportMetric(pct(lat, 0.99), "paid-p99-ms")
	b.ReportMetric(pct(floor, 0.5), "query-floor-p50-ms")
	b.ReportMetric(pct(floor, 0.99), "query-floor-p99-ms")
	b.ReportMetric(0, "ns/op")
}
