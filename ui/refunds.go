package ui

import (
	"encoding/json"
	"net/http"
	"sync"

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
	ref, err := s.svc.Refund(r.Context(), no, posbridge.RefundParams{Amount: amount, IdempotencyKey: key, CardPresent: cardPresent}, by)
	if err != nil {
		return err
	}
	s.writeRefund(w, key, ref)
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
	v, err := s.svc.Void(r.Context(), no, posbridge.VoidParams{IdempotencyKey: key}, by)
	if err != nil {
		return err
	}
	s.writeRefund(w, key, v)
	return nil
}

// writeRefund answers a refund or void: 201, or 200 when this process
// answered its Idempotency-Key before.
func (s *Server) writeRefund(w http.ResponseWriter, key string, ref posbridge.Refund) {
	status := http.StatusCreated
	if key != "" && s.refundReplays.seen(key, ref.No) {
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

// replaySet remembers the refunds' idempotency keys this process answered,
// so that a replay is answered 200 rather than 201. Refund and Void do not
// say whether they made the refund or replayed it (Pay does); after a
// restart a replay is answered 201 with the same refund, which is still the
// same refund.
type replaySet struct {
	mu   sync.Mutex
	keys map[string]posbridge.OrderNo
	ring []string // insertion order, for eviction
}

const maxReplayKeys = 4096

// seen records key → no and reports whether key was already recorded for no.
func (rs *replaySet) seen(key string, no posbridge.OrderNo) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.keys == nil {
		rs.keys = make(map[string]posbridge.OrderNo)
	}
	if prev, ok := rs.keys[key]; ok {
		return prev == no
	}
	if len(rs.ring) >= maxReplayKeys {
		delete(rs.keys, rs.ring[0])
		rs.ring = rs.ring[1:]
	}
	rs.keys[key] = no
	rs.ring = append(rs.ring, key)
	return false
}
