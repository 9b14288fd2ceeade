package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// The POS developer's calls for the terminal's voids and card-present
// refunds, and for settlement: POST /payments/{order_no}/void, the
// "method" of POST /payments/{order_no}/refunds, and POST
// /lanes/{lane}/settle.

// refundMethodOf reads a refund request's method: "" or "gateway" is a
// refund through the gateway, "card_present" one on the lane's terminal.
func refundMethodOf(m string) (cardPresent bool, err error) {
	switch m {
	case "", "gateway":
		return false, nil
	case "card_present":
		return true, nil
	}
	return false, invalid("method", "The method must be \"gateway\" or \"card_present\".")
}

// refundMethodJSON is a refund's method as the API shows it.
func refundMethodJSON(m posbridge.RefundMethod) string {
	if m == "" {
		return string(posbridge.RefundViaGateway)
	}
	return string(m)
}

// voidRequest is the body of POST /payments/{order_no}/void.
type voidRequest struct {
	Reason string `json:"reason"`
}

// handleVoid voids a paid payment of today on its lane's terminal. It
// answers 201 with the void (a refund of method terminal_void, status
// requested: stored before the terminal is asked); its status then follows
// on GET /payments/{order_no}/refunds and the event stream.
func (s *Server) handleVoid(w http.ResponseWriter, r *http.Request) {
	no, err := orderNoOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	var req voidRequest
	if err := decodeJSON(r, &req, false); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" {
		writeError(w, r, s.logger, invalid("reason", "A reason for the void is required."))
		return
	}
	if err := checkText("reason", "The reason", req.Reason, maxReasonLen); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	key, err := idempotencyKeyOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	by, err := byOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	by.Reason = req.Reason
	v, err := s.svc.Void(r.Context(), no, posbridge.VoidParams{IdempotencyKey: key}, by)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	status := http.StatusCreated
	if key != "" && s.refundReplays.seen(key, v.No) {
		status = http.StatusOK
	}
	writeJSON(w, status, toRefund(v))
}

// settlementJSON is a recorded settlement.
type settlementJSON struct {
	ID           int64   `json:"id"`
	Lane         string  `json:"lane"`
	TerminalSN   string  `json:"terminal_sn"`
	BatchNo      string  `json:"batch_no"`
	SettledAt    *string `json:"settled_at"`
	Sales        int     `json:"sales"`
	SalesTotal   string  `json:"sales_total"`
	Refunds      int     `json:"refunds"`
	RefundsTotal string  `json:"refunds_total"`
	Currency     string  `json:"currency"`
}

func toSettlement(st posbridge.Settlement) settlementJSON {
	t := st.Totals
	cur := t.SalesTotal.Currency
	if cur == "" {
		cur = t.RefundsTotal.Currency
	}
	amount := func(m posbridge.Money) string {
		if m.Currency == "" {
			return "0"
		}
		return m.Decimal()
	}
	return settlementJSON{ID: st.ID, Lane: st.Lane, TerminalSN: t.TerminalSN, BatchNo: t.BatchNo, SettledAt: timeJSON(st.At.UTC().Truncate(time.Millisecond)),
		Sales: t.Sales, SalesTotal: amount(t.SalesTotal), Refunds: t.Refunds, RefundsTotal: amount(t.RefundsTotal), Currency: cur}
}

// handleSettle closes the batch of a lane's terminal at the gateway (CodePay
// batch.close) and answers 200 with the recorded settlement. Without a
// settlement service (a gateway without settlement) it answers 404.
func (s *Server) handleSettle(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Settlement == nil {
		writeError(w, r, s.logger, posbridge.Errorf(posbridge.ENOTFOUND, "Settlement is not available: the gateway has no batch close."))
		return
	}
	by, err := byOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	st, err := s.cfg.Settlement.Settle(r.Context(), r.PathValue("lane"), by)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettlement(st))
}
