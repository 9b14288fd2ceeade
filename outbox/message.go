package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// SchemaVersion is the version of Message written by this posbridge. A
// change that a consumer could misread (a field renamed, retyped or given a
// new meaning) takes a new version; new optional fields do not.
const SchemaVersion = 1

// MaxMessageSize bounds what Decode accepts: a message is one order snapshot,
// well under a kilobyte.
const MaxMessageSize = 64 << 10

// Message is one event as head office receives it, JSON in the body of a
// JetStream message on Subject(prefix, merchant, store, till, type). Times are
// RFC 3339 UTC, money is integer minor units beside an ISO 4217 currency. A
// card is only its brand and last four digits.
type Message struct {
	// Schema is SchemaVersion; a consumer refuses versions it does not know.
	Schema int `json:"schema"`
	// ID is "<till>:<seq>", also the Nats-Msg-Id header: unique per till and
	// stable across retries.
	ID       string `json:"id"`
	Merchant string `json:"merchant"`
	Store    string `json:"store"`
	Till     string `json:"till"`
	// Seq is the till's event number: 1, 2, 3, ... without gaps. Events
	// older than the till's max_backlog may be missing after a long outage.
	Seq  int64     `json:"seq"`
	Type string    `json:"type"` // "payment" or "refund"
	At   time.Time `json:"at"`
	// Order is the order after the change (set for both types).
	Order *OrderDoc `json:"order,omitempty"`
	// Refund is the refund after the change (type "refund" only).
	Refund *RefundDoc `json:"refund,omitempty"`
	// Till is the till's own state (type "status" only): sent every
	// StatusEvery while connected, without a Nats-Msg-Id; the newest At wins.
	Status *StatusDoc `json:"status,omitempty"`
}

// TypeStatus is the Type of a till's periodic status message.
const TypeStatus = "status"

// StatusDoc is a till's state in a "status" message.
type StatusDoc struct {
	// Backlog is how many events waited in the outbox when it was sent;
	// OldestUnshipped the oldest one's time (absent when none).
	Backlog         int64      `json:"backlog"`
	OldestUnshipped *time.Time `json:"oldest_unshipped,omitempty"`
	// LastSeq is the till's last shipped event seq.
	LastSeq int64     `json:"last_seq"`
	Lanes   []LaneDoc `json:"lanes"`
}

// LaneDoc is one lane's terminal link: "up", "handshaking" or "down".
type LaneDoc struct {
	ID   string `json:"id"`
	Link string `json:"link"`
}

