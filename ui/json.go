package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// Error codes of the HTTP layer, beside posbridge's.
const (
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
	codeTooLarge     = "body_too_large"
	codeMethod       = "method_not_allowed"
)

// paymentJSON is an order as the API shows it (docs/architecture.md).
type paymentJSON struct {
	OrderNo         string        `json:"order_no"`
	Lane            string        `json:"lane"`
	Amount          string        `json:"amount"`
	Currency        string        `json:"currency"`
	Reference       string        `json:"reference"`
	Status          string        `json:"status"`
	Reason          string        `json:"reason"`
	TerminalOutcome string        `json:"terminal_outcome"`
	NeedsAttention  bool          `json:"needs_attention"`
	Attention       string        `json:"attention"`
	Message         string        `json:"message"`
	Checks          int           `json:"checks"`
	Attempts        int           `json:"attempts"`
	NextCheckAt     *string       `json:"next_check_at"`
	CreatedAt       *string       `json:"created_at"`
	UpdatedAt       *string       `json:"updated_at"`
	PaidAt          *string       `json:"paid_at"`
	Card            cardJSON      `json:"card"`
	Refunded        string        `json:"refunded"`
	Override        *overrideJSON `json:"override"`
	Version         int64         `json:"version"`
	// PaymentURL and PaymentExpiresAt: a QR lane's hosted page (shown as
	// the QR code of GET .../qr.png) and when it closes; "" and null on
	// terminal payments.
	PaymentURL       string  `json:"payment_url"`
	PaymentExpiresAt *string `json:"payment_expires_at"`
}

type cardJSON struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

type overrideJSON struct {
	By     string  `json:"by"`
	Reason string  `json:"reason"`
	At     *string `json:"at"`
}

type refundJSON struct {
	RefundNo  string  `json:"refund_no"`
	OrderNo   string  `json:"order_no"`
	Amount    string  `json:"amount"`
	Currency  string  `json:"currency"`
	Status    string  `json:"status"`
	Method    string  `json:"method"`
	Reason    string  `json:"reason"`
	Actor     string  `json:"actor"`
	CreatedAt *string `json:"created_at"`
	UpdatedAt *string `json:"updated_at"`
}

type linkJSON struct {
	State       string  `json:"state"`
	Since       *string `json:"since"`
	Port        string  `json:"port"`
	Frames      uint64  `json:"frames"`
	CRCErrors   uint64  `json:"crc_errors"`
	Retransmits uint64  `json:"retransmits"`
	Reconnects  uint64  `json:"reconnects"`
}

type laneJSON struct {
	ID      string       `json:"id"`
	Mode    string       `json:"mode"` // "terminal", or "qr": no terminal, the customer pays on their phone
	Link    linkJSON     `json:"link"`
	Payment *paymentJSON `json:"payment"`
}

type eventJSON struct {
	Seq     int64        `json:"seq"`
	Type    string       `json:"type"`
	At      *string      `json:"at,omitempty"`
	Payment *paymentJSON `json:"payment,omitempty"`
	Refund  *refundJSON  `json:"refund,omitempty"`
	Lane    *laneJSON    `json:"lane,omitempty"`
}

