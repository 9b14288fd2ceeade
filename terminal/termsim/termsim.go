// Package termsim is a simulated CodePay terminal: it speaks the terminal side
// of the ECRHub USB protocol over any byte stream (an in-memory pipe or a
// pty), with scripted outcomes per order, fault injection on the link, a
// transaction table that survives reconnects, and an acquirer hook through
// which it tells a gateway (the sandbox) about the money it takes.
package termsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
)

// Default timers of the terminal side (research §2.2, §2.3): CodePay's SDK
// heartbeats every second and its terminal demo sends on a 100 ms tick.
const (
	DefaultHeartbeat  = time.Second
	DefaultRetransmit = 100 * time.Millisecond
)

// Keys is which key of the order number a terminal reads in
// ecrhub.pay.close and ecrhub.pay.query, and writes in their answers.
type Keys string

// Key conventions.
const (
	KeysBoth  Keys = ""      // reads merchant_order_no, else merchantOrderNo; answers snake_case
	KeysSnake Keys = "snake" // merchant_order_no only (the protocol document, Windows and Android SDKs)
	KeysCamel Keys = "camel" // merchantOrderNo only (the Java SDK's close)
)

// Personality is how one terminal model or firmware differs from another
// in what CodePay's own client code shows. The zero value is the most
// forgiving terminal.
type Personality struct {
	// Keys is the order number's key the terminal reads in close and query.
	Keys Keys `json:"keys,omitempty"`
	// AckTick holds ACKs for the send tick (Config.Retransmit, 100 ms in
	// the terminal demo) and piggybacks them on the data frame sent then,
	// instead of ACKing each frame at once.
	AckTick bool `json:"ack_tick,omitempty"`
	// SilentClose closes a sale in progress on ecrhub.pay.close without
	// ever answering the closed sale itself (the default answers it 102).
	SilentClose bool `json:"silent_close,omitempty"`
	// VoidNeedsAmount refuses a void without order_amount with 202, as
	// termsim once did; the SDK's voids carry no amount.
	VoidNeedsAmount bool `json:"void_needs_amount,omitempty"`
	// NoAppID leaves app_id out of the completed sale's answer (the
	// documents say it is echoed).
	NoAppID bool `json:"no_app_id,omitempty"`
	// KeepReplies keeps unsent answers across a handshake; the terminal
	// demo accepts every handshake and drops its unsent answers each time.
	KeepReplies bool `json:"keep_replies,omitempty"`
}

// String describes p for logs.
func (p Personality) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}

// ErrClosedMidSale is returned by Serve when the CloseMidSale fault closed
// the link.
var ErrClosedMidSale = errors.New("termsim: link closed mid-sale (fault)")

// Action is what the simulated customer does with a sale.
type Action string

// Actions.
const (
	Approve     Action = "approve"      // pays: trans_status 2
	Decline     Action = "decline"      // the card is declined (115 unless Code says otherwise)
	Cancel      Action = "cancel"       // the customer cancels on the terminal (110)
	ReadTimeout Action = "read_timeout" // no card presented in time (111)
	Never       Action = "never"        // the sale stays open and unanswered
	// DeclineCharged is the real-world fault of a terminal that says the
	// sale failed while the customer was charged: it answers Code (default
	// 106 Transaction failed) with trans_status 1 and keeps the sale as
	// failed in its table, yet the acquirer records the sale paid
	// AcquirerDelay (default DefaultChargedDelay) later.
	DeclineCharged Action = "decline_charged"
)

// DefaultChargedDelay is how long after a DeclineCharged sale the acquirer
// records it paid when the script sets no AcquirerDelay.
const DefaultChargedDelay = time.Minute

// Script says how the terminal handles a sale.
type Script struct {
	Action Action        `json:"action"`
	Delay  time.Duration `json:"-"`
	// DelayText is Delay as text ("1.5s") in script files.
	DelayText string `json:"delay,omitempty"`
	// Twice sends the response two times (as separate data frames).
	Twice bool `json:"twice,omitempty"`
	// LoseResponse completes the sale (money taken for Approve) but never
	// sends the response; for a void or refund, does it (recorded with the
	// Acquirer) and never answers.
	LoseResponse bool `json:"lose_response,omitempty"`
	// AfterReconnect holds the response until the next handshake.
	AfterReconnect bool `json:"after_reconnect,omitempty"`
	// Code overrides the response code (for Decline: default 115).
	Code string `json:"code,omitempty"`
	// SuccessCode is "000" (default) or "0", as seen live.
	SuccessCode string `json:"success_code,omitempty"`
	// AcquirerDelay makes the sale's paid or failed record reach the
	// acquirer this long after the terminal completed the sale (the
	// terminal answers at once): meanwhile the gateway does not know the
	// order, or has it CREATED when Config.ReportCreated is set.
	AcquirerDelay time.Duration `json:"-"`
	// AcquirerDelayText is AcquirerDelay as text ("3m") in script files.
	AcquirerDelayText string `json:"acquirer_delay,omitempty"`
}

