package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/posbridge/posbridge"
)

// Limits of request fields.
const (
	maxReferenceLen   = posbridge.MaxReferenceLen
	maxIdempotencyLen = posbridge.MaxIdempotencyKeyLen
	maxReasonLen      = 512
	maxCashierLen     = 64
	maxLaneLen        = posbridge.MaxLaneLen
	// maxWait is the longest ?wait= of POST /payments: the terminal's answer
	// plus the cashier's whole verification window
	// (posbridge.DefaultFastPollFor) with room to spare, so that a POS that
	// waits the longest gets pending or a final status, never verifying.
	// The wait ends as soon as the payment leaves verifying.
	maxWait          = 120 * time.Second
	defaultPageLimit = 50
	maxPageLimit     = 500
)

// payRequest is the body of POST /payments.
type payRequest struct {
	Lane      string          `json:"lane"`
	Amount    json.RawMessage `json:"amount"`
	Currency  string          `json:"currency"`
	Reference string          `json:"reference"`
	Replaces  string          `json:"replaces"`
}

// parsePayRequest decodes and checks a POST /payments body; every refusal is
// an EINVALID *posbridge.Error naming the field at fault.
func parsePayRequest(body []byte, lanes []string) (posbridge.PayRequest, error) {
	var req payRequest
	if err := decodeBody(body, &req, false); err != nil {
		return posbridge.PayRequest{}, err
	}
	if req.Lane == "" {
		return posbridge.PayRequest{}, invalid("lane", "The lane is required.")
	}
	if len(req.Lane) > maxLaneLen || !printableASCII(req.Lane) {
		return posbridge.PayRequest{}, invalid("lane", "The lane id must be printable ASCII of at most %d characters.", maxLaneLen)
	}
	if len(lanes) > 0 && !slices.Contains(lanes, req.Lane) {
		return posbridge.PayRequest{}, invalid("lane", "There is no lane %q.", req.Lane)
	}
	if req.Currency == "" {
		return posbridge.PayRequest{}, invalid("currency", "The currency is required.")
	}
	if _, ok := posbridge.CurrencyExponent(req.Currency); !ok {
		return posbridge.PayRequest{}, invalid("currency", "The currency %q is not known (use an ISO 4217 code such as AED).", req.Currency)
	}
	if len(req.Amount) == 0 || string(req.Amount) == "null" {
		return posbridge.PayRequest{}, invalid("amount", "The amount is required.")
	}
	amount, err := parseAmountJSON(req.Amount, req.Currency)
	if err != nil {
		return posbridge.PayRequest{}, err
	}
	if err := checkText("reference", "The reference", req.Reference, maxReferenceLen); err != nil {
		return posbridge.PayRequest{}, err
	}
	pr := posbridge.PayRequest{Lane: req.Lane, Amount: amount, Reference: req.Reference}
	if req.Replaces != "" {
		no, err := posbridge.ParseOrderNo(req.Replaces)
		if err != nil {
			return posbridge.PayRequest{}, invalid("replaces", "The order number to replace is not valid.")
		}
		pr.Replaces = no
	}
	return pr, nil
}

// parseAmountJSON parses a required, positive amount given as a JSON string
// or number, mapping every refusal to a 400 on the field "amount".
func parseAmountJSON(raw json.RawMessage, currency string) (posbridge.Money, error) {
	m, err := posbridge.ParseMoneyJSON(raw, currency)
	if err == nil && m.IsZero() {
		err = posbridge.ErrZeroAmount
	}
	if err == nil {
		return m, nil
	}
	exp, _ := posbridge.CurrencyExponent(currency)
	switch {
	case errors.Is(err, posbridge.ErrZeroAmount):
		return posbridge.Money{}, invalid("amount", "The amount must be greater than zero.")
	case errors.Is(err, posbridge.ErrNegativeAmount):
		return posbridge.Money{}, invalid("amount", "The amount must not be negative.")
	case errors.Is(err, posbridge.ErrTooManyDecimals):
		return posbridge.Money{}, invalid("amount", "%s amounts have at most %d decimals.", currency, exp)
	case errors.Is(err, posbridge.ErrAmountOverflow):
		return posbridge.Money{}, invalid("amount", "The amount is too large.")
	case errors.Is(err, posbridge.ErrUnknownCurrency):
		return posbridge.Money{}, invalid("currency", "The currency %q is not known.", currency)
	}
	return posbridge.Money{}, invalid("amount", "The amount must be a plain decimal number such as \"12.50\".")
}

