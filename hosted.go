package posbridge

import (
	"context"
	"time"
)

// HostedOrderRequest asks a gateway to open an order that the customer pays
// on their own phone, on the gateway's hosted page (a QR code on the cashier's
// screen carries its URL).
type HostedOrderRequest struct {
	OrderNo   OrderNo
	Amount    Money
	Subject   string
	ExpiresAt time.Time // the gateway closes the order unpaid after this
}

// HostedOrder is an order opened on the gateway's hosted page.
type HostedOrder struct {
	GatewayNo string
	URL       string    // what the customer's phone opens; shown as a QR code
	ExpiresAt time.Time // as the gateway set it (never later than asked)
}

// HostedCheckout is a Gateway that can also open hosted-page orders (PayBy
// placeOrder with DYNQR, Pay Protocol createPaymentOrder). The page's
// redirect proves nothing: an order opened here is paid only when a verified
// notification or a query says so.
type HostedCheckout interface {
	Gateway
	// CreateHostedOrder opens the order. A repeat with the same OrderNo
	// returns the same order or an error; an error matching ErrUnknownOutcome
	// means the order may exist: query it before opening another.
	CreateHostedOrder(ctx context.Context, r HostedOrderRequest) (HostedOrder, error)
}
