package ui

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posbridge/posbridge"
)

// scrapeTimeout bounds the service calls made for one scrape.
const scrapeTimeout = 5 * time.Second

var (
	descPayments = prometheus.NewDesc("posbridge_payments",
		"Orders by status (all time).", []string{"status"}, nil)
	descAttention = prometheus.NewDesc("posbridge_payments_needs_attention",
		"Orders flagged for a person to look at.", nil, nil)
	descBacklog = prometheus.NewDesc("posbridge_reconcile_backlog",
		"Open orders waiting for a scheduled gateway check.", nil, nil)
	descVerifications = prometheus.NewDesc("posbridge_verifications_total",
		"Gateway queries made to verify orders.", nil, nil)
	descGatewayErrors = prometheus.NewDesc("posbridge_gateway_errors_total",
		"Gateway call errors by class.", []string{"class"}, nil)
	descNotifications = prometheus.NewDesc("posbridge_notifications_total",
		"Gateway notifications by what applying them did.", []string{"result"}, nil)
	descLinkState = prometheus.NewDesc("posbridge_terminal_link_state",
		"1 for the state each lane's terminal link is in, 0 for the others.", []string{"lane", "state"}, nil)
	descFrames = prometheus.NewDesc("posbridge_terminal_frames_total",
		"Valid frames received from the terminal.", []string{"lane"}, nil)
	descFrameErrors = prometheus.NewDesc("posbridge_terminal_frame_errors_total",
		"Frames from the terminal dropped for a bad CRC or ETX.", []string{"lane"}, nil)
	descRetransmits = prometheus.NewDesc("posbridge_terminal_retransmits_total",
		"Frames sent to the terminal again.", []string{"lane"}, nil)
	descReconnects = prometheus.NewDesc("posbridge_terminal_reconnects_total",
		"Terminal link reconnects.", []string{"lane"}, nil)
)

var linkStates = []posbridge.LinkState{posbridge.LinkDown, posbridge.LinkHandshaking, posbridge.LinkUp}

// serviceCollector reads the service's Stats and Lanes at scrape time, so the
// numbers are the engine's, not a copy that could drift.
type serviceCollector struct {
	svc posbridge.PaymentService
}

func (c serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPayments, descAttention, descBacklog, descVerifications,
		descGatewayErrors, descNotifications, descLinkState, descFrames, descFrameErrors, descRetransmits, descReconnects} {
		ch <- d
	}
}

func (c serviceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := c.svc.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descPayments, fmt.Errorf("read stats: %w", err))
	} else {
		for _, s := range posbridge.Statuses {
			ch <- prometheus.MustNewConstMetric(descPayments, prometheus.GaugeValue, float64(st.PaymentsByStatus[s]), string(s))
		}
		ch <- prometheus.MustNewConstMetric(descAttention, prometheus.GaugeValue, float64(st.NeedsAttention))
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(st.ReconcileBacklog))
		ch <- prometheus.MustNewConstMetric(descVerifications, prometheus.CounterValue, float64(st.Verifications))
		for _, class := range withKeys(st.GatewayErrors, "unknown_outcome", "retryable", "not_found", "final") {
			ch <- prometheus.MustNewConstMetric(descGatewayErrors, prometheus.CounterValue, float64(st.GatewayErrors[class]), class)
		}
		for _, res := range withKeys(st.Notifications, "applied", "duplicate", "mismatch", "unknown_order", "not_applicable") {
			ch <- prometheus.MustNewConstMetric(descNotifications, prometheus.CounterValue, float64(st.Notifications[res]), res)
		}
	}
	lanes, err := c.svc.Lanes(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLinkState, fmt.Errorf("read lanes: %w", err))
		return
	}
	for _, l := range lanes {
		for _, s := range linkStates {
			v := 0.0
			if l.Link.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descLinkState, prometheus.GaugeValue, v, l.ID, string(s))
		}
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(l.Link.Frames), l.ID)
		ch <- prometheus.MustNewConstMetric(descFrameErrors, prometheus.CounterValue, float64(l.Link.CRCErrors), l.ID)
		ch <- prometheus.MustNewConstMetric(descRetransmits, prometheus.CounterValue, float64(l.Link.Retransmits), l.ID)
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(l.Link.Reconnects), l.ID)
	}
}

// withKeys returns the map's keys plus the always-present ones, sorted, so a
// counter that is still zero is exported rather than missing.
func withKeys(m map[string]uint64, always ...string) []string {
	set := map[string]bool{}
	for _, k := range always {
		set[k] = true
	}
	for k := range m {
		set[k] = true
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newMetricsHandler serves the service's metrics, the Go runtime's and the
// daemon's extra registry.
func newMetricsHandler(svc posbridge.PaymentService, extra *prometheus.Registry, logger *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(serviceCollector{svc: svc})
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gatherers := prometheus.Gatherers{reg}
	if extra != nil {
		gatherers = append(gatherers, extra)
	}
	return promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       scrapeTimeout + time.Second,
	})
}
