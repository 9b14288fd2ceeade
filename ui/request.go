package ui

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/posbridge/posbridge"
)

// What every API request may say besides its body: who asks, which order,
// its Idempotency-Key, and a handler's one way to answer a failure.

// apiHandler is a route's handler that returns its failure instead of
// answering it: serve answers it, so a handler says "return err" once per
// check instead of writing the error answer itself.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// serve adapts h to net/http: a returned error is answered with writeError.
func (s *Server) serve(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.logger, err)
		}
	}
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

// byWithReason is byOf with the request's reason, for the audit.
func byWithReason(r *http.Request, reason string) (posbridge.By, error) {
	by, err := byOf(r)
	by.Reason = reason
	return by, err
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

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// orderNoOf reads the {order_no} of an order's route.
func orderNoOf(r *http.Request) (posbridge.OrderNo, error) {
	no, err := posbridge.ParseOrderNo(r.PathValue("order_no"))
	if err != nil {
		return "", invalid("order_no", "The order number must be 1 to %d letters and digits.", posbridge.MaxOrderNoLen)
	}
	return no, nil
}

// orderRequest reads an order route's order number, then its JSON body into
// v (an empty body allowed only when emptyOK), refusing the first at fault.
func orderRequest(r *http.Request, v any, emptyOK bool) (posbridge.OrderNo, error) {
	no, err := orderNoOf(r)
	if err != nil {
		return "", err
	}
	return no, decodeJSON(r, v, emptyOK)
}

// reasonedRequest is orderRequest for a body that must give a reason (an
// override, a refund, a void): *reason is trimmed, and a missing one is
// refused with missing, which tells the client what the reason is for. The
// reason's text is left to checkReason, which a refund runs after its method.
func reasonedRequest(r *http.Request, v any, reason *string, missing string) (posbridge.OrderNo, error) {
	no, err := orderRequest(r, v, false)
	if err != nil {
		return "", err
	}
	*reason = strings.TrimSpace(*reason)
	if *reason == "" {
		return "", invalid("reason", "%s", missing)
	}
	return no, nil
}

// checkReason refuses a reason that is too long or has control characters.
func checkReason(reason string) error {
	return checkText("reason", "The reason", reason, maxReasonLen)
}