// Faults are link faults. Counters are consumed as they apply; tests and the
// simulation may change them at any time with SetFaults or UpdateFaults.
type Faults struct {
	DropIn       int  // ignore the next N data frames received from the ECR
	DropOut      int  // drop the next N data frames the terminal sends
	CorruptOut   int  // corrupt the next N frames sent (CRC, then ETX, alternately)
	DropAcks     int  // send no ACK for the next N data frames received
	Split        bool // write every frame in random small chunks
	Coalesce     bool // hold frames and write them together on the next tick
	NoHeartbeats bool // stop sending heartbeats
	CloseMidSale bool // close the link right after ACKing the next sale (once)
	Oversize     int  // pad the next N responses beyond 1014 bytes
	Garbage      int  // write N bytes of garbage before the next frame
}

// Txn is a row of the terminal's transaction table.
type Txn struct {
	OrderNo     string
	OrigNo      string
	TransType   string
	Amount      posbridge.Money
	Status      string // "0" in progress, "1" closed/failed, "2" success, "3" voided
	Code        string
	TransNo     string
	RequestID   string
	AppID       string
	CompletedAt time.Time
}

// Config configures a Sim. Zero values take defaults.
type Config struct {
	Clock  posbridge.Clock
	Logger *slog.Logger
	// Acquirer learns of the money, as a real terminal's acquirer tells the
	// gateway: an approved sale is recorded {Kind "sale", Status paid}
	// before its response is sent (so a lost response still leaves the
	// payment on record); a declined sale (the card network said no) is
	// recorded failed; a customer cancel, read-card timeout or a close never
	// reached the acquirer and is not recorded; voids and refunds are
	// recorded paid with Kind "void"/"refund" and OrigNo. When Record
	// fails, the sale answers 109 with trans_status 1. Nil: the terminal
	// only keeps its own table. Called from the serving goroutine.
	Acquirer posbridge.Acquirer
	// Heartbeat is the period of the terminal's heartbeats.
	Heartbeat time.Duration
	// Retransmit is the send tick: the head data frame is resent every tick
	// until ACKed.
	Retransmit time.Duration
	// Default is the script of orders without their own; zero approves at once.
	Default Script
	// Seed seeds the randomness of chunking and garbage.
	Seed uint64
	// Currency is assumed when a sale omits price_currency.
	Currency string
	// Personality is the terminal's model and firmware quirks.
	Personality Personality
	// ReportCreated records every sale {Kind "sale", Status created} with
	// the Acquirer when it starts (the card is presented), before its paid
	// or failed record at completion, so the gateway has the order CREATED
	// while the customer decides. A failing created record is logged only.
	ReportCreated bool
}

// Sim is a simulated terminal. It is safe for concurrent use; Serve one
// connection at a time.
type Sim struct {
	cfg   Config
	clock posbridge.Clock
	log   *slog.Logger

	mu         sync.Mutex
	rnd        *rand.Rand
	scripts    map[string]Script
	def        Script
	faults     Faults
	txns       map[string]*Txn
	pending    *pendingSale
	held       []terminal.Message
	sales      map[string]int
	charges    map[string]int
	handshakes int
	seq        int
	reboots    int
	delayed    int     // acquirer records waiting for their delay
	lost       []error // delayed acquirer records the acquirer refused
	reportNew  bool
	pers       Personality
	done       chan struct{}
	closeOnce  sync.Once
	wg         sync.WaitGroup
}

type pendingSale struct {
	txn        *Txn
	script     Script
	completeAt time.Time // zero: never
}

// New returns a simulated terminal.
func New(cfg Config) *Sim {
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Retransmit <= 0 {
		cfg.Retransmit = DefaultRetransmit
	}
	if cfg.Currency == "" {
		cfg.Currency = "AED"
	}
	return &Sim{
		cfg: cfg, clock: cfg.Clock, log: cfg.Logger.With(posbridge.LogKeyComponent, "termsim"),
		rnd:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		scripts: map[string]Script{}, def: cfg.Default,
		txns: map[string]*Txn{}, sales: map[string]int{}, charges: map[string]int{},
		reportNew: cfg.ReportCreated, pers: cfg.Personality, done: make(chan struct{}),
	}
}

