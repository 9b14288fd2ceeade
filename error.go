package posbridge

import (
	"errors"
	"fmt"
)

// Error codes: what kind of failure an Error is. The API maps them to HTTP
// statuses; Message is safe to show a cashier.
const (
	EINVALID     = "invalid"              // bad input; Field names the culprit
	ENOTFOUND    = "not_found"            // no such order or refund
	ECONFLICT    = "conflict"             // the request conflicts with the order's state
	ELANEBUSY    = "lane_busy"            // the lane already has a payment in progress
	EIDEMPOTENCY = "idempotency_conflict" // the idempotency key was used with another request
	EFINAL       = "order_final"          // the order is final and cannot be changed so
	EUNAVAILABLE = "unavailable"          // terminal, gateway or store not reachable now
	EINTERNAL    = "internal"
)

// Error is a domain error with a code, a message for people, and optionally
// the input field at fault and the underlying cause.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic text that leaks nothing internal.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// Sentinel errors shared by the engine and the adapters.
var (
	ErrNotFound       = errors.New("not found")
	ErrVersionChanged = errors.New("order changed concurrently")
	ErrNoChange       = errors.New("no change") // returned by an UpdateOrder func to write nothing
	ErrClosed         = errors.New("closed")
)
