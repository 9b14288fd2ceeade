package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/posbridge/posbridge"
)

// Check returns every mistake in the config, in file order: those found while
// decoding (syntax, unknown keys, values of the wrong type, bad durations)
// and those only the values show (missing or unreadable key files, bad
// listen addresses, ports that cannot be opened, duplicate lanes, unsupported
// gateways). It reads the files and ports the config names; it changes nothing.
func (c *Config) Check() []ConfigError {
	errs := append([]ConfigError(nil), c.decodeErr...)
	if c.incomplete {
		return errs
	}
	add := func(key, format string, args ...any) {
		file, line := c.where(key)
		errs = append(errs, ConfigError{File: file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
	}
	type place struct {
		file string
		line int
	}
	bad := make(map[place]bool) // places already reported while decoding
	for _, e := range c.decodeErr {
		bad[place{e.File, e.Line}] = true
	}
	// A key whose value did not decode holds its default; judging that
	// default again would report a second, misleading mistake.
	reported := func(key string) bool { f, l := c.where(key); return l > 0 && bad[place{f, l}] }

	// [api]
	if err := checkListen(c.API.Listen); err != nil && !reported("api.listen") {
		add("api.listen", "%v", err)
	} else if err == nil && !isLoopbackListen(c.API.Listen) && c.API.Token == "" {
		add("api.listen", "%s is reachable beyond this computer: set api.token so other clients must authenticate", c.API.Listen)
	} else if err == nil && !isLoopbackListen(c.API.Listen) && len(c.API.Token) < MinAPITokenLen {
		add("api.token", "%d characters is too short for a listener other computers reach: use at least %d, e.g. the output of `openssl rand -hex 32` or `head -c 32 /dev/urandom | base64`",
			len(c.API.Token), MinAPITokenLen)
	}
	for _, o := range c.API.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			add("api.allowed_origins", "%v", err)
		}
	}
	for _, h := range c.API.AllowedHosts {
		if err := checkHostName(h); err != nil {
			add("api.allowed_hosts", "%v", err)
		}
	}
	// [notify]
	if err := checkListen(c.Notify.Listen); err != nil && !reported("notify.listen") {
		add("notify.listen", "%v", err)
	} else if err == nil && c.Notify.Listen == c.API.Listen {
		add("notify.listen", "%s is also api.listen: use another port", c.Notify.Listen)
	}
	if u := c.Notify.PublicURL; u != "" {
		if err := checkURL(u, false); err != nil {
			add("notify.public_url", "%v", err)
		}
	}
	// [store]
	if fi, err := os.Stat(c.Store.Path); err == nil && fi.IsDir() {
		add("store.path", "%s is a directory: name the database file", c.Store.Path)
	}
	c.checkEventsKeep(add, reported)
	// [gateway]
	c.checkGateway(add, reported)
	// [reconcile]
	if err := c.Reconcile.Root().Validate(); err != nil {
		if key := c.Reconcile.badKey(); !reported(key) {
			add(key, "%v", err)
		}
	}
	// [day]
	c.checkDay(add)
	// [[lane]]
	c.checkLanes(add, reported)
	// [metrics]
	if l := c.Metrics.Listen; l != "" {
		if err := checkListen(l); err != nil && !reported("metrics.listen") {
			add("metrics.listen", "%v", err)
		} else if err == nil && (l == c.API.Listen || l == c.Notify.Listen) {
			add("metrics.listen", "%s is also api.listen or notify.listen: use another port", l)
		}
	}
	// [outbox]
	c.checkOutbox(add, reported)
	c.checkPlaceholders(add)
	// [log]
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "unknown level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "unknown format %q: want text or json", c.Log.Format)
	}
	sortByPlace(errs, c.path)
	return errs
}

// where returns the file and line of key (see docIndex.pos), the file being
// the config's own when the index names none.
func (c *Config) where(key string) (string, int) {
	f, l := c.index.pos(key)
	if f == "" {
		f = c.path
	}
	return f, l
}

func (c *Config) checkGateway(add func(key, format string, args ...any), reported func(string) bool) {
	g := c.Gateway
	switch g.Kind {
	case "payby":
		if g.PartnerID == "" {
			add("gateway.partner_id", "missing: the merchant's Partner-Id from the PayBy portal")
		} else if len(g.PartnerID) > 12 {
			add("gateway.partner_id", "%q is longer than PayBy's 12 characters", g.PartnerID)
		}
		for _, k := range []string{"app_id", "merchant_no", "store_no"} {
			if c.index.has("gateway." + k) {
				add("gateway."+k, "is a CodePay key; PayBy uses partner_id")
			}
		}
	case "codepay":
		c.checkCodePay(add)
	case "payprotocol":
		c.checkPayProtocol(add, reported)
		return
	default:
		add("gateway.kind", "unknown gateway %q: want payby, codepay or payprotocol", g.Kind)
		return
	}
	if err := checkURL(g.BaseURL, true); err != nil {
		add("gateway.base_url", "%v", err)
	}
	for _, k := range []struct {
		key, path, what string
		private         bool
	}{
		{"gateway.merchant_private_key", g.MerchantPrivateKey, "the merchant's RSA private key (PEM)", true},
		{"gateway.gateway_public_key", g.GatewayPublicKey, "the gateway's RSA public key (PEM)", false},
	} {
		if k.path == "" {
			add(k.key, "missing: the file holding %s", k.what)
		} else if err := checkKeyFile(k.path, k.private); err != nil {
			add(k.key, "%v", err)
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"gateway.timeout", g.Timeout}, {"gateway.notify_window", g.NotifyWindow}} {
		if d.v <= 0 && !reported(d.key) {
			add(d.key, "%s: must be positive", d.v.Std())
		}
	}
	if g.RateLimit <= 0 && !reported("gateway.rate_limit") {
		add("gateway.rate_limit", "%g: must be a positive number of requests per second", g.RateLimit)
	}
}

