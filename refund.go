package posbridge

import (
	"errors"
	"fmt"
	"time"
)

// ErrRefundExceeded is returned for a refund above the refundable amount.
var ErrRefundExceeded = errors.New("refund exceeds the refundable amount")

// RefundStatus is where a refund stands; persisted as these strings.
type RefundStatus string

// Refund statuses: requested → pending → succeeded | failed.
const (
	RefundRequested RefundStatus = "requested" // stored, not yet accepted by the gateway
	RefundPending   RefundStatus = "pending"   // accepted by the gateway, result not final
	RefundSucceeded RefundStatus = "succeeded" // final: money returned
	RefundFailed    RefundStatus = "failed"    // final: nothing returned
)

// Final reports whether s is succeeded or failed.
func (s RefundStatus) Final() bool { return s == RefundSucceeded || s == RefundFailed }

// Refund is one refund (or void) of a paid order, a record of its own.
type Refund struct {
	No        OrderNo // the refund's own merchant number
	OrderNo   OrderNo // the paid order it refunds
	Amount    Money
	Status    RefundStatus
	Reason    string // why the cashier refunded, or why it failed
	GatewayNo string
	Actor     string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64

	// Method is how the refund is made: through the gateway, or on the
	// terminal with the card present (a refund or a void). A refund made
	// on the terminal is never sent to the gateway (terminalrefund.go).
	Method RefundMethod

	IdempotencyKey string // the key the refund was asked with ("" when none)
	RequestHash    string // hash of the request that created it, for idempotency
}

// Refundable returns paid minus succeeded refunds minus refunds not yet final
// (requested or pending): the most a new refund of the order may be.
func Refundable(paid Money, refunds []Refund) (Money, error) {
	left := paid
	for _, r := range refunds {
		if r.Status == RefundFailed {
			continue
		}
		var err error
		if left, err = left.Sub(r.Amount); err != nil {
			return Money{}, fmt.Errorf("refund %s: %w", r.No, err)
		}
	}
	if left.Minor < 0 {
		left.Minor = 0
	}
	return left, nil
}

// ValidateRefund reports ErrRefundExceeded (or a currency error) if a refund of
// amount does not fit in what is refundable of paid.
func ValidateRefund(paid Money, refunds []Refund, amount Money) error {
	left, err := Refundable(paid, refunds)
	if err != nil {
		return err
	}
	if amount.Currency != paid.Currency {
		return fmt.Errorf("refund in %s of an order in %s: %w", amount.Currency, paid.Currency, ErrCurrencyMismatch)
	}
	if amount.Minor <= 0 {
		return ErrZeroAmount
	}
	if amount.Minor > left.Minor {
		return fmt.Errorf("refund %s, refundable %s: %w", amount, left, ErrRefundExceeded)
	}
	return nil
}
