package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.bug.st/serial"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/store/storetest"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// BenchmarkE2E_Scale measures the real binary on a till's whole life: a
// database of POSBRIDGE_BENCH_ORDERS orders (1,000,000 by default, generated
// once and cached by storetest.ScaleDB, copied for the run), each figure
// beside its floor measured in the same run. Figures (median of runs where
// noted; p99 over the requests made):
//
//	ready-ms, ready-empty-ms   start to /readyz 200 (median of 3), on the
//	                           big database and on an empty one (the floor)
//	post-p99-ms                POST /payments with an Idempotency-Key
//	list-p99-ms                the worst p99 of the documented list filters
//	metrics-ms                 one /metrics scrape (median)
//	http-floor-p99-ms          GET /healthz: the loopback HTTP round trip
//	screen-p50/p99-ms          the terminal's approval to its websocket event
//	commit-floor-p50/p99-ms    one durable SQLite commit on the same disk
//	pty-floor-p99-ms           a 64-byte round trip through a pty
//	cpu-ms/payment             the daemon's CPU per payment (utime+stime)
//	fsyncs/payment             fsync+fdatasync per payment (strace -f -p)
//	idle-cpu-ms/s              the daemon's CPU per second while nothing
//	                           happens (the terminal connected and
//	                           exchanging heartbeats): a till idles most of
//	                           the day
//	notify-per-s               signed /notify/payby notifications taken per second
//	notify-cpu-us              the daemon's CPU per notification taken, in µs
//	notify-client-cpu-us       the sending client's CPU per notification (it
//	                           shares the cores: the two together bound the rate)
//	notify-writer-busy-share   the part of the ingest's time the store's one
//	                           writer was busy (near 1: the writer bounds the rate)
//	notify-writes/commit       notifications per group commit
//	notify-commit-ms           one group commit (the log written and synced)
//	notify-write-us            a notification's own time in the writer, besides
//	                           the commit (its statements)
//	gateway-calls/payment      gateway calls per payment (each one signed)
//	payment-commit-ms          the daemon's mean commit during the payments: the
//	                           part of screen-p50-ms that commit-floor-p50-ms
//	                           (a one-row commit) stands for
//	disk-sync-floor-mb-per-s   128 KiB appends, each fsynced, on the same disk
//	                           (a group commit of ten notifications writes about
//	                           that much to the log)
//	notify-floor-commits-per-s sequential durable commits per second
//	rsa-verify-per-s           RSA-2048 verifications per second on one core
//	rsa-sign-floor-ms          one RSA-2048 signature (median): every gateway
//	                           query of a payment is signed (PayBy)
//	timer-floor-cpu-us         the CPU of one 20 µs nanosleep: how the Go
//	                           runtime's monitor (sysmon) polls a process
//	                           that is busy, dozens of times per payment
//	                           (part of cpu-ms/payment that no code of ours
//	                           spends; a virtual machine makes it dear)
//	syscall-floor-cpu-us       the CPU of one getpid: the cost of entering
//	                           the kernel at all (every read, write, fsync,
//	                           lock and wake-up of a payment pays it)
//	notify-http-floor-per-s    the same notification load against a handler
//	                           that only answers SUCCESS (HTTP alone)
//	bytes/order                the database file's size per order
//
// And as ratios to their floors: ready-x-empty (ready-ms over
// ready-empty-ms), post-p99-x-http-floor, screen-p50-above-floor-ms and
// screen-p99-above-floor-ms (the screen figure less the one-row commit's,
// the goal's own terms), cpu-x-rsa-sign (a payment's CPU in RSA signatures),
// notify-x-commit-floor (notifications per one-row commit's time: above 1
// is group commit at work) and notify-x-http-floor (the share of HTTP
// alone's rate that ingest reaches).
//
// The generated orders are dated from 2026-01-01 on; the replay window is
// set to ten years so that the daemon does not spend the measurement pruning
// a year of events it would have pruned hour by hour on a real till (the
// prune's own cost is store's BenchmarkScale's business).
//
// Never a timed assertion: it only reports. Run (scripts/bench does):
//
//	go test -run '^$' -bench E2E_Scale -benchtime 1x -timeout 60m ./cmd/posbridge/
func BenchmarkE2E_Scale(b *testing.B) {
	n := storetest.ScaleOrders(b)
	cached := storetest.ScaleDB(b, n)
	dir := b.TempDir()
	fi, err := os.Stat(cached)
	if err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("cp", "--reflink=auto", cached, filepath.Join(dir, "posbridge.db")).CombinedOutput(); err != nil {
		b.Fatalf("copy the cached database: %v %s", err, out)
	}
	// The copy's pages are dirty in the page cache: the daemon's first
	// checkpoint fsync would write all 3 GB of them and stall a payment.
	// A real till's file is on disk already.
	if out, err := exec.Command("sync", "-f", filepath.Join(dir, "posbridge.db")).CombinedOutput(); err != nil {
		b.Fatalf("sync the copy: %v %s", err, out)
	}
	keys, err := sandbox.LoadOrCreateKeys(dir)
	if err != nil {
		b.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Keys: keys}) // notifications come from the benchmark itself
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
	sim := termsim.New(termsim.Config{Acquirer: acq, Default: termsim.Script{Action: termsim.Approve}})
	link := filepath.Join(dir, "terminal")
	tty, err := termsim.OpenPTY(link)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { defer close(simDone); sim.Serve(ctx, tty) }()
	defer func() { cancel(); tty.Close(); <-simDone }()

	apiAddr, notifyAddr := freeAddr(b), freeAddr(b)
	writeConfig := func(dbName string) string {
		cfg := fmt.Sprintf(`[api]
listen = %q
[notify]
listen = %q
[store]
path = %q
events_keep = "87600h"
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
`, apiAddr, notifyAddr, dbName, sbURL+"/sgs/api", sb.PartnerID(), sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile, link)
		path := filepath.Join(dir, "posbridge-"+strings.TrimSuffix(dbName, ".db")+".toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
		return path
	}
	bigCfg, emptyCfg := writeConfig("posbridge.db"), writeConfig("empty.db")
	bin := buildBinary(b, dir)
	api := "http://" + apiAddr

	// Floors first, on a quiet machine.
	commit50, commit99, commitRate := commitFloor(b, dir)
	pty99 := ptyFloor(b, dir)
	verifyRate := rsaVerifyRate(b, keys)
	signMS := rsaSignMS(b, keys)
	timerUS, syscallUS := kernelFloors(b)
	syncMBps := syncWriteFloor(b, dir)

	b.ResetTimer()
	for b.Loop() {
		readyEmpty := medianReady(b, bin, emptyCfg, dir, api)
		ready := medianReady(b, bin, bigCfg, dir, api)
		d := startBench(b, bin, bigCfg, dir, api)
		http99 := p99(b, 200, func() { mustGet(b, api+"/healthz") })
		var list99 float64
		for _, q := range []string{"needs_attention=true", "needs_attention=true&lane=1", "lane=1", "status=paid",
			"status=pending&lane=2", "reference=R-000123", "limit=200"} {
			list99 = max(list99, p99(b, 100, func() { mustGet(b, api+"/api/v1/payments?"+q) }))
		}
		metrics := median(b, 9, func() { mustGet(b, api+"/metrics") })

		// Payments, each awaited on the websocket: no polling, so the CPU
		// counted is the payments' own.
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+apiAddr+"/api/v1/events", nil)
		if err != nil {
			b.Fatal(err)
		}
		events := make(chan wsPayment, 64)
		go readPayments(ws, events)
		const payments = 60
		cpu0, m0 := procCPU(b, d.Process.Pid), scrape(b, api)
		var post, screen []time.Duration
		for i := range payments {
			start := time.Now()
			no := postPayment(b, api, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), 10+i)
			post = append(post, time.Since(start))
			seen := false
			for e := range waitPaid(b, events, no) {
				if !seen && e.TerminalOutcome == "approved" {
					if at, ok := acq.paidAt(no); ok {
						screen = append(screen, e.At.Sub(at))
						seen = true
					}
				}
			}
		}
		cpuPer := float64(procCPU(b, d.Process.Pid)-cpu0) / payments
		m1 := scrape(b, api)
		queries := (m1[`posbridge_gateway_calls_total{result="success"}`] - m0[`posbridge_gateway_calls_total{result="success"}`] +
			m1[`posbridge_gateway_calls_total{result="error"}`] - m0[`posbridge_gateway_calls_total{result="error"}`]) / payments
		payCommit := (m1["posbridge_store_commit_seconds_total"] - m0["posbridge_store_commit_seconds_total"]) /
			max(m1["posbridge_store_commits_total"]-m0["posbridge_store_commits_total"], 1) * 1000
		fsyncs := fsyncsPerPayment(b, d.Process.Pid, api, events)
		ws.Close()
		idle := idleCPU(b, d.Process.Pid)

		w0 := scrape(b, api)
		ingest := notifyIngest(b, keys, "http://"+notifyAddr+"/notify/payby", n, d.Process.Pid)
		w1 := scrape(b, api)
		w := func(name string) float64 { return w1[name] - w0[name] }
		busy, commit := w("posbridge_store_writer_busy_seconds_total"), w("posbridge_store_commit_seconds_total")
		writes, commits := w("posbridge_store_writes_total"), max(w("posbridge_store_commits_total"), 1)
		ingestFloor := notifyIngestFloor(b, keys, n)
		stopBench(b, d)

		slices.Sort(post)
		slices.Sort(screen)
		b.ReportMetric(ready, "ready-ms")
		b.ReportMetric(readyEmpty, "ready-empty-ms")
		b.ReportMetric(pctMS(post, 0.99), "post-p99-ms")
		b.ReportMetric(list99, "list-p99-ms")
		b.ReportMetric(metrics, "metrics-ms")
		b.ReportMetric(http99, "http-floor-p99-ms")
		b.ReportMetric(pctMS(screen, 0.5), "screen-p50-ms")
		b.ReportMetric(pctMS(screen, 0.99), "screen-p99-ms")
		b.ReportMetric(commit50, "commit-floor-p50-ms")
		b.ReportMetric(commit99, "commit-floor-p99-ms")
		b.ReportMetric(pty99, "pty-floor-p99-ms")
		b.ReportMetric(cpuPer, "cpu-ms/payment")
		b.ReportMetric(fsyncs, "fsyncs/payment")
		b.ReportMetric(idle, "idle-cpu-ms/s")
		b.ReportMetric(ingest.perSecond, "notify-per-s")
		b.ReportMetric(ingest.daemonCPU, "notify-cpu-us")
		b.ReportMetric(ingest.clientCPU, "notify-client-cpu-us")
		b.ReportMetric(busy/ingest.seconds, "notify-writer-busy-share")
		b.ReportMetric(writes/commits, "notify-writes/commit")
		b.ReportMetric(commit/commits*1000, "notify-commit-ms")
		b.ReportMetric((busy-commit)/max(writes, 1)*1e6, "notify-write-us")
		b.ReportMetric(queries, "gateway-calls/payment")
		b.ReportMetric(payCommit, "payment-commit-ms")
		b.ReportMetric(syncMBps, "disk-sync-floor-mb-per-s")
		b.ReportMetric(commitRate, "notify-floor-commits-per-s")
		b.ReportMetric(verifyRate, "rsa-verify-per-s")
		b.ReportMetric(signMS, "rsa-sign-floor-ms")
		b.ReportMetric(timerUS, "timer-floor-cpu-us")
		b.ReportMetric(syscallUS, "syscall-floor-cpu-us")
		b.ReportMetric(ingestFloor, "notify-http-floor-per-s")
		b.ReportMetric(float64(fi.Size())/float64(n), "bytes/order")
		// The same figures as ratios to their floors, in the terms of the
		// goals: what a faster or slower machine moves together cancels.
		b.ReportMetric(ready/readyEmpty, "ready-x-empty")
		b.ReportMetric(pctMS(post, 0.99)/http99, "post-p99-x-http-floor")
		b.ReportMetric(pctMS(screen, 0.5)-commit50, "screen-p50-above-floor-ms")
		b.ReportMetric(pctMS(screen, 0.99)-commit99, "screen-p99-above-floor-ms")
		b.ReportMetric(cpuPer/signMS, "cpu-x-rsa-sign")
		b.ReportMetric(ingest.perSecond/commitRate, "notify-x-commit-floor")
		b.ReportMetric(ingest.perSecond/ingestFloor, "notify-x-http-floor")
		b.ReportMetric(0, "ns/op")
	}
}

