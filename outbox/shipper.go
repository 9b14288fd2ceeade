package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge"
)

// Source is what the Shipper needs from the store: the outbox, in seq order.
// *store.DB implements it.
type Source interface {
	// OutboxBatch returns up to limit unshipped events, oldest first.
	OutboxBatch(ctx context.Context, limit int) ([]posbridge.Event, error)
	// DeleteOutbox removes every row with seq <= through.
	DeleteOutbox(ctx context.Context, through int64) error
	// DropOutboxBefore removes rows of events older than before, returning how many.
	DropOutboxBefore(ctx context.Context, before time.Time) (int64, error)
	// OutboxBacklog returns how many rows wait and the oldest one's time.
	OutboxBacklog(ctx context.Context) (int64, time.Time, error)
}

// Config configures a Shipper. Zero fields take the defaults above.
type Config struct {
	Conn     ConnConfig
	Identity Identity
	// Prefix is the subjects' first tokens (DefaultPrefix).
	Prefix string
	// Stream is the JetStream stream, created if missing (DefaultStream).
	Stream string
	// MaxBacklog drops unshipped events older than this (DefaultMaxBacklog);
	// they stay in the till's own database.
	MaxBacklog time.Duration
	// BatchSize is how many events are published before waiting for their acks.
	BatchSize int
	// AckTimeout bounds the wait for a batch's acks.
	AckTimeout time.Duration
	// PollEvery is how often an idle shipper looks at the outbox when no
	// event woke it.
	PollEvery time.Duration
	// BackoffMin and BackoffMax bound the wait after a failed round, doubled
	// on each failure in a row.
	BackoffMin, BackoffMax time.Duration
	// Bus, when set, wakes the shipper as soon as an event is committed.
	Bus *posbridge.Bus
	// Lanes, when set, gives the lanes' terminal links for the status
	// message sent every StatusEvery (DefaultStatusEvery) while connected.
	Lanes       func(context.Context) ([]posbridge.LaneStatus, error)
	StatusEvery time.Duration
	// Clock times the waits (posbridge.SystemClock when nil).
	Clock  posbridge.Clock
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.PollEvery <= 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.StatusEvery <= 0 {
		c.StatusEvery = DefaultStatusEvery
	}
	if c.Clock == nil {
		c.Clock = posbridge.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Conn.Name == "" {
		c.Conn.Name = "posbridge " + c.Identity.Merchant + "/" + c.Identity.Store + "/" + c.Identity.Till
	}
}

// Stats are the shipper's counters since Open and the outbox's backlog.
type Stats struct {
	Backlog       int64     // events waiting in the outbox
	Oldest        time.Time // the oldest waiting event's time; zero when none
	Published     uint64    // events the server acknowledged (duplicates included)
	Duplicates    uint64    // acks that said the server already had the event
	PublishErrors uint64    // events whose publish failed or was not acknowledged in time
	Dropped       uint64    // events dropped for being older than MaxBacklog
	LastShipped   time.Time // when an ack last came back
	LastError     string    // the last round's failure; "" after a good round
	Connected     bool
}

// Shipper publishes the outbox to JetStream. Make it with New, start it with
// Open, stop it with Close.
type Shipper struct {
	cfg Config
	src Source
	log *slog.Logger

	nc   *nats.Conn
	js   jetstream.JetStream
	loop Loop
	// connected is signalled when the connection is made again, so a
	// backlog starts to drain at once instead of after the backoff.
	connected chan struct{}

	mu    sync.Mutex
	stats Stats

	lastSeq    int64     // the last acknowledged event (run's goroutine only)
	lastStatus time.Time // when the last status message went (run's goroutine only)
}

// New checks cfg and returns a Shipper that does nothing until Open.
func New(src Source, cfg Config) (*Shipper, error) {
	cfg.defaults()
	if err := cfg.Identity.Validate(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := CheckPrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("outbox: prefix: %w", err)
	}
	if src == nil {
		return nil, errors.New("outbox: no source")
	}
	return &Shipper{cfg: cfg, src: src, log: cfg.Logger.With(posbridge.LogKeyComponent, "outbox")}, nil
}

// Open connects (in the background if the server cannot be reached now) and
// starts the shipping goroutine. Events keep waiting in the outbox until the
// server answers.
func (s *Shipper) Open() error {
	cc := s.cfg.Conn
	cc.RetryOnFailedConnect = true
	s.connected = make(chan struct{}, 1)
	cc.OnConnect = func() {
		select {
		case s.connected <- struct{}{}:
		default:
		}
	}
	nc, err := Connect(cc)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(s.cfg.AckTimeout),
		jetstream.WithPublishAsyncMaxPending(s.cfg.BatchSize))
	if err != nil {
		nc.Close()
		return fmt.Errorf("outbox: jetstream: %w", err)
	}
	s.nc, s.js = nc, js
	s.loop.Start(s.run)
	return nil
}

