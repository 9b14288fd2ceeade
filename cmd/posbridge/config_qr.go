package main

import (
	"time"

	"github.com/posbridge/posbridge"
)

// LaneQR is the mode of a lane without a terminal: the customer pays on their
// phone, on the gateway's hosted page shown as a QR code.
const LaneQR = "qr"

// hostedGatewayKinds are the [gateway] kinds that open hosted (QR) orders.
var hostedGatewayKinds = map[string]bool{"payby": true, "payprotocol": true}

// Limits of a QR lane's timers.
const (
	minQRExpiry = 30 * time.Second
	maxQRExpiry = 48 * time.Hour // PayBy refuses an expiredTime further ahead (62009)
)

// cableKeys are the keys of a lane's serial link and terminal.
var cableKeys = []string{"port", "vid", "pid", "serial_number", "port_keyword", "baud", "trace",
	"app_id", "sale_timeout", "heartbeat", "link_timeout", "request_timeout"}

// qrOnlyKeys are the keys only a QR lane takes.
var qrOnlyKeys = []string{"qr_wait", "qr_expiry"}

// checkQRLane checks a lane with mode = "qr": no terminal, no cable, a
// gateway that opens hosted orders, and timers that fit together.
func (c *Config) checkQRLane(i int, l LaneConfig, add func(key, format string, args ...any), reported func(string) bool) {
	k := func(name string) string { return laneKey(i, name) }
	if !hostedGatewayKinds[c.Gateway.Kind] {
		add(k("mode"), "QR lanes need a gateway that opens hosted orders ([gateway] kind = \"payby\" or \"payprotocol\"), not %q", c.Gateway.Kind)
	}
	for _, name := range append(append([]string{}, cableKeys...), "terminal_sn", "poll_for") {
		if c.index.has(k(name)) {
			add(k(name), "a QR lane has no terminal: remove it (the customer pays on their phone)")
		}
	}
	q := l.qr()
	for _, d := range []struct {
		name string
		v    Duration
	}{{"qr_wait", l.QRWait}, {"poll_every", l.PollEvery}, {"qr_expiry", l.QRExpiry}} {
		if d.v < 0 && !reported(k(d.name)) {
			add(k(d.name), "%s: must not be negative (leave it out for the default)", d.v.Std())
		}
	}
	switch {
	case l.QRExpiry < 0:
	case q.Expiry < minQRExpiry || q.Expiry > maxQRExpiry:
		add(k("qr_expiry"), "%s: must be between %s and %s", q.Expiry, minQRExpiry, maxQRExpiry)
	case l.QRWait >= 0 && q.Wait >= q.Expiry:
		add(k("qr_wait"), "%s: must be shorter than qr_expiry (%s)", q.Wait, q.Expiry)
	case l.PollEvery >= 0 && q.PollEvery > q.Wait:
		add(k("poll_every"), "%s: must be at most qr_wait (%s)", q.PollEvery, q.Wait)
	}
}

// qr returns l's QR settings with the defaults of the keys left out.
func (l LaneConfig) qr() posbridge.QRLane {
	q := posbridge.QRLane{Wait: l.QRWait.Std(), PollEvery: l.PollEvery.Std(), Expiry: l.QRExpiry.Std()}
	if q.Wait <= 0 {
		q.Wait = posbridge.DefaultQRWait
	}
	if q.PollEvery <= 0 {
		q.PollEvery = posbridge.DefaultQRPollEvery
	}
	if q.Expiry <= 0 {
		q.Expiry = posbridge.DefaultQRExpiry
	}
	return q
}
