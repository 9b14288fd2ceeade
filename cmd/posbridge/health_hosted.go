package main

import (
	"context"

	"github.com/posbridge/posbridge"
)

// engineGateway is what the engine is given: the health wrapper, keeping
// what else the client can do (open hosted-page orders, resend callbacks)
// visible to the engine's type checks, each call recorded like the others.
func engineGateway(h *gatewayHealth) posbridge.Gateway {
	_, hosted := h.Gateway.(posbridge.HostedCheckout)
	_, resend := h.Gateway.(posbridge.CallbackResender)
	switch {
	case hosted && resend:
		return hostedResendHealth{hostedHealth{h}}
	case hosted:
		return hostedHealth{h}
	case resend:
		return resendHealth{h}
	}
	return h
}

// hostedHealth is a gatewayHealth whose client is a posbridge.HostedCheckout.
type hostedHealth struct{ *gatewayHealth }

// CreateHostedOrder implements posbridge.HostedCheckout.
func (g hostedHealth) CreateHostedOrder(ctx context.Context, r posbridge.HostedOrderRequest) (posbridge.HostedOrder, error) {
	o, err := g.Gateway.(posbridge.HostedCheckout).CreateHostedOrder(ctx, r)
	g.record(err)
	return o, err
}

// resendHealth is a gatewayHealth whose client is a posbridge.CallbackResender.
type resendHealth struct{ *gatewayHealth }

// ResendOrderNotification implements posbridge.CallbackResender.
func (g resendHealth) ResendOrderNotification(ctx context.Context, no posbridge.OrderNo) error {
	err := g.Gateway.(posbridge.CallbackResender).ResendOrderNotification(ctx, no)
	g.record(err)
	return err
}

// hostedResendHealth is both.
type hostedResendHealth struct{ hostedHealth }

// ResendOrderNotification implements posbridge.CallbackResender.
func (g hostedResendHealth) ResendOrderNotification(ctx context.Context, no posbridge.OrderNo) error {
	return resendHealth(g.hostedHealth).ResendOrderNotification(ctx, no)
}

var (
	_ posbridge.HostedCheckout   = hostedHealth{}
	_ posbridge.CallbackResender = resendHealth{}
	_ posbridge.HostedCheckout   = hostedResendHealth{}
	_ posbridge.CallbackResender = hostedResendHealth{}
)
