package main

import (
	"context"
	"encoding/json"
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
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

const demoUsage = `Usage:
  posbridge demo [--scenario S] [--gateway payby|codepay|payprotocol] [--listen ADDR] [--dir DIR] [--fleet]

Runs all of posbridge in one process with no configuration and no hardware: a
sandbox gateway on loopback (PayBy, or CodePay with --gateway codepay), a simulated terminal (on a pseudo-terminal
where the system has them, in memory elsewhere), and the daemon with its
cashier page. Open the printed URL, press "New payment", enter an amount.

Scenarios (what the simulated customer and gateway do with every sale; the
cashier page has a picker to change it while the demo runs):
  approve         pays after about a second (default)
  cancel          cancels on the terminal: "Payment not completed"
  decline         the card is declined: "Not paid", the card was declined
  lost-response   pays, but the terminal's answer is lost: after 8 s posbridge
                  closes and queries the sale and "Checks with the bank" (the
                  gateway learns of the payment some seconds later), then
                  shows it paid
  gateway-outage  pays while the gateway is down for 30 s: "Checking with the
                  bank", then "Not confirmed yet" after 15 s, then paid once
                  the gateway answers again
With the PayBy sandbox (the default) there is a second lane, "qr", with no
terminal: its page shows the payment as a QR code, which opens the
sandbox's payment page (press "Pay" there, or do nothing and watch it
expire after 5 minutes).
With --gateway codepay the daemon verifies with a CodePay sandbox and has a
second lane, "cloud", with no cable: its sales go through CodePay's cloud API
and the sandbox plays its customer (approve, decline or cancel, as the
scenario says).

With --gateway payprotocol the daemon verifies with a Pay Protocol sandbox
(HMAC-signed API, hosted payment pages, signed callbacks). Pay Protocol's
customers pay on their phone, not on a card terminal: the simulated
terminal's sales are entered in the sandbox as orders paid in full, so the
card lane still works; a real Pay Protocol shop takes payments on QR lanes.
The gateway-outage and lost-response scenarios act on the card sandbox only.

--fleet also starts an embedded NATS server with JetStream (head office's),
ships the demo till's events to it ([outbox]) and runs the fleet consumer
into DIR/fleet.db, printing what head office sees; try "posbridge fleet
orders --db DIR/fleet.db" and "posbridge fleet tills --db DIR/fleet.db".

Ctrl-C ends it.
`

// Demo timings: short enough to watch, long enough to see each step.
const (
	demoSaleTimeout   = 8 * time.Second  // a lost answer is given up on after this
	demoFastPollEvery = time.Second      // the gateway is asked this often while the cashier waits
	demoFastPollFor   = 15 * time.Second // then the payment is "not confirmed yet"
	demoOutage        = 30 * time.Second // gateway-outage: how long the gateway is down after a sale starts
	demoLateRecord    = 14 * time.Second // lost-response: the acquirer tells the gateway this long after the customer paid
)

// demoScenario is what the simulated customer and gateway do with every sale.
type demoScenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	script      termsim.Script
	outage      bool // gateway-outage: the gateway is down for demoOutage from each sale's start
}

// demoScenarios are the scenarios, in the picker's order.
var demoScenarios = []demoScenario{
	{Name: "approve", Description: "the customer pays", script: termsim.Script{Action: termsim.Approve, Delay: 1500 * time.Millisecond}},
	{Name: "cancel", Description: "the customer cancels on the terminal", script: termsim.Script{Action: termsim.Cancel, Delay: 2 * time.Second}},
	{Name: "decline", Description: "the card is declined", script: termsim.Script{Action: termsim.Decline, Delay: 1500 * time.Millisecond}},
	{Name: "lost-response", Description: "the terminal's answer is lost", script: termsim.Script{Action: termsim.Approve, Delay: 1500 * time.Millisecond, LoseResponse: true, AcquirerDelay: demoLateRecord}},
	{Name: "gateway-outage", Description: "the gateway is down for 30 s", script: termsim.Script{Action: termsim.Approve, Delay: 1500 * time.Millisecond}, outage: true},
}

