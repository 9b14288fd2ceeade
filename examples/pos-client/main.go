// Command pos-client is the smallest POS integration with posbridge's local
// API: it takes one card payment and follows it to its end, the way a till
// should.
//
//   - It sends POST /api/v1/payments with an Idempotency-Key. If the answer
//     does not come back (a timeout, a dropped connection, a 5xx), it sends
//     the SAME request with the SAME key again: posbridge answers the payment
//     it already started, and the customer is never asked to pay twice.
//   - It follows the payment on the event stream (a websocket), remembering
//     the seq of the last event it handled. After a cut it reconnects with
//     since=that seq and misses nothing; a close with code 4409 means
//     "resync from since=0".
//   - It shows the cashier the payment's message, which is what the cashier
//     must be told, and stops when the payment is final (paid, failed,
//     canceled) or pending (not confirmed yet: never take payment again; a
//     real till keeps following it).
//
// It uses only the standard library and github.com/gorilla/websocket: a POS
// needs nothing of posbridge's code.
//
//	go run ./examples/pos-client -amount 12.50 -reference receipt-1001
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// payment is the part of posbridge's Payment object this client uses
// (ui/openapi.yaml describes every field).
type payment struct {
	OrderNo string `json:"order_no"`
	Amount  string `json:"amount"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Version int64  `json:"version"`
}

// done reports whether the client stops following: final or pending.
func (p payment) done() bool {
	switch p.Status {
	case "paid", "failed", "canceled", "pending":
		return true
	}
	return false
}

// event is one message of the event stream.
type event struct {
	Seq     int64    `json:"seq"`
	Type    string   `json:"type"`
	Payment *payment `json:"payment"`
}

// apiError is posbridge's error body.
type apiError struct {
	Status int
	Body   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// client talks to one posbridge daemon.
type client struct {
	base  string // e.g. http://127.0.0.1:8080
	token string // bearer token; needed only off loopback
	http  *http.Client
	out   io.Writer
}

func (c *client) do(ctx context.Context, method, path string, body any, header map[string]string, into any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json") // required on every POST
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode >= 300 {
		e := &apiError{Status: res.StatusCode}
		_ = json.Unmarshal(data, e)
		return res.StatusCode, e
	}
	return res.StatusCode, json.Unmarshal(data, into)
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Body.Code, e.Body.Message)
}

// payRequest is the body of POST /api/v1/payments.
type payRequest struct {
	Lane      string `json:"lane"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference,omitempty"`
}

