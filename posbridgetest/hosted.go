package posbridgetest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/posbridge/posbridge"
)

// HostedGateway is a FakeGateway with hosted (QR) orders
// (posbridge.HostedCheckout): an opened order is created at the gateway and
// its page is "https://pay.test/<no>"; the customer pays with PayPage,
// which pays only an order still open, as a real gateway would. Opens are
// counted and logged as "create".
type HostedGateway struct {
	*FakeGateway
	hmu sync.Mutex
	// openScript is what each CreateHostedOrder does, in turn; after it,
	// opens succeed.
	openScript []OpenStep
	// beforeCancel runs before a cancel (a payment landing between the
	// query and the cancel).
	beforeCancel func(no posbridge.OrderNo)
	// cancelRefusal, when set, is what a cancel of an open order returns,
	// having done nothing.
	cancelRefusal error
	requests      []posbridge.HostedOrderRequest
}

// OpenStep scripts one CreateHostedOrder of a HostedGateway.
type OpenStep int

// What an open does.
const (
	OpenOK          OpenStep = iota // opened, answered
	OpenLostAnswer                  // opened at the gateway, the answer lost (unknown outcome)
	OpenNoneUnknown                 // not opened, and the caller cannot tell (unknown outcome)
	OpenRetryable                   // refused for now (rate limit)
	OpenRefused                     // refused for good (bad parameters)
)

var _ posbridge.HostedCheckout = (*HostedGateway)(nil)

// NewHostedGateway returns a hosted gateway whose opens all succeed.
func NewHostedGateway() *HostedGateway { return &HostedGateway{FakeGateway: NewFakeGateway()} }

// ScriptOpens sets what the next opens do, in turn; later ones succeed.
func (g *HostedGateway) ScriptOpens(steps ...OpenStep) {
	g.hmu.Lock()
	defer g.hmu.Unlock()
	g.openScript = steps
}

// BeforeCancel makes f run before every later cancel (a payment landing
// between the engine's query and its cancel).
func (g *HostedGateway) BeforeCancel(f func(no posbridge.OrderNo)) {
	g.hmu.Lock()
	defer g.hmu.Unlock()
	g.beforeCancel = f
}

// RefuseCancels makes a cancel of an open (created) order return err,
// having done nothing, as Pay Protocol, which has no cancel (its page
// closes at expiry), or a rate limit does.
func (g *HostedGateway) RefuseCancels(err error) {
	g.hmu.Lock()
	defer g.hmu.Unlock()
	g.cancelRefusal = err
}

// Requests returns every open request the gateway got, oldest first.
func (g *HostedGateway) Requests() []posbridge.HostedOrderRequest {
	g.hmu.Lock()
	defer g.hmu.Unlock()
	return slices.Clone(g.requests)
}

// CreateHostedOrder does what the next OpenStep says. An open that reaches
// the gateway creates the order there, unless it knows the order already
// (then it is left as it is: an identical open returns the same order).
func (g *HostedGateway) CreateHostedOrder(ctx context.Context, r posbridge.HostedOrderRequest) (posbridge.HostedOrder, error) {
	g.hmu.Lock()
	step := OpenOK
	if len(g.openScript) > 0 {
		step, g.openScript = g.openScript[0], g.openScript[1:]
	}
	g.requests = append(g.requests, r)
	g.hmu.Unlock()
	g.mu.Lock()
	g.record("create", r.OrderNo)
	g.mu.Unlock()
	switch step {
	case OpenNoneUnknown:
		return posbridge.HostedOrder{}, fmt.Errorf("create %s: timeout: %w", r.OrderNo, posbridge.ErrUnknownOutcome)
	case OpenRetryable:
		return posbridge.HostedOrder{}, fmt.Errorf("create %s: rate limit: %w", r.OrderNo, posbridge.ErrRetryable)
	case OpenRefused:
		return posbridge.HostedOrder{}, fmt.Errorf("create %s: bad subject: %w", r.OrderNo, posbridge.ErrGatewayFinal)
	}
	if g.Status(r.OrderNo) == "" {
		g.Set(r.OrderNo, r.Amount, posbridge.GatewayCreated)
	}
	if step == OpenLostAnswer {
		return posbridge.HostedOrder{}, fmt.Errorf("create %s: connection reset: %w", r.OrderNo, posbridge.ErrUnknownOutcome)
	}
	return posbridge.HostedOrder{GatewayNo: "G" + string(r.OrderNo), URL: "https://pay.test/" + string(r.OrderNo), ExpiresAt: r.ExpiresAt}, nil
}

// CancelOrder runs the BeforeCancel hook, then refuses an open order's
// cancel with the RefuseCancels error, or cancels as a FakeGateway does.
func (g *HostedGateway) CancelOrder(ctx context.Context, no posbridge.OrderNo) (posbridge.GatewayOrder, error) {
	g.hmu.Lock()
	hook, refusal := g.beforeCancel, g.cancelRefusal
	g.hmu.Unlock()
	if hook != nil {
		hook(no)
	}
	if refusal != nil && g.Status(no) == posbridge.GatewayCreated {
		g.mu.Lock()
		g.record("cancel", no)
		g.mu.Unlock()
		return posbridge.GatewayOrder{}, fmt.Errorf("cancel %s: %w", no, refusal)
	}
	return g.FakeGateway.CancelOrder(ctx, no)
}

// PayPage is the customer paying on the hosted page: only an open
// (created) order can be paid. It reports whether the payment went through.
func (g *HostedGateway) PayPage(no posbridge.OrderNo) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := g.orders[no]
	if o == nil || o.Status != posbridge.GatewayCreated {
		return false
	}
	o.Status = posbridge.GatewayPaid
	return true
}
