package payprotocol

// Pay Protocol's JSON, as far as research/gateway-api.md §3 and the
// published create-payment-order page go: requests to createPaymentOrder
// carry chainId, description, outTradeNo, isLegalTender, quoteCurrencySymbol,
// quoteAmount, notifyUrl and redirectionUrl; every answer is
// {code, msg, description, data}, code 200 (or 0) on success, and
// createPaymentOrder's data holds outPaymentNo, paymentUrl,
// userWalletAddress and saltHash. The status words are the documented ones
// (paymentStatus paid, partially paid, payment failed; refundStatus
// success, failure, rejected).
//
// Not published, so assumed (and what the in-repo sandbox serves):
// /payment/detail and both /notify calls are GETs with the merchant number
// in the query (outTradeNo, outRefundNo), signed with the query in
// requestPath; the received amount is paidAmount; the refund fields are
// outRefundNo, refundNo, refundAmount and reason; expireTime is Unix
// seconds; the unpaid words are unpaid, paying, pending and created; a
// callback is the same object as the detail's data.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// Answer codes. Pay Protocol publishes HTTP-like codes (200, 401, 403, 404);
// these are the ones posbridge gives a meaning, and what the sandbox
// answers. Any other code on a mutation is an unknown outcome.
const (
	CodeOK         = 200
	CodeOKZero     = 0 // the schema's example code; also success
	CodeBadRequest = 400
	CodeAuth       = 401 // bad signature, stale timestamp, unknown key: nothing done
	CodeForbidden  = 403
	CodeNotFound   = 404
	CodeConflict   = 409 // outTradeNo or outRefundNo reused with other parameters
	CodeRefundOver = 422 // refund over what is left, or of an unpaid order
	CodeBusy       = 429
	CodeSystem     = 500
	CodeNoService  = 503
)

// Payment statuses (paymentStatus).
const (
	StatusUnpaid        = "unpaid"
	StatusPaid          = "paid"
	StatusPartiallyPaid = "partially paid"
	StatusFailed        = "payment failed"
)

// Refund statuses (refundStatus). A refund waits in StatusRefundPending
// until the merchant approves it in the back office and transfers the money.
const (
	StatusRefundPending  = "pending"
	StatusRefundSuccess  = "success"
	StatusRefundFailure  = "failure"
	StatusRefundRejected = "rejected"
)

