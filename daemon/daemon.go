package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/ui"
)

// Store is the store a daemon runs on; the daemon closes it last.
type Store interface {
	posbridge.Store
	Close() error
}

// QRLane is a lane without a terminal (posbridge.Engine.AddQRLane).
type QRLane struct {
	ID     string
	Config posbridge.QRLane
}

// Notify says where and how the gateway's notifications are received.
type Notify struct {
	// Listener is where the gateway posts; the daemon owns it from Open on.
	Listener net.Listener
	// Path is the handler's path, such as /notify/payby.
	Path string
	// Handler makes the notification handler over the open engine.
	Handler func(posbridge.NotificationService) (http.Handler, error)
}

// Outbox says what the outbox shipper ships (outbox.New); the daemon fills
// in the config's Bus and Lanes from the engine.
type Outbox struct {
	Source outbox.Source
	Config outbox.Config
}

// Parts are what a Daemon is assembled from, each built by the caller: the
// store open, the terminals connecting, the listeners bound. The daemon owns
// every part from Open on: its Close closes them, and so does a failed Open.
type Parts struct {
	// Store is what the engine commits to; it is closed last.
	Store Store
	// Gateway is the gateway client the engine calls.
	Gateway posbridge.Gateway
	// Terminals are the lanes' terminals by lane id. Each that is an
	// io.Closer is closed after the engine.
	Terminals map[string]posbridge.Terminal
	// QRLanes are the lanes without a terminal.
	QRLanes []QRLane
	// Reconcile is the engine's reconciliation (posbridge.ReconcileConfig).
	Reconcile posbridge.ReconcileConfig
	// Location is the till's time zone (the engine's); time.Local when nil.
	Location *time.Location
	// Logger receives the daemon's logs; the engine's carry component=engine.
	Logger *slog.Logger
	// Notify is the gateway's notification endpoint.
	Notify Notify
	// Day, when set, makes a day closer (posbridge.NewDayCloser) and starts
	// its scheduled run.
	Day *posbridge.DayConfig
	// Settlement, when not empty, makes the settlement service over these
	// lanes' terminals (lane id → terminal serial number).
	Settlement map[string]string
	// Outbox, when set, ships the store's events to head office.
	Outbox *Outbox
	// API, when set, returns the local API's config once the engine and the
	// parts above are open (it may report on them); the daemon fills in Day
	// and Settlement. Without it the daemon serves no API.
	API func(*Daemon) ui.Config
	// APIListener, when set, is where the API serves (ui.Config.Listener);
	// API's config then names its address. Without it the API listens on
	// its config's Addr.
	APIListener net.Listener
	// Metrics, when set, serves the API's monitoring routes without the
	// token (it needs API).
	Metrics net.Listener
	// Closers are closed after the terminals, in order (trace files).
	Closers []io.Closer
}

// Daemon is one running posbridge: the engine over its store, gateway and
// terminals, the notification endpoint, and what else its Parts asked for.
// The fields are set by Open and read-only after it.
type Daemon struct {
	Store     Store
	Gateway   posbridge.Gateway
	Terminals map[string]posbridge.Terminal
	Engine    *posbridge.Engine
	Notify    *NotifyServer
	// Day closes days (nil unless Parts.Day).
	Day *posbridge.DayCloser
	// Settlement settles lanes' terminals (nil unless Parts.Settlement).
	Settlement *posbridge.Settlements
	// Outbox ships events to head office (nil unless Parts.Outbox).
	Outbox *outbox.Shipper
	// API is the local API and cashier page (nil unless Parts.API).
	API *ui.Server
	// Monitor is the monitoring listener (nil unless Parts.Metrics).
	Monitor *MonitorServer
	// Logger is Parts.Logger.
	Logger *slog.Logger

	parts     Parts          // what Close closes after the engine
	idle      []net.Listener // listeners of Parts no server took: Close closes them
	closeOnce sync.Once
	closeErr  error
}

