package main

import (
	"fmt"
	"strconv"
	"strings"
)

func (c *Config) checkLanes(add func(key, format string, args ...any), reported func(string) bool) {
	if len(c.Lanes) == 0 {
		add("lane", "no [[lane]]: configure at least one terminal")
		return
	}
	firstID := make(map[string]int)
	for i, l := range c.Lanes {
		k := func(name string) string { return laneKey(i, name) }
		switch {
		case l.ID == "" && !reported(k("id")):
			add(k("id"), "missing: every lane needs an id")
		case l.ID != "" && !validLaneID(l.ID):
			add(k("id"), "%q: use only letters, digits, '-' and '_' (at most 16)", l.ID)
		case l.ID != "":
			if j, dup := firstID[l.ID]; dup {
				f, line := c.where(laneKey(j, "id"))
				if f0, _ := c.where(k("id")); f0 != f {
					add(k("id"), "duplicate lane id %q: also %s at %s:%d", l.ID, laneKey(j, "id"), f, line)
				} else {
					add(k("id"), "duplicate lane id %q: also %s on line %d", l.ID, laneKey(j, "id"), line)
				}
			} else {
				firstID[l.ID] = i
			}
		}
		switch l.Mode {
		case "", LaneSerial:
		case LaneCloud:
			c.checkCloudLane(i, l, add, reported)
			continue
		case LaneQR:
			c.checkQRLane(i, l, add, reported)
			continue
		default:
			add(k("mode"), "unknown mode %q: want serial, cloud or qr", l.Mode)
			continue
		}
		for _, name := range qrOnlyKeys {
			if c.index.has(k(name)) {
				add(k(name), "is for QR lanes (mode = \"qr\")")
			}
		}
		for _, name := range []string{"terminal_sn", "poll_every", "poll_for"} {
			if name == "terminal_sn" && c.Gateway.Kind == "codepay" {
				c.checkSettleTerminal(i, l, add)
				continue
			}
			if c.index.has(k(name)) {
				add(k(name), "is for cloud lanes (mode = \"cloud\")")
			}
		}
		switch {
		case l.Port == "" && !reported(k("port")):
			add(k("port"), "missing: a device path (/dev/ttyACM0, COM3) or \"auto\"")
		case l.Port == PortAuto:
		case l.Port != "":
			if err := probePort(l.Port); err != nil {
				add(k("port"), "%v", err)
			}
		}
		for _, h := range []struct{ name, v string }{{"vid", l.VID}, {"pid", l.PID}} {
			if h.v != "" && !isHex4(h.v) {
				add(k(h.name), "%q: want 4 hex digits, like \"1a86\"", h.v)
			}
		}
		if l.Baud <= 0 && !reported(k("baud")) {
			add(k("baud"), "%d: must be positive", l.Baud)
		}
		if l.AppID == "" && !reported(k("app_id")) {
			add(k("app_id"), "missing: the payment-app id CodePay issued for this integration")
		}
		if l.SaleTimeout <= 0 && !reported(k("sale_timeout")) {
			add(k("sale_timeout"), "%s: must be positive", l.SaleTimeout.Std())
		}
		for _, d := range []struct {
			name string
			v    Duration
		}{{"heartbeat", l.Heartbeat}, {"link_timeout", l.LinkTimeout}, {"request_timeout", l.RequestTimeout}} {
			if d.v < 0 && !reported(k(d.name)) {
				add(k(d.name), "%s: must not be negative (leave it out for the default)", d.v.Std())
			}
		}
		if l.Heartbeat > 0 && l.LinkTimeout > 0 && l.LinkTimeout <= l.Heartbeat && !reported(k("link_timeout")) {
			add(k("link_timeout"), "%s: must be longer than heartbeat (%s)", l.LinkTimeout.Std(), l.Heartbeat.Std())
		}
	}
}

// Lane modes.
const (
	LaneSerial = "serial"
	LaneCloud  = "cloud"
)

// checkCloudLane checks a lane with mode = "cloud": CodePay pushes its sales
// to terminal_sn, so it needs the CodePay gateway and no cable.
func (c *Config) checkCloudLane(i int, l LaneConfig, add func(key, format string, args ...any), reported func(string) bool) {
	k := func(name string) string { return laneKey(i, name) }
	if c.Gateway.Kind != "codepay" {
		add(k("mode"), "cloud lanes need [gateway] kind = \"codepay\"")
	}
	switch {
	case l.TerminalSN == "":
		add(k("terminal_sn"), "missing: the serial number of the terminal CodePay sends this lane's sales to")
	case len(l.TerminalSN) > 32 || strings.ContainsAny(l.TerminalSN, " \t&=\""):
		add(k("terminal_sn"), "%q: at most 32 characters, no spaces, '&', '=' or quotes", l.TerminalSN)
	}
	for _, name := range []string{"port", "vid", "pid", "serial_number", "port_keyword", "baud", "trace"} {
		if c.index.has(k(name)) {
			add(k(name), "a cloud lane has no cable: remove it (or set mode = \"serial\")")
		}
	}
	for _, name := range qrOnlyKeys {
		if c.index.has(k(name)) {
			add(k(name), "is for QR lanes (mode = \"qr\")")
		}
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"poll_every", l.PollEvery}, {"poll_for", l.PollFor}} {
		if d.v < 0 && !reported(k(d.name)) {
			add(k(d.name), "%s: must not be negative (leave it out for the default)", d.v.Std())
		}
	}
	if l.PollEvery > 0 && l.PollFor > 0 && l.PollFor < l.PollEvery && !reported(k("poll_for")) {
		add(k("poll_for"), "%s: must be at least poll_every (%s)", l.PollFor.Std(), l.PollEvery.Std())
	}
}

func laneKey(i int, name string) string { return fmt.Sprintf("lane[%d].%s", i+1, name) }

func validLaneID(s string) bool {
	if len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func isHex4(s string) bool {
	s = strings.TrimPrefix(strings.ToLower(s), "0x")
	if len(s) != 4 {
		return false
	}
	_, err := strconv.ParseUint(s, 16, 16)
	return err == nil
}
