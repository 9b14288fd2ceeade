// Package payprotocol implements posbridge.HostedCheckout on Pay Protocol's
// merchant API (research/gateway-api.md §3): the customer pays on Pay
// Protocol's hosted page (a QR code on the cashier's screen carries its
// URL); every request carries X-PAY-KEY, X-PAY-TIMESTAMP (Unix seconds,
// within 60 s) and X-PAY-SIGN = Base64(HMAC-SHA256(secret, timestamp +
// METHOD + requestPath + body)), requestPath including /api/mer. The
// page's redirect proves nothing: an order is paid only when a verified
// callback (NotifyHandler) or /payment/detail says so.
//
// Pay Protocol has no cancel: an unpaid order closes when its page expires.
// CancelOrder therefore queries, and refuses an open order (see
// CancelOrder). Refunds are transfers the merchant approves in the
// back office; until then they stay created.
package payprotocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// Defaults of Config.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultRatePerSecond = 5
	DefaultBurst         = 5
	// DefaultBaseURL is Pay Protocol's sandbox API.
	DefaultBaseURL = "https://api-sandbox.payprotocol.network/api/mer"
	// DefaultPageURL is where the sandbox's hosted pages live; the
	// paymentUrl an order gets is joined to it.
	DefaultPageURL = "https://payment-sandbox.payprotocol.network"
)

// Paths, relative to the base URL.
const (
	PathCreatePayment = "/payment/createPaymentOrder"
	PathPaymentDetail = "/payment/detail"
	PathPaymentNotify = "/payment/notify"
	PathCreateRefund  = "/refund/createRefundOrder"
	PathRefundDetail  = "/refund/detail"
	PathRefundNotify  = "/refund/notify"
)

// Config configures a Client. BaseURL, APIKey, the secret (file or value)
// and ChainID are required.
type Config struct {
	BaseURL    string // e.g. https://api.payprotocol.network/api/mer
	PageURL    string // joined with an order's paymentUrl; DefaultPageURL when empty
	APIKey     string
	SecretFile string // the API secret, one line
	Secret     []byte // used instead of SecretFile when set
	// ChainID is Pay Protocol's own chain id (from its chain list) the
	// customer pays on.
	ChainID       int
	NotifyURL     string        // sent with orders and refunds; where callbacks go
	RedirectURL   string        // where the page sends the customer after paying (proves nothing)
	Timeout       time.Duration // per call; DefaultTimeout when zero
	RatePerSecond float64       // DefaultRatePerSecond when zero, negative for none
	Burst         int           // DefaultBurst when zero
	HTTPClient    *http.Client  // http.DefaultClient when nil
	Clock         posbridge.Clock
	Logger        *slog.Logger
}

// Client calls Pay Protocol. It implements posbridge.HostedCheckout and
// posbridge.CallbackResender, is safe for concurrent use and owns no
// goroutines.
type Client struct {
	base, basePath, page, key, notifyURL, redirectURL string

	secret  []byte
	chainID int
	t       *gateway.Transport
	clock   posbridge.Clock // the transport's
}

var (
	_ posbridge.HostedCheckout   = (*Client)(nil)
	_ posbridge.CallbackResender = (*Client)(nil)
)

// New checks cfg and loads the secret. A missing, unreadable or empty
// secret file is an error naming it.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("payprotocol: base URL is required")
	}
	u, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("payprotocol: base URL %q is not an absolute URL", cfg.BaseURL)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("payprotocol: API key is required")
	}
	if cfg.ChainID <= 0 {
		return nil, fmt.Errorf("payprotocol: chain id %d must be a positive number", cfg.ChainID)
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		if secret, err = LoadSecret(cfg.SecretFile); err != nil {
			return nil, err
		}
	}
	if cfg.PageURL == "" {
		cfg.PageURL = DefaultPageURL
	}
	t := gateway.NewTransport("payprotocol", gateway.TransportConfig{
		Timeout: cfg.Timeout, RatePerSecond: cfg.RatePerSecond, Burst: cfg.Burst,
		HTTPClient: cfg.HTTPClient, Clock: cfg.Clock, Logger: cfg.Logger,
	}, gateway.TransportConfig{Timeout: DefaultTimeout, RatePerSecond: DefaultRatePerSecond, Burst: DefaultBurst})
	return &Client{
		base: u.String(), basePath: u.EscapedPath(), page: strings.TrimSuffix(cfg.PageURL, "/"), key: cfg.APIKey,
		notifyURL: cfg.NotifyURL, redirectURL: cfg.RedirectURL,
		secret: secret, chainID: cfg.ChainID, t: t, clock: t.Clock(),
	}, nil
}

