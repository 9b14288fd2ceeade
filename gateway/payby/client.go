// Package payby implements posbridge.Gateway on PayBy's acquire2 API
// (research/gateway-api.md §1) and the handler for PayBy's signed
// notifications. Requests are signed with SHA256withRSA over the exact body
// bytes sent; responses and notifications are verified with PayBy's public
// key over the exact bytes received.
package payby

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
)

// API paths, relative to the base URL.
const (
	PathPlaceOrder  = "/acquire2/placeOrder"
	PathGetOrder    = "/acquire2/getOrder"
	PathCancelOrder = "/acquire2/cancelOrder"
	PathRevokeOrder = "/acquire2/revokeOrder"
	PathRefund      = "/acquire2/refund/placeOrder"
	PathGetRefund   = "/acquire2/refund/getOrder"
)

// Config configures a Client. BaseURL, PartnerID and the two keys (as files
// or values) are required.
type Config struct {
	BaseURL         string // e.g. https://api.payby.com/sgs/api
	PartnerID       string
	MerchantKeyFile string          // PEM, PKCS#1 or PKCS#8; signs requests
	GatewayKeyFile  string          // PEM; PayBy's public key, verifies answers
	MerchantKey     *rsa.PrivateKey // used instead of MerchantKeyFile when set
	GatewayKey      *rsa.PublicKey  // used instead of GatewayKeyFile when set
	NotifyURL       string          // sent with placeOrder and refunds when set
	Timeout         time.Duration   // per call; DefaultTimeout when zero
	RatePerSecond   float64         // shared token bucket; DefaultRatePerSecond when zero, negative for none
	Burst           int             // DefaultBurst when zero
	HTTPClient      *http.Client    // http.DefaultClient when nil
	Clock           posbridge.Clock // requestTime and the rate limiter; SystemClock when nil
	Logger          *slog.Logger
}

// Client calls PayBy. It implements posbridge.Gateway and is safe for
// concurrent use. It owns no goroutines.
type Client struct {
	base      string
	partnerID string
	merchant  *rsa.PrivateKey
	gw        *rsa.PublicKey
	notifyURL string
	t         *gateway.Transport
	clock     posbridge.Clock // the transport's
}

var _ posbridge.Gateway = (*Client)(nil)

// New checks cfg and loads the keys. A missing, unreadable or wrong key file
// is an error naming the file; so is a gateway key that is the merchant's own
// public key (the portal's two keys mixed up).
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("payby: base URL is required")
	}
	if cfg.PartnerID == "" || len(cfg.PartnerID) > 12 {
		return nil, fmt.Errorf("payby: partner id %q must be 1 to 12 characters", cfg.PartnerID)
	}
	keys, err := gateway.LoadKeyPair("payby", "merchant", "PayBy", cfg.MerchantKey, cfg.MerchantKeyFile, cfg.GatewayKey, cfg.GatewayKeyFile)
	if err != nil {
		return nil, err
	}
	merchant, gw := keys.Own, keys.Gateway
	t := gateway.NewTransport("payby", gateway.TransportConfig{
		Timeout: cfg.Timeout, RatePerSecond: cfg.RatePerSecond, Burst: cfg.Burst,
		HTTPClient: cfg.HTTPClient, Clock: cfg.Clock, Logger: cfg.Logger,
	}, gateway.TransportConfig{Timeout: DefaultTimeout, RatePerSecond: DefaultRatePerSecond, Burst: DefaultBurst})
	return &Client{
		base:      strings.TrimSuffix(cfg.BaseURL, "/"),
		partnerID: cfg.PartnerID,
		merchant:  merchant,
		gw:        gw,
		notifyURL: cfg.NotifyURL,
		t:         t,
		clock:     t.Clock(),
	}, nil
}

// Name returns "payby".
func (c *Client) Name() string { return "payby" }

// GatewayKey returns PayBy's public key, for the notification handler.
func (c *Client) GatewayKey() *rsa.PublicKey { return c.gw }

type byMerchantNo struct {
	MerchantOrderNo string `json:"merchantOrderNo"`
}

// QueryOrder calls getOrder for the merchant order number no.
func (c *Client) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	return c.orderCall(ctx, PathGetOrder, no, nil)
}

// CancelOrder calls cancelOrder: only a CREATED order can be cancelled.
// 62001 (paid) and 62003 (settled) match posbridge.ErrOrderPaid, 62002
// (already failed) posbridge.ErrOrderClosed.
func (c *Client) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	return c.orderCall(ctx, PathCancelOrder, no, map[string]gateway.Class{
		"62001": gateway.ClassOrderPaid, "62003": gateway.ClassOrderPaid, "62002": gateway.ClassOrderClosed})
}

// RevokeOrder calls revokeOrder: a paid order is refunded, an unpaid one
// closed; the answer has Revoked set. 62039 is retryable.
func (c *Client) RevokeOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	return c.orderCall(ctx, PathRevokeOrder, no, nil)
}

