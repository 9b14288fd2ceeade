package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

const simulateUsage = `Usage:
  posbridge simulate terminal --link PATH [--script FILE] [--sandbox URL]
                             [--heartbeat DURATION]

Runs a simulated CodePay terminal on a new pseudo-terminal and points the
symlink PATH at it, so that any serial client (posbridge itself with
port = PATH) can talk to it. By default every sale is approved after about a
second. It runs until interrupted.

--sandbox URL charges the card in a separately running "posbridge sandbox":
URL is its control URL (control_url in its sandbox.json, ending in
/_sandbox) or its base URL. The terminal records every sale, void and refund
there as the acquirer would, before it answers, so sandbox, terminal and
daemon run as three processes with the sandbox the single truth about money.

--heartbeat is the terminal's heartbeat period (default 1s, as CodePay's
SDK sends).

The script file is JSON:
  {"default": {"action": "approve", "delay": "1s"},
   "orders":  {"ORDER123": {"action": "decline"}},
   "personality": {"keys": "snake", "ack_tick": true, "silent_close": true}}
Actions: approve, decline, cancel, read_timeout, never, decline_charged.
Other keys: code, success_code ("000" or "0"), twice, lose_response,
after_reconnect, acquirer_delay. Personality keys (quirks of real terminals):
keys ("", "snake" or "camel": the order number's key read in close and
query), ack_tick (ACK on a 100 ms tick, piggybacked on data), silent_close
(never answer a sale closed by the ECR), void_needs_amount, no_app_id,
keep_replies (keep unsent answers across a handshake).
`

// runSimulate runs "posbridge simulate terminal".
func (m *Main) runSimulate(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "terminal" {
		fmt.Fprint(m.Stderr, simulateUsage)
		return errUsage
	}
	fs := m.flagSet("simulate terminal", simulateUsage)
	link := fs.String("link", "", "symlink to point at the simulated terminal's serial device")
	script := fs.String("script", "", "JSON file scripting the outcomes")
	sandboxURL := fs.String("sandbox", "", "control or base URL of a running posbridge sandbox to charge cards in")
	heartbeat := fs.Duration("heartbeat", termsim.DefaultHeartbeat, "heartbeat period")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if *link == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	def := termsim.Script{Action: termsim.Approve, Delay: time.Second}
	var orders map[string]termsim.Script
	var pers termsim.Personality
	if *script != "" {
		b, err := os.ReadFile(*script)
		if err != nil {
			return fmt.Errorf("read script: %w", err)
		}
		f, err := termsim.ParseScriptFile(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *script, err)
		}
		if f.Default.Action != "" || f.Default.DelayText != "" {
			def = f.Default
		}
		orders, pers = f.Orders, f.Personality
	}
	logger := slog.New(slog.NewTextHandler(m.Stderr, nil))
	cfg := termsim.Config{Logger: logger, Default: def, Personality: pers, Heartbeat: *heartbeat}
	if *sandboxURL != "" {
		u, err := sandboxControlURL(*sandboxURL)
		if err != nil {
			return err
		}
		cfg.Acquirer = &sandbox.ControlClient{URL: u, HTTP: &http.Client{Timeout: 10 * time.Second}}
		logger.Info("charging cards in the sandbox", "control_url", u)
	}
	sim := termsim.New(cfg)
	defer sim.Close()
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

// sandboxControlURL returns the control URL of a sandbox given its control
// URL or its base URL.
func sandboxControlURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--sandbox %q: want the sandbox's http URL: %w", raw, errUsage)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/_sandbox") {
		u.Path += "/_sandbox"
	}
	return u.String(), nil
}
