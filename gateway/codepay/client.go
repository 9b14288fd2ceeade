// Package codepay implements posbridge.Gateway on CodePay's cloud API
// (research/gateway-api.md §2): every call is POST {base}/api/entry with a
// flat JSON body whose method field selects the operation, signed RSA2
// (SHA256withRSA) over the sorted k=v string of its fields; answers are
// {code,msg,psn,sign,data} with data a JSON string, verified the same way
// with the gateway's public key. It also serves CodePay's signed
// notifications (NotifyHandler) and sends cloud sales to a terminal
// (PayOrder).
package codepay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
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
	// DefaultApplication is the app on the terminal that receives cloud
	// orders (message_receiving_application).
	DefaultApplication = "CodePay Register"
)

// EntryPath is the single API path, relative to the base URL.
const EntryPath = "/api/entry"

// Methods (the body's method field).
const (
	MethodPay         = "wisehub.cloud.pay.order"
	MethodClose       = "wisehub.cloud.pay.close"
	MethodQuery       = "order.query"
	MethodRefund      = "order.refund.submit"
	MethodRefundQuery = "order.refund.query"
	// MethodRevoke is the revoke ("cancel order") method: the SDK's
	// OrderRevokerRequest; the string is derived from the class name, as
	// research §2.5 says, and is what the in-repo sandbox serves.
	MethodRevoke = "order.revoker"
)

// Result codes other than "0" that posbridge gives a meaning. CodePay
// publishes no table of its codes (research §2.4); these are the codes the
// in-repo sandbox answers, and every other code on a mutation is an unknown
// outcome (query before acting).
const (
	CodeOK             = "0"
	CodeOrderNotExist  = "ORDER_NOT_EXIST"
	CodeRefundNotExist = "REFUND_NOT_EXIST"
	CodeOrderPaid      = "ORDER_PAID"     // close of a paid order
	CodeOrderClosed    = "ORDER_CLOSED"   // close, pay or refund of a closed order
	CodeOrderPaying    = "ORDER_PAYING"   // close while the customer is paying
	CodeOrderNotPaid   = "ORDER_NOT_PAID" // refund of an unpaid order
	CodeOrderRefunded  = "ORDER_REFUNDED" // revoke of an order with refunds
	CodeRefundRejected = "REFUND_REJECTED"
	CodeAmountExceeded = "REFUND_AMOUNT_EXCEEDED"
	CodeDuplicateNo    = "DUPLICATE_MERCHANT_ORDER_NO" // the same number with other parameters
	CodeTerminalOff    = "TERMINAL_OFFLINE"
	CodeSignInvalid    = "SIGN_VERIFY_FAILED"
	CodeTimestamp      = "TIMESTAMP_INVALID"
	CodeParam          = "PARAM_ERROR"
	CodeSystem         = "SYSTEM_ERROR"
	CodeBusy           = "SYSTEM_BUSY"
)

// Config configures a Client. BaseURL, AppID, MerchantNo and the two keys
// (as files or values) are required.
type Config struct {
	BaseURL        string // e.g. https://codepay-open.codepay.us
	AppID          string
	MerchantNo     string
	StoreNo        string // sent with terminal orders and closes when set
	TerminalSN     string // the terminal a close names when set
	Application    string // message_receiving_application; DefaultApplication when empty
	AppKeyFile     string // PEM, PKCS#1 or PKCS#8; the app private key, signs requests
	GatewayKeyFile string // PEM; CodePay's public key, verifies answers
	AppKey         *rsa.PrivateKey
	GatewayKey     *rsa.PublicKey
	NotifyURL      string        // sent with sales and refunds when set
	Timeout        time.Duration // per call; DefaultTimeout when zero
	RatePerSecond  float64       // DefaultRatePerSecond when zero, negative for none
	Burst          int           // DefaultBurst when zero
	HTTPClient     *http.Client  // http.DefaultClient when nil
	Clock          posbridge.Clock
	Logger         *slog.Logger
}

// Client calls CodePay. It implements posbridge.Gateway, is safe for
// concurrent use and owns no goroutines.
type Client struct {
	base, appID, merchantNo, storeNo, terminalSN, app, notifyURL string

	key   *rsa.PrivateKey
	gw    *rsa.PublicKey
	t     *gateway.Transport
	clock posbridge.Clock // the transport's
}

var _ posbridge.Gateway = (*Client)(nil)

