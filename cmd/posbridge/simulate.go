package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal/termsim"
)

const simulateUsage = `Usage:
  posbridge simulate terminal --link PATH [--script FILE]

Runs a simulated CodePay terminal on a new pseudo-terminal and points the
symlink PATH at it, so that any serial client (posbridge itself with
port = PATH) can talk to it. By default every sale is approved after about a
second. It runs until interrupted.

The script file is JSON:
  {"default": {"action": "approve", "delay": "1s"},
   "orders":  {"ORDER123": {"action": "decline"}}}
Actions: approve, decline, cancel, read_timeout, never. Other keys: code,
success_code ("000" or "0"), twice, lose_response, after_reconnect.
`

// runSimulate runs "posbridge simulate terminal".
func (m *Main) runSimulate(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "terminal" {
		fmt.Fprint(m.Stderr, simulateUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("simulate terminal", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, simulateUsage) }
	link := fs.String("link", "", "symlink to point at the simulated terminal's serial device")
	script := fs.String("script", "", "JSON file scripting the outcomes")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *link == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	def := termsim.Script{Action: termsim.Approve, Delay: time.Second}
	var orders map[string]termsim.Script
	if *script != "" {
		b, err := os.ReadFile(*script)
		if err != nil {
			return fmt.Errorf("read script: %w", err)
		}
		d, o, err := termsim.ParseScripts(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *script, err)
		}
		if d.Action != "" || d.DelayText != "" {
			def = d
		}
		orders = o
	}
	logger := slog.New(slog.NewTextHandler(m.Stderr, nil))
	sim := termsim.New(termsim.Config{Logger: logger, Default: def})
	for no, sc := range orders {
		sim.SetScript(posbridge.OrderNo(no), sc)
	}
	p, err := termsim.OpenPTY(*link)
	if err != nil {
		return err
	}
	defer p.Close()
	logger.Info("simulated terminal ready", posbridge.LogKeyPort, p.Name, "link", *link)
	err = sim.Serve(ctx, p)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("simulate terminal: %w", err)
}
