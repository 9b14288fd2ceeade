package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/ui"
)

// daemonOptions are what the demo and tests replace that a config file cannot say.
type daemonOptions struct {
	// openTerminal, when set, opens a lane's link instead of its serial port.
	openTerminal func(lane LaneConfig) terminal.Opener
	// gatewayHTTP, when set, is the gateway client's HTTP client.
	gatewayHTTP *http.Client
	// demo, when set, is served at /demo/ beside the API (ui.Config.Demo).
	demo http.Handler
	// apiListener and notifyListener, when set, are bound already: the API
	// and the notification endpoint serve on them instead of listening on
	// [api] listen and [notify] listen.
	apiListener, notifyListener net.Listener
}

// openDaemon starts everything cfg describes: it turns the config into the
// daemon's parts and opens a daemon.Daemon over them. It returns once the API
// and the notification endpoint listen; terminals connect in the background,
// since a terminal may be unplugged at boot.
func openDaemon(ctx context.Context, cfg *Config, logger *slog.Logger, opt daemonOptions) (*daemon.Daemon, error) {
	p, db, err := daemonParts(cfg, logger, opt)
	if err != nil {
		return nil, err
	}
	d, err := daemon.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	logger.Info("posbridge running", "api", d.API.URL(), "notify", d.Notify.URL(), "lanes", len(cfg.Lanes), "store", db.Path())
	return d, nil
}

// daemonParts opens what cfg describes: the store, the gateway client, a
// terminal per lane, the listeners; and says how the parts that need the
// engine are made. On failure it closes what it opened.
func daemonParts(cfg *Config, logger *slog.Logger, opt daemonOptions) (p daemon.Parts, db *store.DB, err error) {
	component := func(name string) *slog.Logger { return logger.With(posbridge.LogKeyComponent, name) }
	p.Logger = logger
	p.Terminals = map[string]posbridge.Terminal{}
	defer func() {
		if err != nil {
			p.APIListener = opt.apiListener
			p.Close()
		}
	}()
	if db, err = store.OpenOptions(cfg.Store.Path, store.Options{Logger: component("store"), EventsKeep: cfg.Store.EventsKeep.Std()}); err != nil {
		return p, nil, err
	}
	p.Store = db
	client, err := openGateway(cfg, opt, component("gateway"))
	if err != nil {
		return p, db, fmt.Errorf("gateway: %w", err)
	}
	// The engine calls the gateway through gw, which remembers its last
	// answer and failure for GET /status and the metrics.
	gw := newGatewayHealth(client)
	p.Gateway = engineGateway(gw)
	if err := openLanes(&p, cfg, client, opt, component("terminal")); err != nil {
		return p, db, err
	}
	p.Reconcile = cfg.Reconcile.Root()
	dayCfg, err := cfg.Day.Root()
	if err != nil {
		return p, db, fmt.Errorf("day: %w", err)
	}
	p.Day, p.Location = &dayCfg, dayCfg.Location
	if cfg.Gateway.Kind == "codepay" {
		p.Settlement = settledTerminals(cfg.Lanes)
	}

	var notify notifyHandler
	p.Notify.Path = notifyPath(cfg.Gateway.Kind)
	p.Notify.Handler = func(svc posbridge.NotificationService) (http.Handler, error) {
		h, err := openNotifyHandler(cfg, svc, component("notify"))
		notify = h
		return h, err
	}
	if p.Notify.Listener = opt.notifyListener; p.Notify.Listener == nil {
		if p.Notify.Listener, err = net.Listen("tcp", cfg.Notify.Listen); err != nil {
			return p, db, fmt.Errorf("notify: listen %s: %w", cfg.Notify.Listen, err)
		}
	}
	if cfg.Outbox.Kind == "nats" {
		p.Outbox = &daemon.Outbox{Source: db, Config: outbox.Config{
			Conn: cfg.Outbox.conn(), Identity: cfg.Outbox.identity(cfg.Gateway.PartnerID),
			Prefix: cfg.Outbox.SubjectPrefix, Stream: cfg.Outbox.Stream, MaxBacklog: cfg.Outbox.MaxBacklog.Std(),
			Logger: logger,
		}}
	}
	p.APIListener = opt.apiListener
	p.API = func(d *daemon.Daemon) ui.Config {
		return apiConfig(cfg, opt, d, notify, gw, db, component("api"))
	}
	if cfg.Metrics.Listen != "" {
		if p.Metrics, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return p, db, fmt.Errorf("metrics: listen %s: %w", cfg.Metrics.Listen, err)
		}
	}
	return p, db, nil
}

