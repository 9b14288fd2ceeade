package main

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// Defaults of Config; every one is also written in packaging/posbridge.example.toml.
const (
	DefaultAPIListen           = "127.0.0.1:8080"
	DefaultNotifyListen        = "127.0.0.1:8081"
	DefaultGatewayKind         = "payby"
	DefaultPayByBaseURL        = "https://api.payby.com/sgs/api"
	DefaultCodePayBaseURL      = "https://codepay-open.codepay.us"
	DefaultGatewayTimeout      = 10 * time.Second
	DefaultGatewayRateLimit    = 10.0
	DefaultGatewayNotifyWindow = 15 * time.Minute
	DefaultLaneBaud            = 115200
	DefaultLaneSaleTimeout     = 6 * time.Minute
	DefaultLogLevel            = "info"
	DefaultLogFormat           = "text"
	// PortAuto in a lane's port asks the terminal package to find the port
	// by vid, pid, serial_number or port_keyword.
	PortAuto = "auto"
	// storeFileName is the database's name inside the state directory.
	storeFileName = "posbridge.db"
)

// maxConfigSize bounds what LoadConfig reads: a config is a few kilobytes, and
// a wrong path (a disk image, a device) must not be read whole.
const maxConfigSize = 1 << 20

// Config is the daemon's configuration, decoded from one TOML file, the
// drop-in files beside it and the environment (LoadConfig). Relative file
// paths in it (store path, key files) are resolved against the directory of
// the file that sets them, so a config and its keys can move together; a
// lane's port is a device name and is used as written.
type Config struct {
	API       APIConfig       `toml:"api"`
	Notify    NotifyConfig    `toml:"notify"`
	Store     StoreConfig     `toml:"store"`
	Gateway   GatewayConfig   `toml:"gateway"`
	Reconcile ReconcileConfig `toml:"reconcile"`
	Day       DayConfig       `toml:"day"`
	Lanes     []LaneConfig    `toml:"lane"`
	Log       LogConfig       `toml:"log"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Outbox    OutboxConfig    `toml:"outbox"`

	path      string        // the file it was loaded from, for messages
	index     docIndex      // where each key is in the file
	decodeErr []ConfigError // mistakes found while decoding
	// incomplete is set when decoding stopped early (a syntax error): the
	// values are then mostly defaults and are not judged.
	incomplete bool
}

// APIConfig is the [api] section: the local HTTP API and cashier page.
type APIConfig struct {
	Listen         string   `toml:"listen"`
	Token          string   `toml:"token"`
	AllowedOrigins []string `toml:"allowed_origins"`
	AllowedHosts   []string `toml:"allowed_hosts"`
}

// MinAPITokenLen is the shortest [api] token accepted on a listener other
// computers can reach.
const MinAPITokenLen = 32

// NotifyConfig is the [notify] section: where gateway notifications arrive.
type NotifyConfig struct {
	Listen    string `toml:"listen"`
	PublicURL string `toml:"public_url"`
}

// StoreConfig is the [store] section: the SQLite database.
type StoreConfig struct {
	Path string `toml:"path"`
	// EventsKeep is the event log's replay window: older events are
	// deleted (orders, refunds and audit rows are kept).
	EventsKeep Duration `toml:"events_keep"`
}

// GatewayConfig is the [gateway] section: the payment gateway's cloud API.
type GatewayConfig struct {
	Kind               string   `toml:"kind"`
	BaseURL            string   `toml:"base_url"`
	PartnerID          string   `toml:"partner_id"`
	AppID              string   `toml:"app_id"`      // CodePay: the integrating app's id
	MerchantNo         string   `toml:"merchant_no"` // CodePay: the merchant number
	StoreNo            string   `toml:"store_no"`    // CodePay: the store, sent with terminal orders
	MerchantPrivateKey string   `toml:"merchant_private_key"`
	GatewayPublicKey   string   `toml:"gateway_public_key"`
	Timeout            Duration `toml:"timeout"`
	RateLimit          float64  `toml:"rate_limit"`
	NotifyWindow       Duration `toml:"notify_window"`
	// Pay Protocol's keys (config_payprotocol.go).
	PayProtocolKeys
}

// ReconcileConfig is the [reconcile] section; Root converts it to the
// engine's posbridge.ReconcileConfig.
type ReconcileConfig struct {
	Mode           string     `toml:"mode"`
	Schedule       []Duration `toml:"schedule"`
	SweepEvery     Duration   `toml:"sweep_every"`
	SweepWindow    Duration   `toml:"sweep_window"`
	SweepMaxChecks int        `toml:"sweep_max_checks"`
	FastPollEvery  Duration   `toml:"fast_poll_every"`
	FastPollFor    Duration   `toml:"fast_poll_for"`
}

// LaneConfig is one [[lane]]: a checkout with its terminal.
type LaneConfig struct {
	ID string `toml:"id"`
	// Mode is "serial" (the default: a terminal on a cable), "cloud"
	// (no cable: sales go through CodePay's cloud to TerminalSN) or "qr"
	// (no terminal: the customer pays on their phone; config_qr.go).
	Mode string `toml:"mode"`
	// TerminalSN is the lane's terminal serial number at CodePay: where a
	// cloud lane's sales go, and, on a serial lane with the CodePay
	// gateway, the batch a settlement closes (settle.go).
	TerminalSN string `toml:"terminal_sn"`
	// PollEvery and PollFor: how often and how long a cloud lane asks
	// CodePay about a sale while the cashier waits (2s and 60s when zero).
	// PollEvery is also how often a QR lane asks while the cashier waits.
	PollEvery Duration `toml:"poll_every"`
	PollFor   Duration `toml:"poll_for"`
	// QRWait is how long a QR lane's cashier waits, polling, before the
	// payment is pending (60s when zero); QRExpiry is when the gateway
	// and posbridge close it unpaid (5m when zero).
	QRWait       Duration `toml:"qr_wait"`
	QRExpiry     Duration `toml:"qr_expiry"`
	Port         string   `toml:"port"`
	VID          string   `toml:"vid"`
	PID          string   `toml:"pid"`
	SerialNumber string   `toml:"serial_number"`
	PortKeyword  string   `toml:"port_keyword"`
	Baud         int      `toml:"baud"`
	AppID        string   `toml:"app_id"`
	SaleTimeout  Duration `toml:"sale_timeout"`
	// Heartbeat is how often posbridge heartbeats on an idle link; zero
	// takes the driver's default (1s, as CodePay's SDK).
	Heartbeat Duration `toml:"heartbeat"`
	// LinkTimeout is how long without a valid frame before the link is
	// down; zero takes the driver's default (6s).
	LinkTimeout Duration `toml:"link_timeout"`
	// RequestTimeout bounds the wait for the answer to a query or close
	// (the query that ends a sale closed by a cancel too); zero takes the
	// driver's default (30s).
	RequestTimeout Duration `toml:"request_timeout"`
	// Trace is a file to append every frame in and out to, in hex, with
	// card numbers redacted; empty traces nothing.
	Trace string `toml:"trace"`
}

// MetricsConfig is the [metrics] section: an optional second listener that
// serves only the read-only monitoring routes (/metrics, /status, /healthz,
// /readyz) without the API token, for Prometheus and fleet monitoring.
type MetricsConfig struct {
	// Listen is host:port; empty (the default) opens no listener.
	Listen string `toml:"listen"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Duration is a time.Duration written in TOML as a string such as "30s" or "5m".
type Duration time.Duration

// UnmarshalText parses s with time.ParseDuration.
func (d *Duration) UnmarshalText(s []byte) error {
	v, err := time.ParseDuration(string(s))
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit, like \"30s\", \"5m\" or \"1h\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// ConfigError is one mistake in a config file. Line is 1-based, or 0 when the
// mistake is a missing key with no place in the file.
type ConfigError struct {
	File    string
	Line    int
	Key     string // dotted, with the lane's 1-based position: "gateway.timeout", "lane[2].port"
	Message string
}

// Error formats e as "FILE:LINE: KEY: message", leaving out what is unknown.
func (e ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ConfigErrors is every mistake found in a config file, in file order.
type ConfigErrors []ConfigError

// Error lists the mistakes one per line.
func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// defaultConfig returns a Config holding every default that does not depend
// on the lanes.
func defaultConfig() *Config {
	rc := posbridge.DefaultReconcileConfig()
	sched := make([]Duration, len(rc.Schedule))
	for i, d := range rc.Schedule {
		sched[i] = Duration(d)
	}
	return &Config{
		API:    APIConfig{Listen: DefaultAPIListen},
		Notify: NotifyConfig{Listen: DefaultNotifyListen},
		Gateway: GatewayConfig{
			Kind:         DefaultGatewayKind,
			Timeout:      Duration(DefaultGatewayTimeout),
			RateLimit:    DefaultGatewayRateLimit,
			NotifyWindow: Duration(DefaultGatewayNotifyWindow),
		},
		Reconcile: ReconcileConfig{
			Mode:           rc.Mode,
			Schedule:       sched,
			SweepEvery:     Duration(rc.SweepEvery),
			SweepWindow:    Duration(rc.SweepWindow),
			SweepMaxChecks: rc.SweepMaxChecks,
			FastPollEvery:  Duration(rc.FastPollEvery),
			FastPollFor:    Duration(rc.FastPollFor),
		},
		Store:  StoreConfig{EventsKeep: Duration(store.DefaultEventsKeep)},
		Log:    LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Outbox: defaultOutboxConfig(),
	}
}

// LoadConfig reads and decodes the config file at path, then the drop-in
// files in the directory beside it named after it (posbridge.d/*.toml for
// posbridge.toml) in lexical order, each setting keys over the ones before,
// then the POSBRIDGE_* environment variables (see applyEnv), and fills in
// defaults. It fails only when a file cannot be read; mistakes in the files
// are kept and returned by Check, each named by its file and line, with the
// ones Check finds itself, so that "config check" can list all of them. Use
// LoadCheckedConfig to get a Config that is safe to run with.
func LoadConfig(path string) (*Config, error) {
	return loadConfig(path, os.LookupEnv)
}

func loadConfig(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	c := parseDoc(path, data)
	dropIns, err := DropInFiles(path)
	if err != nil {
		return nil, err
	}
	for _, p := range dropIns {
		data, err := readConfigFile(p)
		if err != nil {
			return nil, err
		}
		c.merge(parseDoc(p, data))
	}
	c.applyEnv(lookupEnv)
	c.applyLaneDefaults()
	return c, nil
}

func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	data, err := readLimited(f, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return data, nil
}

// LoadCheckedConfig loads the config file at path and checks it. It returns a
// ConfigErrors listing every mistake, or the Config when there is none.
func LoadCheckedConfig(path string) (*Config, error) {
	c, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if errs := c.Check(); len(errs) > 0 {
		return nil, ConfigErrors(errs)
	}
	return c, nil
}

func readLimited(f *os.File, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limitedReader{f: f, left: limit + 1})
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return buf.Bytes(), nil
}

type limitedReader struct {
	f    *os.File
	left int64
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errors.New("too large")
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.left -= int64(n)
	return n, err
}

// maxDecodePasses bounds how many value mistakes ParseConfig reports: go-toml
// stops at the first bad value, so each pass blanks it out and decodes again.
const maxDecodePasses = 32

// ParseConfig decodes data, the content of the file at path (used in
// messages and to resolve relative paths). It never fails: mistakes are kept
// for Check, and the keys that could be decoded are set.
func ParseConfig(path string, data []byte) *Config {
	c := parseDoc(path, data)
	c.applyLaneDefaults()
	return c
}

// parseDoc decodes one file as ParseConfig does, resolving the relative
// paths it sets, without the defaults that depend on other keys
// (applyLaneDefaults), so that it can be merged with others.
func parseDoc(path string, data []byte) *Config {
	c := defaultConfig()
	c.path = path
	c.index = indexDoc(data)
	work := bytes.Clone(data)
	for pass := 0; ; pass++ {
		cand := defaultConfig()
		err := toml.NewDecoder(bytes.NewReader(work)).DisallowUnknownFields().Decode(cand)
		if err == nil {
			c.adopt(cand)
			break
		}
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			// Everything known was decoded; only unknown keys remain.
			c.adopt(cand)
			for i := range strict.Errors {
				e := &strict.Errors[i]
				line, col := e.Position()
				msg := "unknown key"
				if c.index.tableAt(line) {
					msg = "unknown table"
				}
				c.decodeErr = append(c.decodeErr, ConfigError{
					File: path, Line: line, Key: c.keyAt(data, line, col, e.Key()), Message: msg,
				})
			}
			break
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) {
			c.decodeErr = append(c.decodeErr, ConfigError{File: path, Message: err.Error()})
			c.incomplete = true
			break
		}
		line, col := de.Position()
		c.decodeErr = append(c.decodeErr, ConfigError{
			File: path, Line: line, Key: c.keyAt(data, line, col, de.Key()),
			Message: strings.TrimPrefix(de.Error(), "toml: "),
		})
		kv, ok := c.index.keyValueAt(offsetOf(data, line, col))
		if !ok || pass >= maxDecodePasses {
			// A syntax error or a bad table: nothing after it can be
			// trusted, so Check judges no values.
			c.incomplete = true
			break
		}
		for i := kv.start; i < kv.end; i++ {
			if work[i] != '\n' && work[i] != '\r' {
				work[i] = ' '
			}
		}
	}
	c.resolvePaths()
	return c
}

// adopt takes the decoded settings of d, keeping c's bookkeeping.
func (c *Config) adopt(d *Config) {
	d.path, d.index, d.decodeErr, d.incomplete = c.path, c.index, c.decodeErr, c.incomplete
	*c = *d
}

// applyLaneDefaults sets the defaults of keys a lane leaves out. A key that
// is present keeps its value, so "baud = 0" is reported, not replaced.
func (c *Config) applyLaneDefaults() {
	for i := range c.Lanes {
		l := &c.Lanes[i]
		if !c.index.has(laneKey(i, "baud")) && l.Baud == 0 {
			l.Baud = DefaultLaneBaud
		}
		if !c.index.has(laneKey(i, "sale_timeout")) && l.SaleTimeout == 0 {
			l.SaleTimeout = Duration(DefaultLaneSaleTimeout)
		}
	}
	if c.Gateway.BaseURL == "" && c.Gateway.Kind == "payby" {
		c.Gateway.BaseURL = DefaultPayByBaseURL
	}
	if c.Gateway.BaseURL == "" && c.Gateway.Kind == "codepay" {
		c.Gateway.BaseURL = DefaultCodePayBaseURL
	}
	c.applyPayProtocolDefaults()
	if c.Store.Path == "" {
		c.Store.Path = filepath.Join(defaultStateDir(), storeFileName)
	} else if !filepath.IsAbs(c.Store.Path) {
		c.Store.Path = filepath.Join(filepath.Dir(c.path), c.Store.Path)
	}
}

func (c *Config) resolvePaths() {
	dir := filepath.Dir(c.path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Store.Path = abs(c.Store.Path)
	c.Gateway.MerchantPrivateKey = abs(c.Gateway.MerchantPrivateKey)
	c.Gateway.GatewayPublicKey = abs(c.Gateway.GatewayPublicKey)
	c.Gateway.APISecretFile = abs(c.Gateway.APISecretFile)
	c.Outbox.resolvePaths(abs)
}

// Path returns the file the config was loaded from.
func (c *Config) Path() string { return c.path }

// Root returns the [reconcile] section as the engine's ReconcileConfig.
func (r ReconcileConfig) Root() posbridge.ReconcileConfig {
	sched := make([]time.Duration, len(r.Schedule))
	for i, d := range r.Schedule {
		sched[i] = d.Std()
	}
	return posbridge.ReconcileConfig{
		Mode:           r.Mode,
		Schedule:       sched,
		SweepEvery:     r.SweepEvery.Std(),
		SweepWindow:    r.SweepWindow.Std(),
		SweepMaxChecks: r.SweepMaxChecks,
		FastPollEvery:  r.FastPollEvery.Std(),
		FastPollFor:    r.FastPollFor.Std(),
	}
}

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

// maxKeyFileSize bounds what checkKeyFile reads: an RSA key in PEM is a few
// kilobytes.
const maxKeyFileSize = 64 << 10

// checkKeyFile reads a PEM key file and parses it: an RSA private key
// (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY") when private, else an
// RSA public key (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY"). A key of the
// other kind is named as such.
func checkKeyFile(path string, private bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	// A device (/dev/zero) or directory named by mistake is never read.
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("read key file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	data, err := readLimited(f, maxKeyFileSize)
	if err != nil {
		return fmt.Errorf("read key file %s: %w", path, err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return fmt.Errorf("%s holds no PEM block: want a -----BEGIN ...----- key file", path)
	}
	isPrivate := strings.Contains(b.Type, "PRIVATE KEY")
	isPublic := strings.Contains(b.Type, "PUBLIC KEY") || b.Type == "CERTIFICATE"
	switch {
	case private && isPublic:
		return fmt.Errorf("%s holds a public key (%s): this must be the merchant's RSA private key", path, b.Type)
	case !private && isPrivate:
		return fmt.Errorf("%s holds a private key (%s): this must be the gateway's RSA public key; keep private keys out of this slot", path, b.Type)
	}
	if private {
		if _, err := parseRSAPrivateKey(b); err != nil {
			return fmt.Errorf("%s is not a valid RSA private key: %w", path, err)
		}
		return nil
	}
	if _, err := parseRSAPublicKey(b); err != nil {
		return fmt.Errorf("%s is not a valid RSA public key: %w", path, err)
	}
	return nil
}

func parseRSAPrivateKey(b *pem.Block) (*rsa.PrivateKey, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q: want RSA PRIVATE KEY or PRIVATE KEY", b.Type)
}

func parseRSAPublicKey(b *pem.Block) (*rsa.PublicKey, error) {
	switch b.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a certificate for a %T, not an RSA key", c.PublicKey)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY or RSA PUBLIC KEY", b.Type)
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
