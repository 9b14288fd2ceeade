package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/posbridge/posbridge"
)

const verifyUsage = `Usage:
  posbridge verify ORDER_NO --config FILE [--reason TEXT] [--timeout D]

Asks the running daemon (at the config's [api] listen, with its token if one
is set) to check the order with the payment gateway now, and prints the
order's status, reason, the cashier's instruction and how many gateway
checks it has had. Exits non-zero if the daemon is not running, the order is
unknown, or the daemon refuses.
`

// defaultVerifyTimeout bounds the whole request: the daemon asks the gateway
// (gateway.timeout, 10s by default) and may retry once.
const defaultVerifyTimeout = 30 * time.Second

// verifyAnswer is the part of the API's payment object that verify prints.
type verifyAnswer struct {
	OrderNo        string `json:"order_no"`
	Lane           string `json:"lane"`
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	NeedsAttention bool   `json:"needs_attention"`
	Attention      string `json:"attention"`
	Message        string `json:"message"`
	Checks         int    `json:"checks"`
	NextCheckAt    string `json:"next_check_at"`
}

// apiError is the API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// maxAnswerBytes bounds what verify reads of an answer: a payment is a few
// hundred bytes, and whatever listens on the port may not be posbridge.
const maxAnswerBytes = 1 << 20

// runVerify runs "posbridge verify ORDER_NO".
func (m *Main) runVerify(ctx context.Context, args []string) error {
	fs := m.flagSet("verify", verifyUsage)
	cfgPath := fs.String("config", "", "config file naming the daemon's [api] listen and token")
	reason := fs.String("reason", "", "why, for the order's audit trail")
	timeout := fs.Duration("timeout", defaultVerifyTimeout, "give up waiting for the daemon after this long")
	pos, done, err := parseFlagsAnywhere(fs, args)
	if done {
		return err
	}
	usageErr := m.usageError("verify")
	if len(pos) != 1 {
		return usageErr("want one ORDER_NO, got %d arguments (see \"posbridge verify -h\")", len(pos))
	}
	if *cfgPath == "" {
		return usageErr("--config FILE is required")
	}
	if *timeout <= 0 {
		return usageErr("--timeout %s: must be positive", *timeout)
	}
	no, err := posbridge.ParseOrderNo(pos[0])
	if err != nil {
		return usageErr("%q: %v", pos[0], err)
	}
	c, err := loadConfigSections(*cfgPath, "api")
	if err != nil {
		return err
	}
	p, err := verifyPayment(ctx, c.API, no, *reason, *timeout)
	if err != nil {
		return err
	}
	return writeVerifyAnswer(m.Stdout, p)
}

// dialAddr is the address to reach a server listening on listen: a wildcard
// host (":8080", "0.0.0.0:8080", "[::]:8080") is reached on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// verifyPayment posts to /api/v1/payments/{no}/verify and returns the payment.
func verifyPayment(ctx context.Context, api APIConfig, no posbridge.OrderNo, reason string, timeout time.Duration) (verifyAnswer, error) {
	addr := dialAddr(api.Listen)
	u := url.URL{Scheme: "http", Host: addr, Path: "/api/v1/payments/" + string(no) + "/verify"}
	var body io.Reader
	if reason != "" {
		b, err := json.Marshal(struct {
			Reason string `json:"reason"`
		}{reason})
		if err != nil {
			return verifyAnswer{}, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return verifyAnswer{}, fmt.Errorf("verify %s: %w", no, err)
	}
	// Always JSON: the API refuses a state-changing request that is not (415).
	req.Header.Set("Content-Type", "application/json")
	if api.Token != "" {
		req.Header.Set("Authorization", "Bearer "+api.Token)
	}
	req.Header.Set("Accept", "application/json")
	// No proxy: the daemon is on this computer, and a proxy from the
	// environment would turn "not running" into a proxy's error page.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return verifyAnswer{}, fmt.Errorf("the daemon at %s did not answer within %s", addr, timeout)
		case ctx.Err() != nil:
			return verifyAnswer{}, fmt.Errorf("verify %s: %w", no, ctx.Err())
		}
		return verifyAnswer{}, fmt.Errorf("the daemon is not running at %s: %w", addr, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return verifyAnswer{}, fmt.Errorf("read the daemon's answer from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		if json.Unmarshal(data, &ae) != nil || ae.Error.Code == "" {
			return verifyAnswer{}, fmt.Errorf("%s answered %s without a posbridge error: is the daemon listening there?", addr, resp.Status)
		}
		switch {
		case resp.StatusCode == http.StatusNotFound && ae.Error.Code == posbridge.ENOTFOUND:
			return verifyAnswer{}, fmt.Errorf("no such order %s", no)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return verifyAnswer{}, fmt.Errorf("the daemon at %s refused the request (%s): %s Check [api] token", addr, ae.Error.Code, ae.Error.Message)
		}
		return verifyAnswer{}, fmt.Errorf("the daemon could not verify %s (%s, %s): %s", no, resp.Status, ae.Error.Code, ae.Error.Message)
	}
	var p verifyAnswer
	if err := json.Unmarshal(data, &p); err != nil || p.OrderNo == "" {
		return verifyAnswer{}, fmt.Errorf("%s answered something that is not a payment: is the daemon listening there?", addr)
	}
	return p, nil
}

// unwrapURLError drops *url.Error, whose text repeats the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func writeVerifyAnswer(w io.Writer, p verifyAnswer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Order\t%s\n", p.OrderNo)
	fmt.Fprintf(tw, "Lane\t%s\n", p.Lane)
	fmt.Fprintf(tw, "Amount\t%s %s\n", p.Amount, p.Currency)
	fmt.Fprintf(tw, "Status\t%s\n", p.Status)
	fmt.Fprintf(tw, "Reason\t%s\n", orDash(p.Reason))
	fmt.Fprintf(tw, "Message\t%s\n", p.Message)
	fmt.Fprintf(tw, "Gateway checks\t%s\n", strconv.Itoa(p.Checks))
	if p.NextCheckAt != "" {
		next := p.NextCheckAt
		if t, err := time.Parse(time.RFC3339, next); err == nil {
			next = localTime(t)
		}
		fmt.Fprintf(tw, "Next check\t%s\n", next)
	}
	attention := yesNo(p.NeedsAttention)
	if p.NeedsAttention && p.Attention != "" {
		attention += ": " + p.Attention
	}
	fmt.Fprintf(tw, "Needs attention\t%s\n", attention)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write answer: %w", err)
	}
	return nil
}
