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
	"strconv"
	"strings"
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

// waiter waits for the response to one request.
type waiter struct {
	requestID string
	topic     string
	orderNo   string
	ch        chan Message // buffered 1
}

// wait registers a waiter for the answer to a request (requestID empty:
// matched by order number alone); unwait removes it.
func (c *Conn) wait(requestID, topic, orderNo string) *waiter {
	w := &waiter{requestID: requestID, topic: topic, orderNo: orderNo, ch: make(chan Message, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiters[w] = struct{}{}
	return w
}

func (c *Conn) unwait(w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waiters, w)
}

func (c *Conn) deliver(p []byte) {
	m, err := DecodeMessage(p)
	if err != nil {
		c.log.Warn("bad message", posbridge.LogKeyError, err, posbridge.LogKeyCount, len(p))
		return
	}
	c.mu.Lock()
	var match *waiter
	for w := range c.waiters {
		if m.RequestID != "" && w.requestID == m.RequestID {
			match = w
			break
		}
	}
	if match == nil {
		// Some firmware omits request_id: fall back to the order number
		// within the same topic. An answer that names another request is a
		// late answer to one that gave up; it must never stand in for a
		// newer request's answer. A waiter without a request id (a sale
		// re-attached after a restart) matches by order number alone.
		for w := range c.waiters {
			if no := m.Biz.OrderNo(); no != "" && w.orderNo == no && w.topic == m.Topic &&
				(m.RequestID == "" || w.requestID == "") {
				match = w
				break
			}
		}
	}
	if match != nil {
		delete(c.waiters, match)
	}
	c.mu.Unlock()
	if match == nil {
		c.log.Info("unmatched message dropped", posbridge.LogKeyOrder, m.Biz.OrderNo(),
			"topic", m.Topic, "request_id", m.RequestID, "code", m.ResponseCode)
		return
	}
	match.ch <- m
}

// currentSession waits up to d (or until abort) for the link to be up.
func (c *Conn) currentSession(ctx context.Context, d time.Duration, abort <-chan time.Time) (*session, error) {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		s, up := c.sess, c.upCh
		c.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-up:
		case <-t.C():
			return nil, fmt.Errorf("link not up after %v", d)
		case <-abort:
			return nil, errors.New("gave up waiting for the link")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, posbridge.ErrClosed
		}
	}
}

// exchange sends one request and waits for its response. written reports
// whether any byte of the request may have reached the terminal. Errors wrap
// posbridge.ErrTerminalUnavailable when nothing was written, ErrNoResponse
// otherwise.
//
// closed, when not nil, ends the wait for the response with errSaleClosed
// once the request is written: CloseOrder closes it when the terminal
// closed the sale this request started.
func (c *Conn) exchange(ctx context.Context, m Message, linkWait, respTimeout time.Duration, abort <-chan time.Time, closed <-chan struct{}) (resp Message, written bool, err error) {
	m.RequestID = c.cfg.NewRequestID()
	m.AppID = c.cfg.AppID
	m.Version = "1.0"
	m.Timestamp = strconv.FormatInt(c.clock.Now().UnixMilli(), 10)
	payload, err := EncodeMessage(m)
	if err != nil {
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, err)
	}
	if len(payload) > MaxOutboundPayload {
		return Message{}, false, fmt.Errorf("%s: %w: %d bytes: %w", m.Topic, posbridge.ErrTerminalUnavailable, len(payload), ErrPayloadTooLarge)
	}
	s, err := c.currentSession(ctx, linkWait, abort)
	if err != nil {
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, err)
	}
	w := c.wait(m.RequestID, m.Topic, m.Biz.MerchantOrderNo)
	defer c.unwait(w)
	j := &job{payload: payload, res: make(chan jobResult, 1)}
	select {
	case s.jobs <- j:
	case <-s.done:
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, ErrLinkLost)
	case <-ctx.Done():
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, ctx.Err())
	case <-c.ctx.Done():
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, posbridge.ErrClosed)
	}
	deadline := c.clock.NewTimer(respTimeout)
	defer deadline.Stop()
	jres := j.res
	sdone := s.done
	for {
		select {
		case r := <-jres:
			jres = nil
			switch r {
			case jobNotWritten:
				return Message{}, false, fmt.Errorf("%s: %w", m.Topic, posbridge.ErrTerminalUnavailable)
			case jobUnacked:
				return Message{}, true, fmt.Errorf("%s: no ack: %w", m.Topic, ErrNoResponse)
			case jobLost:
				return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ErrLinkLost, ErrNoResponse)
			}
			if sdone == nil {
				// The session ended while the job's result was on its way:
				// the link is lost whatever the result, as when it ends
				// after the result. An answer already in is still the answer.
				select {
				case resp := <-w.ch:
					return resp, true, nil
				default:
				}
				return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ErrLinkLost, ErrNoResponse)
			}
		case resp := <-w.ch:
			return resp, true, nil
		case <-sdone:
			if jres != nil {
				sdone = nil // the job's result is on its way
				continue
			}
			return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ErrLinkLost, ErrNoResponse)
		case <-deadline.C():
			return Message{}, true, fmt.Errorf("%s: no answer in %v: %w", m.Topic, respTimeout, ErrNoResponse)
		case <-abort:
			return Message{}, true, fmt.Errorf("%s: gave up: %w", m.Topic, ErrNoResponse)
		case <-closed:
			select {
			case resp := <-w.ch:
				// The sale's own answer came first: it says what happened.
				return resp, true, nil
			default:
			}
			return Message{}, true, fmt.Errorf("%s: %w", m.Topic, errSaleClosed)
		case <-ctx.Done():
			return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ctx.Err(), ErrNoResponse)
		case <-c.ctx.Done():
			return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrClosed, ErrNoResponse)
		}
	}
}

