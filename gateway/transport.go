package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/posbridge/posbridge"
)

// maxAnswer bounds what a client reads of an answer.
const maxAnswer = 1 << 20

// TransportConfig is the part of a client's configuration that its calls
// share. NewTransport gives a zero field the client's default: Timeout
// (when not positive), RatePerSecond and Burst (when zero; a negative rate
// is no limit), http.DefaultClient, SystemClock and slog.Default().
type TransportConfig struct {
	Timeout       time.Duration
	RatePerSecond float64
	Burst         int
	HTTPClient    *http.Client
	Clock         posbridge.Clock
	Logger        *slog.Logger
}

// Transport makes a client's HTTP calls: the shared rate limit, the
// timeout per call, the exchange and its debug log. Each client encodes,
// signs and decodes its own gateway's wire format around it. Safe for
// concurrent use; it owns no goroutines.
type Transport struct {
	timeout time.Duration
	limiter *Limiter
	http    *http.Client
	clock   posbridge.Clock
	log     *slog.Logger
}

// NewTransport returns the transport of the client of gateway (its name in
// the logs), with cfg's zero fields taken from def.
func NewTransport(gateway string, cfg, def TransportConfig) *Transport {
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = def.RatePerSecond
	}
	if cfg.Burst == 0 {
		cfg.Burst = def.Burst
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Transport{
		timeout: cfg.Timeout,
		limiter: NewLimiter(cfg.Clock, cfg.RatePerSecond, cfg.Burst),
		http:    cfg.HTTPClient,
		clock:   cfg.Clock,
		log:     cfg.Logger.With(posbridge.LogKeyComponent, "gateway", posbridge.LogKeyGateway, gateway),
	}
}

// Clock returns the clock the transport runs on, for the timestamps a
// client signs.
func (t *Transport) Clock() posbridge.Clock { return t.clock }

// Request is one encoded, signed request.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Answer is what came back: the HTTP status, the headers and the body
// (its first MiB).
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call makes the call op (its name in errors, e.g. "payby getOrder"). It
// waits for the rate limiter, then encodes the request (after the wait, so
// a timestamp signed in it is fresh), sends it within the timeout and reads
// the answer. Its errors are *Error for op: ClassRetryable when the wait
// ends (nothing was sent), what encode returned, ClassFinal when the
// request cannot be built, and ClassUnknownOutcome when no answer, or only
// part of one, came back. Any status is an answer: the client judges it.
// logKey and logValue name the call in the debug log.
func (t *Transport) Call(ctx context.Context, op string, encode func() (Request, error), logKey, logValue string) (Answer, error) {
	if err := t.limiter.Wait(ctx); err != nil {
		return Answer{}, &Error{Class: ClassRetryable, Op: op, Msg: "rate limiter wait", Err: err}
	}
	r, err := encode()
	if err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Answer{}, &Error{Class: ClassFinal, Op: op, Msg: "build request", Err: err}
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}

	start := t.clock.Now()
	resp, err := t.http.Do(req)
	if err != nil {
		return Answer{}, Unknown(op, 0, "no answer", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Answer{}, Unknown(op, resp.StatusCode, "read answer", err)
	}
	t.log.Debug("gateway call", logKey, logValue, "http_status", resp.StatusCode, posbridge.LogKeyDuration, t.clock.Now().Sub(start))
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// Unknown is the error of a call op whose outcome is unknown: it may have
// been done. status is the answer's HTTP status (0 for none).
func Unknown(op string, status int, msg string, err error) error {
	return &Error{Class: ClassUnknownOutcome, Op: op, HTTPStatus: status, Msg: msg, Err: err}
}