// Close drops the acquirer records still waiting for their delay and waits
// for their goroutines. The Sim keeps serving; later delayed records are
// dropped at once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.wg.Wait()
	return nil
}

// SetPersonality changes the terminal's personality (from the next frame on).
func (s *Sim) SetPersonality(p Personality) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pers = p
}

// Personality returns the terminal's personality.
func (s *Sim) Personality() Personality {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pers
}

// SetReportCreated switches Config.ReportCreated.
func (s *Sim) SetReportCreated(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reportNew = on
}

// Reboot is the terminal restarting: its transaction table, the open sale
// and any held responses are lost, so a later ecrhub.pay.query of an
// earlier sale answers 104 (does not exist). Money already taken stays taken
// (Charges), and acquirer records on their way still arrive. The link is not
// touched: pair it with Pipe.Unplug and Plug.
func (s *Sim) Reboot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txns = map[string]*Txn{}
	s.pending = nil
	s.held = nil
	s.reboots++
}

// Charges returns how many times the terminal took the customer's money
// for each order number (approved sales, and DeclineCharged sales). It
// survives Reboot. Anything above 1 is a double charge.
func (s *Sim) Charges() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.charges))
	for k, v := range s.charges {
		out[k] = v
	}
	return out
}

// DelayedRecords returns how many acquirer records are still waiting for
// their AcquirerDelay.
func (s *Sim) DelayedRecords() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delayed
}

// LostRecords returns the errors of delayed acquirer records the acquirer
// refused (the money was taken on the terminal all the same).
func (s *Sim) LostRecords() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.lost...)
}

// recordLater sends rec to the acquirer after d, from its own goroutine;
// s.mu must be held.
func (s *Sim) recordLater(rec posbridge.AcquirerRecord, d time.Duration) {
	s.delayed++
	s.wg.Go(func() {
		t := s.clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
		case <-s.done:
			s.mu.Lock()
			s.delayed--
			s.mu.Unlock()
			return
		}
		err := s.cfg.Acquirer.Record(context.Background(), rec)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.delayed--
		if err != nil {
			s.lost = append(s.lost, fmt.Errorf("delayed record of %s: %w", rec.OrderNo, err))
			s.log.Warn("delayed acquirer record", posbridge.LogKeyOrder, rec.OrderNo, posbridge.LogKeyError, err)
		}
	})
}

// SetScript sets the script of one order number.
func (s *Sim) SetScript(no posbridge.OrderNo, sc Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[string(no)] = sc
}

// SetDefault sets the script of orders without their own.
func (s *Sim) SetDefault(sc Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = sc
}

// SetFaults replaces the link faults.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// UpdateFaults changes the link faults under the Sim's lock.
func (s *Sim) UpdateFaults(fn func(*Faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.faults)
}

// Faults returns the current faults (with counters as consumed so far).
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Txn returns the transaction table row of an order number.
func (s *Sim) Txn(no posbridge.OrderNo) (Txn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txns[string(no)]
	if !ok {
		return Txn{}, false
	}
	return *t, true
}

// SaleRequests returns how many distinct ecrhub.pay.order requests (after
// link-level duplicate suppression) arrived for an order number. A correct
// ECR never makes it exceed 1.
func (s *Sim) SaleRequests(no posbridge.OrderNo) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sales[string(no)]
}

// Handshakes returns how many handshakes the terminal answered.
func (s *Sim) Handshakes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handshakes
}

// ScriptFile is the content of a script file.
type ScriptFile struct {
	Default     Script            `json:"default"`
	Orders      map[string]Script `json:"orders"`
	Personality Personality       `json:"personality"`
}

// ParseScripts reads a script file: {"default": Script, "orders": {"NO":
// Script}, "personality": Personality}. Delays are Go durations ("1.5s").
// ParseScriptFile returns the personality too.
func ParseScripts(b []byte) (def Script, orders map[string]Script, err error) {
	f, err := ParseScriptFile(b)
	return f.Default, f.Orders, err
}