// Name returns "payprotocol".
func (c *Client) Name() string { return "payprotocol" }

// CreateHostedOrder calls createPaymentOrder with the amount quoted in its
// fiat currency (isLegalTender 1) and returns the page URL (the page base
// joined with paymentUrl, never the paymentUrl alone). A repeat with the
// same OrderNo and parameters returns the same order; with other
// parameters it is refused (final). Any failure without a known meaning is
// an unknown outcome: query the order before opening another.
func (c *Client) CreateHostedOrder(ctx context.Context, r posbridge.HostedOrderRequest) (posbridge.HostedOrder, error) {
	op := "payprotocol " + PathCreatePayment
	if !ValidOrderNo(string(r.OrderNo)) {
		return posbridge.HostedOrder{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: fmt.Sprintf("order number %q", r.OrderNo)}
	}
	if _, ok := posbridge.CurrencyExponent(r.Amount.Currency); !ok || r.Amount.Minor <= 0 {
		return posbridge.HostedOrder{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "amount " + r.Amount.String()}
	}
	desc := r.Subject
	if desc == "" {
		desc = "Order " + string(r.OrderNo)
	}
	body := CreatePayment{ChainID: c.chainID, Description: desc, OutTradeNo: string(r.OrderNo), IsLegalTender: 1,
		QuoteCurrencySymbol: r.Amount.Currency, QuoteAmount: amountNumber(r.Amount),
		NotifyURL: c.notifyURL, RedirectionURL: c.redirectURL, ExpireTime: unixOrZero(r.ExpiresAt)}
	var out Created
	if err := c.call(ctx, http.MethodPost, PathCreatePayment, nil, body, &out, true); err != nil {
		return posbridge.HostedOrder{}, err
	}
	if out.PaymentURL == "" || out.OutPaymentNo == "" {
		return posbridge.HostedOrder{}, c.unknown(PathCreatePayment, 0, "answer has no paymentUrl or outPaymentNo", nil)
	}
	page, err := c.pageURL(out.PaymentURL)
	if err != nil {
		return posbridge.HostedOrder{}, c.unknown(PathCreatePayment, 0, "paymentUrl", err)
	}
	h := posbridge.HostedOrder{GatewayNo: out.OutPaymentNo, URL: page, ExpiresAt: r.ExpiresAt}
	if out.ExpireTime > 0 {
		if at := time.Unix(out.ExpireTime, 0); h.ExpiresAt.IsZero() || at.Before(h.ExpiresAt) {
			h.ExpiresAt = at
		}
	}
	return h, nil
}

// pageURL joins the page base and a paymentUrl path; a paymentUrl naming
// another host is refused (Pay Protocol: never use it as it stands).
func (c *Client) pageURL(p string) (string, error) {
	u, err := url.Parse(p)
	if err != nil {
		return "", err
	}
	if u.Scheme != "" || u.Host != "" {
		return "", fmt.Errorf("%q is not a path", p)
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return c.page + p, nil
}

// QueryOrder calls /payment/detail for the merchant order number no.
func (c *Client) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	var p Payment
	if err := c.call(ctx, http.MethodGet, PathPaymentDetail, url.Values{"outTradeNo": {string(no)}}, nil, &p, false); err != nil {
		return posbridge.GatewayOrder{}, err
	}
	g, err := p.Order()
	if err != nil {
		return posbridge.GatewayOrder{}, c.unknown(PathPaymentDetail, 0, "malformed payment", err)
	}
	if g.OrderNo != no {
		return posbridge.GatewayOrder{}, c.unknown(PathPaymentDetail, 0, fmt.Sprintf("answer is about order %s, asked for %s", g.OrderNo, no), nil)
	}
	return g, nil
}