// OrderDoc is an order's state in a Message. Version grows by one with every
// change of the order: a consumer keeps the highest it has seen.
type OrderDoc struct {
	No             string     `json:"order_no"`
	Lane           string     `json:"lane"`
	AmountMinor    int64      `json:"amount_minor"`
	Currency       string     `json:"currency"`
	Reference      string     `json:"reference,omitempty"`
	Status         string     `json:"status"`
	Reason         string     `json:"reason,omitempty"`
	NeedsAttention bool       `json:"needs_attention"`
	Attention      string     `json:"attention,omitempty"`
	CardBrand      string     `json:"card_brand,omitempty"`
	CardLast4      string     `json:"card_last4,omitempty"`
	RefundedMinor  int64      `json:"refunded_minor"`
	GatewayNo      string     `json:"gateway_no,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	PaidAt         *time.Time `json:"paid_at,omitempty"`
	Version        int64      `json:"version"`
}

// RefundDoc is a refund's state in a Message; Version as in OrderDoc.
type RefundDoc struct {
	No          string    `json:"refund_no"`
	OrderNo     string    `json:"order_no"`
	AmountMinor int64     `json:"amount_minor"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	GatewayNo   string    `json:"gateway_no,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

// Identity names a till in the chain: the subject's merchant, store and till
// tokens.
type Identity struct {
	Merchant, Store, Till string
}

// Validate refuses a token that is empty or that a NATS subject cannot
// carry (a dot, a wildcard, white space).
func (id Identity) Validate() error {
	for _, f := range []struct{ name, v string }{{"merchant", id.Merchant}, {"store", id.Store}, {"till", id.Till}} {
		if err := checkToken(f.v); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// ErrBadToken is wrapped by Identity.Validate and CheckPrefix.
var ErrBadToken = errors.New("not a NATS subject token")

func checkToken(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadToken)
	}
	if strings.ContainsAny(s, ".*> \t\r\n") {
		return fmt.Errorf("%w: %q has a '.', '*', '>' or white space", ErrBadToken, s)
	}
	return nil
}

// CheckPrefix refuses a subject prefix that is empty, has wildcards or
// white space, or an empty token ("a..b").
func CheckPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty prefix", ErrBadToken)
	}
	for _, t := range strings.Split(p, ".") {
		if err := checkToken(t); err != nil {
			return err
		}
	}
	return nil
}

// Subject is where an event of type typ from till id is published:
// "<prefix>.<merchant>.<store>.<till>.<type>".
func Subject(prefix string, id Identity, typ string) string {
	return prefix + "." + id.Merchant + "." + id.Store + "." + id.Till + "." + typ
}

// StatusID is the id of a till's status message: "<till>:status".
func StatusID(till string) string { return till + ":status" }

// MsgID is the stable id of a till's event: "<till>:<seq>".
func MsgID(till string, seq int64) string { return till + ":" + strconv.FormatInt(seq, 10) }

// NewMessage converts a stored event of till id into its Message. Lane
// events are not stored and have no Message.
func NewMessage(id Identity, e posbridge.Event) (Message, error) {
	if e.Type != posbridge.EventPayment && e.Type != posbridge.EventRefund {
		return Message{}, fmt.Errorf("event %d: type %q is not shipped", e.Seq, e.Type)
	}
	if e.Payment == nil {
		return Message{}, fmt.Errorf("event %d: no order snapshot", e.Seq)
	}
	m := Message{
		Schema: SchemaVersion, ID: MsgID(id.Till, e.Seq),
		Merchant: id.Merchant, Store: id.Store, Till: id.Till,
		Seq: e.Seq, Type: string(e.Type), At: e.At.UTC(),
	}
	o := e.Payment
	m.Order = &OrderDoc{
		No: string(o.No), Lane: o.Lane, AmountMinor: o.Amount.Minor, Currency: o.Amount.Currency,
		Reference: o.Reference, Status: string(o.Status), Reason: string(o.Reason),
		NeedsAttention: o.NeedsAttention, Attention: o.Attention,
		CardBrand: o.Card.Brand, CardLast4: o.Card.Last4, RefundedMinor: o.Refunded.Minor,
		GatewayNo: o.GatewayNo, CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(), Version: o.Version,
	}
	if !o.PaidAt.IsZero() {
		t := o.PaidAt.UTC()
		m.Order.PaidAt = &t
	}
	if r := e.Refund; r != nil {
		m.Refund = &RefundDoc{
			No: string(r.No), OrderNo: string(r.OrderNo), AmountMinor: r.Amount.Minor, Currency: r.Amount.Currency,
			Status: string(r.Status), Reason: r.Reason, GatewayNo: r.GatewayNo,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Version: r.Version,
		}
	}
	return m, nil
}

// ErrSchema is wrapped by Decode for a message of a schema version this
// posbridge does not know.
var ErrSchema = errors.New("unknown message schema")

// Decode parses and checks a Message from outside (the consumer's side). It
// refuses oversized bodies, unknown fields' absence of the required ones, a
// schema version other than SchemaVersion, an id that is not "<till>:<seq>",
// and an event without its order; a status message has only its status.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return Message{}, fmt.Errorf("message of %d bytes exceeds %d", len(b), MaxMessageSize)
	}
	var m Message
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	if dec.More() {
		return Message{}, errors.New("decode message: trailing data")
	}
	if m.Schema != SchemaVersion {
		return Message{}, fmt.Errorf("%w: %d (this posbridge reads %d)", ErrSchema, m.Schema, SchemaVersion)
	}
	if err := (Identity{m.Merchant, m.Store, m.Till}).Validate(); err != nil {
		return Message{}, fmt.Errorf("message %q: %w", m.ID, err)
	}
	if m.Type == TypeStatus {
		if m.ID != StatusID(m.Till) || m.Seq != 0 || m.Status == nil || m.Order != nil || m.Refund != nil {
			return Message{}, fmt.Errorf("message %q: a status message has id till:status and only its status", m.ID)
		}
		return m, nil
	}
	if m.Seq <= 0 || m.ID != MsgID(m.Till, m.Seq) {
		return Message{}, fmt.Errorf("message %q: id is not till:seq (%s:%d)", m.ID, m.Till, m.Seq)
	}
	switch m.Type {
	case string(posbridge.EventPayment):
	case string(posbridge.EventRefund):
		if m.Refund == nil || m.Refund.No == "" || m.Refund.Version <= 0 {
			return Message{}, fmt.Errorf("message %s: refund event without its refund", m.ID)
		}
	default:
		return Message{}, fmt.Errorf("message %s: unknown type %q", m.ID, m.Type)
	}
	if m.Order == nil || m.Order.No == "" || m.Order.Version <= 0 {
		return Message{}, fmt.Errorf("message %s: no order", m.ID)
	}
	return m, nil
}