// startBench starts the binary and waits for /readyz; it returns the process.
func startBench(b *testing.B, bin, cfg, dir, api string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Dir = dir
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if b.Failed() {
			b.Logf("daemon log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := http.Get(api + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the daemon was not ready in 2 minutes\n%s", logs)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stopBench stops the daemon as the service manager does.
func stopBench(b *testing.B, cmd *exec.Cmd) {
	b.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("daemon exit: %v", err)
	}
}

// medianReady is the median of 3 clean starts' time to /readyz.
func medianReady(b *testing.B, bin, cfg, dir, api string) float64 {
	var ds []float64
	for range 3 {
		start := time.Now()
		cmd := startBench(b, bin, cfg, dir, api)
		ds = append(ds, float64(time.Since(start).Microseconds())/1000)
		stopBench(b, cmd)
	}
	slices.Sort(ds)
	return ds[1]
}

func mustGet(b *testing.B, url string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}

func p99(b *testing.B, n int, f func()) float64 {
	ds := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		f()
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return pctMS(ds, 0.99)
}

func median(b *testing.B, n int, f func()) float64 {
	ds := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		f()
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return pctMS(ds, 0.5)
}

func pctMS(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return -1
	}
	return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
}

func postPayment(b *testing.B, api, key string, amount int) posbridge.OrderNo {
	req, _ := http.NewRequest(http.MethodPost, api+"/api/v1/payments", strings.NewReader(fmt.Sprintf(`{"lane":"1","amount":"%d.00","currency":"AED"}`, amount)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		b.Fatalf("POST /payments: %d %s", resp.StatusCode, body)
	}
	var p apiPayment
	if err := json.Unmarshal(body, &p); err != nil {
		b.Fatal(err)
	}
	return posbridge.OrderNo(p.OrderNo)
}

// wsPayment is a payment event as the websocket carries it, with the time
// it arrived.
type wsPayment struct {
	OrderNo         posbridge.OrderNo
	Status          string
	TerminalOutcome string
	At              time.Time
}

func readPayments(ws *websocket.Conn, out chan<- wsPayment) {
	defer close(out)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		var e struct {
			Payment *struct {
				OrderNo         string `json:"order_no"`
				Status          string `json:"status"`
				TerminalOutcome string `json:"terminal_outcome"`
			} `json:"payment"`
		}
		if json.Unmarshal(msg, &e) == nil && e.Payment != nil {
			out <- wsPayment{posbridge.OrderNo(e.Payment.OrderNo), e.Payment.Status, e.Payment.TerminalOutcome, at}
		}
	}
}