// byOf says who asks, for the audit: the cashier named by X-Cashier, or the
// API client's address. A name with control characters is refused.
func byOf(r *http.Request) (posbridge.By, error) {
	c := strings.TrimSpace(r.Header.Get("X-Cashier"))
	if hasControl(c) {
		return posbridge.By{}, invalid("X-Cashier", "The X-Cashier header must not contain control characters.")
	}
	if c != "" && len(c) <= maxCashierLen && utf8.ValidString(c) {
		return posbridge.By{Actor: posbridge.ActorCashier, Who: c}, nil
	}
	return posbridge.By{Actor: posbridge.ActorAPI, Who: r.RemoteAddr}, nil
}

// idempotencyKeyOf returns the request's Idempotency-Key header ("" when
// absent), refusing one that is not short printable ASCII.
func idempotencyKeyOf(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyLen || !printableASCII(key) {
		return "", invalid("Idempotency-Key", "The Idempotency-Key header must be printable ASCII of at most %d characters.", maxIdempotencyLen)
	}
	return key, nil
}

func (s *Server) handlePay(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	req, err := parsePayRequest(body, s.cfg.Lanes)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		wait, err = time.ParseDuration(v)
		if err != nil || wait < 0 || wait > maxWait {
			writeError(w, r, s.logger, invalid("wait", "wait must be a duration between 0s and %s, such as 30s.", maxWait))
			return
		}
	}
	key, err := idempotencyKeyOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	req.IdempotencyKey = key
	if err := req.Validate(); err != nil { // the engine's own rules, once more at the door
		writeError(w, r, s.logger, err)
		return
	}
	if req.By, err = byOf(r); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	if err := s.checkTerminal(r.Context(), req); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	o, replayed, err := s.svc.Pay(r.Context(), req)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	if wait > 0 && status == http.StatusCreated {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		awaited, err := s.svc.Await(ctx, o.No)
		cancel()
		if err == nil {
			o = awaited
		} else if ctx.Err() == nil {
			writeError(w, r, s.logger, err)
			return
		}
	}
	writeJSON(w, status, toPayment(o))
}

// checkTerminal refuses a new payment on a lane whose terminal link is down:
// the sale could only wait for the link and then fail, while the page said
// "Waiting for the customer". A repeat of a payment already made (same
// Idempotency-Key) is not refused: it answers that payment. A link that is
// handshaking is not down; the engine waits for it.
func (s *Server) checkTerminal(ctx context.Context, req posbridge.PayRequest) error {
	lanes, err := s.svc.Lanes(ctx)
	if err != nil {
		return err
	}
	for _, l := range lanes {
		if l.ID != req.Lane || l.Link.State != posbridge.LinkDown {
			continue
		}
		if req.IdempotencyKey != "" {
			page, err := s.svc.Payments(ctx, posbridge.OrderFilter{IdempotencyKey: req.IdempotencyKey, Limit: 1})
			if err != nil {
				return err
			}
			if len(page.Orders) > 0 {
				return nil
			}
		}
		return &posbridge.Error{Code: posbridge.EUNAVAILABLE, Field: "lane", Message: fmt.Sprintf(
			"The terminal of lane %s is not connected: no card payment can be taken on it. Check its cable and power; the payment was not started.", req.Lane)}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Server) handlePayments(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	page, err := s.svc.Payments(r.Context(), f)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	out := struct {
		Payments   []paymentJSON `json:"payments"`
		NextCursor string        `json:"next_cursor"`
	}{Payments: make([]paymentJSON, 0, len(page.Orders)), NextCursor: page.NextCursor}
	for _, o := range page.Orders {
		out.Payments = append(out.Payments, toPayment(o))
	}
	writeJSON(w, http.StatusOK, out)
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

func orderNoOf(r *http.Request) (posbridge.OrderNo, error) {
	no, err := posbridge.ParseOrderNo(r.PathValue("order_no"))
	if err != nil {
		return "", invalid("order_no", "The order number must be 1 to %d letters and digits.", posbridge.MaxOrderNoLen)
	}
	return no, nil
}

func (s *Server) handlePayment(w http.ResponseWriter, r *http.Request) {
	no, err := orderNoOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	o, err := s.svc.Payment(r.Context(), no)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, toPayment(o))
}

type action int

const (
	actionCancel action = iota
	actionVerify
	actionRetry
)

// actionRequest is the optional body of cancel, verify and retry.
type actionRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) handleAction(a action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		no, err := orderNoOf(r)
		if err != nil {
			writeError(w, r, s.logger, err)
			return
		}
		var req actionRequest
		if err := decodeJSON(r, &req, true); err != nil {
			writeError(w, r, s.logger, err)
			return
		}
		if err := checkText("reason", "The reason", req.Reason, maxReasonLen); err != nil {
			writeError(w, r, s.logger, err)
			return
		}
		by, err := byOf(r)
		if err != nil {
			writeError(w, r, s.logger, err)
			return
		}
		by.Reason = req.Reason
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
			writeError(w, r, s.logger, err)
			return
		}
		writeJSON(w, http.StatusOK, toPayment(o))
	}
}