func timeJSON(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func toPayment(o posbridge.Order) paymentJSON {
	refunded := o.Refunded
	if refunded.Currency == "" {
		refunded = posbridge.Money{Currency: o.Amount.Currency}
	}
	p := paymentJSON{
		OrderNo:         string(o.No),
		Lane:            o.Lane,
		Amount:          o.Amount.Decimal(),
		Currency:        o.Amount.Currency,
		Reference:       o.Reference,
		Status:          string(o.Status),
		Reason:          string(o.Reason),
		TerminalOutcome: string(o.TerminalOutcome),
		NeedsAttention:  o.NeedsAttention,
		Attention:       o.Attention,
		Message:         posbridge.Instruction(o),
		Checks:          o.Checks,
		Attempts:        o.Attempts,
		NextCheckAt:     timeJSON(o.NextCheckAt),
		CreatedAt:       timeJSON(o.CreatedAt),
		UpdatedAt:       timeJSON(o.UpdatedAt),
		PaidAt:          timeJSON(o.PaidAt),
		Card:            cardJSON{Brand: o.Card.Brand, Last4: o.Card.Last4},
		Refunded:        refunded.Decimal(),
		Version:         o.Version,

		PaymentURL:       o.PaymentURL,
		PaymentExpiresAt: timeJSON(o.PaymentExpiresAt),
	}
	if o.Override != nil {
		p.Override = &overrideJSON{By: o.Override.By, Reason: o.Override.Reason, At: timeJSON(o.Override.At)}
	}
	return p
}

func toPaymentPtr(o *posbridge.Order) *paymentJSON {
	if o == nil {
		return nil
	}
	p := toPayment(*o)
	return &p
}

func toRefund(r posbridge.Refund) refundJSON {
	return refundJSON{
		RefundNo:  string(r.No),
		OrderNo:   string(r.OrderNo),
		Amount:    r.Amount.Decimal(),
		Currency:  r.Amount.Currency,
		Status:    string(r.Status),
		Method:    refundMethodJSON(r.Method),
		Reason:    r.Reason,
		Actor:     r.Actor,
		CreatedAt: timeJSON(r.CreatedAt),
		UpdatedAt: timeJSON(r.UpdatedAt),
	}
}

func toLane(l posbridge.LaneStatus) laneJSON {
	mode := "terminal"
	if l.QR {
		mode = "qr"
	}
	return laneJSON{
		ID:   l.ID,
		Mode: mode,
		Link: linkJSON{
			State:       string(l.Link.State),
			Since:       timeJSON(l.Link.Since),
			Port:        l.Link.Port,
			Frames:      l.Link.Frames,
			CRCErrors:   l.Link.CRCErrors,
			Retransmits: l.Link.Retransmits,
			Reconnects:  l.Link.Reconnects,
		},
		Payment: toPaymentPtr(l.Payment),
	}
}

func toEvent(e posbridge.Event) eventJSON {
	ev := eventJSON{Seq: e.Seq, Type: string(e.Type), At: timeJSON(e.At), Payment: toPaymentPtr(e.Payment)}
	if e.Refund != nil {
		r := toRefund(*e.Refund)
		ev.Refund = &r
	}
	if e.Lane != nil {
		l := toLane(*e.Lane)
		ev.Lane = &l
	}
	return ev
}

// errorJSON is the body of every error answer.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf maps an error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case posbridge.EINVALID:
		return http.StatusBadRequest
	case posbridge.ENOTFOUND:
		return http.StatusNotFound
	case posbridge.ELANEBUSY, posbridge.EIDEMPOTENCY, posbridge.EFINAL, posbridge.ECONFLICT:
		return http.StatusConflict
	case posbridge.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeForbidden:
		return http.StatusForbidden
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeMethod:
		return http.StatusMethodNotAllowed
	case codeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case codeMisdirected:
		return http.StatusMisdirectedRequest
	}
	return http.StatusInternalServerError
}

// writeError answers err as {"error":{...}} with the fitting status. Only
// internal errors are logged: everything else is the client's to read.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := posbridge.ErrorCode(err)
	body := errorBody{Code: code, Message: posbridge.ErrorMessage(err)}
	var e *posbridge.Error
	if errors.As(err, &e) {
		body.Field = e.Field
	}
	if code == posbridge.EINTERNAL {
		logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, posbridge.LogKeyError, err)
	}
	writeJSON(w, statusOf(code), errorJSON{Error: body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"Internal error."}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func invalid(field, format string, args ...any) *posbridge.Error {
	return &posbridge.Error{Code: posbridge.EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

func errTooLarge(limit int64) *posbridge.Error {
	return &posbridge.Error{Code: codeTooLarge, Message: fmt.Sprintf("The request body is larger than %d bytes.", limit)}
}

// decodeJSON reads exactly one JSON value from r into v, refusing unknown
// fields, trailing data and bodies over the size limit. An empty body is
// allowed only when emptyOK.
func decodeJSON(r *http.Request, v any, emptyOK bool) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBody(data, v, emptyOK)
}

// readBody reads the (size-limited) request body; a body over the limit is
// a 413 error.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTooLarge(tooBig.Limit)
		}
		return nil, invalid("", "The request body could not be read.")
	}
	return data, nil
}

// decodeBody is decodeJSON on bytes already read; it is what the fuzz
// target exercises.
func decodeBody(data []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(data)) == 0 {
		if emptyOK {
			return nil
		}
		return invalid("", "The request body is empty; a JSON object is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return invalid("", "The request body is not valid JSON (at byte %d).", syn.Offset)
		case errors.As(err, &typ):
			return invalid(typ.Field, "The field %q has the wrong type (want %s).", typ.Field, typ.Type)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return invalid("", "The request body ends in the middle of a JSON value.")
		}
		if f, ok := unknownField(data, v); ok {
			return invalid(f, "The field %q is not known.", f)
		}
		return invalid("", "The request body is not a valid JSON object: %v.", err)
	}
	if dec.More() {
		return invalid("", "The request body has more than one JSON value.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("", "The request body has data after the JSON value.")
	}
	return nil
}

// unknownField names the first key of the body's object that v's struct
// does not have; encoding/json reports unknown fields without a typed error.
func unknownField(data []byte, v any) (string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return "", false
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "", false
	}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		known[strings.ToLower(name)] = true
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[strings.ToLower(k)] {
			return k, true
		}
	}
	return "", false
}