// waitPaid yields no's events until one says paid.
func waitPaid(b *testing.B, events <-chan wsPayment, no posbridge.OrderNo) func(func(wsPayment) bool) {
	return func(yield func(wsPayment) bool) {
		timeout := time.After(time.Minute)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					b.Fatal("the event stream closed")
				}
				if e.OrderNo != no {
					continue
				}
				if !yield(e) || e.Status == "paid" {
					return
				}
				if e.Status != "created" && e.Status != "at_terminal" && e.Status != "verifying" {
					b.Fatalf("%s is %s", no, e.Status)
				}
			case <-timeout:
				b.Fatalf("%s not paid within a minute", no)
			}
		}
	}
}

// notifyTotal is how many notifications notifyIngest sends.
const notifyTotal = 3000

// selfCPU is this process's user+system CPU time in milliseconds (the
// benchmark's own: the notification client's share of the cores).
func selfCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return (ru.Utime.Nano() + ru.Stime.Nano()) / 1e6
}

// scrape reads the daemon's /metrics: each series (name and labels, as
// printed) to its value.
func scrape(b *testing.B, api string) map[string]float64 {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET /metrics: %v %s", err, resp.Status)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// procCPU is the process's user+system CPU time in milliseconds.
func procCPU(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * 1000 / 100 // USER_HZ is 100 on Linux
}

// fsyncsPerPayment attaches strace to the daemon for 10 payments and counts
// fsync and fdatasync calls; -1 when strace is not installed.
func fsyncsPerPayment(b *testing.B, pid int, api string, events <-chan wsPayment) float64 {
	if _, err := exec.LookPath("strace"); err != nil {
		b.Log("strace is not installed: fsyncs/payment not measured")
		return -1
	}
	out := filepath.Join(b.TempDir(), "strace.txt")
	st := exec.Command("strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out, "-p", strconv.Itoa(pid))
	var stderr bytes.Buffer
	st.Stderr = &stderr
	if err := st.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // strace attaches to every thread
	// Enough payments that the edges (a commit at either end of the
	// window) weigh little and the background checkpoint (two syncs every
	// checkpointAfter commits) is counted at its steady share: the steady
	// rate is the figure.
	const payments = 100
	for i := range payments {
		no := postPayment(b, api, fmt.Sprintf("fsync-%d-%d", time.Now().UnixNano(), i), 20+i)
		for range waitPaid(b, events, no) {
		}
	}
	st.Process.Signal(syscall.SIGINT)
	st.Wait()
	raw, err := os.ReadFile(out)
	if err != nil {
		b.Fatalf("strace: %v %s", err, stderr.String())
	}
	var calls int
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && (f[len(f)-1] == "fsync" || f[len(f)-1] == "fdatasync") {
			c, _ := strconv.Atoi(f[3])
			calls += c
		}
	}
	return float64(calls) / payments
}

// notifyIngest posts signed "paid" notifications of paid orders of the
// generated database (as a gateway's retries would) from 32 connections, and
// returns what ingestResult holds. They are signed before the clock starts:
// the gateway's signing is not the daemon's cost.
func notifyIngest(b *testing.B, keys sandbox.Keys, url string, orders, pid int) ingestResult {
	const total = notifyTotal
	bodies := make([][]byte, 0, total)
	sigs := make([]string, 0, total)
	now := time.Now().UnixMilli()
	for i := 0; len(bodies) < total; i++ {
		x := 1 + (i*7919)%orders
		if x%100 >= 90 {
			continue // not a paid order
		}
		amount := fmt.Sprintf("%d.%02d", (1250+x%1000)/100, (1250+x%1000)%100)
		body := fmt.Appendf(nil, `{"notify_id":"bench%d-%d","notify_timestamp":%d,"acquireOrder":{"merchantOrderNo":"2026010110000%012d","orderNo":"13%016d","status":"PAID_SUCCESS","totalAmount":{"currency":"AED","amount":%s},"product":"Basic Payment Gateway","revoked":"false","paymentInfo":{"paidAmount":{"currency":"AED","amount":%s},"paidTime":%d,"payChannel":"BANKCARD","cardInfo":{"cardBrand":"VISA","cardNo":"411111******1111"}}}}`,
			now, i, now, x, x, amount, amount, now)
		sig, err := gateway.SignSHA256(keys.Gateway, body)
		if err != nil {
			b.Fatal(err)
		}
		bodies, sigs = append(bodies, body), append(sigs, sig)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var cpu0 int64
	if pid != 0 {
		cpu0 = procCPU(b, pid)
	}
	self0 := selfCPU(b)
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("sign", sigs[i])
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				ack, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.EqualFold(strings.TrimSpace(string(ack)), "SUCCESS") {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := ingestResult{perSecond: total / elapsed.Seconds(), seconds: elapsed.Seconds(), clientCPU: float64(selfCPU(b)-self0) * 1000 / total}
	if pid != 0 {
		r.daemonCPU = float64(procCPU(b, pid)-cpu0) * 1000 / total
	}
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d notifications were not acknowledged", f, total)
	}
	return r
}

// ingestResult is what notifyIngest measured: notifications acknowledged
// per second and the seconds they took (from the first sent to the last
// acknowledged; the signing before is not in it), and per notification the
// daemon's CPU and this process's (the client's), in µs.
type ingestResult struct {
	perSecond, seconds, daemonCPU, clientCPU float64
}

// syncWriteFloor is the disk's synced write rate beside the daemon's file,
// in MB/s: 128 KiB appended, then fsync, 64 times.
func syncWriteFloor(b *testing.B, dir string) float64 {
	f, err := os.Create(filepath.Join(dir, "floor-sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 128<<10)
	const n = 64
	start := time.Now()
	for range n {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return n * float64(len(chunk)) / 1e6 / time.Since(start).Seconds()
}

// commitFloor times 300 sequential durable commits of one small row in a
// SQLite file beside the daemon's, with the store's settings (WAL,
// synchronous=FULL): p50 and p99 in ms, and commits per second.
func commitFloor(b *testing.B, dir string) (p50, p99ms, perSecond float64) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "floor.db")+"?_journal_mode=WAL&_synchronous=FULL")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	start := time.Now()
	for i := range 300 {
		t := time.Now()
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	rate := 300 / time.Since(start).Seconds()
	slices.Sort(ds)
	return pctMS(ds, 0.5), pctMS(ds, 0.99), rate
}

// ptyFloor is the p99 of a 64-byte round trip through a pty as the daemon
// uses one: termsim's end written, the other end opened with go.bug.st/serial
// reading it and writing it back, in ms.
func ptyFloor(b *testing.B, dir string) float64 {
	link := filepath.Join(dir, "floor-tty")
	p, err := termsim.OpenPTY(link)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	port, err := serial.Open(link, &serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		b.Fatal(err)
	}
	defer port.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(port, buf); err != nil {
				return
			}
			if _, err := port.Write(buf); err != nil {
				return
			}
		}
	}()
	msg, buf := bytes.Repeat([]byte{'x'}, 64), make([]byte, 64)
	return p99(b, 300, func() {
		if _, err := p.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(p, buf); err != nil {
			b.Fatal(err)
		}
	})
}

// rsaVerifyRate is how many RSA-2048 PKCS#1 v1.5 verifications one core does
// per second (every notification and gateway answer costs one).
// rsaSignMS is the median time of one RSA-2048 PKCS#1 v1.5 signature with
// the merchant's key: PayBy wants every API request signed, so each
// gateway query of a payment costs one (the floor under cpu-ms/payment).
func rsaSignMS(b *testing.B, keys sandbox.Keys) float64 {
	h := sha256.Sum256([]byte("query"))
	return median(b, 51, func() {
		if _, err := rsa.SignPKCS1v15(nil, keys.Merchant, crypto.SHA256, h[:]); err != nil {
			b.Fatal(err)
		}
	})
}

// idleCPU is the daemon's CPU, in ms per second, over ten seconds in which
// nothing is asked of it. It sums its threads' run times in nanoseconds
// (schedstat): /proc/PID/stat's 10 ms ticks would give it a resolution of
// 1 ms a second.
func idleCPU(b *testing.B, pid int) float64 {
	const span = 10 * time.Second
	cpu0 := threadsCPU(b, pid)
	time.Sleep(span)
	var ns int64
	for tid, t := range threadsCPU(b, pid) {
		ns += t - cpu0[tid] // a thread started since counts from zero
	}
	return float64(ns) / 1e6 / span.Seconds()
}

// threadsCPU is each of the process's threads' time on a CPU in
// nanoseconds (the first field of /proc/PID/task/TID/schedstat).
func threadsCPU(b *testing.B, pid int) map[string]int64 {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	out := make(map[string]int64, len(tasks))
	for _, t := range tasks {
		raw, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(raw))
		if len(f) == 0 {
			continue
		}
		if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[t.Name()] = ns
		}
	}
	return out
}

