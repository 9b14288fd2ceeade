package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/posbridge/posbridge"
)

// Settlement (CodePay batch.close) of a lane's terminal: the daemon's
// wiring, the gateway health wrapper's forwarding, and "posbridge day
// settle". A serial lane names its terminal for CodePay with terminal_sn;
// a cloud lane's terminal_sn already does.

// checkSettleTerminal reports a bad terminal_sn on a serial lane (CodePay).
func (c *Config) checkSettleTerminal(i int, l LaneConfig, add func(key, format string, args ...any)) {
	if l.TerminalSN == "" {
		return
	}
	if len(l.TerminalSN) > 32 || strings.ContainsAny(l.TerminalSN, " \t&=\"") {
		add(laneKey(i, "terminal_sn"), "%q: at most 32 characters, no spaces, '&', '=' or quotes", l.TerminalSN)
	}
}

// CloseBatch forwards a settlement to the gateway, recording its health.
func (g *gatewayHealth) CloseBatch(ctx context.Context, terminalSN string) (posbridge.BatchTotals, error) {
	s, ok := g.Gateway.(posbridge.Settler)
	if !ok {
		return posbridge.BatchTotals{}, fmt.Errorf("gateway %s has no batch close: %w", g.Name(), posbridge.ErrGatewayFinal)
	}
	t, err := s.CloseBatch(ctx, terminalSN)
	g.record(err)
	return t, err
}

// settledTerminals are the lanes whose terminal a settlement closes (lane
// id → terminal_sn): every lane naming its terminal_sn; nil when none does.
func settledTerminals(lanes []LaneConfig) map[string]string {
	var terminals map[string]string
	for _, l := range lanes {
		if l.TerminalSN != "" {
			if terminals == nil {
				terminals = map[string]string{}
			}
			terminals[l.ID] = l.TerminalSN
		}
	}
	return terminals
}

const settleUsage = `Usage:
  posbridge day settle --config FILE --lane ID [--timeout D]

settle asks the running daemon to close the batch of the lane's terminal at
the gateway (CodePay batch.close; the lane's terminal_sn) and prints the
recorded settlement's totals. After it the lane's payments so far can only
be refunded, no longer voided.
`

// runSettle runs "posbridge day settle".
func (m *Main) runSettle(ctx context.Context, args []string) error {
	fs := m.flagSet("day settle", settleUsage)
	cfgPath := fs.String("config", "", "config file naming the daemon's [api] listen and token")
	lane := fs.String("lane", "", "the lane whose terminal to settle")
	timeout := fs.Duration("timeout", defaultDayTimeout, "give up waiting for the daemon after this long")
	pos, done, err := parseFlagsAnywhere(fs, args)
	if done {
		return err
	}
	usageErr := m.usageError("day settle")
	switch {
	case len(pos) != 0:
		return usageErr("unexpected arguments %q", pos)
	case *cfgPath == "":
		return usageErr("--config FILE is required")
	case *lane == "":
		return usageErr("--lane ID is required")
	case *timeout <= 0:
		return usageErr("--timeout %s: must be positive", *timeout)
	}
	c, err := loadConfigSections(*cfgPath, "api")
	if err != nil {
		return err
	}
	body, err := callDaemon(ctx, c.API, http.MethodPost, "/api/v1/lanes/"+url.PathEscape(*lane)+"/settle", nil, *timeout)
	if err != nil {
		return err
	}
	var st struct {
		Lane         string `json:"lane"`
		TerminalSN   string `json:"terminal_sn"`
		BatchNo      string `json:"batch_no"`
		SettledAt    string `json:"settled_at"`
		Sales        int    `json:"sales"`
		SalesTotal   string `json:"sales_total"`
		Refunds      int    `json:"refunds"`
		RefundsTotal string `json:"refunds_total"`
		Currency     string `json:"currency"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Lane == "" {
		return errors.New("the daemon answered something that is not a settlement: is it posbridge?")
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Lane\t%s (terminal %s)\n", st.Lane, st.TerminalSN)
	fmt.Fprintf(tw, "Batch\t%s\n", st.BatchNo)
	fmt.Fprintf(tw, "Settled at\t%s\n", st.SettledAt)
	fmt.Fprintf(tw, "Sales\t%d\t%s %s\n", st.Sales, st.SalesTotal, st.Currency)
	fmt.Fprintf(tw, "Refunds\t%d\t%s %s\n", st.Refunds, st.RefundsTotal, st.Currency)
	return tw.Flush()
}
