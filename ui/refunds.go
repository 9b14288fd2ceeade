package ui

import (
	"encoding/json"
	"net/http"

	"github.com/posbridge/posbridge"
)

// Refunds of a paid payment: through the gateway, card-present on the
// lane's terminal (the "method" of POST /payments/{order_no}/refunds), and
// the terminal's void (POST /payments/{order_no}/void).

// refundRequest is the body of POST /payments/{order_no}/refunds.
type refundRequest struct {
	Amount json.RawMessage `json:"amount"`
	Reason string          `json:"reason"`
	// Method is "gateway" (the default) or "card_present": on the lane's
	// terminal with the customer's card.
	Method string `json:"method"`
}

// handleRefund serves POST /payments/{order_no}/refunds: 201 with the new
// refund, 200 with the one an Idempotency-Key made before.
func (s *Server) handleRefund(w http.ResponseWriter, r *http.Request) error {
	var req refundRequest
	no, err := reasonedRequest(r, &req, &req.Reason, "A reason for the refund is required.")
	if err != nil {
		return err
	}
	cardPresent, err := refundMethodOf(req.Method)
	if err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	if len(req.Amount) == 0 || string(req.Amount) == "null" {
		return invalid("amount", "The amount is required.")
	}
	// The amount is in the order's currency; the order says which.
	o, err := s.svc.Payment(r.Context(), no)
	if err != nil {
		return err
	}
	amount, err := parseAmountJSON(req.Amount, o.Amount.Currency)
	if err != nil {
		return err
	}
	key, err := idempotencyKeyOf(r)
	if err != nil {
		return err
	}
	by, err := byWithReason(r, req.Reason)
	if err != nil {
		return err
	}
	ref, replayed, err := s.svc.Refund(r.Context(), no, posbridge.RefundParams{Amount: amount, IdempotencyKey: key, CardPresent: cardPresent}, by)
	if err != nil {
		return err
	}
	writeRefund(w, replayed, ref)
	return nil
}

// voidRequest is the body of POST /payments/{order_no}/void.
type voidRequest struct {
	Reason string `json:"reason"`
}

// handleVoid voids a paid payment of today on its lane's terminal. It
// answers 201 with the void (a refund of method terminal_void, status
// requested: stored before the terminal is asked); its status then follows
// on GET /payments/{order_no}/refunds and the event stream.
func (s *Server) handleVoid(w http.ResponseWriter, r *http.Request) error {
	var req voidRequest
	no, err := reasonedRequest(r, &req, &req.Reason, "A reason for the void is required.")
	if err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	key, err := idempotencyKeyOf(r)
	if err != nil {
		return err
	}
	by, err := byWithReason(r, req.Reason)
	if err != nil {
		return err
	}
	v, replayed, err := s.svc.Void(r.Context(), no, posbridge.VoidParams{IdempotencyKey: key}, by)
	if err != nil {
		return err
	}
	writeRefund(w, replayed, v)
	return nil
}

// writeRefund answers a refund or void: 201, or 200 when it replays the one
// an Idempotency-Key made before (also after a restart).
func writeRefund(w http.ResponseWriter, replayed bool, ref posbridge.Refund) {
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, toRefund(ref))
}

// handleRefunds serves GET /payments/{order_no}/refunds: the order's
// refunds and voids.
func (s *Server) handleRefunds(w http.ResponseWriter, r *http.Request) error {
	no, err := orderNoOf(r)
	if err != nil {
		return err
	}
	refunds, err := s.svc.Refunds(r.Context(), no)
	if err != nil {
		return err
	}
	out := struct {
		Refunds []refundJSON `json:"refunds"`
	}{Refunds: make([]refundJSON, 0, len(refunds))}
	for _, ref := range refunds {
		out.Refunds = append(out.Refunds, toRefund(ref))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

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
