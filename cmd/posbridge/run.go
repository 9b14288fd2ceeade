package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// errUsage marks a command-line mistake; the usage text has been printed.
var errUsage = errors.New("usage")

// Build information, set by scripts/build with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = ""
)

// Main is the posbridge program. Tests run it in-process with their own
// writers and context.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
}

// NewMain returns a Main writing to the process's stdout and stderr.
func NewMain() *Main { return &Main{Stdout: os.Stdout, Stderr: os.Stderr} }

const usage = `posbridge takes card payments on a terminal beside the checkout, confirms
every outcome with the payment gateway and never gets the money wrong.

Usage:
  posbridge <command> [arguments]

Commands:
  demo        everything in one process, no hardware: simulated terminal,
              sandbox gateway, cashier page (try this first)
  run         run the daemon: "run --config FILE"
  version     print the version, commit and Go version
  ports       list serial ports with USB VID, PID, serial number and product
  simulate    run a simulated terminal: "simulate terminal --link PATH"
  config      check a config file: "config check FILE"; "config example"
  service     install|uninstall|start|stop|status the system service
  sandbox     run the local PayBy sandbox: "sandbox --listen ADDR --dir DIR"
  orders      read the order database: "orders list|show|export --config FILE"
  db          check the database file: "db check --config FILE"
  verify      ask the running daemon to check an order: "verify ORDER_NO --config FILE"
  day         end of day: "day close --config FILE [--date D]"; "day report"
  fleet       head office: fold every till's events from NATS: "fleet run|orders|tills|export"
  man         print the manual page, posbridge(1), in roff

Run "posbridge <command> -h" for a command's flags.
`

// Run runs the command named by args[0] until it ends or ctx is canceled.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "version":
		return m.runVersion()
	case "run":
		return m.runRun(ctx, args[1:])
	case "demo":
		return m.runDemo(ctx, args[1:])
	case "ports":
		return m.runPorts(ctx, args[1:])
	case "simulate":
		return m.runSimulate(ctx, args[1:])
	case "config":
		return m.runConfig(ctx, args[1:])
	case "service":
		return m.runService(ctx, args[1:])
	case "sandbox":
		return m.runSandbox(ctx, args[1:])
	case "orders":
		return m.runOrders(ctx, args[1:])
	case "db":
		return m.runDB(ctx, args[1:])
	case "verify":
		return m.runVerify(ctx, args[1:])
	case "day":
		return m.runDay(ctx, args[1:])
	case "fleet":
		return m.runFleet(ctx, args[1:])
	case "man":
		return writeManPage(m.Stdout, version)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	default:
		fmt.Fprintf(m.Stderr, "posbridge: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

func (m *Main) runVersion() error {
	v, c := version, commit
	if c == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(m.Stdout, "posbridge %s (commit %s, %s, %s/%s)\n", v, strings.TrimSpace(c), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
