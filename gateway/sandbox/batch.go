package sandbox

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/posbridge/posbridge"
)

// CodePay's batch.close (settlement of one terminal's batch). The research
// names the method and its request fields (merchant_no, terminal_sn) but
// not its answer; the sandbox answers the batch's totals in the fields
// below, which the client reads. A settled sale stays trans_status 2 and can
// only be refunded: a void of it is refused.
func init() {
	cpOps[MethodBatchClose] = (*Sandbox).cpBatchClose
}

// MethodBatchClose is CodePay's settlement method.
const MethodBatchClose = "batch.close"

// cpBatchClose settles every paid, unsettled CodePay sale of the terminal
// (terminal_sn, or made on a terminal the sandbox learnt of through the
// acquirer, which names none) and counts the refunds of its sales not yet
// counted in a batch. An empty batch is a batch with zero totals.
func (s *Sandbox) cpBatchClose(req cpParams) cpAnswer {
	sn := req["terminal_sn"]
	if sn == "" || len(sn) > 32 {
		return cpFail(cpParam, "terminal_sn")
	}
	nos := make([]string, 0, len(s.orders))
	for no := range s.orders {
		nos = append(nos, no)
	}
	sort.Strings(nos)
	var sales, refunds int
	var salesMinor, refundsMinor int64
	currency := ""
	for _, no := range nos {
		o := s.orders[no]
		if !o.codepay || (o.terminalSN != "" && o.terminalSN != sn) {
			continue
		}
		if o.status == StatusPaid {
			o.status = StatusSettled
			sales++
			salesMinor += o.paid.Minor
			currency = o.paid.Currency
		}
		for _, r := range o.refunds {
			if r.batched || r.internal || r.status == RefundFailure {
				continue
			}
			r.batched = true
			refunds++
			refundsMinor += r.amount.Minor
			currency = r.amount.Currency
		}
	}
	s.batches++
	dec := func(minor int64) json.Number {
		if currency == "" {
			return "0"
		}
		return json.Number(posbridge.Money{Minor: minor, Currency: currency}.Decimal())
	}
	s.poke()
	return cpSuccess(map[string]any{
		"terminal_sn":    sn,
		"batch_no":       fmt.Sprintf("%06d", s.batches),
		"sale_count":     sales,
		"sale_amount":    dec(salesMinor),
		"refund_count":   refunds,
		"refund_amount":  dec(refundsMinor),
		"price_currency": currency,
	})
}
