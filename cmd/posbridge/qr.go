package main

import (
	"fmt"

	"github.com/posbridge/posbridge"
)

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
