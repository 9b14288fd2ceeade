package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/ui"
)

// gatewayHealth wraps the gateway to remember its last answer and its last
// failure, for GET /status and the metrics. A refusal (not found, already
// paid, any final answer) is an answer: the gateway is up. Only
// ErrUnknownOutcome (transport errors, timeouts, garbled answers) and
// ErrRetryable (rate limit, unavailable) count as failures.
type gatewayHealth struct {
	posbridge.Gateway
	now func() time.Time

	mu        sync.Mutex
	lastOK    time.Time
	lastErr   time.Time
	lastMsg   string
	state     string
	since     time.Time
	failures  uint64
	successes uint64
}

func newGatewayHealth(g posbridge.Gateway) *gatewayHealth {
	return &gatewayHealth{Gateway: g, now: time.Now, state: ui.StateUnknown}
}

func (g *gatewayHealth) record(err error) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	state := ui.StateUp
	if errors.Is(err, posbridge.ErrUnknownOutcome) || errors.Is(err, posbridge.ErrRetryable) {
		state = ui.StateDown
		g.lastErr, g.lastMsg = now, err.Error()
		g.failures++
	} else {
		g.lastOK = now
		g.successes++
	}
	if state != g.state {
		g.state, g.since = state, now
	}
}

// QueryOrder implements posbridge.Gateway.
func (g *gatewayHealth) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	o, err := g.Gateway.QueryOrder(ctx, no)
	g.record(err)
	return o, err
}

// CancelOrder implements posbridge.Gateway.
func (g *gatewayHealth) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	o, err := g.Gateway.CancelOrder(ctx, no)
	g.record(err)
	return o, err
}

// Refund implements posbridge.Gateway.
func (g *gatewayHealth) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	rf, err := g.Gateway.Refund(ctx, r)
	g.record(err)
	return rf, err
}

// QueryRefund implements posbridge.Gateway.
func (g *gatewayHealth) QueryRefund(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	rf, err := g.Gateway.QueryRefund(ctx, no)
	g.record(err)
	return rf, err
}

// Component returns the gateway as GET /status shows it.
func (g *gatewayHealth) Component() ui.Component {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := ui.Component{Name: "gateway", State: g.state, Since: g.since, LastSuccess: g.lastOK, LastError: g.lastErr}
	if g.state == ui.StateDown {
		c.Detail = g.lastMsg
	}
	return c
}

var (
	descGatewayUp = prometheus.NewDesc("posbridge_gateway_up",
		"1 when the gateway's last call got an answer, 0 when it failed (transport, timeout, unavailable); absent before the first call.", nil, nil)
	descGatewayLast = prometheus.NewDesc("posbridge_gateway_last_timestamp_seconds",
		"When the gateway last answered (result=success) or last failed (result=error), Unix time; absent if never.", []string{"result"}, nil)
	descGatewayCalls = prometheus.NewDesc("posbridge_gateway_calls_total",
		"Gateway calls since start by result: success (an answer, refusals included) or error.", []string{"result"}, nil)
	descDiskFree = prometheus.NewDesc("posbridge_store_disk_free_bytes",
		"Free bytes on the file system holding the database (for the posbridge user).", nil, nil)
	descDiskSize = prometheus.NewDesc("posbridge_store_disk_size_bytes",
		"Size in bytes of the file system holding the database.", nil, nil)
	descIntegrity = prometheus.NewDesc("posbridge_store_integrity_ok",
		"1 when the last check of the whole database file found it whole, 0 when it found damage; absent while no check ran.", nil, nil)
	descCommits = prometheus.NewDesc("posbridge_store_commits_total",
		"Commits of the one writer since start; each is one fsync of the write-ahead log.", nil, nil)
	descWrites = prometheus.NewDesc("posbridge_store_writes_total",
		"Writes committed since start (several share a commit: writes/commits is the mean batch).", nil, nil)
	descWriterBusy = prometheus.NewDesc("posbridge_store_writer_busy_seconds_total",
		"Time the writer spent on batches since start: every write waits while it runs, so a rate near 1 means writes queue.", nil, nil)
	descCommitting = prometheus.NewDesc("posbridge_store_commit_seconds_total",
		"The part of the writer's busy time spent committing (writing the log and syncing it).", nil, nil)
)

// healthCollector exports the gateway's health, the database disk's space,
// the database file's integrity and the store writer's load.
type healthCollector struct {
	gw        *gatewayHealth
	storeDB   string // the database file
	integrity func() store.Integrity
	writes    func() store.WriteStats
}

// integrityComponent is the database file's integrity as GET /status shows
// it: unknown until a check ran (one runs in the background after an
// unclean shutdown, or by "posbridge db check"), down when it found damage.
func integrityComponent(in store.Integrity) ui.Component {
	c := ui.Component{Name: "database-integrity", State: ui.StateUnknown, Detail: "not checked since start (the file closed cleanly)"}
	switch {
	case in.Checking:
		c.Detail = "checking the whole file after an unclean shutdown"
	case in.Err != nil:
		c.State, c.Detail = ui.StateDown, in.Err.Error()
	case !in.Checked.IsZero():
		c.State, c.Detail = ui.StateUp, "checked after an unclean shutdown: whole"
	}
	return c
}

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGatewayUp, descGatewayLast, descGatewayCalls, descDiskFree, descDiskSize, descIntegrity,
		descCommits, descWrites, descWriterBusy, descCommitting} {
		ch <- d
	}
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	c.gw.mu.Lock()
	state, lastOK, lastErr, ok, failed := c.gw.state, c.gw.lastOK, c.gw.lastErr, c.gw.successes, c.gw.failures
	c.gw.mu.Unlock()
	if state != ui.StateUnknown {
		up := 0.0
		if state == ui.StateUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descGatewayUp, prometheus.GaugeValue, up)
	}
	for result, at := range map[string]time.Time{"success": lastOK, "error": lastErr} {
		if !at.IsZero() {
			ch <- prometheus.MustNewConstMetric(descGatewayLast, prometheus.GaugeValue, float64(at.UnixNano())/1e9, result)
		}
	}
	ch <- prometheus.MustNewConstMetric(descGatewayCalls, prometheus.CounterValue, float64(ok), "success")
	ch <- prometheus.MustNewConstMetric(descGatewayCalls, prometheus.CounterValue, float64(failed), "error")
	if free, size, err := diskSpace(filepath.Dir(c.storeDB)); err != nil {
		ch <- prometheus.NewInvalidMetric(descDiskFree, fmt.Errorf("disk space: %w", err))
	} else {
		ch <- prometheus.MustNewConstMetric(descDiskFree, prometheus.GaugeValue, float64(free))
		ch <- prometheus.MustNewConstMetric(descDiskSize, prometheus.GaugeValue, float64(size))
	}
	if c.writes != nil {
		w := c.writes()
		ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(w.Commits))
		ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(w.Writes))
		ch <- prometheus.MustNewConstMetric(descWriterBusy, prometheus.CounterValue, w.Busy.Seconds())
		ch <- prometheus.MustNewConstMetric(descCommitting, prometheus.CounterValue, w.Committing.Seconds())
	}
	if c.integrity != nil {
		if in := c.integrity(); !in.Checked.IsZero() {
			ok := 1.0
			if in.Err != nil {
				ok = 0
			}
			ch <- prometheus.MustNewConstMetric(descIntegrity, prometheus.GaugeValue, ok)
		}
	}
}
