package codepay

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/posbridge/posbridge"
)

// MethodBatchClose settles one terminal's batch (research §2.5: merchant_no,
// terminal_sn). After it the batch's sales can only be refunded.
const MethodBatchClose = "batch.close"

var _ posbridge.Settler = (*Client)(nil)

// batchAnswer is batch.close's data. The research gives no answer fields;
// these are the totals the sandbox answers (gateway/sandbox/batch.go), read
// when present: a real answer without them is a settlement with unknown
// (zero) totals, still recorded.
type batchAnswer struct {
	TerminalSN    string          `json:"terminal_sn"`
	BatchNo       json.RawMessage `json:"batch_no"`
	SaleCount     json.Number     `json:"sale_count"`
	SaleAmount    json.RawMessage `json:"sale_amount"`
	RefundCount   json.Number     `json:"refund_count"`
	RefundAmount  json.RawMessage `json:"refund_amount"`
	PriceCurrency string          `json:"price_currency"`
}

// CloseBatch sends batch.close for terminalSN (the client's own terminal
// when empty) and returns the batch's totals. A transport error, timeout or
// a code without a known meaning is posbridge.ErrUnknownOutcome.
func (c *Client) CloseBatch(ctx context.Context, terminalSN string) (posbridge.BatchTotals, error) {
	if terminalSN == "" {
		terminalSN = c.terminalSN
	}
	if terminalSN == "" || len(terminalSN) > 32 {
		return posbridge.BatchTotals{}, fmt.Errorf("codepay batch.close: terminal_sn %q must be 1 to 32 characters: %w", terminalSN, posbridge.ErrGatewayFinal)
	}
	p := Params{}
	p.SetString("terminal_sn", terminalSN)
	var a batchAnswer
	if err := c.call(ctx, MethodBatchClose, p, &a, true); err != nil {
		return posbridge.BatchTotals{}, err
	}
	t, err := a.totals()
	if err != nil {
		return posbridge.BatchTotals{}, c.unknown(MethodBatchClose, 0, "malformed batch totals", err)
	}
	if t.TerminalSN == "" {
		t.TerminalSN = terminalSN
	}
	return t, nil
}

// totals reads the answer's counts and amounts (absent ones are zero).
func (a batchAnswer) totals() (posbridge.BatchTotals, error) {
	t := posbridge.BatchTotals{TerminalSN: a.TerminalSN, BatchNo: rawText(a.BatchNo)}
	count := func(n json.Number) (int, error) {
		if n == "" {
			return 0, nil
		}
		v, err := n.Int64()
		if err != nil || v < 0 {
			return 0, fmt.Errorf("count %q", n)
		}
		return int(v), nil
	}
	amount := func(raw json.RawMessage) (posbridge.Money, error) {
		if len(raw) == 0 || string(raw) == "null" || a.PriceCurrency == "" {
			return posbridge.Money{Currency: a.PriceCurrency}, nil
		}
		return posbridge.ParseMoneyJSON(raw, a.PriceCurrency)
	}
	var err error
	if t.Sales, err = count(a.SaleCount); err != nil {
		return t, fmt.Errorf("sale_count: %w", err)
	}
	if t.Refunds, err = count(a.RefundCount); err != nil {
		return t, fmt.Errorf("refund_count: %w", err)
	}
	if t.SalesTotal, err = amount(a.SaleAmount); err != nil {
		return t, fmt.Errorf("sale_amount: %w", err)
	}
	if t.RefundsTotal, err = amount(a.RefundAmount); err != nil {
		return t, fmt.Errorf("refund_amount: %w", err)
	}
	return t, nil
}

// rawText is a JSON string's or number's text.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return string(n)
	}
	return ""
}
