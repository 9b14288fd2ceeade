package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/ui"
)

// outboxHealth turns the shipper's Stats into the "outbox" component of GET
// /status: down while the server cannot be reached or the last round
// failed, with how far behind the till is.
func outboxHealth(ctx context.Context, s *outbox.Shipper, now time.Time) ui.Component {
	st, err := s.Stats(ctx)
	c := ui.Component{Name: "outbox", State: ui.StateUp, LastSuccess: st.LastShipped}
	switch {
	case err != nil:
		c.State, c.Detail = ui.StateUnknown, err.Error()
		return c
	case !st.Connected:
		c.State, c.Detail = ui.StateDown, "not connected to the NATS server"
	case st.LastError != "":
		c.State, c.Detail = ui.StateDown, st.LastError
	}
	behind := "up to date"
	if st.Backlog > 0 {
		behind = fmt.Sprintf("%d events behind, oldest from %s ago", st.Backlog, now.Sub(st.Oldest).Round(time.Second))
	}
	if c.Detail == "" {
		c.Detail = behind
	} else {
		c.Detail = behind + "; " + c.Detail
	}
	return c
}

var (
	descOutboxBacklog = prometheus.NewDesc("posbridge_outbox_backlog_events",
		"Events committed on this till and not yet acknowledged by head office's NATS server.", nil, nil)
	descOutboxOldest = prometheus.NewDesc("posbridge_outbox_oldest_unshipped_age_seconds",
		"Age of the oldest event not yet acknowledged by the NATS server; 0 when none waits.", nil, nil)
	descOutboxPublished = prometheus.NewDesc("posbridge_outbox_published_total",
		"Events the NATS server acknowledged since start (duplicates it dropped included).", nil, nil)
	descOutboxErrors = prometheus.NewDesc("posbridge_outbox_publish_errors_total",
		"Events whose publish failed or was not acknowledged in time since start (each retry counts).", nil, nil)
	descOutboxDropped = prometheus.NewDesc("posbridge_outbox_dropped_total",
		"Events dropped unshipped for being older than [outbox] max_backlog since start.", nil, nil)
	descOutboxConnected = prometheus.NewDesc("posbridge_outbox_connected",
		"1 while connected to the NATS server, else 0.", nil, nil)
)

// outboxCollector exports the shipper's backlog and counters.
type outboxCollector struct {
	s   *outbox.Shipper
	now func() time.Time
}

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOutboxBacklog, descOutboxOldest, descOutboxPublished, descOutboxErrors, descOutboxDropped, descOutboxConnected} {
		ch <- d
	}
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.s.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descOutboxBacklog, err)
	} else {
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, c.now().Sub(st.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOutboxBacklog, prometheus.GaugeValue, float64(st.Backlog))
		ch <- prometheus.MustNewConstMetric(descOutboxOldest, prometheus.GaugeValue, age)
	}
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descOutboxPublished, prometheus.CounterValue, float64(st.Published))
	ch <- prometheus.MustNewConstMetric(descOutboxErrors, prometheus.CounterValue, float64(st.PublishErrors))
	ch <- prometheus.MustNewConstMetric(descOutboxDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descOutboxConnected, prometheus.GaugeValue, connected)
}
