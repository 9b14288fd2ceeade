package posbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Refunds through the gateway: asking for one (Refund), its idempotent
// replay, submitting it, and what the gateway and its notifications say of it.

// refundHash identifies a refund request for idempotency.
func refundHash(no OrderNo, amount Money, reason string) string {
	h := sha256.New()
	fmt.Fprintf(h, "refund\x00%s\x00%d\x00%s\x00%s", no, amount.Minor, amount.Currency, reason)
	return hex.EncodeToString(h.Sum(nil))
}

// Refund implements PaymentService.
func (e *Engine) Refund(ctx context.Context, no OrderNo, p RefundParams, by By) (Refund, bool, error) {
	if err := validKey(p.IdempotencyKey); err != nil {
		return Refund{}, false, err
	}
	o, err := e.load(ctx, no)
	if err != nil {
		return Refund{}, false, err
	}
	amount := p.Amount
	if amount.Currency == "" {
		amount.Currency = o.Amount.Currency
	}
	if p.CardPresent {
		return e.reverseOnTerminal(ctx, o, RefundTerminalRefund, amount, p.IdempotencyKey, by)
	}
	hash := refundHash(no, amount, by.Reason)
	if p.IdempotencyKey != "" {
		// Before anything else: a replay of a refund that used up the
		// order is still the same refund, not "more than refundable".
		if r, done, err := e.refundReplay(ctx, no, p.IdempotencyKey, hash, ""); done {
			return r, err == nil, err
		}
	}
	if o.Status != StatusPaid {
		return Refund{}, false, &Error{Code: ECONFLICT, Message: "Only a paid payment can be refunded."}
	}
	now := e.now()
	rno, err := NewOrderNo(now, "R", e.Random)
	if err != nil {
		return Refund{}, false, err
	}
	r := &Refund{No: rno, OrderNo: no, Amount: amount, Status: RefundRequested, Reason: by.Reason, Actor: by.Who, CreatedAt: now, UpdatedAt: now,
		IdempotencyKey: p.IdempotencyKey, RequestHash: hash}
	ev, err := e.store.CreateRefund(ctx, r, byCause(by, "refund"))
	var used *IdempotencyError
	switch {
	case errors.As(err, &used):
		// Another request with the key committed first.
		r, _, err := e.refundReplay(ctx, no, p.IdempotencyKey, hash, used.RequestHash)
		return r, err == nil, err
	case errors.Is(err, ErrRefundExceeded), errors.Is(err, ErrCurrencyMismatch), errors.Is(err, ErrZeroAmount):
		return Refund{}, false, &Error{Code: EINVALID, Field: "amount", Message: "The amount is more than can be refunded.", Err: err}
	case err != nil:
		return Refund{}, false, fmt.Errorf("store refund: %w", err)
	}
	e.Bus.Publish(ev)
	// The reconciler follows it from now on, unless it is final by then;
	// asleep until its next scheduled check (hours away for a watched
	// order), it must be told.
	e.rec.refundOpened()
	out, err := e.submitRefund(ctx, *r, true)
	return out, false, err
}

// refundReplay returns the refund of order no made earlier with key, or a
// conflict when key was used with a different request (or for another
// order). done is false when no refund of the order has the key and
// usedHash, the hash the store reported for the key, is empty.
func (e *Engine) refundReplay(ctx context.Context, no OrderNo, key, hash, usedHash string) (Refund, bool, error) {
	conflict := &Error{Code: EIDEMPOTENCY, Field: "Idempotency-Key",
		Message: "This idempotency key was used for a different refund request."}
	refunds, err := e.store.Refunds(ctx, no)
	if err != nil {
		return Refund{}, true, fmt.Errorf("look up refund idempotency key: %w", err)
	}
	for _, r := range refunds {
		if r.IdempotencyKey != key {
			continue
		}
		if r.RequestHash != hash {
			return Refund{}, true, conflict
		}
		return r, true, nil
	}
	switch {
	case usedHash == hash:
		// The same request, stored by a write of the same commit batch
		// that is not committed yet (and so not readable).
		return Refund{}, true, &Error{Code: ECONFLICT, Message: "This refund is being made; try again in a moment."}
	case usedHash != "":
		return Refund{}, true, conflict // the key belongs to a refund of another order
	}
	return Refund{}, false, nil
}

