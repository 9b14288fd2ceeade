package main

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
