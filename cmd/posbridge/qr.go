package main

import (
	"context"
	"fmt"

	"github.com/posbridge/posbridge"
)

// hostedHealth is gatewayHealth for a gateway that opens hosted (QR)
// orders: the engine sees it as a posbridge.HostedCheckout.
type hostedHealth struct {
	*gatewayHealth
	hc posbridge.HostedCheckout
}

// CreateHostedOrder implements posbridge.HostedCheckout.
func (g hostedHealth) CreateHostedOrder(ctx context.Context, r posbridge.HostedOrderRequest) (posbridge.HostedOrder, error) {
	h, err := g.hc.CreateHostedOrder(ctx, r)
	g.record(err)
	return h, err
}

// engineGateway is what the engine calls: gw, which opens hosted orders
// when the gateway behind it does.
func engineGateway(gw *gatewayHealth) posbridge.Gateway {
	if hc, ok := gw.Gateway.(posbridge.HostedCheckout); ok {
		return hostedHealth{gatewayHealth: gw, hc: hc}
	}
	return gw
}

// addQRLanes adds the lanes with mode = "qr" to e, before it opens.
func addQRLanes(e *posbridge.Engine, lanes []LaneConfig) error {
	for _, l := range lanes {
		if l.Mode != LaneQR {
			continue
		}
		if err := e.AddQRLane(l.ID, l.qr()); err != nil {
			return fmt.Errorf("lane %s: %w", l.ID, err)
		}
	}
	return nil
}

// demoQRLane returns the demo's QR lane when the gateway opens hosted
// orders: the customer pays on the sandbox's payment page. timers are
// extra keys of the lane (TOML lines), if any.
func demoQRLane(gw, timers string) string {
	if gw == "" {
		gw = "payby"
	}
	if !hostedGatewayKinds[gw] {
		return ""
	}
	return "[[lane]]\nid = \"qr\"\nmode = \"qr\"\n" + timers
}