func findScenario(name string) (demoScenario, bool) {
	for _, sc := range demoScenarios {
		if sc.Name == name {
			return sc, true
		}
	}
	return demoScenario{}, false
}

// runDemo runs "posbridge demo".
func (m *Main) runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, demoUsage) }
	scenario := fs.String("scenario", "approve", "approve, cancel, decline, lost-response or gateway-outage")
	listen := fs.String("listen", DefaultAPIListen, "address of the cashier page and API")
	dir := fs.String("dir", "", "where the demo keeps its database and keys (default: the user's cache directory)")
	verbose := fs.Bool("v", false, "log everything (debug)")
	gw := fs.String("gateway", "payby", "the gateway the sandbox plays: payby, codepay or payprotocol")
	withFleet := fs.Bool("fleet", false, "also run head office: an embedded NATS server and the fleet consumer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if _, ok := findScenario(*scenario); !ok || fs.NArg() > 0 || *gw != "payby" && *gw != "codepay" && *gw != "payprotocol" {
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

	var fl *demoFleet
	if *withFleet {
		fl = &demoFleet{}
	}
	d, _, stop, err := startDemoWorld(ctx, demoSetup{dir: *dir, listen: *listen, scenario: *scenario, gateway: *gw, logger: logger, fleet: fl})
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "posbridge demo: open the cashier page at %s\n", d.API.URL()+"/")
	fmt.Fprintf(m.Stdout, "  gateway %s, scenario %q (change it on the page); database and keys in %s; Ctrl-C to stop\n", *gw, *scenario, *dir)
	if fl != nil {
		fmt.Fprintf(m.Stdout, "  fleet: NATS JetStream at %s, stream %s; head office's database %s\n", fl.Server.URL(), outbox.DefaultStream, fl.DBPath)
		fmt.Fprintf(m.Stdout, "  try: posbridge fleet orders --db %s\n", fl.DBPath)
		repCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); reportFleet(repCtx, m.Stdout, fl, 2*time.Second) }()
		defer func() { cancel(); <-done }()
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return stop(stopCtx)
}

// demoControl is the demo's scenario: it serves the page's picker
// (GET/POST /demo/scenario) and sets up the gateway's part of each sale.
type demoControl struct {
	w *demoWorld

	mu       sync.Mutex
	scenario demoScenario
	timers   []*time.Timer
}

// set makes sc the scenario of the next sales and ends the previous one's
// gateway faults.
func (c *demoControl) set(sc demoScenario) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scenario = sc
	c.w.Sim.SetDefault(sc.script)
	c.w.Sandbox.SetCloudCustomer(cloudCustomer(sc.script))
	c.healLocked()
}

// healLocked ends every fault: the gateway answers and delivers what it held.
func (c *demoControl) healLocked() {
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	c.w.Sandbox.ClearFaults()
	c.w.Sandbox.SetNotifier(sandbox.NotifierOptions{})
	c.w.Sandbox.FlushNotifications()
}

// onEvent sets up the gateway's outage when a sale reaches the terminal.
func (c *demoControl) onEvent(e posbridge.Event, started map[posbridge.OrderNo]bool) {
	p := e.Payment
	if p == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scenario
	if !sc.outage || p.Status != posbridge.StatusAtTerminal || started[p.No] {
		return
	}
	started[p.No] = true
	// The gateway answers 504 and holds its notifications, then delivers
	// them late: the payment is checked, then not confirmed, then paid.
	c.w.Sandbox.SetNotifier(sandbox.NotifierOptions{OutOfOrder: true})
	c.w.Sandbox.SetFault("*", sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true, Times: 1 << 20})
	c.timers = append(c.timers, time.AfterFunc(demoOutage, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.healLocked()
	}))
}

// watch follows the engine's events until sub closes or ctx ends.
func (c *demoControl) watch(ctx context.Context, sub *posbridge.Subscription) {
	started := map[posbridge.OrderNo]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			c.onEvent(e, started)
		}
	}
}

