package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// The store's own JSON form of orders and refunds, used for event snapshots
// and the override column. It is separate from the API's form so that the
// API may change without touching stored history; times are Unix
// milliseconds like every time column, money is minor units and currency.

type moneyDoc struct {
	Minor    int64  `json:"minor"`
	Currency string `json:"currency"`
}

type overrideDoc struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
	At     *int64 `json:"at,omitempty"`
}

type orderDoc struct {
	No              string       `json:"order_no"`
	Lane            string       `json:"lane"`
	Amount          moneyDoc     `json:"amount"`
	Reference       string       `json:"reference,omitempty"`
	Status          string       `json:"status"`
	Reason          string       `json:"reason,omitempty"`
	TerminalOutcome string       `json:"terminal_outcome,omitempty"`
	NeedsAttention  bool         `json:"needs_attention,omitempty"`
	Attention       string       `json:"attention,omitempty"`
	Checks          int          `json:"checks,omitempty"`
	NextCheckAt     *int64       `json:"next_check_at,omitempty"`
	VerifyUntil     *int64       `json:"verify_until,omitempty"`
	CreatedAt       *int64       `json:"created_at,omitempty"`
	UpdatedAt       *int64       `json:"updated_at,omitempty"`
	PaidAt          *int64       `json:"paid_at,omitempty"`
	CardBrand       string       `json:"card_brand,omitempty"`
	CardLast4       string       `json:"card_last4,omitempty"`
	Refunded        moneyDoc     `json:"refunded"`
	GatewayNo       string       `json:"gateway_no,omitempty"`
	TerminalNo      string       `json:"terminal_no,omitempty"`
	IdempotencyKey  string       `json:"idempotency_key,omitempty"`
	RequestHash     string       `json:"request_hash,omitempty"`
	Attempts        int          `json:"attempts,omitempty"`
	ScheduledChecks int          `json:"scheduled_checks,omitempty"`
	Override        *overrideDoc `json:"override,omitempty"`
	Version         int64        `json:"version"`

	PaymentURL       string `json:"payment_url,omitempty"`
	PaymentExpiresAt *int64 `json:"payment_expires_at,omitempty"`
}

type refundDoc struct {
	No        string   `json:"refund_no"`
	OrderNo   string   `json:"order_no"`
	Amount    moneyDoc `json:"amount"`
	Status    string   `json:"status"`
	Reason    string   `json:"reason,omitempty"`
	GatewayNo string   `json:"gateway_no,omitempty"`
	Actor     string   `json:"actor,omitempty"`
	CreatedAt *int64   `json:"created_at,omitempty"`
	UpdatedAt *int64   `json:"updated_at,omitempty"`
	Version   int64    `json:"version"`

	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
	// Method is absent from snapshots written before migration 0008: those
	// refunds were all made through the gateway.
	Method string `json:"method,omitempty"`
}

func docMillis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func docTime(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return time.UnixMilli(*ms).UTC()
}

func encodeOverride(o *posbridge.Override) *overrideDoc {
	if o == nil {
		return nil
	}
	return &overrideDoc{By: o.By, Reason: o.Reason, At: docMillis(o.At)}
}

func decodeOverride(d *overrideDoc) *posbridge.Override {
	if d == nil {
		return nil
	}
	return &posbridge.Override{By: d.By, Reason: d.Reason, At: docTime(d.At)}
}

func encodeOrder(o *posbridge.Order) ([]byte, error) {
	d := orderDoc{
		No: string(o.No), Lane: o.Lane, Amount: moneyDoc(o.Amount), Reference: o.Reference,
		Status: string(o.Status), Reason: string(o.Reason), TerminalOutcome: string(o.TerminalOutcome),
		NeedsAttention: o.NeedsAttention, Attention: o.Attention, Checks: o.Checks,
		NextCheckAt: docMillis(o.NextCheckAt), VerifyUntil: docMillis(o.VerifyUntil),
		CreatedAt: docMillis(o.CreatedAt), UpdatedAt: docMillis(o.UpdatedAt), PaidAt: docMillis(o.PaidAt),
		CardBrand: o.Card.Brand, CardLast4: o.Card.Last4, Refunded: moneyDoc(o.Refunded),
		GatewayNo: o.GatewayNo, TerminalNo: o.TerminalNo, IdempotencyKey: o.IdempotencyKey,
		RequestHash: o.RequestHash, Attempts: o.Attempts, ScheduledChecks: o.ScheduledChecks, Override: encodeOverride(o.Override),
		Version: o.Version, PaymentURL: o.PaymentURL, PaymentExpiresAt: docMillis(o.PaymentExpiresAt),
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", o.No, err)
	}
	return b, nil
}

