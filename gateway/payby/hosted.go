package payby

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// PaySceneDynamicQR is placeOrder's paySceneCode for a dynamic QR code: the
// answer's interActionParams.tokenUrl is the page the customer's phone opens.
const PaySceneDynamicQR = "DYNQR"

var _ posbridge.HostedCheckout = (*Client)(nil)

// maxTokenURL bounds the tokenUrl posbridge shows as a QR code (a version 40
// code at error correction M holds 2,331 bytes).
const maxTokenURL = 2048

// validTokenURL reports whether s is an absolute http or https address with
// a host, no longer than maxTokenURL and without control characters.
func validTokenURL(s string) bool {
	if len(s) > maxTokenURL || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// CreateHostedOrder opens a DYNQR order (placeOrder) whose tokenUrl the
// customer's phone opens. A repeat with the same request returns the same
// order and URL (PayBy's idempotency needs identical parameters, so the
// caller repeats r unchanged). An order PayBy already has paid is refused
// with an error matching ErrOrderPaid, one already closed with
// ErrOrderClosed; an answer without a tokenUrl for an open order is an
// unknown outcome (query it).
func (c *Client) CreateHostedOrder(ctx context.Context, r posbridge.HostedOrderRequest) (posbridge.HostedOrder, error) {
	// A repeat for an order that is no longer open is refused with the
	// codes cancelOrder uses (research §1.8).
	p, err := c.place(ctx, PlaceRequest{OrderNo: r.OrderNo, Amount: r.Amount, Subject: r.Subject, PaySceneCode: PaySceneDynamicQR, ExpiresAt: r.ExpiresAt},
		map[string]gateway.Class{"62001": gateway.ClassOrderPaid, "62003": gateway.ClassOrderPaid, "62002": gateway.ClassOrderClosed})
	if err != nil {
		return posbridge.HostedOrder{}, err
	}
	switch {
	case p.Order.Status.Paid():
		return posbridge.HostedOrder{}, fmt.Errorf("payby %s %s: %w (%w)", PathPlaceOrder, r.OrderNo, posbridge.ErrOrderPaid, posbridge.ErrGatewayFinal)
	case p.Order.Status == posbridge.GatewayFailed:
		return posbridge.HostedOrder{}, fmt.Errorf("payby %s %s: %w (%w)", PathPlaceOrder, r.OrderNo, posbridge.ErrOrderClosed, posbridge.ErrGatewayFinal)
	case p.TokenURL == "":
		return posbridge.HostedOrder{}, c.unknown(PathPlaceOrder, 200, "an open order without interActionParams.tokenUrl", nil)
	case !validTokenURL(p.TokenURL):
		// Shown to the customer as a QR code: only a web address is.
		return posbridge.HostedOrder{}, c.unknown(PathPlaceOrder, 200, fmt.Sprintf("interActionParams.tokenUrl is not an http(s) address of at most %d bytes", maxTokenURL), nil)
	}
	return posbridge.HostedOrder{GatewayNo: p.Order.GatewayNo, URL: p.TokenURL, ExpiresAt: r.ExpiresAt}, nil
}
