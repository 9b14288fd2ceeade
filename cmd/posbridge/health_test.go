package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/ui"
)

// scriptedGateway answers every query with err.
type scriptedGateway struct {
	posbridge.Gateway
	err error
}

func (g *scriptedGateway) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	return posbridge.GatewayOrder{}, g.err
}

func TestGatewayHealth(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		errs      []error // one call each, a second apart
		wantState string
		wantSince time.Time
	}{
		{"Unused", nil, ui.StateUnknown, time.Time{}},
		{"Answered", []error{nil}, ui.StateUp, t0},
		{"RefusalIsAnAnswer", []error{fmt.Errorf("code 404: %w", posbridge.ErrGatewayNotFound), fmt.Errorf("x: %w", posbridge.ErrGatewayFinal)}, ui.StateUp, t0},
		{"Timeout", []error{nil, fmt.Errorf("timeout: %w", posbridge.ErrUnknownOutcome)}, ui.StateDown, t0.Add(time.Second)},
		{"StillDown", []error{fmt.Errorf("a: %w", posbridge.ErrRetryable), fmt.Errorf("b: %w", posbridge.ErrUnknownOutcome)}, ui.StateDown, t0},
		{"Recovered", []error{fmt.Errorf("a: %w", posbridge.ErrRetryable), nil}, ui.StateUp, t0.Add(time.Second)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sg := &scriptedGateway{}
			g := newGatewayHealth(sg)
			now := t0
			g.now = func() time.Time { return now }
			for i, err := range tt.errs {
				now = t0.Add(time.Duration(i) * time.Second)
				sg.err = err
				if _, got := g.QueryOrder(context.Background(), "X"); !errors.Is(got, err) && got != err {
					t.Fatalf("QueryOrder returned %v, want the gateway's %v", got, err)
				}
			}
			c := g.Component()
			if c.Name != "gateway" || c.State != tt.wantState || !c.Since.Equal(tt.wantSince) {
				t.Fatalf("Component() = %+v, want state %s since %v", c, tt.wantState, tt.wantSince)
			}
			if c.State == ui.StateDown && c.Detail == "" {
				t.Errorf("a down gateway says nothing about its last error")
			}
		})
	}
}

// TestDaemon_MetricsListener runs the daemon with [metrics] listen and reads
// /status and /metrics from that listener: each component with its state,
// the gateway and disk metrics, and no API route.
func TestDaemon_MetricsListener(t *testing.T) {
	w := newE2EWorld(t)
	metricsAddr := freeAddr(t)
	f, err := os.OpenFile(w.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[metrics]\nlisten = %q\n", metricsAddr)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	w.startDaemon(t)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The simulated terminal links up in the background.
	var body struct {
		Status     string         `json:"status"`
		Components []ui.Component `json:"components"`
	}
	states := map[string]string{}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, text := get("/status")
		if err := json.Unmarshal([]byte(text), &body); err != nil {
			t.Fatalf("/status: %v: %s", err, text)
		}
		for _, c := range body.Components {
			states[c.Name] = c.State
		}
		if states["terminal:1"] == ui.StateUp || time.Now().After(deadline) {
			break
		}
	}
	if states["database"] != ui.StateUp || states["terminal:1"] != ui.StateUp || states["gateway"] == "" || states["gateway"] == ui.StateDown {
		t.Fatalf("/status components %v, want database and terminal:1 up, gateway up or unknown", states)
	}
	code, metrics := get("/metrics")
	for _, want := range []string{"posbridge_store_disk_free_bytes ", "posbridge_gateway_calls_total{result=\"error\"}", `posbridge_terminal_link_state{lane="1",state="up"} 1`, "posbridge_reconcile_backlog "} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	if code, _ := get("/api/v1/payments"); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves /api/v1/payments (%d)", code)
	}
	checkMonitoringFiles(t, metrics)
}

// checkMonitoringFiles checks packaging/monitoring against what the daemon
// exports (metrics, the text of a scrape): every posbridge_* metric the
// alert rules and the Grafana dashboard use exists, every rule has an
// expression, a severity and a summary, and the fleet's alerts are there.
func checkMonitoringFiles(t *testing.T, metrics string) {
	t.Helper()
	exported := map[string]bool{}
	for _, l := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(l, "# TYPE "); ok {
			exported[strings.Fields(rest)[0]] = true
		}
	}
	metricName := regexp.MustCompile(`posbridge_[a-z_]+`)
	// The gateway's gauges appear only after its first call, the outbox's
	// only with [outbox]: take their names from the collectors.
	descs := make(chan *prometheus.Desc, 64)
	healthCollector{}.Describe(descs)
	outboxCollector{}.Describe(descs) // exported only with [outbox]
	close(descs)
	for d := range descs {
		exported[metricName.FindString(d.String())] = true
	}
	used := func(file, expr string) {
		for _, m := range metricName.FindAllString(expr, -1) {
			if !exported[m] {
				t.Errorf("%s uses %s, which posbridge does not export", file, m)
			}
		}
	}

	rules, err := os.ReadFile(filepath.Join(packagingDir, "monitoring", "posbridge-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, block := range strings.Split(string(rules), "- alert: ")[1:] {
		name, _, _ := strings.Cut(block, "\n")
		alerts[name] = true
		expr := regexp.MustCompile(`(?m)^\s+expr: (.+)$`).FindStringSubmatch(block)
		if expr == nil || !strings.Contains(block, "severity: ") || !strings.Contains(block, "summary: ") {
			t.Errorf("alert %s lacks an expr, a severity or a summary", name)
			continue
		}
		used("posbridge-alerts.yml", expr[1])
	}
	for _, want := range []string{"PosbridgeDown", "PosbridgeTerminalDown", "PosbridgeGatewayDown", "PosbridgeGatewayErrors",
		"PosbridgeOrdersNeedAttention", "PosbridgeReconcileBacklog", "PosbridgeDiskLow"} {
		if !alerts[want] {
			t.Errorf("posbridge-alerts.yml has no %s alert", want)
		}
	}
	if !strings.Contains(string(rules), "expr: posbridge_terminal_link_state{state=\"up\"} == 0\n        for: 2m\n") {
		t.Errorf("PosbridgeTerminalDown does not fire after 2 minutes of no link")
	}

	b, err := os.ReadFile(filepath.Join(packagingDir, "monitoring", "posbridge-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("posbridge-dashboard.json: %v", err)
	}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] || len(p.Targets) == 0 {
			t.Errorf("dashboard panel %d %q: duplicate id or no query", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			used("posbridge-dashboard.json", tg.Expr)
		}
	}
	if dash.UID == "" || len(dash.Panels) < 6 {
		t.Errorf("dashboard uid %q with %d panels", dash.UID, len(dash.Panels))
	}
}
