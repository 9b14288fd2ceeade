package codepay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// Transaction statuses (trans_status, research §2.6).
const (
	TransCreated   = 9 // created, queued or shown on the terminal; can still be closed
	TransPaying    = 0 // paying or refunding, in progress
	TransClosed    = 1 // closed or failed (trans_error_code/msg say why)
	TransSuccess   = 2 // successful
	TransCancelled = 3 // cancelled: voided or revoked
)

// Transaction types (trans_type).
const (
	TransTypeSale   = 1
	TransTypeVoid   = 2
	TransTypeRefund = 3
)

// TimeLayout is how CodePay writes times inside payloads (UTC).
const TimeLayout = "2006-01-02 15:04:05"

// flexText reads a JSON string or number as its text; null reads as "".
type flexText string

func (f *flexText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or number: %w", err)
	}
	*f = flexText(n)
	return nil
}

// Trans is a CodePay transaction as order.query, order.refund.query and the
// notifications report it (research §2.6), as far as posbridge reads it.
// Status and amounts are read from numbers or strings.
type Trans struct {
	TransNo              flexText        `json:"trans_no"`
	TransType            flexText        `json:"trans_type"`
	TransStatus          flexText        `json:"trans_status"`
	MerchantOrderNo      string          `json:"merchant_order_no"`
	OrigMerchantOrderNo  string          `json:"orig_merchant_order_no"`
	OrigTransNo          flexText        `json:"orig_trans_no"`
	PriceCurrency        string          `json:"price_currency"`
	OrderAmount          json.RawMessage `json:"order_amount"`
	TransAmount          json.RawMessage `json:"trans_amount"`
	TransEndTime         string          `json:"trans_end_time"`
	PayMethodID          string          `json:"pay_method_id"`
	PayUserAccountID     string          `json:"pay_user_account_id"`
	TransErrorCode       flexText        `json:"trans_error_code"`
	TransErrorMsg        string          `json:"trans_error_msg"`
	TerminalSN           string          `json:"terminal_sn"`
	TerminalOnlineStatus flexText        `json:"terminal_online_status"`
	MessageID            flexText        `json:"message_id"`
}

// Status returns trans_status as an integer (9, 0, 1, 2 or 3).
func (t *Trans) Status() (int, error) {
	s := strings.TrimSpace(string(t.TransStatus))
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("trans_status %q: not an integer", s)
	}
	switch n {
	case TransCreated, TransPaying, TransClosed, TransSuccess, TransCancelled:
		return n, nil
	}
	return 0, fmt.Errorf("trans_status %d: unknown", n)
}

// GatewayStatus maps a trans_status to posbridge's view of a sale: 9 and 0
// are not final (created), 2 is paid, 1 failed, and 3 failed and revoked (a
// void or revoke reversed it).
func GatewayStatus(status int) (posbridge.GatewayStatus, bool) {
	switch status {
	case TransCreated, TransPaying:
		return posbridge.GatewayCreated, false
	case TransSuccess:
		return posbridge.GatewayPaid, false
	case TransClosed:
		return posbridge.GatewayFailed, false
	case TransCancelled:
		return posbridge.GatewayFailed, true
	}
	return "", false
}

// RefundStatus maps a refund transaction's trans_status to posbridge's view.
func RefundStatus(status int) posbridge.GatewayRefundStatus {
	switch status {
	case TransSuccess:
		return posbridge.GatewayRefundSuccess
	case TransClosed, TransCancelled:
		return posbridge.GatewayRefundFailed
	}
	return posbridge.GatewayRefundCreated
}

// amount reads order_amount (or trans_amount when it is absent) in
// price_currency, number or string, exactly.
func (t *Trans) amount(raw json.RawMessage) (posbridge.Money, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return posbridge.Money{}, fmt.Errorf("amount missing")
	}
	return posbridge.ParseMoneyJSON(raw, t.PriceCurrency)
}

// Order converts a sale transaction to posbridge's view. It fails on an
// unknown status, a missing or unreadable amount, or a bad merchant order
// number.
func (t *Trans) Order() (posbridge.GatewayOrder, error) {
	st, err := t.Status()
	if err != nil {
		return posbridge.GatewayOrder{}, err
	}
	if !ValidOrderNo(t.MerchantOrderNo) {
		return posbridge.GatewayOrder{}, fmt.Errorf("merchant_order_no %q", t.MerchantOrderNo)
	}
	raw := t.OrderAmount
	if len(raw) == 0 {
		raw = t.TransAmount
	}
	amount, err := t.amount(raw)
	if err != nil {
		return posbridge.GatewayOrder{}, fmt.Errorf("order_amount: %w", err)
	}
	status, revoked := GatewayStatus(st)
	g := posbridge.GatewayOrder{
		OrderNo:   posbridge.OrderNo(t.MerchantOrderNo),
		GatewayNo: string(t.TransNo),
		Status:    status,
		Revoked:   revoked,
		Amount:    amount,
		FailCode:  string(t.TransErrorCode),
		FailMsg:   t.TransErrorMsg,
	}
	if st == TransSuccess || st == TransCancelled {
		// A bad time must not hide a payment; it only loses the time.
		if at, err := time.Parse(TimeLayout, t.TransEndTime); err == nil {
			g.PaidAt = at.UTC()
		}
		g.Card = t.card()
	}
	return g, nil
}

// Refund converts a refund transaction to posbridge's view.
func (t *Trans) Refund() (posbridge.GatewayRefund, error) {
	st, err := t.Status()
	if err != nil {
		return posbridge.GatewayRefund{}, err
	}
	if !ValidOrderNo(t.MerchantOrderNo) {
		return posbridge.GatewayRefund{}, fmt.Errorf("merchant_order_no %q", t.MerchantOrderNo)
	}
	raw := t.TransAmount
	if len(raw) == 0 {
		raw = t.OrderAmount
	}
	amount, err := t.amount(raw)
	if err != nil {
		return posbridge.GatewayRefund{}, fmt.Errorf("trans_amount: %w", err)
	}
	msg := t.TransErrorMsg
	if msg == "" {
		msg = string(t.TransErrorCode)
	}
	return posbridge.GatewayRefund{
		RefundNo:  posbridge.OrderNo(t.MerchantOrderNo),
		OrderNo:   posbridge.OrderNo(t.OrigMerchantOrderNo),
		GatewayNo: string(t.TransNo),
		Status:    RefundStatus(st),
		Amount:    amount,
		FailMsg:   msg,
	}, nil
}

// card keeps the brand (pay_method_id) and the last four digits of the
// masked account; nothing else of a card is ever kept.
func (t *Trans) card() posbridge.Card {
	return gateway.Card(t.PayMethodID, t.PayUserAccountID)
}

// ValidOrderNo reports whether s follows CodePay's rule for merchant order
// numbers as posbridge uses them: 1 to 32 letters, digits, "-" and "_".
func ValidOrderNo(s string) bool { return gateway.ValidMerchantNo(s, 32) }

// DecodeData reads a response's data field, which CodePay sends as a JSON
// string holding an object (research §2.4); an object is accepted too.
func DecodeData(raw json.RawMessage, out any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return fmt.Errorf("data missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		raw = json.RawMessage(s)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("data: want an object")
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
