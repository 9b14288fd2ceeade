package ui

import (
	"net/http"
	"time"

	"github.com/posbridge/posbridge"
)

// The lanes: their links and current payments, and the settlement of a
// lane's terminal batch (POST /lanes/{lane}/settle).

// handleLanes serves GET /lanes: every lane's link and current payment,
// with the page's currency.
func (s *Server) handleLanes(w http.ResponseWriter, r *http.Request) error {
	lanes, err := s.svc.Lanes(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Currency       string     `json:"currency"`
		RefundApproval bool       `json:"refund_approval,omitempty"`
		Lanes          []laneJSON `json:"lanes"`
	}{Currency: s.cfg.Currency, RefundApproval: s.cfg.RefundApproval, Lanes: make([]laneJSON, 0, len(lanes))}
	for _, l := range lanes {
		out.Lanes = append(out.Lanes, toLane(l))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
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
func (s *Server) handleSettle(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Settlement == nil {
		return posbridge.Errorf(posbridge.ENOTFOUND, "Settlement is not available: the gateway has no batch close.")
	}
	by, err := byOf(r)
	if err != nil {
		return err
	}
	st, err := s.cfg.Settlement.Settle(r.Context(), r.PathValue("lane"), by)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSettlement(st))
	return nil
}