// overrideRequest is the body of POST /payments/{order_no}/override.
type overrideRequest struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

func (s *Server) handleOverride(w http.ResponseWriter, r *http.Request) {
	no, err := orderNoOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	var req overrideRequest
	if err := decodeJSON(r, &req, false); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" {
		writeError(w, r, s.logger, invalid("reason", "Say what you checked on the terminal."))
		return
	}
	if err := checkText("reason", "The reason", req.Reason, maxReasonLen); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	if err := checkText("by", "The name", req.By, maxCashierLen); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	by, err := byOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	if b := strings.TrimSpace(req.By); b != "" {
		by = posbridge.By{Actor: posbridge.ActorCashier, Who: b}
	}
	by.Reason = req.Reason
	o, err := s.svc.Override(r.Context(), no, by)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, toPayment(o))
}

// refundRequest is the body of POST /payments/{order_no}/refunds.
type refundRequest struct {
	Amount json.RawMessage `json:"amount"`
	Reason string          `json:"reason"`
	// Method is "gateway" (the default) or "card_present": on the lane's
	// terminal with the customer's card (ui/void.go).
	Method string `json:"method"`
}

func (s *Server) handleRefund(w http.ResponseWriter, r *http.Request) {
	no, err := orderNoOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	var req refundRequest
	if err := decodeJSON(r, &req, false); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" {
		writeError(w, r, s.logger, invalid("reason", "A reason for the refund is required."))
		return
	}
	cardPresent, err := refundMethodOf(req.Method)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	if err := checkText("reason", "The reason", req.Reason, maxReasonLen); err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	if len(req.Amount) == 0 || string(req.Amount) == "null" {
		writeError(w, r, s.logger, invalid("amount", "The amount is required."))
		return
	}
	// The amount is in the order's currency; the order says which.
	o, err := s.svc.Payment(r.Context(), no)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	amount, err := parseAmountJSON(req.Amount, o.Amount.Currency)
	if err != nil {
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
	ref, err := s.svc.Refund(r.Context(), no, posbridge.RefundParams{Amount: amount, IdempotencyKey: key, CardPresent: cardPresent}, by)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	status := http.StatusCreated
	if key != "" && s.refundReplays.seen(key, ref.No) {
		status = http.StatusOK
	}
	writeJSON(w, status, toRefund(ref))
}

func (s *Server) handleRefunds(w http.ResponseWriter, r *http.Request) {
	no, err := orderNoOf(r)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	refunds, err := s.svc.Refunds(r.Context(), no)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	out := struct {
		Refunds []refundJSON `json:"refunds"`
	}{Refunds: make([]refundJSON, 0, len(refunds))}
	for _, ref := range refunds {
		out.Refunds = append(out.Refunds, toRefund(ref))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleLanes(w http.ResponseWriter, r *http.Request) {
	lanes, err := s.svc.Lanes(r.Context())
	if err != nil {
		writeError(w, r, s.logger, err)
		return
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
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		// Not ready is an answer, not a failure of this request.
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: errorBody{Code: posbridge.EUNAVAILABLE, Message: "The store is not ready."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