// pay starts the payment, repeating the same request with the same key
// until an answer comes back. Only an answer ends it: a 4xx is a refusal to
// show (nothing was charged by it), anything without an answer is retried.
func (c *client) pay(ctx context.Context, r payRequest, key string, wait time.Duration, attempts int) (payment, error) {
	path := "/api/v1/payments?wait=" + url.QueryEscape(wait.String())
	var p payment
	for i := 1; ; i++ {
		status, err := c.do(ctx, "POST", path, r, map[string]string{"Idempotency-Key": key}, &p)
		if err == nil {
			if status == http.StatusOK {
				fmt.Fprintf(c.out, "posbridge already had this payment (same Idempotency-Key): %s\n", p.OrderNo)
			}
			return p, nil
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 {
			// Refused (invalid, lane busy, ...): the message says why.
			return p, errors.New(ae.Body.Message)
		}
		if ctx.Err() != nil || i >= attempts {
			return p, fmt.Errorf("no answer after %d attempts: %w", i, err)
		}
		fmt.Fprintf(c.out, "no answer (%v); retrying with the same Idempotency-Key %s\n", shortErr(err), key)
		time.Sleep(time.Second)
	}
}

// follow shows the payment's changes until it is final or pending. It
// connects to the event stream, then reads the payment once (anything before
// the stream's hello is in that read), then handles events newer than the
// payment's version. After a cut it reconnects with since=the last seq.
func (c *client) follow(ctx context.Context, p payment) (payment, error) {
	show := func(q payment) {
		fmt.Fprintf(c.out, "%s %s: %s\n", q.OrderNo, q.Status, q.Message)
	}
	show(p)
	var since int64 = -1 // -1: start at the newest event
	backoff := 250 * time.Millisecond
	for !p.done() {
		u := strings.Replace(c.base, "http", "ws", 1) + "/api/v1/events"
		if since >= 0 {
			u += "?since=" + strconv.FormatInt(since, 10)
		}
		h := http.Header{}
		if c.token != "" {
			h.Set("Authorization", "Bearer "+c.token)
		}
		conn, _, err := websocket.DefaultDialer.DialContext(ctx, u, h)
		if err != nil {
			if ctx.Err() != nil {
				return p, ctx.Err()
			}
			fmt.Fprintf(c.out, "event stream: %v; reconnecting\n", shortErr(err))
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 250 * time.Millisecond
		p, since, err = c.read(ctx, conn, p, since, show)
		conn.Close()
		if p.done() {
			break
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == 4409 {
			fmt.Fprintln(c.out, "event stream: posbridge's history was reset; resyncing from since=0")
			since = 0
			continue
		}
		if ctx.Err() != nil {
			return p, ctx.Err()
		}
		fmt.Fprintf(c.out, "event stream closed (%v); reconnecting with since=%d\n", shortErr(err), since)
	}
	return p, nil
}

// read handles one connection's messages until p is done or the stream ends.
func (c *client) read(ctx context.Context, conn *websocket.Conn, p payment, since int64, show func(payment)) (payment, int64, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		var ev event
		if err := conn.ReadJSON(&ev); err != nil {
			return p, since, err
		}
		switch {
		case ev.Type == "hello":
			if since < 0 {
				since = ev.Seq
			}
			fmt.Fprintf(c.out, "following events from seq %d\n", since)
			// Catch up with anything that happened before the stream began.
			var q payment
			if _, err := c.do(ctx, "GET", "/api/v1/payments/"+p.OrderNo, nil, nil, &q); err == nil && q.Version > p.Version {
				p = q
				show(p)
			}
		case ev.Type == "lane":
			// Lane events carry the last stored seq; they are not stored.
		default:
			since = max(since, ev.Seq)
			if ev.Payment != nil && ev.Payment.OrderNo == p.OrderNo && ev.Payment.Version > p.Version {
				p = *ev.Payment
				show(p)
			}
		}
		if p.done() {
			return p, since, nil
		}
	}
}

func shortErr(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return "timed out"
	}
	return err.Error()
}

func newKey() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "pos-client-" + hex.EncodeToString(b)
}

func main() {
	base := flag.String("api", "http://127.0.0.1:8080", "posbridge's address")
	token := flag.String("token", os.Getenv("POSBRIDGE_TOKEN"), "bearer token (only needed off loopback)")
	lane := flag.String("lane", "1", "lane (till) id")
	amount := flag.String("amount", "12.50", "amount, a decimal string")
	currency := flag.String("currency", "AED", "ISO 4217 currency")
	reference := flag.String("reference", "", "your receipt number")
	key := flag.String("key", "", "Idempotency-Key (default: a new random one); reuse it to resume the same payment")
	timeout := flag.Duration("timeout", 40*time.Second, "how long one HTTP request may take")
	wait := flag.Duration("wait", 30*time.Second, "?wait= of the payment request (at most 120s)")
	attempts := flag.Int("attempts", 10, "how many times to send the payment request without an answer")
	flag.Parse()
	if *key == "" {
		*key = newKey()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	c := &client{base: strings.TrimSuffix(*base, "/"), token: *token, http: &http.Client{Timeout: *timeout}, out: os.Stdout}
	fmt.Printf("paying %s %s on lane %s (Idempotency-Key %s)\n", *amount, *currency, *lane, *key)
	p, err := c.pay(ctx, payRequest{Lane: *lane, Amount: *amount, Currency: *currency, Reference: *reference}, *key, *wait, *attempts)
	if err != nil {
		fmt.Printf("payment not started: %v\n", err)
		os.Exit(1)
	}
	if p, err = c.follow(ctx, p); err != nil {
		fmt.Printf("stopped following %s: %v\n", p.OrderNo, err)
		os.Exit(1)
	}
	fmt.Printf("tell the cashier: %s\n", p.Message)
	if p.Status != "paid" {
		os.Exit(2)
	}
}