// checkCodePay checks the keys only CodePay has (research §2.2: app_id,
// merchant_no and store_no are at most 32 characters).
func (c *Config) checkCodePay(add func(key, format string, args ...any)) {
	g := c.Gateway
	if c.index.has("gateway.partner_id") {
		add("gateway.partner_id", "is a PayBy key; CodePay uses app_id and merchant_no")
	}
	for _, k := range []struct{ key, v, what string }{
		{"gateway.app_id", g.AppID, "the app id from the CodePay developer portal"},
		{"gateway.merchant_no", g.MerchantNo, "the merchant number from the CodePay portal"},
	} {
		if k.v == "" {
			add(k.key, "missing: %s", k.what)
		}
	}
	for _, k := range []struct{ key, v string }{{"gateway.app_id", g.AppID}, {"gateway.merchant_no", g.MerchantNo}, {"gateway.store_no", g.StoreNo}} {
		if len(k.v) > 32 {
			add(k.key, "%q is longer than CodePay's 32 characters", k.v)
		} else if strings.ContainsAny(k.v, " \t&=\"") {
			add(k.key, "%q: no spaces, '&', '=' or quotes", k.v)
		}
	}
}

// badKey names the key behind the first mistake posbridge.ReconcileConfig.Validate
// reports, following the same order, so the message points at a line.
func (r ReconcileConfig) badKey() string {
	switch r.Mode {
	case posbridge.ReconcileProgressive:
		if len(r.Schedule) == 0 {
			return "reconcile.schedule"
		}
		for _, d := range r.Schedule {
			if d <= 0 {
				return "reconcile.schedule"
			}
		}
	case posbridge.ReconcileSweep:
		switch {
		case r.SweepEvery <= 0:
			return "reconcile.sweep_every"
		case r.SweepWindow <= 0:
			return "reconcile.sweep_window"
		case r.SweepMaxChecks <= 0:
			return "reconcile.sweep_max_checks"
		}
	default:
		return "reconcile.mode"
	}
	if r.FastPollEvery <= 0 {
		return "reconcile.fast_poll_every"
	}
	return "reconcile.fast_poll_for"
}

// checkListen accepts "host:port" where host is an IP address, "localhost"
// or empty (every interface) and port is a number.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad listen address %q: want host:port, like %q", addr, DefaultAPIListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad listen address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("bad listen address %q: host %q is not an IP address", addr, host)
	}
	return nil
}

func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkURL accepts an absolute http or https URL; with httpsOnly, plain http
// only for a loopback host (a local sandbox).
func checkURL(s string, httpsOnly bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("bad URL %q: want an absolute http or https URL", s)
	}
	if httpsOnly && u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("bad URL %q: use https (plain http only to a local sandbox)", s)
		}
	}
	return nil
}

func checkOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("bad origin %q: want scheme://host[:port], like \"http://pos.local:3000\"", s)
	}
	return nil
}

// checkHostName accepts a DNS name or an IP address, without port or scheme.
func checkHostName(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if h == "" || len(h) > 253 || strings.ContainsAny(h, ":/@[] ") {
		return fmt.Errorf("bad host %q: want a host name or IP address without port, like \"till1.shop.lan\"", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("bad host %q: want a host name or IP address without port, like \"till1.shop.lan\"", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("bad host %q: %q is not a letter, digit or '-'", h, r)
			}
		}
	}
	return nil
}

// Warnings returns what in the config is allowed but unsafe, in the same
// FILE:LINE: KEY: message form as Check: key files readable by group or
// others (on unix). Like Check it changes nothing.
func (c *Config) Warnings() []ConfigError {
	var warns []ConfigError
	if c.incomplete || runtime.GOOS == "windows" {
		return nil
	}
	for _, k := range []struct{ key, p string }{{"gateway.merchant_private_key", c.Gateway.MerchantPrivateKey}, {"gateway.api_secret_file", c.Gateway.APISecretFile}} {
		if p := k.p; p != "" {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
				f, line := c.where(k.key)
				warns = append(warns, ConfigError{File: f, Line: line, Key: k.key,
					Message: fmt.Sprintf("warning: %s is readable by group or others (mode %04o): chmod 600 %s, owned by the user posbridge runs as", p, fi.Mode().Perm(), p)})
			}
		}
	}
	return warns
}

// sortByPlace orders mistakes by file (the main config first, then drop-ins
// and variables by name) and line.
func sortByPlace(errs []ConfigError, main string) {
	fileOrder := func(f string) string {
		if f == main {
			return ""
		}
		return "\x01" + f
	}
	less := func(a, b ConfigError) bool {
		if fa, fb := fileOrder(a.File), fileOrder(b.File); fa != fb {
			return fa < fb
		}
		return lineOrder(a) < lineOrder(b)
	}
	// Stable insertion sort: the lists are short and equal places keep the
	// order in which they were found.
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && less(errs[j], errs[j-1]); j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

// lineOrder puts mistakes with no line (missing keys) last.
func lineOrder(e ConfigError) int {
	if e.Line == 0 {
		return int(^uint(0) >> 1)
	}
	return e.Line
}