// kernelFloors is the CPU, in µs, of one 20 µs nanosleep (as the Go
// runtime's sysmon sleeps between its looks at a busy process) and of one
// getpid system call, each measured on this goroutine's own thread.
func kernelFloors(b *testing.B) (timerUS, syscallUS float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadCPU := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(rusageThread, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	const sleeps, calls = 2000, 200000
	c0 := threadCPU()
	ts := syscall.Timespec{Nsec: 20_000}
	for range sleeps {
		// A signal (the runtime's preemption) may cut one short: it
		// still cost what it cost.
		if err := syscall.Nanosleep(&ts, nil); err != nil && !errors.Is(err, syscall.EINTR) {
			b.Fatal(err)
		}
	}
	c1 := threadCPU()
	for range calls {
		syscall.Getpid()
	}
	c2 := threadCPU()
	return float64(c1-c0) / sleeps / 1e3, float64(c2-c1) / calls / 1e3
}

// rusageThread is Linux's RUSAGE_THREAD: the calling thread's own usage.
const rusageThread = 1

// notifyIngestFloor is notifyIngest's client, bodies and concurrency
// against a handler that only reads the body and answers SUCCESS, on the
// same loopback and cores: what HTTP alone allows here, the ceiling of
// notify-per-s.
func notifyIngestFloor(b *testing.B, keys sandbox.Keys, orders int) float64 {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "SUCCESS")
	}))
	defer srv.Close()
	return notifyIngest(b, keys, srv.URL+"/notify/payby", orders, 0).perSecond
}

func rsaVerifyRate(b *testing.B, keys sandbox.Keys) float64 {
	h := sha256.Sum256([]byte("notification"))
	sig, err := rsa.SignPKCS1v15(nil, keys.Gateway, crypto.SHA256, h[:])
	if err != nil {
		b.Fatal(err)
	}
	const n = 500
	start := time.Now()
	for range n {
		if err := rsa.VerifyPKCS1v15(&keys.Gateway.PublicKey, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	return n / time.Since(start).Seconds()
}
