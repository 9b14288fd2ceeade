package fleet

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
	"github.com/posbridge/posbridge/outbox"
)

// Defaults of Config.
const (
	DefaultDurable = "posbridge-fleet"
	DefaultBatch   = 256
	DefaultAckWait = 30 * time.Second
)

// Config configures a Consumer. Zero fields take defaults.
type Config struct {
	Conn outbox.ConnConfig
	// Stream is the stream the tills publish to (outbox.DefaultStream);
	// Prefix their subject prefix (outbox.DefaultPrefix).
	Stream, Prefix string
	// Durable is the consumer's durable name: a restart resumes where the
	// last acknowledged batch ended.
	Durable string
	// Batch is how many messages are folded in one transaction.
	Batch int
	// AckWait is how long the server waits for an ack before redelivering.
	AckWait time.Duration
	// FetchWait bounds one fetch when the stream has nothing new (1s).
	FetchWait time.Duration
	// Clock times the backoff after a failed batch (posbridge.SystemClock when nil).
	Clock  posbridge.Clock
	Logger *slog.Logger
	// afterCommit, when set (tests), runs after a batch's commit and before
	// its acks; an error stops the consumer there, as a crash would.
	afterCommit func() error
}

// Stats are a Consumer's counters since Open.
type Stats struct {
	Applied    uint64 // events folded in
	Duplicates uint64 // redelivered events skipped
	Statuses   uint64 // till status messages read
	Rejected   uint64 // messages that did not decode, terminated
	LastError  string
}

// Consumer folds the stream into a DB with one goroutine: New, Open, Close.
type Consumer struct {
	cfg Config
	db  *DB
	log *slog.Logger

	nc   *nats.Conn
	cons jetstream.Consumer
	loop outbox.Loop

	mu    sync.Mutex
	stats Stats
	err   error // why the loop stopped, if it did on its own
}

// New returns a Consumer folding into db; it does nothing until Open.
func New(db *DB, cfg Config) *Consumer {
	if cfg.Stream == "" {
		cfg.Stream = outbox.DefaultStream
	}
	if cfg.Prefix == "" {
		cfg.Prefix = outbox.DefaultPrefix
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.Conn.Name == "" {
		cfg.Conn.Name = "posbridge fleet"
	}
	return &Consumer{cfg: cfg, db: db, log: cfg.Logger.With(posbridge.LogKeyComponent, "fleet")}
}

// Open connects, creates the stream if no till has yet, creates or updates
// the durable consumer (every subject under the prefix, explicit acks, from
// the start of the stream), and starts folding.
func (c *Consumer) Open(ctx context.Context) error {
	nc, err := outbox.Connect(c.cfg.Conn)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("fleet: jetstream: %w", err)
	}
	// Head office may start before any till: the stream is created as a
	// till would create it.
	if _, err := js.Stream(ctx, c.cfg.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, outbox.StreamConfig(c.cfg.Stream, c.cfg.Prefix)); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			nc.Close()
			return fmt.Errorf("fleet: create stream %s: %w", c.cfg.Stream, err)
		}
	} else if err != nil {
		nc.Close()
		return fmt.Errorf("fleet: stream %s: %w", c.cfg.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable: c.cfg.Durable, Description: "posbridge fleet database",
		FilterSubject: c.cfg.Prefix + ".>", DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait, MaxAckPending: 4 * c.cfg.Batch,
	})
	if err != nil {
		nc.Close()
		return fmt.Errorf("fleet: consumer %s on stream %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	c.nc, c.cons = nc, cons
	c.loop.Start(c.run)
	return nil
}

// Close stops folding and waits; messages fetched and not yet acknowledged
// are redelivered to the next run, which skips what it already applied.
func (c *Consumer) Close() error {
	if !c.loop.Stop() {
		return nil
	}
	c.nc.Close()
	return nil
}

// Done is closed when the loop has stopped (after Close, or on its own
// after a test's afterCommit failure); Err says why in the second case.
func (c *Consumer) Done() <-chan struct{} { return c.loop.Done() }

// Err is the error that stopped the loop on its own, if any.
func (c *Consumer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the counters.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

var errStop = errors.New("consumer stopped")

func (c *Consumer) run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		err := c.batch(ctx)
		if errors.Is(err, errStop) {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if err != nil && ctx.Err() == nil {
			failures++
			wait := outbox.Backoff(failures, 100*time.Millisecond, 30*time.Second)
			c.mu.Lock()
			c.stats.LastError = err.Error()
			c.mu.Unlock()
			if failures == 1 || failures%20 == 0 {
				c.log.Warn("fleet batch failed", posbridge.LogKeyError, err, posbridge.LogKeyAttempt, failures)
			}
			t := c.cfg.Clock.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C():
			}
			t.Stop()
			continue
		}
		failures = 0
	}
}

// batch fetches up to Batch messages, folds them in one transaction, and
// acknowledges them only after the commit.
func (c *Consumer) batch(ctx context.Context) error {
	mb, err := c.cons.Fetch(c.cfg.Batch, jetstream.FetchMaxWait(c.cfg.FetchWait))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var (
		msgs []outbox.Message
		raws []jetstream.Msg
	)
	for raw := range mb.Messages() {
		m, err := outbox.Decode(raw.Data())
		if err != nil {
			// A message no version of this code can fold would be
			// redelivered forever: it is terminated and logged.
			c.log.Error("fleet message rejected", "subject", raw.Subject(), posbridge.LogKeyError, err)
			c.mu.Lock()
			c.stats.Rejected++
			c.mu.Unlock()
			if err := raw.Term(); err != nil {
				return fmt.Errorf("terminate: %w", err)
			}
			continue
		}
		msgs, raws = append(msgs, m), append(raws, raw)
	}
	if err := mb.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(raws) == 0 {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	res, err := c.db.Apply(ctx, msgs)
	if err != nil {
		return err // nothing acked: all of it comes back after AckWait
	}
	c.mu.Lock()
	c.stats.Applied += uint64(res.Applied)
	c.stats.Duplicates += uint64(res.Duplicates)
	c.stats.Statuses += uint64(res.Statuses)
	c.mu.Unlock()
	if c.cfg.afterCommit != nil {
		if err := c.cfg.afterCommit(); err != nil {
			return fmt.Errorf("%w: %w", errStop, err)
		}
	}
	for _, raw := range raws {
		if err := raw.Ack(); err != nil {
			return fmt.Errorf("ack: %w", err) // redelivered, then skipped as applied
		}
	}
	return nil
}