// ParseScriptFile reads a script file; see ParseScripts.
func ParseScriptFile(b []byte) (ScriptFile, error) {
	var f ScriptFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return ScriptFile{}, fmt.Errorf("parse script: %w", err)
	}
	switch f.Personality.Keys {
	case KeysBoth, KeysSnake, KeysCamel:
	default:
		return ScriptFile{}, fmt.Errorf("parse script: personality: unknown keys %q", f.Personality.Keys)
	}
	fix := func(name string, sc *Script) error {
		switch sc.Action {
		case "", Approve, Decline, Cancel, ReadTimeout, Never, DeclineCharged:
		default:
			return fmt.Errorf("parse script: %s: unknown action %q", name, sc.Action)
		}
		if sc.DelayText != "" {
			d, err := time.ParseDuration(sc.DelayText)
			if err != nil || d < 0 {
				return fmt.Errorf("parse script: %s: delay %q is not a duration", name, sc.DelayText)
			}
			sc.Delay = d
		}
		if sc.AcquirerDelayText != "" {
			d, err := time.ParseDuration(sc.AcquirerDelayText)
			if err != nil || d < 0 {
				return fmt.Errorf("parse script: %s: acquirer_delay %q is not a duration", name, sc.AcquirerDelayText)
			}
			sc.AcquirerDelay = d
		}
		return nil
	}
	if err := fix("default", &f.Default); err != nil {
		return ScriptFile{}, err
	}
	for no, sc := range f.Orders {
		if err := fix(no, &sc); err != nil {
			return ScriptFile{}, err
		}
		f.Orders[no] = sc
	}
	return f, nil
}

// conn is the state of one served connection.
type conn struct {
	s            *Sim
	w            io.Writer
	connected    bool
	lastAccepted byte
	nextID       byte
	outq         []terminal.Frame
	pendingAck   byte // Personality.AckTick: the ACK due on the next tick
	coalesced    []byte
	corruptETX   bool
}

