package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posbridge/posbridge"
)

// DayConfig is the [day] section: the end-of-day reconciliation.
type DayConfig struct {
	// CloseAt is when the daemon closes the day by itself, "HH:MM" in
	// TimeZone; empty for only when asked.
	CloseAt string `toml:"close_at"`
	// TimeZone is the IANA name of the day's time zone; empty for the
	// computer's.
	TimeZone string `toml:"time_zone"`
	// DeviceIDs limit the gateway's list to these terminals; empty for every
	// order of the merchant account.
	DeviceIDs []string `toml:"device_ids"`
	// CatchUpDays is how many missed days a scheduled run closes at most.
	CatchUpDays int `toml:"catch_up_days"`
}

// parseClock reads "HH:MM" as a duration after midnight.
func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day like \"23:30\"", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Root returns the section as the engine's DayConfig; call it on a checked
// config.
func (d DayConfig) Root() (posbridge.DayConfig, error) {
	rc := posbridge.DayConfig{CloseAt: -1, DeviceIDs: d.DeviceIDs, CatchUp: d.CatchUpDays, Location: time.Local}
	if d.CloseAt != "" {
		at, err := parseClock(d.CloseAt)
		if err != nil {
			return rc, err
		}
		rc.CloseAt = at
	}
	if d.TimeZone != "" {
		loc, err := time.LoadLocation(d.TimeZone)
		if err != nil {
			return rc, fmt.Errorf("time zone %q: %w", d.TimeZone, err)
		}
		rc.Location = loc
	}
	return rc, nil
}

// checkDay reports the [day] section's mistakes.
func (c *Config) checkDay(add func(key, format string, args ...any)) {
	d := c.Day
	if d.CloseAt != "" {
		if _, err := parseClock(d.CloseAt); err != nil {
			add("day.close_at", "%v", err)
		}
	}
	if d.TimeZone != "" {
		if _, err := time.LoadLocation(d.TimeZone); err != nil {
			add("day.time_zone", "%q is not a time zone name like \"Asia/Dubai\"", d.TimeZone)
		}
	}
	for _, id := range d.DeviceIDs {
		if strings.TrimSpace(id) == "" || len(id) > 200 {
			add("day.device_ids", "%q: a device id is 1 to 200 characters", id)
		}
	}
	if d.CatchUpDays < 0 || d.CatchUpDays > 366 {
		add("day.catch_up_days", "%d: want 0 (the default, %d) to 366", d.CatchUpDays, posbridge.DefaultDayCatchUp)
	}
}

// ListOrders forwards the day's list to the gateway, recording its health.
func (g *gatewayHealth) ListOrders(ctx context.Context, q posbridge.DayQuery) (posbridge.OrderListPage, error) {
	l, ok := g.Gateway.(posbridge.DayLister)
	if !ok {
		return posbridge.OrderListPage{}, fmt.Errorf("gateway %s cannot list a day: %w", g.Name(), posbridge.ErrGatewayFinal)
	}
	p, err := l.ListOrders(ctx, q)
	g.record(err)
	return p, err
}

// ListRefunds forwards the day's refund list to the gateway.
func (g *gatewayHealth) ListRefunds(ctx context.Context, q posbridge.DayQuery) (posbridge.RefundListPage, error) {
	l, ok := g.Gateway.(posbridge.DayLister)
	if !ok {
		return posbridge.RefundListPage{}, fmt.Errorf("gateway %s cannot list a day: %w", g.Name(), posbridge.ErrGatewayFinal)
	}
	p, err := l.ListRefunds(ctx, q)
	g.record(err)
	return p, err
}

const dayUsage = `Usage:
  posbridge day close --config FILE [--date YYYY-MM-DD] [--timeout D]
  posbridge day report --config FILE [--date YYYY-MM-DD] [--format csv|json]
  posbridge day settle --config FILE --lane ID [--timeout D]

close asks the running daemon to reconcile the day (today when --date is
not given) with the gateway's own list of orders and refunds, and prints
what it found: matched, only at the gateway (imported, needing attention),
only in posbridge (asked about again, flagged if still unknown), different
(the gateway's word applied, flagged). Running it again changes nothing.

report prints the day's report as CSV (or JSON) from the running daemon.

settle closes the batch of the lane's terminal at the gateway (CodePay
batch.close; the lane's terminal_sn) and prints the recorded totals. After
it the lane's payments so far can only be refunded, no longer voided.
The printable page is http://<api listen>/day/report?date=D&lang=en|ar.
`

// defaultDayTimeout bounds a day close: the daemon pages through the
// gateway's lists and may ask about each order it lacks.
const defaultDayTimeout = 5 * time.Minute

