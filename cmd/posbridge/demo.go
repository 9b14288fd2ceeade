package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/posbridge/posbridge/outbox"
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
	fs := m.flagSet("demo", demoUsage)
	scenario := fs.String("scenario", "approve", "approve, cancel, decline, lost-response or gateway-outage")
	listen := fs.String("listen", DefaultAPIListen, "address of the cashier page and API")
	dir := fs.String("dir", "", "where the demo keeps its database and keys (default: the user's cache directory)")
	verbose := fs.Bool("v", false, "log everything (debug)")
	gw := fs.String("gateway", "payby", "the gateway the sandbox plays: payby, codepay or payprotocol")
	withFleet := fs.Bool("fleet", false, "also run head office: an embedded NATS server and the fleet consumer")
	if done, err := parseFlags(fs, args); done {
		return err
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
