// Package terminal implements posbridge.Terminal for CodePay terminals that
// speak ECRHub over USB serial (go.bug.st/serial): the frame codec, the
// stop-and-wait session (handshake, heartbeat, ACK, retransmit, liveness,
// reconnect), the ECRHub JSON messages and the port discovery.
package terminal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posbridge/posbridge"
)

// Default timers (research §2).
const (
	DefaultHandshakeResend  = time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultHeartbeat        = time.Second
	DefaultLinkTimeout      = 6 * time.Second
	DefaultRetransmit       = 300 * time.Millisecond
	DefaultMaxTransmissions = 10
	DefaultExpires          = 300 // seconds the terminal keeps a sale open
	DefaultSaleTimeout      = (DefaultExpires + 60) * time.Second
	DefaultRequestTimeout   = 30 * time.Second
	DefaultConnectWait      = 10 * time.Second
	DefaultResolveTimeout   = 60 * time.Second
	DefaultReattachPoll     = 5 * time.Second
	DefaultReopenMin        = 250 * time.Millisecond
	DefaultReopenMax        = 5 * time.Second
	DefaultReadTick         = 100 * time.Millisecond
	// DefaultIdleReadWait is the serial read timeout between frames (see
	// Decoder.IdleWait): ReadTick's ten empty reads a second on an idle
	// link each woke the whole process.
	DefaultIdleReadWait = 2 * time.Second
)

// Errors of the driver.
var (
	// ErrNoResponse: the request was written but no answer came (no ACK, no
	// response by the deadline, or the link was lost meanwhile).
	ErrNoResponse = errors.New("terminal did not answer")
	// ErrLinkLost: the session ended (port gone, no valid frame for
	// LinkTimeout, no ACK after MaxTransmissions).
	ErrLinkLost = errors.New("terminal link lost")
	// ErrHandshakeTimeout: no handshake confirm within HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("terminal handshake timed out")
)

// Opener opens the byte stream to the terminal: a serial port, a pty or a
// pipe. Closing the stream must unblock a pending Read.
type Opener func(ctx context.Context) (io.ReadWriteCloser, error)

// Config configures a Conn. Zero durations and counts take the defaults.
type Config struct {
	// Port is a device path, or "auto" to find the terminal with Match.
	// Ignored when Open is set.
	Port  string
	Match PortMatch
	// Open overrides how the stream is opened (tests, simulation).
	Open Opener
	// AppID is sent in every request.
	AppID string

	HandshakeResend  time.Duration // resend the handshake this often
	HandshakeTimeout time.Duration // give up a handshake attempt after this
	Heartbeat        time.Duration // send a heartbeat when nothing was sent for this long
	LinkTimeout      time.Duration // link down after this long without a valid frame
	Retransmit       time.Duration // resend an unacknowledged data frame this often
	MaxTransmissions int           // sends of one data frame before it counts as possibly delivered
	Expires          int           // seconds, sent as biz_data.expires of a sale
	SaleTimeout      time.Duration // wait for a sale's response after it was sent
	RequestTimeout   time.Duration // wait for a query's or close's response
	ConnectWait      time.Duration // how long a request waits for the link to come up
	ResolveTimeout   time.Duration // bound on close+query after an ambiguous sale
	ReattachPoll     time.Duration // how often a re-attached sale is queried while it waits
	ReopenMin        time.Duration // first delay before reopening a lost port
	ReopenMax        time.Duration // cap of the exponential reopen backoff
	ReadTick         time.Duration // serial read timeout; an empty read is a tick
	MaxPayload       int           // largest inbound payload accepted

	// Trace, when set, receives a line for every frame in and out: the
	// time, "in" or "out", and the frame in hex, with card numbers
	// redacted (see RedactCardNumbers). Bytes that form no frame are not
	// traced. Writes are serialized; a slow writer slows the link.
	Trace io.Writer

	Clock  posbridge.Clock
	Logger *slog.Logger
	// OnLinkChange is called, from the link's goroutine, after every change
	// of the link state. It must not block or call back into the Conn.
	OnLinkChange func(posbridge.LinkStatus)
	// NewRequestID returns a unique request_id; 32 random hex digits by default.
	NewRequestID func() string
}