// Serve speaks the terminal side over rw until ctx ends, rw fails, or the
// CloseMidSale fault fires. It closes rw and waits for its reader before
// returning. The transaction table and any open sale outlive the connection.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriteCloser) error {
	frames := make(chan terminal.Frame, 256)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dec := terminal.NewDecoder(rw)
		dec.MaxPayload = terminal.MaxOutboundPayload
		for {
			f, err := dec.Next()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case frames <- f:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		rw.Close()
		wg.Wait()
	}()

	c := &conn{s: s, w: rw, nextID: 1}
	s.mu.Lock()
	s.completeDueLocked(ctx) // what finished while no one was connected
	s.mu.Unlock()
	tick := s.clock.NewTimer(s.cfg.Retransmit)
	defer tick.Stop()
	tickAt := s.clock.Now().Add(s.cfg.Retransmit)
	// rearm sets the send tick after a frame came or went. A terminal on a
	// fixed send tick (Personality.AckTick) keeps a tick already due sooner,
	// so that a chatty ECR cannot push its ACKs out; otherwise the tick
	// restarts.
	rearm := func() {
		d := c.nextTick()
		at := s.clock.Now().Add(d)
		s.mu.Lock()
		fixed := s.pers.AckTick
		s.mu.Unlock()
		if fixed && at.After(tickAt) && tickAt.After(s.clock.Now()) {
			return
		}
		tick.Reset(d)
		tickAt = at
	}
	hb := s.clock.NewTimer(s.heartbeat())
	defer hb.Stop()
	for {
		select {
		case f := <-frames:
			if err := c.handle(f); err != nil {
				return err
			}
			rearm()
		case <-tick.C():
			tickAt = time.Time{}
			rearm()
			s.mu.Lock()
			msgs := s.completeDueLocked(ctx)
			s.mu.Unlock()
			c.enqueue(msgs...)
			if err := c.sendHead(); err != nil {
				return err
			}
			if c.pendingAck != 0 {
				ack := c.pendingAck
				c.pendingAck = 0
				if err := c.write(terminal.AckFrame(ack)); err != nil {
					return err
				}
			}
			if err := c.flush(); err != nil {
				return err
			}
		case <-hb.C():
			hb.Reset(s.heartbeat())
			s.mu.Lock()
			quiet := s.faults.NoHeartbeats
			s.mu.Unlock()
			if c.connected && !quiet {
				if err := c.write(terminal.HeartbeatFrame); err != nil {
					return err
				}
				rearm()
			}
		case err := <-readErr:
			return fmt.Errorf("termsim read: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// idleTick is how long the send tick sleeps when nothing is to be sent or
// completed: a quiet terminal costs no wake-ups in simulated time.
const idleTick = time.Hour

// nextTick returns when the send tick should fire next: every Retransmit
// while a frame waits for its ACK or coalesced bytes wait, when the open
// sale is due to complete, and otherwise after idleTick.
func (c *conn) nextTick() time.Duration {
	s := c.s
	if len(c.outq) > 0 || len(c.coalesced) > 0 || c.pendingAck != 0 {
		return s.cfg.Retransmit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pending; p != nil && !p.completeAt.IsZero() {
		return max(p.completeAt.Sub(s.clock.Now()), s.cfg.Retransmit)
	}
	return idleTick
}

func (s *Sim) heartbeat() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Heartbeat
}

// SetHeartbeat changes the period of the terminal's heartbeats (from the
// next one on); zero restores DefaultHeartbeat.
func (s *Sim) SetHeartbeat(d time.Duration) {
	if d <= 0 {
		d = DefaultHeartbeat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Heartbeat = d
}

func (c *conn) handle(f terminal.Frame) error {
	s := c.s
	s.mu.Lock()
	if f.IsData() && s.faults.DropIn > 0 {
		s.faults.DropIn--
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	switch f.Type {
	case terminal.TypeHandshake:
		s.mu.Lock()
		s.handshakes++
		// A sale that finished while the link was away may hold a response
		// for this handshake.
		s.completeDueLocked(context.Background())
		held := s.held
		s.held = nil
		keep := s.pers.KeepReplies
		s.mu.Unlock()
		// The terminal demo accepts every handshake and drops its unsent
		// answers each time; KeepReplies sends them again, renumbered.
		unsent := c.outq
		c.connected, c.lastAccepted, c.nextID, c.outq, c.pendingAck = true, 0, 1, nil, 0
		if err := c.write(terminal.ConfirmFrame); err != nil {
			return err
		}
		if keep {
			for _, f := range unsent {
				c.enqueueFrame(f.Payload)
			}
		}
		c.enqueue(held...)
		return c.sendHead()
	case terminal.TypeNormal:
	default:
		return nil
	}
	c.connected = true
	s.mu.Lock()
	onTick := s.pers.AckTick
	s.mu.Unlock()
	if f.Ack != 0 && len(c.outq) > 0 && c.outq[0].ID == f.Ack {
		c.outq = c.outq[1:]
		if !onTick {
			if err := c.sendHead(); err != nil {
				return err
			}
		}
	}
	if f.ID == 0 {
		return nil
	}
	s.mu.Lock()
	dropAck := s.faults.DropAcks > 0
	if dropAck {
		s.faults.DropAcks--
	}
	tick := s.pers.AckTick
	s.mu.Unlock()
	switch {
	case dropAck:
	case tick:
		c.pendingAck = f.ID // sent on the next tick, on a data frame if one is due
	default:
		if err := c.write(terminal.AckFrame(f.ID)); err != nil {
			return err
		}
	}
	if f.ID == c.lastAccepted {
		return nil
	}
	c.lastAccepted = f.ID
	m, err := terminal.DecodeMessage(f.Payload)
	if err != nil {
		s.log.Warn("bad message", posbridge.LogKeyError, err)
		return nil
	}
	msgs, closeLink := s.request(context.Background(), m)
	c.enqueue(msgs...)
	if !onTick {
		if err := c.sendHead(); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	if closeLink {
		return ErrClosedMidSale
	}
	return nil
}

// enqueue queues responses as data frames, applying the Oversize fault.
func (c *conn) enqueue(msgs ...terminal.Message) {
	if !c.connected {
		return
	}
	for _, m := range msgs {
		c.s.mu.Lock()
		if c.s.faults.Oversize > 0 {
			c.s.faults.Oversize--
			m.Biz.Padding = strings.Repeat("x", 1200)
		}
		c.s.mu.Unlock()
		p, err := terminal.EncodeMessage(m)
		if err != nil {
			continue
		}
		c.enqueueFrame(p)
	}
}

// enqueueFrame queues one payload as the next data frame.
func (c *conn) enqueueFrame(p []byte) {
	c.outq = append(c.outq, terminal.Frame{Type: terminal.TypeNormal, ID: c.nextID, Payload: p})
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
}

// sendHead (re)sends the head of the outbound queue.
func (c *conn) sendHead() error {
	if len(c.outq) == 0 || !c.connected {
		return nil
	}
	f := c.outq[0]
	if c.pendingAck != 0 {
		f.Ack, c.pendingAck = c.pendingAck, 0 // piggybacked
	}
	return c.write(f)
}

// write encodes f and writes it with the link faults applied.
func (c *conn) write(f terminal.Frame) error {
	s := c.s
	b, err := terminal.AppendFrame(nil, f, terminal.MaxPayload)
	if err != nil {
		return err
	}
	s.mu.Lock()
	fl := &s.faults
	if f.IsData() && fl.DropOut > 0 {
		fl.DropOut--
		s.mu.Unlock()
		return nil
	}
	if !f.IsHeartbeat() && fl.CorruptOut > 0 {
		fl.CorruptOut--
		if c.corruptETX {
			b[len(b)-1] ^= 0xFF
		} else {
			b[len(b)-3] ^= 0xFF
		}
		c.corruptETX = !c.corruptETX
	}
	if fl.Garbage > 0 {
		g := make([]byte, 0, fl.Garbage+10)
		for range fl.Garbage {
			x := byte(s.rnd.IntN(256))
			if x == 0x55 {
				x = 0x54 // a false frame start with a huge length would stall any reader
			}
			g = append(g, x)
		}
		// A short frame with a bad CRC: the reader must skip it.
		g = append(g, 0x55, 0xAA, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0xCC, 0x33)
		b = append(g, b...)
		fl.Garbage = 0
	}
	split, coalesce := fl.Split, fl.Coalesce
	var cuts []int
	if split {
		for i := 0; i < len(b); {
			n := 1 + s.rnd.IntN(8)
			i += n
			cuts = append(cuts, min(i, len(b)))
		}
	}
	s.mu.Unlock()
	if coalesce {
		c.coalesced = append(c.coalesced, b...)
		return nil
	}
	if split {
		prev := 0
		for _, cut := range cuts {
			if _, err := c.w.Write(b[prev:cut]); err != nil {
				return err
			}
			prev = cut
		}
		return nil
	}
	_, err = c.w.Write(b)
	return err
}

// flush writes frames held by the Coalesce fault in one write.
func (c *conn) flush() error {
	if len(c.coalesced) == 0 {
		return nil
	}
	b := c.coalesced
	c.coalesced = nil
	_, err := c.w.Write(b)
	return err
}

func (s *Sim) scriptLocked(no string) Script {
	sc, ok := s.scripts[no]
	if !ok {
		sc = s.def
	}
	if sc.Action == "" {
		sc.Action = Approve
	}
	return sc
}

func successCode(sc Script) string {
	if sc.SuccessCode != "" {
		return sc.SuccessCode
	}
	return terminal.CodeSuccess
}

func reply(req terminal.Message, code, msg string, biz terminal.BizData) terminal.Message {
	return terminal.Message{
		Topic: req.Topic, RequestID: req.RequestID, AppID: req.AppID,
		ResponseCode: code, ResponseMsg: msg, Biz: biz,
	}
}

func (t *Txn) biz() terminal.BizData {
	b := terminal.BizData{
		TransType: t.TransType, MerchantOrderNo: t.OrderNo, OrigMerchantNo: t.OrigNo,
		OrderAmount: t.Amount.Decimal(), PriceCurrency: t.Amount.Currency,
		TransStatus: t.Status, TransNo: t.TransNo,
	}
	if t.Status == "2" || t.Status == "3" {
		b.PayMethodID = "Visa"
		b.CardNo = "411111******1111"
	}
	if !t.CompletedAt.IsZero() {
		b.TransEndTime = t.CompletedAt.UTC().Format("2006-01-02 15:04:05")
	}
	return b
}

// request handles one business message and returns the responses to send
// and whether the CloseMidSale fault wants the link closed.
func (s *Sim) request(ctx context.Context, m terminal.Message) ([]terminal.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.completeDueLocked(ctx)
	switch m.Topic {
	case terminal.TopicOrder:
		s.sales[m.Biz.MerchantOrderNo]++
		r, closeLink := s.orderLocked(ctx, m)
		return append(out, r...), closeLink
	case terminal.TopicQuery:
		no := s.keyedNoLocked(m.Biz)
		t, ok := s.txns[no]
		if !ok || no == "" {
			return append(out, reply(m, terminal.CodeNotExist, "Transaction does not exist", s.keyedLocked(terminal.BizData{MerchantOrderNo: no}))), false
		}
		return append(out, reply(m, terminal.CodeSuccess, "", s.keyedLocked(t.biz()))), false
	case terminal.TopicClose:
		no := s.keyedNoLocked(m.Biz)
		t, ok := s.txns[no]
		bizNo := s.keyedLocked(terminal.BizData{MerchantOrderNo: no})
		switch {
		case !ok || no == "":
			return append(out, reply(m, terminal.CodeNotExist, "Transaction does not exist", bizNo)), false
		case s.pending != nil && s.pending.txn == t:
			t.Status, t.Code, t.CompletedAt = "1", terminal.CodeCanceled, s.clock.Now()
			s.pending = nil
			if !s.pers.SilentClose {
				orig := terminal.Message{Topic: terminal.TopicOrder, RequestID: t.RequestID, AppID: s.appIDLocked(t)}
				out = append(out, reply(orig, terminal.CodeCanceled, "Transaction cancellation", t.biz()))
			}
			return append(out, reply(m, terminal.CodeSuccess, "", bizNo)), false
		case t.Status == "1":
			return append(out, reply(m, terminal.CodeSuccess, "", bizNo)), false
		default:
			return append(out, reply(m, terminal.CodeCloseFailed, "Failed to close the transaction", bizNo)), false
		}
	}
	s.log.Info("unknown topic ignored", "topic", m.Topic)
	return out, false
}

// keyedNoLocked reads the order number of a close or query under the
// key(s) the personality reads.
func (s *Sim) keyedNoLocked(b terminal.BizData) string {
	switch s.pers.Keys {
	case KeysSnake:
		return b.MerchantOrderNo
	case KeysCamel:
		return b.MerchantOrderNoCamel
	}
	return b.OrderNo()
}

// keyedLocked moves the order number of a close or query answer to the
// camelCase key for a terminal that reads only that one.
func (s *Sim) keyedLocked(b terminal.BizData) terminal.BizData {
	if s.pers.Keys == KeysCamel {
		b.MerchantOrderNoCamel, b.MerchantOrderNo = b.MerchantOrderNo, ""
	}
	return b
}

// appIDLocked is the app_id echoed in the answer to t's request.
func (s *Sim) appIDLocked(t *Txn) string {
	if s.pers.NoAppID {
		return ""
	}
	return t.AppID
}

func (s *Sim) orderLocked(ctx context.Context, m terminal.Message) ([]terminal.Message, bool) {
	no := m.Biz.MerchantOrderNo
	bizNo := terminal.BizData{MerchantOrderNo: no, TransStatus: "1"}
	if s.pending != nil {
		return []terminal.Message{reply(m, terminal.CodeBusy, "Transaction in progress, try later", terminal.BizData{MerchantOrderNo: no})}, false
	}
	if _, ok := s.txns[no]; ok {
		return []terminal.Message{reply(m, terminal.CodeDuplicateNo, "Duplicate merchant order number", terminal.BizData{MerchantOrderNo: no})}, false
	}
	if _, err := posbridge.ParseOrderNo(no); err != nil {
		return []terminal.Message{reply(m, terminal.CodeBadParam, "Transaction parameter error[[M001]Invalid order number]", bizNo)}, false
	}
	cur := m.Biz.PriceCurrency
	if cur == "" {
		cur = s.cfg.Currency
	}
	amount, err := posbridge.ParseAmount(m.Biz.OrderAmount, cur)
	if m.Biz.TransType == terminal.TransVoid && m.Biz.OrderAmount == "" && !s.pers.VoidNeedsAmount {
		// CodePay's SDK sends a void without an amount: it voids the
		// original sale's amount (a missing original is refused below).
		amount, err = posbridge.Money{Currency: cur}, nil
		if o, ok := s.txns[m.Biz.OrigMerchantNo]; ok {
			amount = o.Amount
		}
	}
	if err != nil {
		return []terminal.Message{reply(m, terminal.CodeBadParam, "Transaction parameter error[[M003]Invalid Amount]", bizNo)}, false
	}
	s.seq++
	t := &Txn{
		OrderNo: no, OrigNo: m.Biz.OrigMerchantNo, TransType: m.Biz.TransType, Amount: amount,
		Status: "0", RequestID: m.RequestID, AppID: m.AppID,
		TransNo: fmt.Sprintf("50210000%014d", s.seq),
	}
	if t.TransType == "" {
		t.TransType = terminal.TransSale
	}
	switch t.TransType {
	case terminal.TransSale:
	case terminal.TransVoid, terminal.TransRefund:
		r := s.reverseLocked(ctx, m, t)
		if s.scriptLocked(no).LoseResponse {
			return nil, false // done (and recorded), answer lost
		}
		return []terminal.Message{r}, false
	default:
		return []terminal.Message{reply(m, "114", "Unsupported transaction type", bizNo)}, false
	}
	s.txns[no] = t
	sc := s.scriptLocked(no)
	if s.reportNew && s.cfg.Acquirer != nil {
		err := s.cfg.Acquirer.Record(ctx, posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), Kind: "sale", Amount: amount, Status: posbridge.GatewayCreated})
		if err != nil {
			s.log.Warn("acquirer created record", posbridge.LogKeyOrder, no, posbridge.LogKeyError, err)
		}
	}
	p := &pendingSale{txn: t, script: sc}
	if sc.Action != Never {
		p.completeAt = s.clock.Now().Add(sc.Delay)
	}
	s.pending = p
	closeLink := s.faults.CloseMidSale
	s.faults.CloseMidSale = false
	var out []terminal.Message
	if sc.Delay == 0 && !closeLink {
		out = s.completeDueLocked(ctx)
	}
	return out, closeLink
}

func (s *Sim) reverseLocked(ctx context.Context, m terminal.Message, t *Txn) terminal.Message {
	orig, ok := s.txns[t.OrigNo]
	if !ok || orig.Status != "2" || orig.TransType != terminal.TransSale {
		t.Status, t.Code = "1", "119"
		s.txns[t.OrderNo] = t
		return reply(m, "119", "Cannot void", t.biz())
	}
	kind := "refund"
	if t.TransType == terminal.TransVoid {
		kind = "void"
	}
	if s.cfg.Acquirer != nil {
		err := s.cfg.Acquirer.Record(ctx, posbridge.AcquirerRecord{
			OrderNo: posbridge.OrderNo(t.OrderNo), OrigNo: posbridge.OrderNo(orig.OrderNo),
			Kind: kind, Amount: t.Amount, Status: posbridge.GatewayPaid,
		})
		if err != nil {
			t.Status, t.Code = "1", "109"
			s.txns[t.OrderNo] = t
			return reply(m, "109", "Network anomaly", t.biz())
		}
	}
	t.Status, t.Code, t.CompletedAt = "2", terminal.CodeSuccess, s.clock.Now()
	if kind == "void" {
		orig.Status = "3"
	}
	s.txns[t.OrderNo] = t
	return reply(m, successCode(s.scriptLocked(t.OrderNo)), "SUCCESS", t.biz())
}

// completeDueLocked finishes the open sale when its time has come and
// returns the responses to send now.
func (s *Sim) completeDueLocked(ctx context.Context) []terminal.Message {
	p := s.pending
	if p == nil || p.completeAt.IsZero() || s.clock.Now().Before(p.completeAt) {
		return nil
	}
	s.pending = nil
	t, sc := p.txn, p.script
	t.CompletedAt = s.clock.Now()
	rec := posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(t.OrderNo), Kind: "sale", Amount: t.Amount}
	code, msg := "", ""
	switch sc.Action {
	case Approve:
		t.Status, code, msg = "2", successCode(sc), "SUCCESS"
		rec.Status = posbridge.GatewayPaid
		rec.Card = posbridge.Card{Brand: "Visa", Last4: "1111"}
	case Decline:
		t.Status, code, msg = "1", terminal.CodeDeclined, "Transaction reject"
		rec.Status = posbridge.GatewayFailed
	case Cancel:
		// Never reached the acquirer: nothing to report.
		t.Status, code, msg = "1", terminal.CodeUserCancel, "Operator cancellation[[K026]Manual cancelation by operator]"
	case ReadTimeout:
		t.Status, code, msg = "1", terminal.CodeReadTimeout, "Read card timeout"
	case DeclineCharged:
		// The terminal believes the sale failed; the acquirer took the money.
		t.Status, code, msg = "1", "106", "Transaction failed"
		rec.Status = posbridge.GatewayPaid
		rec.Card = posbridge.Card{Brand: "Visa", Last4: "1111"}
		if sc.AcquirerDelay == 0 {
			sc.AcquirerDelay = DefaultChargedDelay
		}
	}
	if sc.Code != "" {
		code = sc.Code
	}
	if rec.Status == posbridge.GatewayPaid {
		s.charges[t.OrderNo]++
	}
	switch {
	case rec.Status == "" || s.cfg.Acquirer == nil:
	case sc.AcquirerDelay > 0:
		// The terminal answers now; the acquirer reports later.
		s.recordLater(rec, sc.AcquirerDelay)
	default:
		// The acquirer learns of the money before the ECR does, so a lost
		// response still leaves the payment on record.
		if err := s.cfg.Acquirer.Record(ctx, rec); err != nil {
			s.log.Warn("acquirer record", posbridge.LogKeyOrder, t.OrderNo, posbridge.LogKeyError, err)
			t.Status, code, msg = "1", "109", "Network anomaly"
			if rec.Status == posbridge.GatewayPaid {
				s.charges[t.OrderNo]--
			}
		}
	}
	t.Code = code
	req := terminal.Message{Topic: terminal.TopicOrder, RequestID: t.RequestID, AppID: s.appIDLocked(t)}
	r := reply(req, code, msg, t.biz())
	n := 1
	if sc.Twice {
		n = 2
	}
	var out []terminal.Message
	for range n {
		out = append(out, r)
	}
	switch {
	case sc.LoseResponse:
		return nil
	case sc.AfterReconnect:
		s.held = append(s.held, out...)
		return nil
	}
	return out
}

// String describes a txn for logs and test failures.
func (t Txn) String() string {
	return "txn " + t.OrderNo + " type " + t.TransType + " status " + t.Status + " code " + t.Code + " amount " + t.Amount.String() + " no " + strconv.Quote(t.TransNo)
}