func (c *Client) orderCall(ctx context.Context, path string, no posbridge.OrderNo, classes map[string]gateway.Class) (posbridge.GatewayOrder, error) {
	var out struct {
		AcquireOrder *AcquireOrder `json:"acquireOrder"`
	}
	if err := c.call(ctx, path, byMerchantNo{string(no)}, &out, classes); err != nil {
		return posbridge.GatewayOrder{}, err
	}
	return c.order(path, no, out.AcquireOrder)
}

func (c *Client) order(path string, no posbridge.OrderNo, a *AcquireOrder) (posbridge.GatewayOrder, error) {
	if a == nil {
		return posbridge.GatewayOrder{}, c.unknown(path, 0, "answer has no acquireOrder", nil)
	}
	g, err := a.Gateway()
	if err != nil {
		return posbridge.GatewayOrder{}, c.unknown(path, 0, "malformed acquireOrder", err)
	}
	if g.OrderNo != no {
		return posbridge.GatewayOrder{}, c.unknown(path, 0, fmt.Sprintf("answer is about order %s, asked for %s", g.OrderNo, no), nil)
	}
	return g, nil
}

// PlaceRequest is a new PayBy order (placeOrder), e.g. for a QR payment.
type PlaceRequest struct {
	OrderNo      posbridge.OrderNo
	Amount       posbridge.Money // AED
	Subject      string          // required by PayBy
	PaySceneCode string          // e.g. "DYNQR"
	ExpiresAt    time.Time       // zero for PayBy's default (2 h)
	DeviceID     string
}

// Placed is placeOrder's answer.
type Placed struct {
	Order    posbridge.GatewayOrder
	TokenURL string // interActionParams.tokenUrl, while the order is CREATED
	DeepLink string
}

// PlaceOrder calls placeOrder. Repeating it with identical parameters returns
// the same order; other parameters for the same number are refused (62016).
func (c *Client) PlaceOrder(ctx context.Context, p PlaceRequest) (Placed, error) {
	return c.place(ctx, p, nil)
}

// place calls placeOrder; classes maps result codes to error classes.
func (c *Client) place(ctx context.Context, p PlaceRequest, classes map[string]gateway.Class) (Placed, error) {
	if p.Amount.Currency != Currency {
		return Placed{}, c.invalid(PathPlaceOrder, fmt.Sprintf("currency %q; PayBy supports only %s", p.Amount.Currency, Currency))
	}
	biz := struct {
		MerchantOrderNo string `json:"merchantOrderNo"`
		Subject         string `json:"subject"`
		TotalAmount     Money  `json:"totalAmount"`
		PaySceneCode    string `json:"paySceneCode"`
		NotifyURL       string `json:"notifyUrl,omitempty"`
		ExpiredTime     int64  `json:"expiredTime,omitempty"`
		DeviceID        string `json:"deviceId,omitempty"`
	}{string(p.OrderNo), p.Subject, MoneyOf(p.Amount), p.PaySceneCode, c.notifyURL, 0, p.DeviceID}
	if !p.ExpiresAt.IsZero() {
		biz.ExpiredTime = p.ExpiresAt.UnixMilli()
	}
	var out struct {
		AcquireOrder      *AcquireOrder `json:"acquireOrder"`
		InterActionParams *struct {
			TokenURL string `json:"tokenUrl"`
			DeepLink string `json:"deepLink"`
		} `json:"interActionParams"`
	}
	if err := c.call(ctx, PathPlaceOrder, biz, &out, classes); err != nil {
		return Placed{}, err
	}
	g, err := c.order(PathPlaceOrder, p.OrderNo, out.AcquireOrder)
	if err != nil {
		return Placed{}, err
	}
	pl := Placed{Order: g}
	if ip := out.InterActionParams; ip != nil {
		pl.TokenURL, pl.DeepLink = ip.TokenURL, ip.DeepLink
	}
	return pl, nil
}

// Refund calls refund/placeOrder. A repeat with the same RefundNo and
// parameters returns the same refund; other parameters are refused (62017).
func (c *Client) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	if r.Amount.Currency != Currency {
		return posbridge.GatewayRefund{}, c.invalid(PathRefund, fmt.Sprintf("currency %q; PayBy supports only %s", r.Amount.Currency, Currency))
	}
	reason := r.Reason
	if len(reason) > 64 {
		reason = reason[:64]
	}
	biz := struct {
		RefundMerchantOrderNo string `json:"refundMerchantOrderNo"`
		OriginMerchantOrderNo string `json:"originMerchantOrderNo"`
		Amount                Money  `json:"amount"`
		Reason                string `json:"reason,omitempty"`
		NotifyURL             string `json:"notifyUrl,omitempty"`
	}{string(r.RefundNo), string(r.OrderNo), MoneyOf(r.Amount), reason, c.notifyURL}
	return c.refundCall(ctx, PathRefund, r.RefundNo, biz)
}

// QueryRefund calls refund/getOrder.
func (c *Client) QueryRefund(ctx context.Context, refundNo posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	biz := struct {
		RefundMerchantOrderNo string `json:"refundMerchantOrderNo"`
	}{string(refundNo)}
	return c.refundCall(ctx, PathGetRefund, refundNo, biz)
}