// CodeNoCancel is the code of CancelOrder's refusal of an open order.
const CodeNoCancel = "NO_CANCEL"

// CancelOrder: Pay Protocol has no cancel; an unpaid order closes when its
// page expires. CancelOrder queries the order instead: paid, settled or
// partially paid matches posbridge.ErrOrderPaid (money arrived: it cannot
// be canceled); failed or expired matches posbridge.ErrOrderClosed; unknown
// is posbridge.ErrGatewayNotFound; still open is posbridge.ErrGatewayFinal
// with code NO_CANCEL: nothing was done (the engine keeps the order open and
// asks again later, when the expired page has closed it). Not
// ErrRetryable: the gateway is up, and its health must not read "down". A
// query that fails without a known meaning is ErrRetryable (nothing was
// done), never ErrUnknownOutcome.
func (c *Client) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	op := "payprotocol cancel"
	g, err := c.QueryOrder(ctx, no)
	if errors.Is(err, posbridge.ErrUnknownOutcome) {
		// Only a query went out, and nothing can have been canceled: not
		// an unknown outcome (which would read "the order may have
		// closed"), but "try again". Not wrapped: the cause's class would
		// match too.
		return posbridge.GatewayOrder{}, &gateway.Error{Class: gateway.ClassRetryable, Op: op, Msg: "the query in place of a cancel failed, nothing was done: " + err.Error()}
	}
	if err != nil {
		return posbridge.GatewayOrder{}, err
	}
	switch {
	case g.Status.Paid() || g.Status == posbridge.GatewayPartiallyPaid:
		return posbridge.GatewayOrder{}, &gateway.Error{Class: gateway.ClassOrderPaid, Op: op, Msg: "order is " + string(g.Status)}
	case g.Status == posbridge.GatewayFailed:
		return posbridge.GatewayOrder{}, &gateway.Error{Class: gateway.ClassOrderClosed, Op: op, Msg: "order already closed"}
	}
	return posbridge.GatewayOrder{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Code: CodeNoCancel,
		Msg: "Pay Protocol has no cancel; the order closes when its payment page expires"}
}

// ResendOrderNotification calls /payment/notify: Pay Protocol sends the
// order's callback again.
func (c *Client) ResendOrderNotification(ctx context.Context, no posbridge.OrderNo) error {
	return c.call(ctx, http.MethodGet, PathPaymentNotify, url.Values{"outTradeNo": {string(no)}}, nil, nil, false)
}

// ResendRefundNotification calls /refund/notify: Pay Protocol sends the
// refund's callback again.
func (c *Client) ResendRefundNotification(ctx context.Context, refundNo posbridge.OrderNo) error {
	return c.call(ctx, http.MethodGet, PathRefundNotify, url.Values{"outRefundNo": {string(refundNo)}}, nil, nil, false)
}

// Refund calls /refund/createRefundOrder. The refund then waits for the
// merchant's approval in the back office: it is created until a callback or
// QueryRefund says success, failure or rejected. A repeat with the same
// RefundNo and amount returns the same refund.
func (c *Client) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	op := "payprotocol " + PathCreateRefund
	if !ValidOrderNo(string(r.RefundNo)) || !ValidOrderNo(string(r.OrderNo)) {
		return posbridge.GatewayRefund{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: fmt.Sprintf("refund number %q of order %q", r.RefundNo, r.OrderNo)}
	}
	reason := r.Reason
	if len(reason) > 128 {
		reason = reason[:128]
	}
	body := CreateRefund{OutTradeNo: string(r.OrderNo), OutRefundNo: string(r.RefundNo), RefundAmount: amountNumber(r.Amount), Reason: reason, NotifyURL: c.notifyURL}
	var out RefundOrder
	if err := c.call(ctx, http.MethodPost, PathCreateRefund, nil, body, &out, true); err != nil {
		return posbridge.GatewayRefund{}, err
	}
	g, err := out.Refund()
	if err != nil || g.RefundNo != r.RefundNo {
		// The answer is not the refund asked for: ask for it by number.
		g, err = c.QueryRefund(ctx, r.RefundNo)
		if err != nil {
			// The create was accepted: whatever the query says (not found
			// yet, refused), the refund may be made. Unknown, never a
			// refusal, or the engine would free the amount for another.
			return posbridge.GatewayRefund{}, c.unknown(PathCreateRefund, 0, "refund accepted; the query after it failed", err)
		}
	}
	return g, nil
}