// submitRefund sends a requested refund to the gateway (idempotent by refund
// number) and applies the answer.
func (e *Engine) submitRefund(ctx context.Context, r Refund, foreground bool) (Refund, error) {
	if r.Method.OnTerminal() {
		// Made on the terminal: sending it to the gateway too would
		// refund the customer twice. Only ask about it.
		return e.verifyTerminalRefund(ctx, r, Cause{Actor: ActorGatewayQuery}, foreground)
	}
	start := e.now()
	var g GatewayRefund
	ran, err := e.gw.call(ctx, foreground, false, func() (err error) {
		g, err = e.gateway.Refund(ctx, RefundRequest{RefundNo: r.No, OrderNo: r.OrderNo, Amount: r.Amount, Reason: r.Reason})
		return err
	})
	if !ran {
		return r, err
	}
	e.recordCheck(ctx, r.OrderNo, CheckRefund, "refund "+string(r.No)+" "+r.Amount.String(), start, resultText(string(g.Status), err), err)
	switch {
	case err == nil:
		return e.applyRefund(ctx, r.No, g, Cause{Actor: ActorGatewayQuery})
	case errors.Is(err, ErrUnknownOutcome), errors.Is(err, ErrRetryable):
		// Stays requested; the reconciler asks again with the same number.
		e.rec.refundOpened()
		return r, nil
	default:
		return e.applyRefund(ctx, r.No, GatewayRefund{Status: GatewayRefundFailed, FailMsg: err.Error()}, Cause{Actor: ActorGatewayQuery})
	}
}

func refundStatus(s GatewayRefundStatus) RefundStatus {
	switch s {
	case GatewayRefundSuccess:
		return RefundSucceeded
	case GatewayRefundFailed:
		return RefundFailed
	default:
		return RefundPending
	}
}