// Envelope is every answer.
type Envelope struct {
	Code        int             `json:"code"`
	Msg         string          `json:"msg"`
	Description string          `json:"description,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
}

// OK reports whether the answer is a success.
func (e Envelope) OK() bool { return e.Code == CodeOK || e.Code == CodeOKZero }

// CreatePayment is createPaymentOrder's body.
type CreatePayment struct {
	ChainID             int         `json:"chainId"`
	Description         string      `json:"description"`
	OutTradeNo          string      `json:"outTradeNo"`
	IsLegalTender       int         `json:"isLegalTender"`
	QuoteCurrencySymbol string      `json:"quoteCurrencySymbol"`
	QuoteAmount         json.Number `json:"quoteAmount"`
	NotifyURL           string      `json:"notifyUrl,omitempty"`
	RedirectionURL      string      `json:"redirectionUrl,omitempty"`
	ExpireTime          int64       `json:"expireTime,omitempty"` // Unix seconds (assumed)
}

// Created is createPaymentOrder's data.
type Created struct {
	OutPaymentNo      string `json:"outPaymentNo"`
	PaymentURL        string `json:"paymentUrl"`
	UserWalletAddress string `json:"userWalletAddress,omitempty"`
	SaltHash          string `json:"saltHash,omitempty"`
	ExpireTime        int64  `json:"expireTime,omitempty"`
}

// Payment is a payment order as /payment/detail and the callbacks carry it.
type Payment struct {
	OutTradeNo          string          `json:"outTradeNo"`
	OutPaymentNo        string          `json:"outPaymentNo"`
	PaymentStatus       string          `json:"paymentStatus"`
	QuoteCurrencySymbol string          `json:"quoteCurrencySymbol"`
	QuoteAmount         json.RawMessage `json:"quoteAmount"`
	PaidAmount          json.RawMessage `json:"paidAmount,omitempty"`
	PaymentTime         int64           `json:"paymentTime,omitempty"` // Unix seconds
	ExpireTime          int64           `json:"expireTime,omitempty"`
}

// CreateRefund is /refund/createRefundOrder's body.
type CreateRefund struct {
	OutTradeNo   string      `json:"outTradeNo"`
	OutRefundNo  string      `json:"outRefundNo"`
	RefundAmount json.Number `json:"refundAmount"`
	Reason       string      `json:"reason,omitempty"`
	NotifyURL    string      `json:"notifyUrl,omitempty"`
}

// RefundOrder is a refund as /refund/detail and the callbacks carry it.
type RefundOrder struct {
	OutRefundNo         string          `json:"outRefundNo"`
	OutTradeNo          string          `json:"outTradeNo"`
	RefundNo            string          `json:"refundNo"`
	RefundStatus        string          `json:"refundStatus"`
	QuoteCurrencySymbol string          `json:"quoteCurrencySymbol"`
	RefundAmount        json.RawMessage `json:"refundAmount"`
	Reason              string          `json:"reason,omitempty"`
}

// ValidOrderNo reports whether s can be a merchant number (outTradeNo,
// outRefundNo): 1 to 64 of [A-Za-z0-9_-].
func ValidOrderNo(s string) bool { return gateway.ValidMerchantNo(s, 64) }

// paymentStatus maps paymentStatus to posbridge's vocabulary; an unknown
// word is an error (the caller cannot know what happened).
func paymentStatus(s string) (posbridge.GatewayStatus, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case StatusPaid:
		return posbridge.GatewayPaid, nil
	case StatusPartiallyPaid, "partially_paid", "partial":
		return posbridge.GatewayPartiallyPaid, nil
	case StatusFailed, "payment_failed", "failed", "expired", "closed", "canceled", "cancelled":
		return posbridge.GatewayFailed, nil
	case StatusUnpaid, "paying", "pending", "created", "waiting":
		return posbridge.GatewayCreated, nil
	}
	return "", fmt.Errorf("unknown paymentStatus %q", s)
}

// refundStatus maps refundStatus; rejected (in the merchant back office) is
// a failure with its own message.
func refundStatus(s string) (posbridge.GatewayRefundStatus, string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case StatusRefundSuccess:
		return posbridge.GatewayRefundSuccess, "", nil
	case StatusRefundFailure, "failed":
		return posbridge.GatewayRefundFailed, "refund failed at Pay Protocol", nil
	case StatusRefundRejected:
		return posbridge.GatewayRefundFailed, "refund rejected in the Pay Protocol merchant back office", nil
	case StatusRefundPending, "auditing", "approved", "processing", "created":
		return posbridge.GatewayRefundCreated, "", nil
	}
	return "", "", fmt.Errorf("unknown refundStatus %q", s)
}

// Order converts a payment; a missing number, an unknown status or a bad
// amount is an error.
func (p Payment) Order() (posbridge.GatewayOrder, error) {
	if !ValidOrderNo(p.OutTradeNo) {
		return posbridge.GatewayOrder{}, fmt.Errorf("outTradeNo %q", p.OutTradeNo)
	}
	st, err := paymentStatus(p.PaymentStatus)
	if err != nil {
		return posbridge.GatewayOrder{}, err
	}
	cur := strings.ToUpper(strings.TrimSpace(p.QuoteCurrencySymbol))
	if _, ok := posbridge.CurrencyExponent(cur); !ok {
		return posbridge.GatewayOrder{}, fmt.Errorf("quoteCurrencySymbol %q", p.QuoteCurrencySymbol)
	}
	amount, err := posbridge.ParseMoneyJSON(p.QuoteAmount, cur)
	if err != nil {
		return posbridge.GatewayOrder{}, fmt.Errorf("quoteAmount: %w", err)
	}
	g := posbridge.GatewayOrder{OrderNo: posbridge.OrderNo(p.OutTradeNo), GatewayNo: p.OutPaymentNo, Status: st, Amount: amount}
	if len(bytes.TrimSpace(p.PaidAmount)) > 0 && string(bytes.TrimSpace(p.PaidAmount)) != "null" {
		if g.Received, err = posbridge.ParseMoneyJSON(p.PaidAmount, cur); err != nil {
			return posbridge.GatewayOrder{}, fmt.Errorf("paidAmount: %w", err)
		}
	}
	if st == posbridge.GatewayPartiallyPaid && g.Received.Minor >= amount.Minor {
		// "Partially" with the full amount received is self-contradictory:
		// trust neither reading.
		return posbridge.GatewayOrder{}, fmt.Errorf("partially paid with paidAmount %s of %s", g.Received, amount)
	}
	if st.Paid() && p.PaymentTime > 0 {
		g.PaidAt = time.Unix(p.PaymentTime, 0)
	}
	return g, nil
}

// Refund converts a refund.
func (r RefundOrder) Refund() (posbridge.GatewayRefund, error) {
	if !ValidOrderNo(r.OutRefundNo) {
		return posbridge.GatewayRefund{}, fmt.Errorf("outRefundNo %q", r.OutRefundNo)
	}
	if !ValidOrderNo(r.OutTradeNo) {
		return posbridge.GatewayRefund{}, fmt.Errorf("outTradeNo %q", r.OutTradeNo)
	}
	st, msg, err := refundStatus(r.RefundStatus)
	if err != nil {
		return posbridge.GatewayRefund{}, err
	}
	cur := strings.ToUpper(strings.TrimSpace(r.QuoteCurrencySymbol))
	if _, ok := posbridge.CurrencyExponent(cur); !ok {
		return posbridge.GatewayRefund{}, fmt.Errorf("quoteCurrencySymbol %q", r.QuoteCurrencySymbol)
	}
	amount, err := posbridge.ParseMoneyJSON(r.RefundAmount, cur)
	if err != nil {
		return posbridge.GatewayRefund{}, fmt.Errorf("refundAmount: %w", err)
	}
	return posbridge.GatewayRefund{RefundNo: posbridge.OrderNo(r.OutRefundNo), OrderNo: posbridge.OrderNo(r.OutTradeNo),
		GatewayNo: r.RefundNo, Status: st, Amount: amount, FailMsg: msg}, nil
}

// decodeStrict decodes one JSON object into v, refusing trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// amountNumber is m as a JSON number with exactly its decimals.
func amountNumber(m posbridge.Money) json.Number { return json.Number(m.Decimal()) }

// unixOrZero is t in Unix seconds, or 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
