// Package gateway holds what the payment-gateway adapters share: the error
// classes a caller branches on with errors.Is, RSA SHA256withRSA signing and
// PEM key loading, amounts on the wire, the notification verdicts and
// counters, and a token-bucket rate limiter on a posbridge.Clock.
//
// One client per gateway lives in a sub-package (payby); sandbox is a local,
// faithful fake of the gateways for tests, the demo and the simulation.
// Statuses are the root package's posbridge.GatewayStatus and
// posbridge.GatewayRefundStatus, so the engine never sees a gateway's own
// vocabulary.
package gateway

import (
	"errors"
	"fmt"
	"strings"

	"github.com/posbridge/posbridge"
)

// Class is what a failed gateway call means for the caller. Every *Error has
// exactly one class; Is maps it to the root package's sentinels.
type Class int

// Error classes.
const (
	// ClassUnknownOutcome: transport error, timeout, non-2xx, malformed JSON,
	// 500 SYSTEM_ERROR, 504 SERVICE_TIMEOUT, or a missing or bad response
	// signature where one is required. A mutation may have happened.
	ClassUnknownOutcome Class = iota + 1
	// ClassRetryable: refused for now (rate limit, service unavailable,
	// "revoke failed, try again"); nothing happened.
	ClassRetryable
	// ClassNotFound: the gateway does not know the order or refund.
	ClassNotFound
	// ClassFinal: any other refusal; Code and Msg say which.
	ClassFinal
	// ClassOrderPaid: a cancel was refused because the order is paid or
	// settled. A final class: it also matches posbridge.ErrGatewayFinal.
	ClassOrderPaid
	// ClassOrderClosed: a cancel found the order already failed or closed.
	// A final class: it also matches posbridge.ErrGatewayFinal.
	ClassOrderClosed
)

// String returns the class as a metric label: "unknown_outcome",
// "retryable", "not_found" or "final" (paid and closed are final).
func (c Class) String() string {
	switch c {
	case ClassUnknownOutcome:
		return "unknown_outcome"
	case ClassRetryable:
		return "retryable"
	case ClassNotFound:
		return "not_found"
	case ClassFinal, ClassOrderPaid, ClassOrderClosed:
		return "final"
	}
	return "invalid"
}

// Error is a failed gateway call. Code and Msg are the gateway's own (empty
// for transport-level failures), HTTPStatus is the answer's status (0 when
// there was none), Op names the call ("payby getOrder"), Err is the
// underlying cause, if any.
type Error struct {
	Class      Class
	Code       string
	Msg        string
	HTTPStatus int
	Op         string
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.sentinel().Error())
	if e.Code != "" {
		fmt.Fprintf(&b, ": code %s", e.Code)
		if e.Msg != "" {
			b.WriteString(" " + e.Msg)
		}
	} else if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the root sentinel of e's class.
// ClassOrderPaid and ClassOrderClosed also match posbridge.ErrGatewayFinal.
func (e *Error) Is(target error) bool {
	switch target {
	case posbridge.ErrUnknownOutcome:
		return e.Class == ClassUnknownOutcome
	case posbridge.ErrRetryable:
		return e.Class == ClassRetryable
	case posbridge.ErrGatewayNotFound:
		return e.Class == ClassNotFound
	case posbridge.ErrGatewayFinal:
		return e.Class == ClassFinal || e.Class == ClassOrderPaid || e.Class == ClassOrderClosed
	case posbridge.ErrOrderPaid:
		return e.Class == ClassOrderPaid
	case posbridge.ErrOrderClosed:
		return e.Class == ClassOrderClosed
	}
	return false
}

func (e *Error) sentinel() error {
	switch e.Class {
	case ClassUnknownOutcome:
		return posbridge.ErrUnknownOutcome
	case ClassRetryable:
		return posbridge.ErrRetryable
	case ClassNotFound:
		return posbridge.ErrGatewayNotFound
	case ClassOrderPaid:
		return posbridge.ErrOrderPaid
	case ClassOrderClosed:
		return posbridge.ErrOrderClosed
	}
	return posbridge.ErrGatewayFinal
}

// ClassOf returns the metric label of err's class ("unknown_outcome",
// "retryable", "not_found", "final"), "" for nil. An error that is not a
// gateway error counts as "unknown_outcome": the caller cannot know what
// happened.
func ClassOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class.String()
	}
	return ClassUnknownOutcome.String()
}