// ServeHTTP answers GET /demo/scenario with the scenario and the list, and
// POST /demo/scenario {"scenario":NAME} by switching to it.
func (c *demoControl) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path != "/demo/scenario" {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "not_found", "message": "No such demo route."}})
		return
	}
	if r.Method == http.MethodPost {
		var req struct {
			Scenario string `json:"scenario"`
		}
		sc, ok := demoScenario{}, false
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err == nil {
			sc, ok = findScenario(req.Scenario)
		}
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "invalid", "field": "scenario", "message": "No such scenario."}})
			return
		}
		c.set(sc)
	}
	c.mu.Lock()
	name := c.scenario.Name
	c.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"scenario": name, "scenarios": demoScenarios})
}

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
	// qrTimers, when set, are the QR lane's timer keys (TOML lines), so
	// that a test sees a payment expire in seconds.
	qrTimers string
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

// startDemo starts a sandbox, a simulated terminal and a daemon wired to
// both through a config file written into dir. stop shuts all of it down.
func startDemo(ctx context.Context, s demoSetup) (*daemon.Daemon, func(context.Context) error, error) {
	d, _, stop, err := startDemoWorld(ctx, s)
	return d, stop, err
}

// startDemoWorld is startDemo that also returns the sandbox and the simulated
// terminal, for tests to drive. Its cleanups capture the local w, never the
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
	listen := apiLn.Addr().String()
	outboxSection := ""
	if s.fleet != nil {
		srv, err := startDemoNATS(s.dir)
		if err != nil {
			return nil, nil, stop, err
		}
		f := s.fleet
		f.Server = srv
		cleanups = append(cleanups, f.Close)
		outboxSection = demoOutboxConfig(srv.URL())
	}
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
%stimeout = "5s"
[[lane]]
id = "1"
port = %s
app_id = "demo"
sale_timeout = %q
%s%s`, strconv.Quote(listen), demoGatewayKeys(s.gateway, sbURL, w.Sandbox), strconv.Quote(port), s.saleTimeout.String(),
		demoSerialTerminal(s.gateway), demoCloudLane(s.gateway)+demoQRLane(s.gateway, s.qrTimers))
	cfgText += outboxSection
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

// demoGatewayKeys returns the [gateway] keys that name the sandbox as gw.
func demoGatewayKeys(gw, sbURL string, sb *sandbox.Sandbox) string {
	keys := fmt.Sprintf("merchant_private_key = %q\ngateway_public_key = %q\n", sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile)
	switch gw {
	case "codepay":
		return fmt.Sprintf("kind = \"codepay\"\nbase_url = %s\napp_id = %s\nmerchant_no = %s\nstore_no = \"demo\"\n",
			strconv.Quote(sbURL), strconv.Quote(sb.CodePayAppID()), strconv.Quote(sb.CodePayMerchantNo())) + keys
	case "payprotocol":
		return demoPayProtocolKeys(sbURL)
	}
	return fmt.Sprintf("kind = \"payby\"\nbase_url = %s\npartner_id = %s\n", strconv.Quote(sbURL+"/sgs/api"), strconv.Quote(sb.PartnerID())) + keys
}

// demoCloudTerminal is the serial number of the demo's cloud lane.
const demoCloudTerminal = "DEMO-CLOUD-1"

// demoSerialTerminal names the demo's serial lane's terminal at CodePay,
// so that it can be settled (posbridge day settle --lane 1).
func demoSerialTerminal(gw string) string {
	if gw != "codepay" {
		return ""
	}
	return "terminal_sn = \"DEMO-SERIAL-1\"\n"
}

// demoCloudLane returns the demo's second lane, with no cable, when the
// gateway is CodePay: its sales go through the sandbox's cloud API.
func demoCloudLane(gw string) string {
	if gw != "codepay" {
		return ""
	}
	return "[[lane]]\nid = \"cloud\"\nmode = \"cloud\"\nterminal_sn = \"" + demoCloudTerminal + "\"\n"
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
