package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge/outbox"
)

// OutboxConfig is the [outbox] section: shipping every committed event to
// head office's NATS JetStream. Kind "" (the default) ships nothing.
type OutboxConfig struct {
	Kind string `toml:"kind"`
	// URL is the NATS server, nats://host:4222 or tls://host:4222 (several
	// separated by commas).
	URL string `toml:"url"`
	// CredsFile is a NATS credentials file; NKeySeedFile a file with an NKey
	// seed. At most one.
	CredsFile    string `toml:"creds_file"`
	NKeySeedFile string `toml:"nkey_seed_file"`
	// TLS: a CA to trust instead of the system's, and a client certificate.
	TLSCAFile   string `toml:"tls_ca_file"`
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// SubjectPrefix, Merchant, Store and Till make the subject
	// "<prefix>.<merchant>.<store>.<till>.<type>". Merchant defaults to
	// gateway.partner_id.
	SubjectPrefix string `toml:"subject_prefix"`
	Merchant      string `toml:"merchant"`
	Store         string `toml:"store"`
	Till          string `toml:"till"`
	// Stream is created if missing, or checked.
	Stream string `toml:"stream"`
	// MaxBacklog bounds how old an unshipped event may be before it is
	// dropped from the outbox (it stays in the till's database).
	MaxBacklog Duration `toml:"max_backlog"`
}

func defaultOutboxConfig() OutboxConfig {
	return OutboxConfig{SubjectPrefix: outbox.DefaultPrefix, Stream: outbox.DefaultStream, MaxBacklog: Duration(outbox.DefaultMaxBacklog)}
}

// identity is the till's place in the subject.
func (o OutboxConfig) identity(partnerID string) outbox.Identity {
	m := o.Merchant
	if m == "" {
		m = partnerID
	}
	return outbox.Identity{Merchant: m, Store: o.Store, Till: o.Till}
}

// conn is how to reach the server.
func (o OutboxConfig) conn() outbox.ConnConfig {
	return outbox.ConnConfig{URL: o.URL, CredsFile: o.CredsFile, NKeySeedFile: o.NKeySeedFile,
		CAFile: o.TLSCAFile, CertFile: o.TLSCertFile, KeyFile: o.TLSKeyFile}
}

func (o *OutboxConfig) resolvePaths(abs func(string) string) {
	for _, p := range []*string{&o.CredsFile, &o.NKeySeedFile, &o.TLSCAFile, &o.TLSCertFile, &o.TLSKeyFile} {
		*p = abs(*p)
	}
}

// checkOutbox adds the mistakes of the [outbox] section.
func (c *Config) checkOutbox(add func(key, format string, args ...any), reported func(string) bool) {
	o := c.Outbox
	switch o.Kind {
	case "":
		return
	case "nats":
	default:
		add("outbox.kind", "unknown outbox %q: want nats, or leave it out to ship nothing", o.Kind)
		return
	}
	if o.URL == "" {
		add("outbox.url", "missing: the NATS server, like \"tls://nats.example.com:4222\"")
	}
	for _, u := range strings.Split(o.URL, ",") {
		if o.URL == "" {
			break
		}
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls") {
			add("outbox.url", "bad URL %q: want nats://host:port or tls://host:port", u)
		}
	}
	if o.CredsFile != "" && o.NKeySeedFile != "" {
		add("outbox.nkey_seed_file", "set creds_file or nkey_seed_file, not both")
	}
	for _, f := range []struct{ key, path string }{
		{"outbox.creds_file", o.CredsFile}, {"outbox.nkey_seed_file", o.NKeySeedFile},
		{"outbox.tls_ca_file", o.TLSCAFile}, {"outbox.tls_cert_file", o.TLSCertFile}, {"outbox.tls_key_file", o.TLSKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if fi, err := os.Stat(f.path); err != nil {
			add(f.key, "%v", unwrapPathErr(err))
		} else if !fi.Mode().IsRegular() {
			add(f.key, "%s is not a regular file", f.path)
		}
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		add("outbox.tls_cert_file", "set tls_cert_file and tls_key_file together")
	}
	if err := outbox.CheckPrefix(o.SubjectPrefix); err != nil && !reported("outbox.subject_prefix") {
		add("outbox.subject_prefix", "%v", err)
	}
	id := o.identity(c.Gateway.PartnerID)
	for _, f := range []struct{ key, v, what string }{
		{"outbox.merchant", id.Merchant, "the merchant's name in the subject (gateway.partner_id when left out)"},
		{"outbox.store", id.Store, "the shop's name in the subject, like \"dxb-mall-01\""},
		{"outbox.till", id.Till, "this till's name in the subject, unique in the chain, like \"dxb-mall-01-t3\""},
	} {
		if f.v == "" {
			add(f.key, "missing: %s", f.what)
		} else if err := (outbox.Identity{Merchant: f.v, Store: f.v, Till: f.v}).Validate(); err != nil {
			add(f.key, "%q: no '.', '*', '>' or white space in a subject token", f.v)
		}
	}
	if o.Stream == "" || strings.ContainsAny(o.Stream, ".*> \t/\\") {
		add("outbox.stream", "%q: want a stream name without '.', '*', '>', slashes or white space", o.Stream)
	}
	if o.MaxBacklog <= 0 && !reported("outbox.max_backlog") {
		add("outbox.max_backlog", "%s: must be positive", o.MaxBacklog.Std())
	}
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// checkOutboxConnect is `config check --connect`: it connects to the
// configured server and checks the stream (or says it will be created). It
// returns nil when there is no [outbox].
func (c *Config) checkOutboxConnect(ctx context.Context) (string, error) {
	o := c.Outbox
	if o.Kind == "" {
		return "", nil
	}
	cc := o.conn()
	cc.Timeout = 5 * time.Second
	cc.Name = "posbridge config check"
	nc, err := outbox.Connect(cc)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return "", fmt.Errorf("jetstream on %s: %w", nc.ConnectedUrlRedacted(), err)
	}
	s, err := js.Stream(ctx, o.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Sprintf("connected to %s; stream %s is missing and will be created on start", nc.ConnectedUrlRedacted(), o.Stream), nil
	}
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	if err := outbox.CheckStream(s.CachedInfo().Config, o.SubjectPrefix, o.identity(c.Gateway.PartnerID)); err != nil {
		return "", err
	}
	return fmt.Sprintf("connected to %s; stream %s takes this till's events", nc.ConnectedUrlRedacted(), o.Stream), nil
}
