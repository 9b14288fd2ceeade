package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// demoSetup says how to start a demo world.
type demoSetup struct {
	dir    string
	listen string // API address; a busy port falls back to any free one
	// scenario names a demoScenario (with its sale timeout and the demo's
	// short verification window); when empty, script is the customer's
	// behaviour and the gateway works.
	scenario string
	script   termsim.Script
	logger   *slog.Logger
	// saleTimeout bounds a sale at the terminal (20 s when zero), so a lost
	// response is resolved while the viewer watches.
	saleTimeout time.Duration
	// reconcile, when set, replaces the [reconcile] section, so that a test
	// sees an unconfirmed payment go pending (and get checked) in seconds.
	reconcile *ReconcileConfig
	// gateway is the gateway the sandbox plays and the daemon uses:
	// "payby" (when empty) or "codepay".
	gateway string
	// fleet, when set, is filled with an embedded NATS server the till ships
	// to and a fleet consumer folding into dir/fleet.db (demo --fleet).
	fleet *demoFleet
	// qrTimers, when set, are the QR lane's timers, so that a test sees a
	// payment expire in seconds.
	qrTimers *demoQRTimers
}

// demoWorld is what a demo runs besides the daemon: the sandbox gateway and
// the simulated terminal.
type demoWorld struct {
	Sandbox *sandbox.Sandbox
	// PayProtocol is the Pay Protocol sandbox, with --gateway payprotocol.
	PayProtocol *sandbox.PayProtocol
	Sim         *termsim.Sim
	PTY         *termsim.PTY // nil when the terminal is in memory
	Pipe        *termsim.Pipe
}

