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
	"log/slog"
	"math/rand/v2"
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
