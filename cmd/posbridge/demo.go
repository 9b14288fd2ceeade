package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

const demoUsage = `Usage:
  posbridge demo [--scenario S] [--listen ADDR] [--dir DIR]

Runs all of posbridge in one process with no configuration and no hardware: a
PayBy sandbox gateway on loopback, a simulated terminal (on a pseudo-terminal
where the system has them, in memory elsewhere), and the daemon with its
cashier page. Open the printed URL, press "New payment", enter an amount.

Scenarios (what the simulated customer does with every sale):
  approve         pays after about a second (default)
  cancel          cancels on the terminal: "Payment not completed"
  lost-response   pays, but the terminal's answer is lost: posbridge asks the
                  terminal and the gateway, and shows the confirmed result
  gateway-outage  pays while the gateway is down for a minute: the payment is
                  "not confirmed yet" until the gateway answers again
Ctrl-C ends it.
`

// demoScenarios are the simulated customer's behaviours.
var demoScenarios = map[string]termsim.Script{
	"approve":        {Action: termsim.Approve, Delay: 1500 * time.Millisecond},
	"cancel":         {Action: termsim.Cancel, Delay: 2 * time.Second},
	"lost-response":  {Action: termsim.Approve, Delay: 1500 * time.Millisecond, LoseResponse: true},
	"gateway-outage": {Action: termsim.Approve, Delay: 1500 * time.Millisecond},
}

// runDemo runs "posbridge demo".
func (m *Main) runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, demoUsage) }
	scenario := fs.String("scenario", "approve", "approve, cancel, lost-response or gateway-outage")
	listen := fs.String("listen", DefaultAPIListen, "address of the cashier page and API")
	dir := fs.String("dir", "", "where the demo keeps its database and keys (default: the user's cache directory)")
	verbose := fs.Bool("v", false, "log everything (debug)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	script, ok := demoScenarios[*scenario]
	if !ok || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("demo: find a cache directory (use --dir): %w", err)
		}
		*dir = filepath.Join(cache, "posbridge", "demo")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))

	d, stop, err := startDemo(ctx, demoSetup{dir: *dir, listen: *listen, script: script, outage: *scenario == "gateway-outage", logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "posbridge demo: open the cashier page at %s\n", d.API.URL()+"/")
	fmt.Fprintf(m.Stdout, "  scenario %q; database and keys in %s; Ctrl-C to stop\n", *scenario, *dir)
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return stop(stopCtx)
}

// demoSetup says how to start a demo world.
type demoSetup struct {
	dir    string
	listen string // API address; a busy port falls back to any free one
	script termsim.Script
	outage bool
	logger *slog.Logger
	// saleTimeout bounds a sale at the terminal (20 s when zero), so a lost
	// response is resolved while the viewer watches.
	saleTimeout time.Duration
	// reconcile, when set, replaces the [reconcile] section, so that a test
	// sees an unconfirmed payment go pending (and get checked) in seconds.
	reconcile *ReconcileConfig
}

// demoWorld is what a demo runs besides the daemon: the sandbox gateway and
// the simulated terminal.
type demoWorld struct {
	Sandbox *sandbox.Sandbox
	Sim     *termsim.Sim
	PTY     *termsim.PTY // nil when the terminal is in memory
	Pipe    *termsim.Pipe
}

// startDemo starts a sandbox, a simulated terminal and a daemon wired to
// both through a config file written into dir. stop shuts all of it down.
func startDemo(ctx context.Context, s demoSetup) (*Daemon, func(context.Context) error, error) {
	d, _, stop, err := startDemoWorld(ctx, s)
	return d, stop, err
}

// startDemoWorld is startDemo that also returns the sandbox and the simulated
// terminal, for tests to drive. Its cleanups capture the local w, never the
// named result, which a failed return sets to nil before stop runs them.
func startDemoWorld(ctx context.Context, s demoSetup) (d *Daemon, world *demoWorld, stop func(context.Context) error, err error) {
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
	w.Sandbox, err = sandbox.New(sandbox.Config{Keys: keys, Logger: s.logger.With(posbridge.LogKeyComponent, "sandbox")})
	if err != nil {
		return nil, nil, stop, err
	}
	cleanups = append(cleanups, func(context.Context) error { return w.Sandbox.Close() })
	sbURL, stopSB, err := serveLoopback(w.Sandbox.Handler())
	if err != nil {
		return nil, nil, stop, err
	}
	cleanups = append(cleanups, stopSB)

	w.Sim = termsim.New(termsim.Config{Acquirer: w.Sandbox, Default: s.script, Logger: s.logger.With(posbridge.LogKeyComponent, "termsim")})
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

	listen := s.listen
	ln, lerr := net.Listen("tcp", listen)
	if lerr != nil || strings.HasSuffix(listen, ":0") {
		// The usual port is taken: any free one will do. It is named, not
		// ":0", which the config refuses as notify.listen's twin.
		if lerr == nil {
			ln.Close()
		}
		if ln, lerr = net.Listen("tcp", "127.0.0.1:0"); lerr != nil {
			return nil, nil, stop, fmt.Errorf("demo: find a free port: %w", lerr)
		}
		listen = ln.Addr().String()
	}
	ln.Close()
	cfgPath := filepath.Join(s.dir, "demo.toml")
	cfgText := fmt.Sprintf(`# Written by "posbridge demo": a working config for a sandbox gateway and a
# simulated terminal. A real one is in packaging/posbridge.example.toml.
[api]
listen = %s
[notify]
listen = "127.0.0.1:0"
[store]
path = "demo.db"
[gateway]
kind = "payby"
base_url = %s
partner_id = %s
merchant_private_key = %q
gateway_public_key = %q
timeout = "5s"
[[lane]]
id = "1"
port = %s
app_id = "demo"
sale_timeout = %q
`, strconv.Quote(listen), strconv.Quote(sbURL+"/sgs/api"), strconv.Quote(w.Sandbox.PartnerID()),
		sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile, strconv.Quote(port), s.saleTimeout.String())
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return nil, nil, stop, fmt.Errorf("demo config: %w", err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, nil, stop, err
	}
	if s.reconcile != nil {
		cfg.Reconcile = *s.reconcile
	}
	if errs := cfg.Check(); len(errs) > 0 && w.PTY != nil {
		return nil, nil, stop, ConfigErrors(errs)
	}

	d, err = openDaemon(ctx, cfg, s.logger, opts)
	if err != nil {
		return nil, nil, stop, err
	}
	cleanups = append(cleanups, d.Close)
	w.Sandbox.SetNotifyURL(d.NotifyURL() + "/notify/payby")
	if s.outage {
		// The gateway is down for a bit more than the cashier's minute of
		// waiting (30 queries at 2 s), so the payment shows "not confirmed
		// yet" before the reconciler confirms it: its API answers 504 and
		// its notifications are held, then delivered late.
		w.Sandbox.SetFault("*", sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true, Times: 33})
		w.Sandbox.SetNotifier(sandbox.NotifierOptions{OutOfOrder: true})
		outageOver := time.AfterFunc(90*time.Second, func() {
			w.Sandbox.SetNotifier(sandbox.NotifierOptions{})
			w.Sandbox.FlushNotifications()
		})
		cleanups = append(cleanups, func(context.Context) error { outageOver.Stop(); return nil })
	}
	return d, w, stop, nil
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
