package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	DefaultPrefix          = "posbridge"
	DefaultStream          = "POSBRIDGE"
	DefaultMaxBacklog      = 30 * 24 * time.Hour
	DefaultBatchSize       = 256
	DefaultAckTimeout      = 5 * time.Second
	DefaultPollEvery       = 2 * time.Second
	DefaultBackoffMin      = 500 * time.Millisecond
	DefaultBackoffMax      = time.Minute
	DefaultDuplicateWindow = time.Hour
	DefaultStatusEvery     = time.Minute
)

// ConnConfig says how to reach the NATS server: what `config check
// --connect`, the Shipper and the fleet consumer share.
type ConnConfig struct {
	// URL is one or more comma-separated nats:// or tls:// URLs.
	URL string
	// CredsFile is a NATS credentials file (JWT and NKey seed); NKeySeedFile
	// a file holding only an NKey seed. At most one is set.
	CredsFile    string
	NKeySeedFile string
	// CAFile, CertFile and KeyFile configure TLS: a CA to trust, and a client
	// certificate (both or neither).
	CAFile, CertFile, KeyFile string
	// Name is the connection's name as the server shows it.
	Name string
	// Timeout bounds the first connect (nats.go's default when zero).
	Timeout time.Duration
	// RetryOnFailedConnect returns a connection that keeps trying in the
	// background when the server cannot be reached at first.
	RetryOnFailedConnect bool
	// OnConnect, when set, is called (from nats.go's goroutine) each time the
	// connection is made or made again; it must not block.
	OnConnect func()
}

// Connect opens a NATS connection that reconnects forever.
func Connect(c ConnConfig) (*nats.Conn, error) {
	if c.URL == "" {
		return nil, errors.New("nats: no url")
	}
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if c.Name != "" {
		opts = append(opts, nats.Name(c.Name))
	}
	if c.Timeout > 0 {
		opts = append(opts, nats.Timeout(c.Timeout))
	}
	if c.RetryOnFailedConnect {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	if c.OnConnect != nil {
		on := c.OnConnect
		opts = append(opts, nats.ConnectHandler(func(*nats.Conn) { on() }), nats.ReconnectHandler(func(*nats.Conn) { on() }))
	}
	switch {
	case c.CredsFile != "" && c.NKeySeedFile != "":
		return nil, errors.New("nats: set a credentials file or an NKey seed, not both")
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats: nkey seed %s: %w", c.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" || c.KeyFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect %s: %w", redactURL(c.URL), err)
	}
	return nc, nil
}

// redactURL drops user information from URLs for messages.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// StreamConfig is the stream created when it is missing: every subject under
// prefix, kept on file, with duplicates tracked for DefaultDuplicateWindow.
// Retention is by limits (head office sets MaxAge or MaxBytes as it likes);
// the fleet consumer's acks do not remove messages, so other consumers (a
// Kafka bridge) read the same stream.
func StreamConfig(name, prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "posbridge till events (schema in the posbridge README)",
		Subjects:    []string{prefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		Duplicates:  DefaultDuplicateWindow,
	}
}

// EnsureStream creates stream name if it is missing, or checks that the
// existing one takes till id's subjects under prefix and tracks duplicates.
func EnsureStream(ctx context.Context, js jetstream.JetStream, name, prefix string, id Identity) error {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, StreamConfig(name, prefix)); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	cfg := s.CachedInfo().Config
	return CheckStream(cfg, prefix, id)
}

// CheckStream reports why an existing stream cannot take till id's events:
// no subject filter covering its subjects, or no duplicate window.
func CheckStream(cfg jetstream.StreamConfig, prefix string, id Identity) error {
	for _, typ := range []string{"payment", "refund", TypeStatus} {
		subj := Subject(prefix, id, typ)
		covered := false
		for _, f := range cfg.Subjects {
			covered = covered || subjectCovers(f, subj)
		}
		if !covered {
			return fmt.Errorf("stream %s: its subjects %q do not take %s", cfg.Name, cfg.Subjects, subj)
		}
	}
	if cfg.Duplicates <= 0 {
		return fmt.Errorf("stream %s: no duplicate window: a retried publish would be stored twice", cfg.Name)
	}
	return nil
}

// subjectCovers reports whether filter (with * and > wildcards) matches subject.
func subjectCovers(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		if f == ">" {
			return len(st) > i
		}
		if i >= len(st) || (f != "*" && f != st[i]) {
			return false
		}
	}
	return len(ft) == len(st)
}
