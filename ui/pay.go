package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/posbridge/posbridge"
)

// POST /payments: a new payment, its body's checks and the terminal's link.

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

// handlePay serves POST /payments: 201 with the new payment, 200 with the
// payment an Idempotency-Key made before. With ?wait= it answers once the
// payment is final or pending, or when the wait is over.
func (s *Server) handlePay(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := parsePayRequest(body, s.cfg.Lanes)
	if err != nil {
		return err
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		wait, err = time.ParseDuration(v)
		if err != nil || wait < 0 || wait > maxWait {
			return invalid("wait", "wait must be a duration between 0s and %s, such as 30s.", maxWait)
		}
	}
	if req.IdempotencyKey, err = idempotencyKeyOf(r); err != nil {
		return err
	}
	if err := req.Validate(); err != nil { // the engine's own rules, once more at the door
		return err
	}
	if req.By, err = byOf(r); err != nil {
		return err
	}
	if err := s.checkTerminal(r.Context(), req); err != nil {
		return err
	}
	o, replayed, err := s.svc.Pay(r.Context(), req)
	if err != nil {
		return err
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
			return err
		}
	}
	writeJSON(w, status, toPayment(o))
	return nil
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