// New checks cfg and loads the keys. A missing, unreadable or wrong key file
// is an error naming the file; so is a gateway key that is the app's own
// public key.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("codepay: base URL is required")
	}
	if cfg.AppID == "" || len(cfg.AppID) > 32 {
		return nil, fmt.Errorf("codepay: app id %q must be 1 to 32 characters", cfg.AppID)
	}
	if cfg.MerchantNo == "" || len(cfg.MerchantNo) > 32 {
		return nil, fmt.Errorf("codepay: merchant number %q must be 1 to 32 characters", cfg.MerchantNo)
	}
	keys, err := gateway.LoadKeyPair("codepay", "app", "CodePay", cfg.AppKey, cfg.AppKeyFile, cfg.GatewayKey, cfg.GatewayKeyFile)
	if err != nil {
		return nil, err
	}
	key, gw := keys.Own, keys.Gateway
	if cfg.Application == "" {
		cfg.Application = DefaultApplication
	}
	t := gateway.NewTransport("codepay", gateway.TransportConfig{
		Timeout: cfg.Timeout, RatePerSecond: cfg.RatePerSecond, Burst: cfg.Burst,
		HTTPClient: cfg.HTTPClient, Clock: cfg.Clock, Logger: cfg.Logger,
	}, gateway.TransportConfig{Timeout: DefaultTimeout, RatePerSecond: DefaultRatePerSecond, Burst: DefaultBurst})
	return &Client{
		base: strings.TrimSuffix(cfg.BaseURL, "/"), appID: cfg.AppID, merchantNo: cfg.MerchantNo,
		storeNo: cfg.StoreNo, terminalSN: cfg.TerminalSN, app: cfg.Application, notifyURL: cfg.NotifyURL,
		key: key, gw: gw, t: t, clock: t.Clock(),
	}, nil
}

// Name returns "codepay".
func (c *Client) Name() string { return "codepay" }

// GatewayKey returns CodePay's public key, for the notification handler.
func (c *Client) GatewayKey() *rsa.PublicKey { return c.gw }

// QueryOrder calls order.query for the merchant order number no.
func (c *Client) QueryOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	p := Params{}
	p.SetString("merchant_order_no", string(no))
	var t Trans
	if err := c.call(ctx, MethodQuery, p, &t, false); err != nil {
		return posbridge.GatewayOrder{}, err
	}
	return c.order(MethodQuery, no, &t)
}

// CancelOrder closes an unpaid order with wisehub.cloud.pay.close and then
// queries it, since the close answer carries no status. ORDER_PAID matches
// posbridge.ErrOrderPaid, ORDER_CLOSED posbridge.ErrOrderClosed,
// ORDER_PAYING (the customer is at the terminal) posbridge.ErrRetryable;
// any other refusal is an unknown outcome.
func (c *Client) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	p := Params{}
	p.SetString("merchant_order_no", string(no))
	p.SetString("message_receiving_application", c.app)
	if c.storeNo != "" {
		p.SetString("store_no", c.storeNo)
	}
	if c.terminalSN != "" {
		p.SetString("terminal_sn", c.terminalSN)
	}
	if err := c.call(ctx, MethodClose, p, nil, true); err != nil {
		return posbridge.GatewayOrder{}, err
	}
	g, err := c.QueryOrder(ctx, no)
	if err != nil {
		return posbridge.GatewayOrder{}, fmt.Errorf("codepay query after close: %w", err)
	}
	switch {
	case g.Status.Paid():
		return posbridge.GatewayOrder{}, &gateway.Error{Class: gateway.ClassOrderPaid, Op: "codepay " + MethodClose, Msg: "closed, then found paid"}
	case g.Status != posbridge.GatewayFailed:
		return posbridge.GatewayOrder{}, c.unknown(MethodClose, 0, "closed, then found "+string(g.Status), nil)
	}
	return g, nil
}

// RevokeOrder calls the revoke method (a paid order is refunded, an unpaid
// one closed) and then queries the order.
func (c *Client) RevokeOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	p := Params{}
	p.SetString("merchant_order_no", string(no))
	if err := c.call(ctx, MethodRevoke, p, nil, true); err != nil {
		return posbridge.GatewayOrder{}, err
	}
	return c.QueryOrder(ctx, no)
}

func (c *Client) order(method string, no posbridge.OrderNo, t *Trans) (posbridge.GatewayOrder, error) {
	g, err := t.Order()
	if err != nil {
		return posbridge.GatewayOrder{}, c.unknown(method, 0, "malformed transaction", err)
	}
	if g.OrderNo != no {
		return posbridge.GatewayOrder{}, c.unknown(method, 0, fmt.Sprintf("answer is about order %s, asked for %s", g.OrderNo, no), nil)
	}
	return g, nil
}

