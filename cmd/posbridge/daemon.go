package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/ui"
)

// Daemon is one running posbridge: the store, a terminal link per lane, the
// gateway client, the engine, the local API and cashier page, and the
// gateway's notification endpoint.
type Daemon struct {
	Store     *store.DB
	Terminals map[string]*terminal.Conn
	Gateway   posbridge.Gateway // *payby.Client or *codepay.Client
	Engine    *posbridge.Engine
	// Day closes days (nil when the gateway cannot list one).
	Day *posbridge.DayCloser
	// Settlement settles lanes' terminals (nil unless the gateway is
	// CodePay and a lane names its terminal_sn); settle.go.
	Settlement *posbridge.Settlements
	API        *ui.Server
	Notify     notifyHandler
	// notifyPath is where Notify is served: /notify/payby or /notify/codepay.
	notifyPath string
	// Monitor is the [metrics] listener, nil when not configured.
	Monitor *monitorServer
	// Outbox ships events to head office ([outbox]), nil when not configured.
	Outbox *outbox.Shipper

	notifySrv  *http.Server
	notifyLn   net.Listener
	notifyDone chan struct{}
	logger     *slog.Logger
	closeOnce  sync.Once
	closeErr   error
	traces     []*os.File // the lanes' trace files, closed after the terminals
}

// daemonOptions are what the demo and tests replace that a config file cannot say.
type daemonOptions struct {
	// openTerminal, when set, opens a lane's link instead of its serial port.
	openTerminal func(lane LaneConfig) terminal.Opener
	// gatewayHTTP, when set, is the gateway client's HTTP client.
	gatewayHTTP *http.Client
	// demo, when set, is served at /demo/ beside the API (ui.Config.Demo).
	demo http.Handler
}

