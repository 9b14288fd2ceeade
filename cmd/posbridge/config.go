package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