func decodeOrder(b []byte) (*posbridge.Order, error) {
	var d orderDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode order snapshot: %w", err)
	}
	return &posbridge.Order{
		No: posbridge.OrderNo(d.No), Lane: d.Lane, Amount: posbridge.Money(d.Amount), Reference: d.Reference,
		Status: posbridge.Status(d.Status), Reason: posbridge.Reason(d.Reason),
		TerminalOutcome: posbridge.Outcome(d.TerminalOutcome), NeedsAttention: d.NeedsAttention,
		Attention: d.Attention, Checks: d.Checks, NextCheckAt: docTime(d.NextCheckAt),
		VerifyUntil: docTime(d.VerifyUntil), CreatedAt: docTime(d.CreatedAt), UpdatedAt: docTime(d.UpdatedAt),
		PaidAt: docTime(d.PaidAt), Card: posbridge.Card{Brand: d.CardBrand, Last4: d.CardLast4},
		Refunded: posbridge.Money(d.Refunded), GatewayNo: d.GatewayNo, TerminalNo: d.TerminalNo,
		IdempotencyKey: d.IdempotencyKey, RequestHash: d.RequestHash, Attempts: d.Attempts, ScheduledChecks: d.ScheduledChecks,
		Override: decodeOverride(d.Override), Version: d.Version,
		PaymentURL: d.PaymentURL, PaymentExpiresAt: docTime(d.PaymentExpiresAt),
	}, nil
}

func encodeRefund(r *posbridge.Refund) ([]byte, error) {
	d := refundDoc{
		No: string(r.No), OrderNo: string(r.OrderNo), Amount: moneyDoc(r.Amount), Status: string(r.Status),
		Reason: r.Reason, GatewayNo: r.GatewayNo, Actor: r.Actor,
		CreatedAt: docMillis(r.CreatedAt), UpdatedAt: docMillis(r.UpdatedAt), Version: r.Version,
		IdempotencyKey: r.IdempotencyKey, RequestHash: r.RequestHash, Method: string(r.Method),
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode refund %s: %w", r.No, err)
	}
	return b, nil
}

func decodeRefund(b []byte) (*posbridge.Refund, error) {
	var d refundDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode refund snapshot: %w", err)
	}
	r := &posbridge.Refund{
		No: posbridge.OrderNo(d.No), OrderNo: posbridge.OrderNo(d.OrderNo), Amount: posbridge.Money(d.Amount),
		Status: posbridge.RefundStatus(d.Status), Reason: d.Reason, GatewayNo: d.GatewayNo, Actor: d.Actor,
		CreatedAt: docTime(d.CreatedAt), UpdatedAt: docTime(d.UpdatedAt), Version: d.Version,
		IdempotencyKey: d.IdempotencyKey, RequestHash: d.RequestHash, Method: posbridge.RefundMethod(d.Method),
	}
	if r.Method == "" {
		r.Method = posbridge.RefundViaGateway
	}
	return r, nil
}

// Time columns: INTEGER Unix milliseconds, NULL for the zero time.

func millis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// norm is what a stored time reads back as: UTC, to the millisecond, without
// a monotonic reading. Values are normalised before they are written so that
// the caller's copy, the row and the event snapshot are equal.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func normOrder(o *posbridge.Order) {
	o.NextCheckAt = norm(o.NextCheckAt)
	o.VerifyUntil = norm(o.VerifyUntil)
	o.CreatedAt = norm(o.CreatedAt)
	o.UpdatedAt = norm(o.UpdatedAt)
	o.PaidAt = norm(o.PaidAt)
	o.PaymentExpiresAt = norm(o.PaymentExpiresAt)
	if o.Override != nil {
		ov := *o.Override
		ov.At = norm(ov.At)
		o.Override = &ov
	}
}