// applyRefund applies the gateway's word on a refund. cause names who said
// it (and, for a notification, the inbox entry it applies).
func (e *Engine) applyRefund(ctx context.Context, no OrderNo, g GatewayRefund, cause Cause) (Refund, error) {
	to := refundStatus(g.Status)
	cause.Action, cause.Detail = joinDetail(cause.Action, "refund "+string(to)), g.FailMsg
	r, ev, err := e.store.UpdateRefund(ctx, no, cause, func(r *Refund) error {
		// The gateway's word wins over a failed refund (the store allows
		// failed → succeeded); a succeeded one never changes.
		if r.Status == to || r.Status == RefundSucceeded || r.Status == RefundFailed && to != RefundSucceeded {
			return ErrNoChange
		}
		r.Status = to
		if g.GatewayNo != "" {
			r.GatewayNo = g.GatewayNo
		}
		if to == RefundFailed && g.FailMsg != "" {
			r.Reason = g.FailMsg
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if ev.Seq != 0 {
		e.Bus.Publish(ev)
	}
	return r, nil
}

// applyRefundNotification applies a refund notification after checking it
// against the stored refund: the refund must exist, belong to the order the
// notification names, and have its amount and currency. A mismatch is
// refused, audited and flagged on the order, never applied.
func (e *Engine) applyRefundNotification(ctx context.Context, in InboxEntry) (string, error) {
	n := in.Notification
	refunds, err := e.store.Refunds(ctx, n.OrigNo)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	var stored *Refund
	for i := range refunds {
		if refunds[i].No == n.OrderNo {
			stored = &refunds[i]
		}
	}
	if stored == nil {
		// Unknown refund, or a refund of another order than the one named.
		if _, err := e.store.Order(ctx, n.OrigNo); err == nil {
			return e.refuseRefundNotification(ctx, in, n.OrigNo, fmt.Sprintf("notification names refund %s, which order %s does not have", n.OrderNo, n.OrigNo))
		}
		return e.markOnly(ctx, in, NotifyUnknownOrder)
	}
	if n.Amount != stored.Amount {
		return e.refuseRefundNotification(ctx, in, stored.OrderNo, fmt.Sprintf("refund notification says %s, refund %s is %s", n.Amount, stored.No, stored.Amount))
	}
	cause := Cause{Actor: ActorNotification, Who: in.Gateway + " " + in.NotificationID, Action: "refund notification",
		Applies: &InboxMark{ID: in.ID, Result: NotifyApplied}, Receives: receives(in)}
	if _, err := e.applyRefund(ctx, n.OrderNo, GatewayRefund{RefundNo: n.OrderNo, GatewayNo: n.GatewayNo, Status: n.Refund}, cause); err != nil {
		return "", err
	}
	return NotifyApplied, nil
}

// refuseRefundNotification records a refund notification that disagrees
// with the stored refund: audited and flagged on the order, not applied.
func (e *Engine) refuseRefundNotification(ctx context.Context, in InboxEntry, orderNo OrderNo, detail string) (string, error) {
	cause := Cause{Actor: ActorNotification, Who: in.Gateway + " " + in.NotificationID, Action: "refund notification refused", Detail: detail,
		Applies: &InboxMark{ID: in.ID, Result: NotifyMismatch}, Receives: receives(in)}
	_, err := e.update(ctx, orderNo, cause, func(o *Order) error {
		o.NeedsAttention, o.Attention = true, "a refund notification disagreed with the stored refund"
		return nil
	})
	return NotifyMismatch, err
}

// DefaultFailedRefundCheck is how often refunds that failed in the last
// DefaultWatchFor are asked about again.
const DefaultFailedRefundCheck = time.Hour

// checkRefunds re-submits requested refunds and queries pending ones that
// due says are due, and, with withFailed, the ones that failed in the last
// DefaultWatchFor.
func (e *Engine) checkRefunds(ctx context.Context, withFailed bool, due func(Refund) bool) (open []Refund, failed int, err error) {
	now := e.now()
	open, err = e.store.OpenRefunds(ctx)
	if err != nil {
		return nil, 0, err
	}
	ask := open
	if withFailed {
		// A refund the gateway refused may have gone through after all
		// (an error after the fact): ask about recent failures, hourly.
		recent, err := e.store.FailedRefundsSince(ctx, now.Add(-DefaultWatchFor))
		if err != nil {
			return nil, 0, err
		}
		failed = len(recent)
		ask = append(append([]Refund(nil), open...), recent...)
	}
	for _, r := range ask {
		if r.Status == RefundRequested {
			// submitRefund only asks about a refund made on the terminal.
			e.submitRefund(ctx, r, false)
			continue
		}
		if !due(r) {
			continue
		}
		if r.Method.OnTerminal() {
			// A void shows at the gateway as its order revoked, not as a
			// refund (terminalrefund.go).
			e.verifyTerminalRefund(ctx, r, Cause{Actor: ActorReconciler}, false)
			continue
		}
		start := e.now()
		g, err := e.gateway.QueryRefund(ctx, r.No)
		e.recordCheck(ctx, r.OrderNo, CheckRefundQuery, "refund query "+string(r.No), start, resultText(string(g.Status), err), err)
		if err == nil {
			e.applyRefund(ctx, r.No, g, Cause{Actor: ActorReconciler})
		}
	}
	return open, failed, nil
}

// Refunds implements PaymentService.
func (e *Engine) Refunds(ctx context.Context, no OrderNo) ([]Refund, error) {
	if _, err := e.load(ctx, no); err != nil {
		return nil, err
	}
	return e.store.Refunds(ctx, no)
}