// openLanes adds each lane of cfg to p: a serial lane's terminal link (and
// its trace file), a cloud lane's terminal, a QR lane.
func openLanes(p *daemon.Parts, cfg *Config, gw posbridge.Gateway, opt daemonOptions, log *slog.Logger) error {
	for _, l := range cfg.Lanes {
		switch l.Mode {
		case LaneQR:
			p.QRLanes = append(p.QRLanes, daemon.QRLane{ID: l.ID, Config: l.qr()})
			continue
		case LaneCloud:
			t, err := openCloudLane(gw, l, log.With(posbridge.LogKeyLane, l.ID))
			if err != nil {
				return fmt.Errorf("lane %s: %w", l.ID, err)
			}
			p.Terminals[l.ID] = t
			continue
		}
		tc := terminal.Config{
			Port:           l.Port,
			Match:          terminal.PortMatch{VID: l.VID, PID: l.PID, SerialNumber: l.SerialNumber, NameKeyword: l.PortKeyword},
			AppID:          l.AppID,
			SaleTimeout:    l.SaleTimeout.Std(),
			Heartbeat:      l.Heartbeat.Std(),
			LinkTimeout:    l.LinkTimeout.Std(),
			RequestTimeout: l.RequestTimeout.Std(),
			Logger:         log.With(posbridge.LogKeyLane, l.ID),
		}
		if opt.openTerminal != nil {
			tc.Open = opt.openTerminal(l)
		}
		if l.Trace != "" {
			f, err := os.OpenFile(l.Trace, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return fmt.Errorf("lane %s: trace: %w", l.ID, err)
			}
			p.Closers = append(p.Closers, f)
			tc.Trace = f
		}
		conn, err := terminal.Open(tc)
		if err != nil {
			return fmt.Errorf("lane %s: %w", l.ID, err)
		}
		p.Terminals[l.ID] = conn
	}
	return nil
}

// apiConfig is the local API's config: cfg's [api], the lanes, and the
// metrics and health of the open daemon's parts.
func apiConfig(cfg *Config, opt daemonOptions, d *daemon.Daemon, notify notifyHandler, gw *gatewayHealth, db *store.DB, log *slog.Logger) ui.Config {
	reg := prometheus.NewRegistry()
	reg.MustRegister(notifyCollector{notify})
	reg.MustRegister(healthCollector{gw: gw, storeDB: db.Path(), integrity: db.Integrity, writes: db.WriteStats})
	components := func(context.Context) []ui.Component {
		return []ui.Component{gw.Component(), integrityComponent(db.Integrity())}
	}
	if d.Outbox != nil {
		reg.MustRegister(outboxCollector{s: d.Outbox, now: time.Now})
		components = func(ctx context.Context) []ui.Component {
			return []ui.Component{gw.Component(), integrityComponent(db.Integrity()), outboxHealth(ctx, d.Outbox, time.Now())}
		}
	}
	lanes := make([]string, 0, len(cfg.Lanes))
	for _, l := range cfg.Lanes {
		lanes = append(lanes, l.ID)
	}
	addr := cfg.API.Listen
	if opt.apiListener != nil {
		addr = opt.apiListener.Addr().String()
	}
	return ui.Config{
		Addr: addr, Token: cfg.API.Token, AllowedOrigins: cfg.API.AllowedOrigins, AllowedHosts: cfg.API.AllowedHosts,
		Lanes: lanes, Logger: log, Registry: reg, Demo: opt.demo, RefundApproval: cfg.Gateway.Kind == "payprotocol",
		Components: components,
	}
}

// notifyCollector exports the notification handler's counters.
type notifyCollector struct{ h notifyHandler }

var notifyDesc = prometheus.NewDesc("posbridge_notifications_received_total",
	"Gateway notifications received, by what the handler did with them.", []string{"result"}, nil)

func (c notifyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- notifyDesc }

func (c notifyCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	for result, n := range map[string]uint64{
		"accepted": s.Accepted, "forged": s.Forged, "stale": s.Stale,
		"malformed": s.Malformed, "oversized": s.Oversized, "service_error": s.ServiceErrors,
	} {
		ch <- prometheus.MustNewConstMetric(notifyDesc, prometheus.CounterValue, float64(n), result)
	}
}