// startDemoWorld starts a sandbox, a simulated terminal and a daemon wired
// to both (its config is written into dir as demo.toml), and returns the
// sandbox and the simulated terminal too, for tests to drive; stop shuts all
// of it down. Its cleanups capture the local w, never the
// named result, which a failed return sets to nil before stop runs them.
func startDemoWorld(ctx context.Context, s demoSetup) (d *daemon.Daemon, world *demoWorld, stop func(context.Context) error, err error) {
	var ctl *demoControl
	if s.scenario != "" {
		sc, ok := findScenario(s.scenario)
		if !ok {
			return nil, nil, func(context.Context) error { return nil }, fmt.Errorf("demo: no scenario %q", s.scenario)
		}
		ctl = &demoControl{scenario: sc}
		s.script = sc.script
		if s.saleTimeout == 0 {
			s.saleTimeout = demoSaleTimeout
		}
		if s.reconcile == nil {
			rc := defaultConfig().Reconcile
			rc.FastPollEvery = Duration(demoFastPollEvery)
			rc.FastPollFor = Duration(demoFastPollFor)
			s.reconcile = &rc
		}
	}
	if s.saleTimeout == 0 {
		s.saleTimeout = 20 * time.Second
	}
	var cleanups []func(context.Context) error
	stop = func(ctx context.Context) error {
		var first error
		for i := len(cleanups) - 1; i >= 0; i-- {
			if err := cleanups[i](ctx); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	defer func() {
		if err != nil {
			stop(context.Background())
		}
	}()

	keys, err := sandbox.LoadOrCreateKeys(s.dir)
	if err != nil {
		return nil, nil, stop, fmt.Errorf("demo keys: %w", err)
	}
	w := &demoWorld{}
	if s.gateway == "" {
		s.gateway = "payby"
	}
	w.Sandbox, err = sandbox.New(sandbox.Config{Keys: keys, Gateway: demoCardGateway(s.gateway), Logger: s.logger.With(posbridge.LogKeyComponent, "sandbox")})
	if err != nil {
		return nil, nil, stop, err
	}
	// The sandbox plays the customer at the cloud lane's terminal.
	if err := w.Sandbox.SetCloudCustomer(cloudCustomer(s.script)); err != nil {
		return nil, nil, stop, err
	}
	cleanups = append(cleanups, func(context.Context) error { return w.Sandbox.Close() })
	sbURL, stopSB, err := serveLoopback(w.Sandbox.Handler())
	if err != nil {
		return nil, nil, stop, err
	}
	cleanups = append(cleanups, stopSB)
	if s.gateway == "payprotocol" {
		if sbURL, err = startDemoPayProtocol(s.dir, w, s.logger, &cleanups); err != nil {
			return nil, nil, stop, err
		}
	}
	// The QR lane's codes carry the sandbox's payment page, on loopback: a
	// browser on this machine can open and pay it.
	w.Sandbox.SetPayPageURL(sbURL)

	w.Sim = termsim.New(termsim.Config{Acquirer: w.acquirer(), Default: s.script, Logger: s.logger.With(posbridge.LogKeyComponent, "termsim")})
	port := "auto"
	var opts daemonOptions
	if p, perr := termsim.OpenPTY(""); perr == nil {
		w.PTY = p
		port = p.Name
		simCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Sim.Serve(simCtx, p)
		}()
		cleanups = append(cleanups, func(context.Context) error {
			cancel()
			p.Close()
			<-done
			return nil
		})
	} else {
		w.Pipe = termsim.NewPipe(w.Sim)
		opts.openTerminal = func(LaneConfig) terminal.Opener { return w.Pipe.Open }
		cleanups = append(cleanups, func(context.Context) error { return w.Pipe.Close() })
	}

	// The API and the notifications listen on loopback; the daemon takes
	// these listeners over.
	apiLn, err := demoListen(s.listen)
	if err != nil {
		return nil, nil, stop, err
	}
	opts.apiListener = apiLn
	cleanups = append(cleanups, closeListener(apiLn))
	if opts.notifyListener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, nil, stop, fmt.Errorf("demo: notify: %w", err)
	}
	cleanups = append(cleanups, closeListener(opts.notifyListener))
	at := demoPlace{cfgPath: filepath.Join(s.dir, "demo.toml"), listen: apiLn.Addr().String(), port: port, sbURL: sbURL, sb: w.Sandbox}
	if s.fleet != nil {
		srv, err := startDemoNATS(s.dir)
		if err != nil {
			return nil, nil, stop, err
		}
		f := s.fleet
		f.Server = srv
		cleanups = append(cleanups, f.Close)
		at.natsURL = srv.URL()
	}
	// The daemon runs this config, built here; demo.toml says it for the
	// other commands (posbridge day close --config DIR/demo.toml).
	cfg := demoConfig(s, at)
	if err := os.WriteFile(at.cfgPath, []byte(demoConfigText(cfg)), 0o600); err != nil {
		return nil, nil, stop, fmt.Errorf("demo config: %w", err)
	}
	finishDemoConfig(cfg)
	if s.reconcile != nil {
		cfg.Reconcile = *s.reconcile
	}
	if errs := cfg.Check(); len(errs) > 0 && w.PTY != nil {
		return nil, nil, stop, ConfigErrors(errs)
	}

	if ctl != nil {
		ctl.w = w
		opts.demo = ctl
	}
	d, err = openDaemon(ctx, cfg, s.logger, opts)
	if err != nil {
		return nil, nil, stop, err
	}
	cleanups = append(cleanups, d.Close)
	w.Sandbox.SetNotifyURL(d.Notify.URL() + d.Notify.Path)
	if w.PayProtocol != nil {
		w.PayProtocol.SetNotifier(sandbox.PPNotifierOptions{NotifyURL: d.Notify.URL() + d.Notify.Path})
	}
	if s.fleet != nil {
		if err := startDemoConsumer(ctx, s.dir, s.fleet.Server, s.fleet); err != nil {
			return nil, nil, stop, err
		}
	}
	if ctl != nil {
		sub := d.Engine.Subscribe(256)
		watchCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); ctl.watch(watchCtx, sub) }()
		cleanups = append(cleanups, func(context.Context) error {
			cancel()
			sub.Close()
			<-done
			ctl.mu.Lock()
			for _, t := range ctl.timers {
				t.Stop()
			}
			ctl.mu.Unlock()
			return nil
		})
	}
	return d, w, stop, nil
}

// cloudCustomer is what the sandbox's customer does with a cloud sale when
// the serial terminal's customer follows sc.
func cloudCustomer(sc termsim.Script) sandbox.CloudCustomer {
	c := sandbox.CloudCustomer{Action: sandbox.CloudApprove, Delay: 2 * sc.Delay, Card: posbridge.Card{Brand: "VISA", Last4: "4242"}}
	if c.Delay < 2*time.Second {
		c.Delay = 2 * time.Second
	}
	switch sc.Action {
	case termsim.Decline:
		c.Action = sandbox.CloudDecline
	case termsim.Cancel:
		c.Action = sandbox.CloudCancel
	}
	return c
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(h http.Handler) (url string, stop func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String(), func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		<-done
		return err
	}, nil
}

// demoListen listens on addr for the demo's API, or on any free loopback
// port when addr is taken or asks for any port (":0").
func demoListen(addr string) (net.Listener, error) {
	if !strings.HasSuffix(addr, ":0") {
		if ln, err := net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: find a free port: %w", err)
	}
	return ln, nil
}

// closeListener closes ln when the demo stops, unless the daemon, which
// takes it over, closed it already.
func closeListener(ln net.Listener) func(context.Context) error {
	return func(context.Context) error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}
