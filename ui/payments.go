package ui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// The payments once made: the list, one payment, and the cashier's actions
// on one (cancel, verify, retry, override).

// handlePayments serves GET /payments: the payments matching the query,
// newest first, a page at a time.
func (s *Server) handlePayments(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilter(r)
	if err != nil {
		return err
	}
	page, err := s.svc.Payments(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Payments   []paymentJSON `json:"payments"`
		NextCursor string        `json:"next_cursor"`
	}{Payments: make([]paymentJSON, 0, len(page.Orders)), NextCursor: page.NextCursor}
	for _, o := range page.Orders {
		out.Payments = append(out.Payments, toPayment(o))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseFilter reads GET /payments' query: status (repeated or
// comma-separated), lane, from, to (RFC 3339), needs_attention, cursor, limit.
func parseFilter(r *http.Request) (posbridge.OrderFilter, error) {
	q := r.URL.Query()
	var f posbridge.OrderFilter
	for _, v := range q["status"] {
		for _, st := range strings.Split(v, ",") {
			if st == "" {
				continue
			}
			if !posbridge.Status(st).Valid() {
				return f, invalid("status", "The status %q is not known.", st)
			}
			f.Statuses = append(f.Statuses, posbridge.Status(st))
		}
	}
	f.Lane = q.Get("lane")
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, invalid(p.name, "%s must be an RFC 3339 time such as 2025-01-31T09:00:00Z.", p.name)
			}
			*p.dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, invalid("from", "from must be before to.")
	}
	if v := q.Get("needs_attention"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, invalid("needs_attention", "needs_attention must be true or false.")
		}
		f.NeedsAttention = &b
	}
	f.Cursor = q.Get("cursor")
	f.Limit = defaultPageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return f, invalid("limit", "limit must be a number from 1 to %d.", maxPageLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// handlePayment serves GET /payments/{order_no}.
func (s *Server) handlePayment(w http.ResponseWriter, r *http.Request) error {
	no, err := orderNoOf(r)
	if err != nil {
		return err
	}
	o, err := s.svc.Payment(r.Context(), no)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPayment(o))
	return nil
}

type action int

const (
	actionCancel action = iota
	actionVerify
	actionRetry
)

// actionRequest is the optional body of cancel, verify, retry and check.
type actionRequest struct {
	Reason string `json:"reason"`
}

// actionOf reads a cancel, verify, retry or check request: the order, and
// who asks with the optional reason.
func actionOf(r *http.Request) (posbridge.OrderNo, posbridge.By, error) {
	var req actionRequest
	no, err := orderRequest(r, &req, true)
	if err != nil {
		return "", posbridge.By{}, err
	}
	if err := checkReason(req.Reason); err != nil {
		return "", posbridge.By{}, err
	}
	by, err := byWithReason(r, req.Reason)
	return no, by, err
}

// handleAction serves POST /payments/{order_no}/cancel, /verify and /retry:
// 200 with the payment after the action.
func (s *Server) handleAction(a action) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		no, by, err := actionOf(r)
		if err != nil {
			return err
		}
		var o posbridge.Order
		switch a {
		case actionCancel:
			o, err = s.svc.Cancel(r.Context(), no, by)
		case actionVerify:
			o, err = s.svc.Verify(r.Context(), no, by)
		case actionRetry:
			o, err = s.svc.Retry(r.Context(), no, by)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toPayment(o))
		return nil
	}
}

// overrideRequest is the body of POST /payments/{order_no}/override.
type overrideRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// handleOverride serves POST /payments/{order_no}/override: the cashier saw
// the payment succeed on the terminal (a reason is required).
func (s *Server) handleOverride(w http.ResponseWriter, r *http.Request) error {
	var req overrideRequest
	no, err := reasonedRequest(r, &req, &req.Reason, "Say what you checked on the terminal.")
	if err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	if err := checkText("by", "The name", req.By, maxCashierLen); err != nil {
		return err
	}
	by, err := byWithReason(r, req.Reason)
	if err != nil {
		return err
	}
	if b := strings.TrimSpace(req.By); b != "" {
		by = posbridge.By{Actor: posbridge.ActorCashier, Who: b, Reason: req.Reason}
	}
	o, err := s.svc.Override(r.Context(), no, by)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPayment(o))
	return nil
}