// QueryRefund calls /refund/detail for the refund's own number.
func (c *Client) QueryRefund(ctx context.Context, refundNo posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	var r RefundOrder
	if err := c.call(ctx, http.MethodGet, PathRefundDetail, url.Values{"outRefundNo": {string(refundNo)}}, nil, &r, false); err != nil {
		return posbridge.GatewayRefund{}, err
	}
	g, err := r.Refund()
	if err != nil {
		return posbridge.GatewayRefund{}, c.unknown(PathRefundDetail, 0, "malformed refund", err)
	}
	if g.RefundNo != refundNo {
		return posbridge.GatewayRefund{}, c.unknown(PathRefundDetail, 0, fmt.Sprintf("answer is about refund %s, asked for %s", g.RefundNo, refundNo), nil)
	}
	return g, nil
}

// call sends one signed request: a GET with query q, or a POST of in as
// JSON; it decodes a successful answer's data into out (when not nil).
// mutation says whether the call changes anything: then an answer without
// a known meaning is an unknown outcome.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any, mutation bool) error {
	op := "payprotocol " + path
	a, err := c.t.Call(ctx, op, func() (gateway.Request, error) {
		var body []byte
		if in != nil {
			var err error
			if body, err = json.Marshal(in); err != nil {
				return gateway.Request{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "encode request", Err: err}
			}
		}
		target, signed := c.base+path, c.basePath+path
		if len(q) > 0 {
			target += "?" + q.Encode()
			signed += "?" + q.Encode()
		}
		h := http.Header{}
		if in != nil {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Accept", "application/json")
		SetHeaders(h, c.key, c.secret, c.clock.Now(), method, signed, body)
		return gateway.Request{Method: method, URL: target, Header: h, Body: body}, nil
	}, "path", path)
	if err != nil {
		return err
	}
	var env Envelope
	if err := decodeStrict(a.Body, &env); err != nil {
		// Not Pay Protocol's answer (a proxy's error page, a cut body).
		return c.unknown(path, a.Status, "malformed answer", err)
	}
	if a.Status/100 == 2 && env.OK() {
		if out != nil {
			if len(env.Data) == 0 || string(env.Data) == "null" {
				return c.unknown(path, a.Status, "answer has no data", nil)
			}
			if err := decodeStrict(env.Data, out); err != nil {
				return c.unknown(path, a.Status, "malformed data", err)
			}
		}
		return nil
	}
	code := env.Code
	if env.OK() {
		code = a.Status // a success code under an error status: the status decides
	}
	msg := env.Msg
	if env.Description != "" {
		msg += ": " + env.Description
	}
	return &gateway.Error{Class: classify(code, mutation), Code: fmt.Sprint(code), Msg: msg, HTTPStatus: a.Status, Op: op}
}

// classify returns the class of an answer code other than success.
func classify(code int, mutation bool) gateway.Class {
	switch code {
	case CodeNotFound:
		return gateway.ClassNotFound
	case CodeBusy, CodeNoService:
		return gateway.ClassRetryable
	case CodeSystem:
		return gateway.ClassUnknownOutcome
	case CodeAuth, CodeForbidden, CodeBadRequest, CodeConflict, CodeRefundOver:
		// Refused at the gate or on its parameters: nothing was done.
		return gateway.ClassFinal
	}
	if mutation {
		return gateway.ClassUnknownOutcome
	}
	return gateway.ClassFinal
}

func (c *Client) unknown(path string, status int, msg string, err error) error {
	return gateway.Unknown("payprotocol "+path, status, msg, err)
}