// Open makes the engine over p and opens it (it resumes what a previous run
// left open), then the day closer, settlement, the notification endpoint,
// the outbox shipper, the API and the monitoring listener. It returns once
// they serve; terminals connect in the background, since a terminal may be
// unplugged at boot. When it fails, every part is closed.
func Open(ctx context.Context, p Parts) (d *Daemon, err error) {
	d = &Daemon{
		Store: p.Store, Gateway: p.Gateway, Terminals: p.Terminals, Logger: p.Logger,
		parts:  p,
		Notify: NewNotifyServer(p.Notify.Listener, p.Notify.Path, nil, p.Logger),
	}
	for _, ln := range []net.Listener{p.APIListener, p.Metrics} {
		if ln != nil {
			d.idle = append(d.idle, ln)
		}
	}
	defer func() {
		if err != nil {
			d.Close(context.Background())
			d = nil
		}
	}()
	e := posbridge.NewEngine(p.Store, p.Gateway, p.Terminals)
	e.Logger = p.Logger.With(posbridge.LogKeyComponent, "engine")
	e.Reconcile = p.Reconcile
	if p.Location != nil {
		e.Location = p.Location
	}
	for _, q := range p.QRLanes {
		if err := e.AddQRLane(q.ID, q.Config); err != nil {
			return d, fmt.Errorf("lane %s: %w", q.ID, err)
		}
	}
	if err := e.Open(ctx); err != nil {
		return d, err
	}
	d.Engine = e
	if p.Day != nil {
		if d.Day, err = posbridge.NewDayCloser(e, *p.Day); err != nil {
			return d, fmt.Errorf("day: %w", err)
		}
		d.Day.Open()
	}
	if len(p.Settlement) > 0 {
		if d.Settlement, err = posbridge.NewSettlements(e, p.Settlement); err != nil {
			return d, fmt.Errorf("settlement: %w", err)
		}
	}
	h, err := p.Notify.Handler(e)
	if err != nil {
		return d, fmt.Errorf("notifications: %w", err)
	}
	d.Notify.handler = h
	d.Notify.Open()
	if p.Outbox != nil {
		cfg := p.Outbox.Config
		cfg.Bus, cfg.Lanes = e.Bus, e.Lanes
		if d.Outbox, err = outbox.New(p.Outbox.Source, cfg); err != nil {
			return d, err
		}
		if err := d.Outbox.Open(); err != nil {
			d.Outbox = nil
			return d, err
		}
	}
	if p.API == nil {
		return d, nil
	}
	cfg := p.API(d)
	if d.Day != nil {
		cfg.Day = d.Day
	}
	if d.Settlement != nil {
		cfg.Settlement = d.Settlement
	}
	if p.APIListener != nil {
		cfg.Listener = p.APIListener
	}
	d.API = ui.NewServer(e, cfg)
	if err := d.API.Open(); err != nil {
		return d, fmt.Errorf("api: %w", err)
	}
	d.took(p.APIListener)
	if p.Metrics != nil {
		d.Monitor = OpenMonitor(p.Metrics, d.API.MonitoringHandler(), p.Logger.With(posbridge.LogKeyComponent, "metrics"))
		d.took(p.Metrics)
	}
	return d, nil
}

// took says a server owns ln now.
func (d *Daemon) took(ln net.Listener) {
	for i, l := range d.idle {
		if l == ln {
			d.idle = append(d.idle[:i], d.idle[i+1:]...)
			return
		}
	}
}

// Close stops the daemon front door first and the store last: the
// monitoring listener, the API and notifications, then the day closer, the
// engine, the outbox shipper (what it has not shipped waits in the store),
// the terminals (closing the ports), the Closers, and the store. It keeps
// the first error. Safe to call more than once.
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
		for _, ln := range d.idle {
			keep(ln.Close())
		}
		if d.API != nil {
			keep(d.API.Close(ctx))
		}
		if d.Notify.ln != nil {
			keep(d.Notify.Close(ctx))
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
		d.parts.closeBack(keep)
	})
	return d.closeErr
}

// Close closes every part, for a caller whose parts never reached Open
// (a failed Open closes them itself): the listeners, the terminals, the
// Closers and the store. It keeps the first error.
func (p Parts) Close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, ln := range []net.Listener{p.Notify.Listener, p.APIListener, p.Metrics} {
		if ln != nil {
			keep(ln.Close())
		}
	}
	p.closeBack(keep)
	return first
}

// closeBack closes the terminals that are io.Closers (the ports), then the
// Closers, then the store, giving keep each error.
func (p Parts) closeBack(keep func(error)) {
	for _, t := range p.Terminals {
		if c, ok := t.(io.Closer); ok {
			keep(c.Close())
		}
	}
	for _, c := range p.Closers {
		keep(c.Close())
	}
	if p.Store != nil {
		keep(p.Store.Close())
	}
}