func (c *Client) refundCall(ctx context.Context, path string, no posbridge.OrderNo, biz any) (posbridge.GatewayRefund, error) {
	var out struct {
		RefundOrder *RefundOrder `json:"refundOrder"`
	}
	if err := c.call(ctx, path, biz, &out, nil); err != nil {
		return posbridge.GatewayRefund{}, err
	}
	if out.RefundOrder == nil {
		return posbridge.GatewayRefund{}, c.unknown(path, 0, "answer has no refundOrder", nil)
	}
	g, err := out.RefundOrder.Gateway()
	if err != nil {
		return posbridge.GatewayRefund{}, c.unknown(path, 0, "malformed refundOrder", err)
	}
	if g.RefundNo != no {
		return posbridge.GatewayRefund{}, c.unknown(path, 0, fmt.Sprintf("answer is about refund %s, asked for %s", g.RefundNo, no), nil)
	}
	return g, nil
}

// unsignedCodes may come without a response signature (research §1.5).
var unsignedCodes = map[string]bool{"400": true, "402": true, "403": true, "404": true, "500": true, "504": true, "601": true}

func allowedUnsigned(code string) bool { return unsignedCodes[code] || strings.HasPrefix(code, "58") }

// call sends {requestTime, bizContent: biz} to path and decodes a successful
// answer's body into out. classes overrides the class of specific codes.
func (c *Client) call(ctx context.Context, path string, biz, out any, classes map[string]gateway.Class) error {
	op := "payby " + strings.TrimPrefix(path, "/acquire2/")
	a, err := c.t.Call(ctx, op, func() (gateway.Request, error) {
		body, err := json.Marshal(struct {
			RequestTime int64 `json:"requestTime"`
			BizContent  any   `json:"bizContent"`
		}{c.clock.Now().UnixMilli(), biz})
		if err != nil {
			return gateway.Request{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "encode request", Err: err}
		}
		sig, err := gateway.SignSHA256(c.merchant, body)
		if err != nil {
			return gateway.Request{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "sign request", Err: err}
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json;charset=UTF-8")
		h.Set("Content-Language", "en")
		h.Set("Partner-Id", c.partnerID)
		h.Set("sign", sig)
		return gateway.Request{Method: http.MethodPost, URL: c.base + path, Header: h, Body: body}, nil
	}, "path", path)
	if err != nil {
		return err
	}
	if a.Status/100 != 2 {
		return c.unknown(op, a.Status, "HTTP status", nil)
	}
	var env envelope
	decErr := json.Unmarshal(a.Body, &env)
	if decErr == nil && env.Head == nil {
		decErr = errors.New("no head")
	}
	sign := a.Header.Get("sign")
	if sign != "" {
		if err := gateway.VerifySHA256(c.gw, a.Body, sign); err != nil {
			return c.unknown(op, a.Status, "response signature", err)
		}
	}
	if decErr != nil {
		return c.unknown(op, a.Status, "malformed answer", decErr)
	}
	h := env.Head
	code := string(h.Code)
	if sign == "" && !allowedUnsigned(code) {
		return c.unknown(op, a.Status, "response signature", gateway.ErrNoSignature)
	}
	if strings.EqualFold(h.ApplyStatus, "SUCCESS") && code == "0" {
		if out != nil {
			if err := json.Unmarshal(env.Body, out); err != nil {
				return c.unknown(op, a.Status, "malformed body", err)
			}
		}
		return nil
	}
	e := &gateway.Error{Class: classify(code), Code: code, Msg: h.Msg, HTTPStatus: a.Status, Op: op}
	switch {
	case strings.EqualFold(h.ApplyStatus, "ERROR"):
		// PayBy could not verify our signature: the key pair is wrong.
		e.Class, e.Msg = gateway.ClassFinal, "request signature refused (merchant key does not match the portal): "+h.Msg
	case code == "0":
		return c.unknown(op, a.Status, "code 0 with applyStatus "+h.ApplyStatus, nil)
	case classes[code] != 0:
		e.Class = classes[code]
	}
	return e
}

// classify returns the class of a PayBy result code other than "0".
func classify(code string) gateway.Class {
	switch code {
	case "500", "504":
		return gateway.ClassUnknownOutcome
	case "402", "404", "62039":
		return gateway.ClassRetryable
	case "62004", "62035", "62007":
		return gateway.ClassNotFound
	}
	return gateway.ClassFinal
}

func (c *Client) unknown(op string, status int, msg string, err error) error {
	if !strings.HasPrefix(op, "payby ") {
		op = "payby " + strings.TrimPrefix(op, "/acquire2/")
	}
	return gateway.Unknown(op, status, msg, err)
}

func (c *Client) invalid(path, msg string) error {
	return &gateway.Error{Class: gateway.ClassFinal, Op: "payby " + strings.TrimPrefix(path, "/acquire2/"), Msg: msg}
}