func (c *Config) setDefaults() {
	d := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	d(&c.HandshakeResend, DefaultHandshakeResend)
	d(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	d(&c.Heartbeat, DefaultHeartbeat)
	d(&c.LinkTimeout, DefaultLinkTimeout)
	d(&c.Retransmit, DefaultRetransmit)
	if c.MaxTransmissions <= 0 {
		c.MaxTransmissions = DefaultMaxTransmissions
	}
	if c.Expires <= 0 {
		c.Expires = DefaultExpires
	}
	d(&c.SaleTimeout, time.Duration(c.Expires+60)*time.Second)
	d(&c.RequestTimeout, DefaultRequestTimeout)
	d(&c.ConnectWait, DefaultConnectWait)
	d(&c.ResolveTimeout, DefaultResolveTimeout)
	d(&c.ReattachPoll, DefaultReattachPoll)
	d(&c.ReopenMin, DefaultReopenMin)
	d(&c.ReopenMax, DefaultReopenMax)
	d(&c.ReadTick, DefaultReadTick)
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.Clock == nil {
		c.Clock = posbridge.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With(posbridge.LogKeyComponent, "terminal")
	if c.NewRequestID == nil {
		c.NewRequestID = randomID
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Conn is the link to one terminal. It implements posbridge.Terminal. Open
// returns at once and connects in the background; Close stops everything.
type Conn struct {
	cfg   Config
	clock posbridge.Clock
	log   *slog.Logger
	open  Opener
	trace *tracer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	saleMu sync.Mutex // one sale at a time

	mu      sync.Mutex
	state   posbridge.LinkState
	since   time.Time
	sess    *session
	upCh    chan struct{} // closed when a session comes up
	waiters map[*waiter]struct{}
	// inflight is the sale in progress, which a CloseOrder answered 000
	// ends promptly (see order).
	inflight *saleInFlight

	frames, crcErrors, retransmits, reconnects atomic.Uint64
	everUp                                     atomic.Bool
	watch                                      atomic.Pointer[func(posbridge.LinkStatus)] // WatchLink's
}

var (
	_ posbridge.Terminal    = (*Conn)(nil)
	_ posbridge.LinkWatcher = (*Conn)(nil)
)

// WatchLink implements posbridge.LinkWatcher: fn is called, after
// Config.OnLinkChange, on every change of the link state.
func (c *Conn) WatchLink(fn func(posbridge.LinkStatus)) {
	if fn == nil {
		c.watch.Store(nil)
		return
	}
	c.watch.Store(&fn)
}

// Open validates cfg and starts connecting in the background. It does not
// wait for the terminal, which may be unplugged.
func Open(cfg Config) (*Conn, error) {
	cfg.setDefaults()
	open := cfg.Open
	if open == nil {
		if cfg.Port == "" {
			return nil, fmt.Errorf("open terminal: %w", posbridge.Errorf(posbridge.EINVALID, "no port configured"))
		}
		open = SerialOpener(cfg.Port, cfg.Match, cfg.ReadTick)
	}
	c := &Conn{
		cfg: cfg, clock: cfg.Clock, log: cfg.Logger, open: open, trace: &tracer{w: cfg.Trace},
		state: posbridge.LinkDown, since: cfg.Clock.Now(),
		upCh: make(chan struct{}), waiters: make(map[*waiter]struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run()
	}()
	return c, nil
}

// Close stops the link and waits for its goroutines. Requests in flight end
// as their contracts say for a lost link. Close is safe to call twice.
func (c *Conn) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// Link reports the link's state and counters.
func (c *Conn) Link() posbridge.LinkStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked()
}

func (c *Conn) statusLocked() posbridge.LinkStatus {
	return posbridge.LinkStatus{
		State: c.state, Since: c.since, Port: c.cfg.Port,
		Frames: c.frames.Load(), CRCErrors: c.crcErrors.Load(),
		Retransmits: c.retransmits.Load(), Reconnects: c.reconnects.Load(),
	}
}

func (c *Conn) setState(s posbridge.LinkState, sess *session) {
	c.mu.Lock()
	if c.state == s && c.sess == sess {
		c.mu.Unlock()
		return
	}
	c.state, c.since = s, c.clock.Now()
	c.sess = sess
	if s == posbridge.LinkUp {
		if !isClosed(c.upCh) {
			close(c.upCh)
		}
	} else if isClosed(c.upCh) {
		c.upCh = make(chan struct{})
	}
	st := c.statusLocked()
	c.mu.Unlock()
	c.log.Info("link state", posbridge.LogKeyStatus, string(s), posbridge.LogKeyPort, c.cfg.Port)
	if c.cfg.OnLinkChange != nil {
		c.cfg.OnLinkChange(st)
	}
	if fn := c.watch.Load(); fn != nil {
		(*fn)(st)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// run owns the port: open, session, close, backoff, forever until Close.
func (c *Conn) run() {
	backoff := c.cfg.ReopenMin
	failing := false
	for c.ctx.Err() == nil {
		rw, err := c.open(c.ctx)
		if err != nil {
			if !failing {
				c.log.Warn("open port", posbridge.LogKeyPort, c.cfg.Port, posbridge.LogKeyError, err)
				failing = true
			}
			if !c.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, c.cfg.ReopenMax)
			continue
		}
		if failing {
			c.log.Info("open port recovered", posbridge.LogKeyPort, c.cfg.Port)
			failing = false
		}
		c.setState(posbridge.LinkHandshaking, nil)
		wasUp, err := c.runSession(rw)
		c.setState(posbridge.LinkDown, nil)
		if c.ctx.Err() != nil {
			return
		}
		c.log.Warn("link lost", posbridge.LogKeyPort, c.cfg.Port, posbridge.LogKeyError, err)
		if wasUp {
			backoff = c.cfg.ReopenMin
		}
		if !c.sleep(backoff) {
			return
		}
		if !wasUp {
			backoff = min(2*backoff, c.cfg.ReopenMax)
		}
	}
}

// sleep waits d on the clock; false when the Conn is closing.
func (c *Conn) sleep(d time.Duration) bool {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-c.ctx.Done():
		return false
	}
}