// openDaemon starts everything cfg describes. It returns once the API and the
// notification endpoint listen; terminals connect in the background, since a
// terminal may be unplugged at boot.
func openDaemon(ctx context.Context, cfg *Config, logger *slog.Logger, opt daemonOptions) (d *Daemon, err error) {
	d = &Daemon{Terminals: map[string]*terminal.Conn{}, logger: logger}
	defer func() {
		if err != nil {
			d.Close(context.Background())
			d = nil
		}
	}()
	component := func(name string) *slog.Logger { return logger.With(posbridge.LogKeyComponent, name) }

	if d.Store, err = store.OpenOptions(cfg.Store.Path, store.Options{Logger: component("store"), EventsKeep: cfg.Store.EventsKeep.Std()}); err != nil {
		return d, err
	}
	if d.Gateway, err = openGateway(cfg, opt, component("gateway")); err != nil {
		return d, fmt.Errorf("gateway: %w", err)
	}

	// The engine is made after the terminals, but their link callbacks need it.
	var engine atomic.Pointer[posbridge.Engine]
	terms := map[string]posbridge.Terminal{}
	for _, l := range cfg.Lanes {
		if l.Mode == LaneQR {
			continue // no terminal: added to the engine below
		}
		if l.Mode == LaneCloud {
			t, err := openCloudLane(d.Gateway, l, component("terminal").With(posbridge.LogKeyLane, l.ID))
			if err != nil {
				return d, fmt.Errorf("lane %s: %w", l.ID, err)
			}
			terms[l.ID] = t
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
			Logger:         component("terminal").With(posbridge.LogKeyLane, l.ID),
			OnLinkChange: func(st posbridge.LinkStatus) {
				if e := engine.Load(); e != nil {
					e.LinkChanged(l.ID, st)
				}
			},
		}
		if opt.openTerminal != nil {
			tc.Open = opt.openTerminal(l)
		}
		if l.Trace != "" {
			f, err := os.OpenFile(l.Trace, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return d, fmt.Errorf("lane %s: trace: %w", l.ID, err)
			}
			d.traces = append(d.traces, f)
			tc.Trace = f
		}
		conn, err := terminal.Open(tc)
		if err != nil {
			return d, fmt.Errorf("lane %s: %w", l.ID, err)
		}
		d.Terminals[l.ID] = conn
		terms[l.ID] = conn
	}

	// The engine calls the gateway through gw, which remembers its last
	// answer and failure for GET /status and the metrics.
	gw := newGatewayHealth(d.Gateway)
	e := posbridge.NewEngine(d.Store, engineGateway(gw), terms)
	e.Logger = component("engine")
	e.Reconcile = cfg.Reconcile.Root()
	if err := addQRLanes(e, cfg.Lanes); err != nil {
		return d, err
	}
	if err := e.Open(ctx); err != nil {
		return d, err
	}
	d.Engine = e
	engine.Store(e)
	if err := d.openDay(cfg.Day, e); err != nil {
		return d, err
	}
	if err := d.openSettlement(cfg, e); err != nil {
		return d, err
	}

	if d.Notify, d.notifyPath, err = openNotifyHandler(cfg, e, component("notify")); err != nil {
		return d, fmt.Errorf("notifications: %w", err)
	}
	if err := d.openNotify(cfg.Notify.Listen); err != nil {
		return d, err
	}

	if cfg.Outbox.Kind == "nats" {
		if d.Outbox, err = outbox.New(d.Store, outbox.Config{
			Conn: cfg.Outbox.conn(), Identity: cfg.Outbox.identity(cfg.Gateway.PartnerID),
			Prefix: cfg.Outbox.SubjectPrefix, Stream: cfg.Outbox.Stream, MaxBacklog: cfg.Outbox.MaxBacklog.Std(),
			Bus: e.Bus, Lanes: e.Lanes, Logger: logger,
		}); err != nil {
			return d, err
		}
		if err := d.Outbox.Open(); err != nil {
			d.Outbox = nil
			return d, err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(notifyCollector{d.Notify})
	reg.MustRegister(healthCollector{gw: gw, storeDB: d.Store.Path(), integrity: d.Store.Integrity})
	components := func(context.Context) []ui.Component {
		return []ui.Component{gw.Component(), integrityComponent(d.Store.Integrity())}
	}
	if d.Outbox != nil {
		reg.MustRegister(outboxCollector{s: d.Outbox, now: time.Now})
		components = func(ctx context.Context) []ui.Component {
			return []ui.Component{gw.Component(), integrityComponent(d.Store.Integrity()), outboxHealth(ctx, d.Outbox, time.Now())}
		}
	}
	lanes := make([]string, 0, len(cfg.Lanes))
	for _, l := range cfg.Lanes {
		lanes = append(lanes, l.ID)
	}
	d.API = ui.NewServer(e, ui.Config{
		Addr: cfg.API.Listen, Token: cfg.API.Token, AllowedOrigins: cfg.API.AllowedOrigins, AllowedHosts: cfg.API.AllowedHosts,
		Lanes: lanes, Logger: component("api"), Registry: reg, Demo: opt.demo, RefundApproval: cfg.Gateway.Kind == "payprotocol",
		Components: components,
		Day:        d.dayService(),
		Settlement: d.settlementService(),
	})
	if err := d.API.Open(); err != nil {
		return d, fmt.Errorf("api: %w", err)
	}
	if cfg.Metrics.Listen != "" {
		if d.Monitor, err = openMonitor(cfg.Metrics.Listen, d.API.MonitoringHandler(), component("metrics")); err != nil {
			return d, err
		}
	}
	logger.Info("posbridge running", "api", d.API.URL(), "notify", d.NotifyURL(), "lanes", len(lanes), "store", d.Store.Path())
	return d, nil
}

func (d *Daemon) openNotify(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("notify: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+d.notifyPath, d.Notify)
	d.notifyLn = ln
	d.notifySrv = &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
	}
	d.notifyDone = make(chan struct{})
	go func() {
		defer close(d.notifyDone)
		if err := d.notifySrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.logger.Error("notify server", posbridge.LogKeyError, err)
		}
	}()
	return nil
}

// NotifyURL is the base URL of the notification endpoint.
func (d *Daemon) NotifyURL() string {
	if d.notifyLn == nil {
		return ""
	}
	return "http://" + d.notifyLn.Addr().String()
}

// Close stops the daemon front door first and the store last: API and
// notifications, then the engine, the outbox shipper (what it has not
// shipped waits in the database), the terminals (closing the ports), and the
// database. It keeps the first error.
func (d *Daemon) Close(ctx context.Context) error {
	d.closeOnce.Do(func() {
		keep := func(err error) {
			if err != nil && d.closeErr == nil {
				d.closeErr = err
			}
		}
		if d.Monitor != nil {
			keep(d.Monitor.Close(ctx))
		}
		if d.API != nil {
			keep(d.API.Close(ctx))
		}
		if d.notifySrv != nil {
			keep(d.notifySrv.Shutdown(ctx))
			<-d.notifyDone
		}
		if d.Day != nil {
			keep(d.Day.Close())
		}
		if d.Engine != nil {
			keep(d.Engine.Close())
		}
		if d.Outbox != nil {
			keep(d.Outbox.Close())
		}
		for _, t := range d.Terminals {
			keep(t.Close())
		}
		for _, f := range d.traces {
			keep(f.Close())
		}
		if d.Store != nil {
			keep(d.Store.Close())
		}
	})
	return d.closeErr
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

// runDaemon is the daemon "posbridge run" and the service run: it loads and
// checks the config, starts everything, waits for ctx, and shuts down within
// a few seconds.
func runDaemon(ctx context.Context, cfgPath string) error {
	cfg, err := LoadCheckedConfig(cfgPath)
	if err != nil {
		return &configFailure{path: cfgPath, err: err}
	}
	logger := slog.Default()
	if !loggerSetByService.Load() {
		logger = NewLogger(cfg.Log, stderrFrom(ctx), true)
		slog.SetDefault(logger)
	}
	d, err := openDaemon(ctx, cfg, logger, daemonOptions{})
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Close(stopCtx)
}

// loggerSetByService is set when the service manager's log (the Windows Event
// Log) is the default logger; the daemon then keeps it.
var loggerSetByService atomic.Bool

type stderrKey struct{}

// withStderr passes Main's stderr to the daemon, whose logs go there.
func withStderr(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, stderrKey{}, w)
}

func stderrFrom(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(stderrKey{}).(io.Writer); ok {
		return w
	}
	return os.Stderr
}