// Close stops the goroutine, waits for it, and closes the connection. Rows
// published but not yet acknowledged stay in the outbox and are published
// again (and deduplicated) by the next Open.
func (s *Shipper) Close() error {
	if !s.loop.Stop() {
		return nil
	}
	s.nc.Close()
	return nil
}

// Stats returns the counters and reads the backlog from the store.
func (s *Shipper) Stats(ctx context.Context) (Stats, error) {
	n, oldest, err := s.src.OutboxBacklog(ctx)
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	st.Backlog, st.Oldest = n, oldest
	if s.nc != nil {
		st.Connected = s.nc.IsConnected()
	}
	if err != nil {
		return st, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}

// run is the shipping loop: a round ships at most a batch; a full batch is
// followed at once by the next, an empty or partial one by a wait for a new
// event or PollEvery, a failed one by the backoff.
func (s *Shipper) run(ctx context.Context) {
	var (
		sub      *posbridge.Subscription
		wake     <-chan posbridge.Event
		failures int
		streamOK bool
	)
	subscribe := func() {
		if s.cfg.Bus != nil {
			sub = s.cfg.Bus.Subscribe(64)
			wake = sub.C
		}
	}
	subscribe()
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	timer := s.cfg.Clock.NewTimer(s.cfg.PollEvery)
	defer timer.Stop()
	for {
		n, err := 0, error(nil)
		if !streamOK {
			err = s.ensureStream(ctx)
			streamOK = err == nil
		}
		if err == nil {
			n, err = s.round(ctx)
		}
		if err == nil && failures > 0 {
			s.lastStatus = time.Time{} // back after an outage: say so at once
		}
		if err == nil && n < s.cfg.BatchSize && !s.cfg.Clock.Now().Before(s.lastStatus.Add(s.cfg.StatusEvery)) {
			err = s.sendStatus(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		wait := s.cfg.PollEvery
		if err != nil {
			failures++
			streamOK = false // a stream deleted meanwhile is made again
			wait = Backoff(failures, s.cfg.BackoffMin, s.cfg.BackoffMax)
			s.setError(err)
			if failures == 1 || failures%20 == 0 {
				s.log.Warn("outbox publish failed", posbridge.LogKeyError, err, posbridge.LogKeyAttempt, failures, posbridge.LogKeyDuration, wait)
			}
		} else {
			if failures > 0 {
				s.log.Info("outbox publishing again", posbridge.LogKeyAttempt, failures)
			}
			failures = 0
			s.setError(nil)
			if n >= s.cfg.BatchSize {
				continue
			}
		}
		timer.Reset(wait)
	sleep:
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		case <-s.connected: // (re)connected: try now, backing off or not
			timer.Stop() // Reset discards a value it may have sent meanwhile
		case _, ok := <-wake:
			if !ok { // dropped for being slow: listen again
				subscribe()
			}
			if err != nil {
				// Backing off: a new event does not cut the wait short.
				goto sleep
			}
			timer.Stop()
		}
	}
}

// Backoff is the wait after the n-th failure in a row (n >= 1): lo doubled
// n-1 times, at most hi.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

func (s *Shipper) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	return EnsureStream(ctx, s.js, s.cfg.Stream, s.cfg.Prefix, s.cfg.Identity)
}

func (s *Shipper) setError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.stats.LastError = ""
		return
	}
	s.stats.LastError = err.Error()
}
