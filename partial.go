package posbridge

import "fmt"

// partialTransition is the rule for a payment the gateway received only in
// part: money arrived, so the order must never read "not paid", and the sale
// is not complete, so it must never read "paid". An open order goes (or
// stays) pending, flagged partially_paid, which frees its lane and keeps it
// watched; a failed or canceled order keeps its status and is flagged (the
// customer paid something after it was closed). A paid order is final: a
// later "partially paid" for it is refused, the gateway having already
// proved the full payment.
func partialTransition(from Status) (Result, error) {
	switch from {
	case StatusPaid:
		return Result{}, &TransitionError{From: from, Input: Input{Kind: InputGatewayPartial}, Err: ErrOrderFinal}
	case StatusFailed, StatusCanceled:
		return Result{To: from, Reason: ReasonPartiallyPaid, NeedsAttention: true, Changed: true}, nil
	}
	return Result{To: StatusPending, Reason: ReasonPartiallyPaid, NeedsAttention: true, Changed: true}, nil
}

// PartialAttention is the sentence recorded (and shown) on an order the
// gateway reports partially paid: what arrived out of what was asked.
// received may be zero when the gateway did not say.
func PartialAttention(received, amount Money) string {
	if received.Currency == "" || received.Minor <= 0 {
		return fmt.Sprintf("partially paid: the gateway received part of %s (amount not given); collect the rest or refund it", amount)
	}
	return fmt.Sprintf("partially paid: the gateway received %s of %s; collect the rest or refund it", received, amount)
}

// OverpaidAttention is the sentence recorded on a paid order for which the
// gateway received more than its amount (Pay Protocol accepts up to 1.2×):
// paid in full, but the shop owes the customer the difference.
func OverpaidAttention(received, amount Money) string {
	return fmt.Sprintf("overpaid: the gateway received %s for %s; refund the difference", received, amount)
}