// runDay runs "posbridge day close|report".
func (m *Main) runDay(ctx context.Context, args []string) error {
	usageErr := m.usageError("day")
	if len(args) > 0 && args[0] == "settle" {
		return m.runSettle(ctx, args[1:])
	}
	if len(args) == 0 || (args[0] != "close" && args[0] != "report") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(m.Stdout, dayUsage)
			return nil
		}
		fmt.Fprint(m.Stderr, dayUsage)
		return errUsage
	}
	sub := args[0]
	fs := m.flagSet("day "+sub, dayUsage)
	cfgPath := fs.String("config", "", "config file naming the daemon's [api] listen and token")
	date := fs.String("date", "", "the day, YYYY-MM-DD (today when empty)")
	format := fs.String("format", "csv", "report: csv or json")
	timeout := fs.Duration("timeout", defaultDayTimeout, "give up waiting for the daemon after this long")
	pos, done, err := parseFlagsAnywhere(fs, args[1:])
	if done {
		return err
	}
	switch {
	case len(pos) != 0:
		return usageErr("unexpected arguments %q", pos)
	case *cfgPath == "":
		return usageErr("--config FILE is required")
	case *timeout <= 0:
		return usageErr("--timeout %s: must be positive", *timeout)
	case *format != "csv" && *format != "json":
		return usageErr("--format %q: want csv or json", *format)
	}
	if *date != "" {
		if _, err := time.Parse(time.DateOnly, *date); err != nil {
			return usageErr("--date %q: want YYYY-MM-DD", *date)
		}
	}
	c, err := loadConfigSections(*cfgPath, "api")
	if err != nil {
		return err
	}
	if sub == "report" {
		q := url.Values{"format": {*format}}
		if *date != "" {
			q.Set("date", *date)
		}
		body, err := callDaemon(ctx, c.API, http.MethodGet, "/api/v1/day/report?"+q.Encode(), nil, *timeout)
		if err != nil {
			return err
		}
		_, err = m.Stdout.Write(body)
		return err
	}
	req, err := json.Marshal(struct {
		Date string `json:"date,omitempty"`
	}{*date})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	body, err := callDaemon(ctx, c.API, http.MethodPost, "/api/v1/day/close", req, *timeout)
	if err != nil {
		return err
	}
	var rec dayCloseAnswer
	if err := json.Unmarshal(body, &rec); err != nil || rec.Date == "" {
		return errors.New("the daemon answered something that is not a day close: is it posbridge?")
	}
	return writeDayClose(m.Stdout, rec)
}

// dayCloseAnswer is the part of the API's DayClose that "day close" prints.
type dayCloseAnswer struct {
	Date   string `json:"date"`
	Runs   int    `json:"runs"`
	Counts struct {
		Matched     int `json:"matched"`
		OnlyGateway int `json:"only_gateway"`
		OnlyLocal   int `json:"only_local"`
		Different   int `json:"different"`
	} `json:"counts"`
	Items []struct {
		Kind          string `json:"kind"`
		No            string `json:"no"`
		Bucket        string `json:"bucket"`
		Action        string `json:"action"`
		GatewayAmount string `json:"gateway_amount"`
		LocalAmount   string `json:"local_amount"`
		Detail        string `json:"detail"`
		Result        string `json:"result"`
	} `json:"items"`
}

func writeDayClose(w io.Writer, d dayCloseAnswer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Day\t%s (run %d)\n", d.Date, d.Runs)
	fmt.Fprintf(tw, "Matched\t%d\n", d.Counts.Matched)
	fmt.Fprintf(tw, "Only at the gateway\t%d\n", d.Counts.OnlyGateway)
	fmt.Fprintf(tw, "Only in posbridge\t%d\n", d.Counts.OnlyLocal)
	fmt.Fprintf(tw, "Different\t%d\n", d.Counts.Different)
	for _, it := range d.Items {
		if it.Bucket == string(posbridge.BucketMatched) {
			continue
		}
		amount := it.GatewayAmount
		if amount == "" {
			amount = it.LocalAmount
		}
		fmt.Fprintf(tw, "%s %s\t%s %s: %s → %s\n", it.Kind, it.No, it.Bucket, amount, termText(it.Detail), orDash(termText(it.Result)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write answer: %w", err)
	}
	return nil
}

// callDaemon sends one request to the running daemon's API and returns the
// body of a 200 answer; any other answer is an error with its message.
func callDaemon(ctx context.Context, api APIConfig, method, path string, body []byte, timeout time.Duration) ([]byte, error) {
	addr := dialAddr(api.Listen)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cashier", "posbridge day")
	if api.Token != "" {
		req.Header.Set("Authorization", "Bearer "+api.Token)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("the daemon at %s did not answer within %s", addr, timeout)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("the daemon is not running at %s: %w", addr, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16*maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("read the daemon's answer from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		if json.Unmarshal(data, &ae) != nil || ae.Error.Code == "" {
			return nil, fmt.Errorf("%s answered %s without a posbridge error: is the daemon listening there?", addr, resp.Status)
		}
		return nil, fmt.Errorf("the daemon refused (%s, %s): %s", resp.Status, ae.Error.Code, ae.Error.Message)
	}
	return data, nil
}