// Sale sends ecrhub.pay.order (trans_type 1) for s; see posbridge.Terminal.
func (c *Conn) Sale(ctx context.Context, s posbridge.Sale) (posbridge.TerminalResult, error) {
	return c.order(ctx, TransSale, s.OrderNo, "", s.Amount)
}

// Void voids the sale orig with a new order number no (trans_type 2). The
// outcome follows the same rules as Sale: approved means the void happened.
func (c *Conn) Void(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	return c.order(ctx, TransVoid, no, orig, amount)
}

// Refund refunds amount of the sale orig with a new order number no
// (trans_type 3). The outcome follows the same rules as Sale.
func (c *Conn) Refund(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	return c.order(ctx, TransRefund, no, orig, amount)
}

func (c *Conn) order(ctx context.Context, transType string, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	if err := no.Validate(); err != nil {
		return posbridge.TerminalResult{}, fmt.Errorf("sale: %w: %w", posbridge.ErrTerminalUnavailable, err)
	}
	c.saleMu.Lock()
	defer c.saleMu.Unlock()
	f := false
	m := Message{Topic: TopicOrder, Biz: BizData{
		TransType: transType, MerchantOrderNo: string(no), OrigMerchantNo: string(orig),
		OrderAmount: amount.Decimal(), PriceCurrency: amount.Currency,
		PayScenario: "SWIPE_CARD", ConfirmOnTerminal: &f, Expires: c.cfg.Expires,
	}}
	log := c.log.With(posbridge.LogKeyOrder, string(no))
	inf := c.startSale(no)
	defer c.endSale(inf)
	resp, written, err := c.exchange(ctx, m, c.cfg.ConnectWait, c.cfg.SaleTimeout, nil, inf.closed)
	var r posbridge.TerminalResult
	switch {
	case err != nil && !written:
		return posbridge.TerminalResult{}, err
	case errors.Is(err, errSaleClosed):
		// The terminal closed the sale at the ECR's request. Whether and
		// when it answers the closed sale is not documented, so ask it.
		q, _, qerr := c.exchange(ctx, queryMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
		if qerr == nil {
			r = resultOf(q, QueryOutcome(q))
		}
		if qerr != nil || r.Outcome == posbridge.OutcomeUnknown {
			log.Warn("closed sale not settled by a query", posbridge.LogKeyError, qerr)
			r = posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
		} else {
			r.Message = strings.TrimSpace("closed by the ECR; queried: " + r.Message)
		}
		if r.Outcome == posbridge.OutcomeDeclined && !r.NoRecord {
			// The close was accepted before the sale was answered, and the
			// terminal's record says not charged: the cashier's cancel.
			r.Outcome = posbridge.OutcomeClosedOnRequest
		}
	case err != nil:
		log.Warn("sale without answer", posbridge.LogKeyError, err)
		r = posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
	default:
		r = resultOf(resp, SaleOutcome(resp))
		if r.Code == CodeCanceled && r.Outcome == posbridge.OutcomeDeclined && inf.closeAsked.Load() {
			// "Transaction cancellation" in answer to the ECR's close.
			r.Outcome = posbridge.OutcomeClosedOnRequest
		}
	}
	if c.ctx.Err() != nil || errors.Is(context.Cause(ctx), posbridge.ErrClosed) {
		// Shutting down (the driver, or the engine, whose context ends with
		// ErrClosed as its cause): the sale stays open on the terminal for
		// the next start to re-attach to (Reattach); closing it now would
		// make the customer tap again.
		log.Info("sale left on the terminal at shutdown")
		return r, nil
	}
	if r.Outcome == posbridge.OutcomeUnknown || r.Outcome == posbridge.OutcomeTimeout {
		r.QueryAfter = c.resolve(context.WithoutCancel(ctx), no)
	}
	log.Info("sale done", posbridge.LogKeyOutcome, string(r.Outcome))
	return r, nil
}

// Reattach follows a sale started by a previous process; see
// posbridge.Terminal. It holds the sale slot like Sale. Its waiter has no
// request id, so the sale's answer (which names the old process's request)
// is matched by order number; the waiter is registered before the first
// query, so an answer that lands between the two is not lost.
func (c *Conn) Reattach(ctx context.Context, no posbridge.OrderNo, until time.Time) (posbridge.TerminalResult, error) {
	c.saleMu.Lock()
	defer c.saleMu.Unlock()
	inf := c.startSale(no)
	defer c.endSale(inf)
	log := c.log.With(posbridge.LogKeyOrder, string(no))
	w := c.wait("", TopicOrder, string(no))
	defer c.unwait(w)
	deadline := c.clock.NewTimer(max(until.Sub(c.clock.Now()), 0))
	defer deadline.Stop()
	for {
		resp, _, err := c.exchange(ctx, queryMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
		if err == nil {
			if q := resultOf(resp, QueryOutcome(resp)); q.Outcome != posbridge.OutcomeUnknown {
				log.Info("re-attached sale done", posbridge.LogKeyOutcome, string(q.Outcome))
				return q, nil
			}
		}
		poll := c.clock.NewTimer(c.cfg.ReattachPoll)
		select {
		case m := <-w.ch:
			poll.Stop()
			r := resultOf(m, SaleOutcome(m))
			if r.Outcome == posbridge.OutcomeUnknown {
				r.QueryAfter = c.resolve(context.WithoutCancel(ctx), no)
			}
			log.Info("re-attached sale answered", posbridge.LogKeyOutcome, string(r.Outcome))
			return r, nil
		case <-poll.C():
		case <-inf.closed:
			// Closed at the ECR's request: query at once, not at the next poll.
			poll.Stop()
			inf.closed = nil
		case <-deadline.C():
			poll.Stop()
			r := posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}
			r.QueryAfter = c.resolve(context.WithoutCancel(ctx), no)
			log.Warn("re-attached sale without answer")
			return r, nil
		case <-ctx.Done():
			poll.Stop()
			return posbridge.TerminalResult{}, ctx.Err()
		case <-c.ctx.Done():
			poll.Stop()
			return posbridge.TerminalResult{}, posbridge.ErrClosed
		}
	}
}

// resolve closes the order on the terminal and queries it, within
// ResolveTimeout. It never sends another sale.
func (c *Conn) resolve(ctx context.Context, no posbridge.OrderNo) *posbridge.TerminalResult {
	t := c.clock.NewTimer(c.cfg.ResolveTimeout)
	defer t.Stop()
	abort := t.C()
	log := c.log.With(posbridge.LogKeyOrder, string(no))
	if _, _, err := c.exchange(ctx, closeMessage(no), c.cfg.ResolveTimeout, c.cfg.RequestTimeout, abort, nil); err != nil {
		log.Warn("close after ambiguous sale", posbridge.LogKeyError, err)
	}
	resp, _, err := c.exchange(ctx, queryMessage(no), c.cfg.ResolveTimeout, c.cfg.RequestTimeout, abort, nil)
	if err != nil {
		log.Warn("query after ambiguous sale", posbridge.LogKeyError, err)
		return nil
	}
	q := resultOf(resp, QueryOutcome(resp))
	return &q
}

// closeMessage and queryMessage name the order under both keys: the
// protocol document and the Windows and Android SDKs send
// merchant_order_no, the Java SDK's close sends merchantOrderNo, and a
// terminal reads one or the other.
func closeMessage(no posbridge.OrderNo) Message {
	return Message{Topic: TopicClose, Biz: BizData{MerchantOrderNo: string(no), MerchantOrderNoCamel: string(no)}}
}

func queryMessage(no posbridge.OrderNo) Message {
	return Message{Topic: TopicQuery, Biz: BizData{MerchantOrderNo: string(no), MerchantOrderNoCamel: string(no)}}
}

// Query sends ecrhub.pay.query for no. Approved means charged (trans_status
// 2/4, code 103), Declined means not charged (trans_status 1/3, code 104),
// anything else Unknown. An error wraps ErrTerminalUnavailable when the
// query was not sent, ErrNoResponse when it went unanswered.
func (c *Conn) Query(ctx context.Context, no posbridge.OrderNo) (posbridge.TerminalResult, error) {
	resp, _, err := c.exchange(ctx, queryMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
	if err != nil {
		return posbridge.TerminalResult{}, fmt.Errorf("query %s: %w", no, err)
	}
	return resultOf(resp, QueryOutcome(resp)), nil
}

// CloseOrder sends ecrhub.pay.close for no. It returns nil when the terminal
// answered 000, an error naming the code otherwise (201: could not close,
// for example because it is paid), or a transport error as Query does.
func (c *Conn) CloseOrder(ctx context.Context, no posbridge.OrderNo) error {
	c.mu.Lock()
	if f := c.inflight; f != nil && f.no == no {
		f.closeAsked.Store(true)
	}
	c.mu.Unlock()
	resp, _, err := c.exchange(ctx, closeMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
	if err != nil {
		return fmt.Errorf("close %s: %w", no, err)
	}
	if code := NormalizeCode(resp.ResponseCode); code != CodeSuccess {
		return &CodeError{Topic: TopicClose, Code: code, Message: resp.ResponseMsg}
	}
	c.mu.Lock()
	if f := c.inflight; f != nil && f.no == no {
		f.once.Do(func() { close(f.closedCh) })
	}
	c.mu.Unlock()
	return nil
}

// errSaleClosed ends the wait for a sale's answer once the terminal has
// closed the sale at the ECR's request (CloseOrder answered 000).
var errSaleClosed = errors.New("sale closed on the terminal")

// saleInFlight is the sale (or re-attached sale) holding the sale slot.
type saleInFlight struct {
	no       posbridge.OrderNo
	closedCh chan struct{}
	closed   <-chan struct{} // closedCh, for the sale's own use
	once     sync.Once
	// closeAsked: CloseOrder was sent for this sale while it waited for
	// its answer, so a 102 answer is the terminal honouring it.
	closeAsked atomic.Bool
}

func (c *Conn) startSale(no posbridge.OrderNo) *saleInFlight {
	ch := make(chan struct{})
	f := &saleInFlight{no: no, closedCh: ch, closed: ch}
	c.mu.Lock()
	c.inflight = f
	c.mu.Unlock()
	return f
}

func (c *Conn) endSale(f *saleInFlight) {
	c.mu.Lock()
	if c.inflight == f {
		c.inflight = nil
	}
	c.mu.Unlock()
}

// CodeError is a terminal's refusal: a response code other than 000.
type CodeError struct {
	Topic   string
	Code    string
	Message string
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("%s: terminal answered %s %s", e.Topic, e.Code, e.Message)
}