// Sale is a cloud sale pushed to a terminal (wisehub.cloud.pay.order).
type Sale struct {
	OrderNo    posbridge.OrderNo
	Amount     posbridge.Money
	TerminalSN string
	// Expires is how long the order may wait on the terminal; zero for
	// CodePay's default. Sent in seconds.
	Expires time.Duration
	// RejectOffline asks CodePay to refuse the order when the terminal is
	// offline instead of queueing it (reject_trade_when_terminal_offline).
	RejectOffline bool
	Description   string
}

// Pushed is wisehub.cloud.pay.order's answer.
type Pushed struct {
	TransNo        string
	MessageID      string
	TerminalOnline bool
}

// PayOrder sends a sale to a terminal through the cloud. Repeating it with
// identical parameters returns the same order; a failure other than a
// refusal with a known meaning is an unknown outcome: query the order.
func (c *Client) PayOrder(ctx context.Context, s Sale) (Pushed, error) {
	if _, ok := posbridge.CurrencyExponent(s.Amount.Currency); !ok || s.Amount.Minor <= 0 {
		return Pushed{}, &gateway.Error{Class: gateway.ClassFinal, Op: "codepay " + MethodPay, Msg: "amount " + s.Amount.String()}
	}
	p := Params{}
	p.SetString("merchant_order_no", string(s.OrderNo))
	p.SetString("terminal_sn", s.TerminalSN)
	if c.storeNo != "" {
		p.SetString("store_no", c.storeNo)
	}
	p.SetString("message_receiving_application", c.app)
	p.SetString("pay_scenario", "SWIPE_CARD")
	p.SetNumber("trans_type", strconv.Itoa(TransTypeSale))
	p.SetString("price_currency", s.Amount.Currency)
	p.SetNumber("order_amount", s.Amount.Decimal())
	p.SetString("description", s.Description)
	if c.notifyURL != "" {
		p.SetString("notify_url", c.notifyURL)
	}
	if s.Expires > 0 {
		p.SetNumber("expires", strconv.FormatInt(int64(s.Expires/time.Second), 10))
	}
	p.SetString("reject_trade_when_terminal_offline", strconv.FormatBool(s.RejectOffline))
	var t Trans
	if err := c.call(ctx, MethodPay, p, &t, true); err != nil {
		return Pushed{}, err
	}
	online := string(t.TerminalOnlineStatus)
	return Pushed{TransNo: string(t.TransNo), MessageID: string(t.MessageID),
		TerminalOnline: online == "1" || strings.EqualFold(online, "online") || strings.EqualFold(online, "true")}, nil
}

// Refund calls order.refund.submit: a new transaction with the refund's own
// merchant_order_no against the original. A repeat with the same RefundNo
// and amount returns the same refund.
func (c *Client) Refund(ctx context.Context, r posbridge.RefundRequest) (posbridge.GatewayRefund, error) {
	p := Params{}
	p.SetString("merchant_order_no", string(r.RefundNo))
	p.SetString("orig_merchant_order_no", string(r.OrderNo))
	p.SetString("price_currency", r.Amount.Currency)
	p.SetNumber("trans_amount", r.Amount.Decimal())
	reason := r.Reason
	if len(reason) > 64 {
		reason = reason[:64]
	}
	p.SetString("description", reason)
	if c.notifyURL != "" {
		p.SetString("notify_url", c.notifyURL)
	}
	if err := c.call(ctx, MethodRefund, p, nil, true); err != nil {
		return posbridge.GatewayRefund{}, err
	}
	g, err := c.QueryRefund(ctx, r.RefundNo)
	if err != nil {
		return posbridge.GatewayRefund{}, fmt.Errorf("codepay query after refund: %w", err)
	}
	return g, nil
}

// QueryRefund calls order.refund.query for the refund's own number.
func (c *Client) QueryRefund(ctx context.Context, refundNo posbridge.OrderNo) (posbridge.GatewayRefund, error) {
	p := Params{}
	p.SetString("merchant_order_no", string(refundNo))
	var t Trans
	if err := c.call(ctx, MethodRefundQuery, p, &t, false); err != nil {
		return posbridge.GatewayRefund{}, err
	}
	g, err := t.Refund()
	if err != nil {
		return posbridge.GatewayRefund{}, c.unknown(MethodRefundQuery, 0, "malformed refund", err)
	}
	if g.RefundNo != refundNo {
		return posbridge.GatewayRefund{}, c.unknown(MethodRefundQuery, 0, fmt.Sprintf("answer is about refund %s, asked for %s", g.RefundNo, refundNo), nil)
	}
	return g, nil
}
