package posbridge

import (
	"context"
	"errors"
	"fmt"
)

// Results recorded on inbox entries (and counted for metrics).
const (
	NotifyApplied       = "applied"
	NotifyDuplicate     = "duplicate"
	NotifyMismatch      = "mismatch"
	NotifyUnknownOrder  = "unknown_order"
	NotifyNotApplicable = "not_applicable"
	// NotifyStale: the signature was good but the timestamp outside the
	// window; its content was not applied, a query of the order was
	// scheduled instead.
	NotifyStale = "stale_verified_by_query"
)

// ApplyNotification implements NotificationService: the notification is
// checked against the stored order or refund (number, amount, currency) and
// applied through the same transition function as every other source; a
// mismatch is refused, audited and flagged. Its inbox entry (decoded and
// redacted: never its raw body) is stored, applied, in the same commit as
// its effect; one that must first be verified with the gateway (stale), or
// was delivered before, is stored first and marked applied in the commit of
// its effect. It returns nil only once that
// commit is done, so the gateway's handler may acknowledge it.
func (e *Engine) ApplyNotification(ctx context.Context, n Notification) error {
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = e.now()
	}
	red := n.Redacted()
	fresh := InboxEntry{
		Gateway: n.Gateway, NotificationID: n.ID, Kind: n.Kind, OrderNo: n.OrderNo,
		Status: notificationStatus(n), Notification: &red, Verified: !n.Stale, ReceivedAt: n.ReceivedAt,
	}
	if !n.Stale && (n.Kind == NotifyOrder || n.Kind == NotifyRefund) {
		// The usual case: the entry is stored, applied and marked in the one
		// commit of its effect (Cause.Receives).
		result, err := e.applyNotification(ctx, fresh)
		switch {
		case err == nil:
			bump(&e.notifyResults, result)
			if n.Kind == NotifyRefund || e.inboxWaiting.Load() {
				// A refund's checks are the reconciler's to re-time; an
				// entry waiting in the inbox is for its pass to apply.
				e.wake()
			}
			// An order's change wakes it only when it brings a check
			// forward (Engine.update): at thousands of notifications a
			// second, a pass per notification was a tenth of their cost.
			return nil
		case errors.Is(err, ErrNotificationStored):
			// Delivered before: handled below like every duplicate.
		default:
			// Nothing was written and it is not acknowledged, so the gateway
			// delivers it again; it is also kept in the inbox, unapplied,
			// for the next start (best effort: the store may be what failed).
			if _, _, serr := e.store.ReceiveNotification(ctx, fresh); serr != nil {
				err = errors.Join(err, serr)
			} else {
				e.inboxWaiting.Store(true)
				e.wake() // its pass applies it, or retries after DefaultRetryBackoff
			}
			return fmt.Errorf("apply notification %s: %w", n.ID, err)
		}
	}
	entry, dup, err := e.store.ReceiveNotification(ctx, fresh)
	if err != nil {
		return fmt.Errorf("store notification %s: %w", n.ID, err)
	}
	if dup && !entry.AppliedAt.IsZero() && (entry.Result != NotifyStale || n.Stale) {
		bump(&e.notifyResults, NotifyDuplicate)
		return nil
	}
	if entry.Notification == nil || dup && entry.Notification.Stale && !n.Stale {
		// Stored by an older version, or first seen stale: this delivery is
		// verified and fresh, so apply what it says.
		entry.Notification = &red
	}
	if err := e.applyInbox(ctx, entry); err != nil {
		e.inboxWaiting.Store(true)
		return err
	}
	e.wake()
	return nil
}

// receives is the inbox entry a change must store itself (Cause.Receives):
// in when it is not stored yet (ID 0), else nil.
func receives(in InboxEntry) *InboxEntry {
	if in.ID != 0 {
		return nil
	}
	return &in
}

func notificationStatus(n Notification) string {
	if n.Kind == NotifyRefund {
		return string(n.Refund)
	}
	return string(n.Status)
}

// applyInbox applies one stored notification and marks it applied in the
// same commit as its effect. Entries stored without a decoded copy (by
// older versions) schedule a query of their order instead.
func (e *Engine) applyInbox(ctx context.Context, in InboxEntry) error {
	result, err := e.applyNotification(ctx, in)
	if err != nil {
		return fmt.Errorf("apply notification %s: %w", in.NotificationID, err)
	}
	bump(&e.notifyResults, result)
	return nil
}

// markOnly marks an inbox entry applied when applying it changes nothing
// stored (an unknown order, a kind that is only recorded). An entry not
// stored yet (ID 0) is stored first.
func (e *Engine) markOnly(ctx context.Context, in InboxEntry, result string) (string, error) {
	if in.ID == 0 {
		stored, dup, err := e.store.ReceiveNotification(ctx, in)
		if err != nil {
			return "", fmt.Errorf("store notification %s: %w", in.NotificationID, err)
		}
		if dup {
			return "", fmt.Errorf("notification %s: %w", in.NotificationID, ErrNotificationStored)
		}
		in = stored
	}
	if err := e.store.MarkNotificationApplied(ctx, in.ID, e.now(), result); err != nil {
		return "", fmt.Errorf("mark notification %s applied: %w", in.NotificationID, err)
	}
	return result, nil
}

// verifyRefundNotification asks the gateway about the refund a stale (or
// legacy) notification names and applies its answer, marking the entry in
// the same commit. A gateway that cannot answer leaves the entry unapplied
// (not acknowledged), so PayBy delivers it again.
func (e *Engine) verifyRefundNotification(ctx context.Context, in InboxEntry) (string, error) {
	start := e.now()
	var g GatewayRefund
	ran, err := e.gw.call(ctx, false, false, func() (err error) {
		g, err = e.gateway.QueryRefund(ctx, in.OrderNo)
		return err
	})
	if !ran {
		return "", err
	}
	if errors.Is(err, ErrGatewayNotFound) {
		return e.markOnly(ctx, in, NotifyUnknownOrder)
	}
	if err != nil {
		return "", fmt.Errorf("query refund %s: %w", in.OrderNo, err)
	}
	r, err := e.applyRefund(ctx, in.OrderNo, g, Cause{Actor: ActorGatewayQuery, Who: in.Gateway + " " + in.NotificationID,
		Applies: &InboxMark{ID: in.ID, Result: NotifyStale}, Receives: receives(in)})
	if errors.Is(err, ErrNotFound) {
		return e.markOnly(ctx, in, NotifyUnknownOrder)
	}
	if err != nil {
		return "", err
	}
	e.recordCheck(ctx, r.OrderNo, CheckRefundQuery, "refund query "+string(in.OrderNo), start, string(g.Status), nil)
	return NotifyStale, nil
}

func (e *Engine) applyNotification(ctx context.Context, in InboxEntry) (string, error) {
	switch in.Kind {
	case NotifyOrder:
	case NotifyRefund:
		if in.Notification == nil || in.Notification.Stale {
			// Not to be trusted as it stands: ask the gateway about the
			// refund now, whatever its stored status.
			return e.verifyRefundNotification(ctx, in)
		}
		return e.applyRefundNotification(ctx, in)
	default:
		return e.markOnly(ctx, in, NotifyNotApplicable)
	}
	// The order is not read here first: the change is decided on the order
	// as its write's turn loads it, on the writer's warm connection. At a
	// burst of notifications for orders no longer in play, a read before the
	// turn was the largest part of each one's cost, and a read by any other
	// connection starts with an empty cache after every commit.
	cause := Cause{Actor: ActorNotification, Who: in.Gateway + " " + in.NotificationID, Action: "notification", Detail: "gateway says " + in.Status}
	n := in.Notification
	if n == nil || n.Stale {
		// Nothing here that can be trusted as it stands: ask the gateway.
		// The query is scheduled in the same commit as the mark, for a
		// final order too (its check queries first and finds a payment).
		result := NotifyApplied
		if n != nil {
			result, cause.Detail = NotifyStale, "notification outside the time window; verify by query"
		}
		cause.Applies, cause.Receives = &InboxMark{ID: in.ID, Result: result}, receives(in)
		_, err := e.update(ctx, in.OrderNo, cause, func(o *Order) error {
			if o.Status == StatusPaid {
				return ErrNoChange
			}
			e.plan(o, Fact{Due: DueNow}, e.now())
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			return e.markOnly(ctx, in, NotifyUnknownOrder)
		}
		return result, err
	}
	g := GatewayOrder{OrderNo: n.OrderNo, GatewayNo: n.GatewayNo, Status: n.Status, Revoked: n.Revoked, Amount: n.Amount, Received: n.Received, Card: n.Card}
	applied := cause
	applied.Applies, applied.Receives = &InboxMark{ID: in.ID, Result: NotifyApplied}, receives(in)
	var stored Money  // the order's amount, when it is not the notification's
	voidSeen := false // a revoked notification for a paid order was checked for a void
	for {
		_, err := e.update(ctx, in.OrderNo, applied, func(o *Order) error {
			if n.Amount != o.Amount {
				stored = o.Amount
				return errNotifyMismatch
			}
			if n.Revoked && o.Status == StatusPaid && !voidSeen {
				return errRevokedPaid
			}
			return e.learnFromGateway(o, g, false)
		})
		var te *TransitionError
		switch {
		case err == nil:
			return NotifyApplied, nil
		case errors.Is(err, ErrNotFound):
			return e.markOnly(ctx, in, NotifyUnknownOrder)
		case errors.Is(err, errNotifyMismatch):
			return e.refuseNotification(ctx, in, cause, n.Amount, stored)
		case errors.Is(err, errRevokedPaid) && e.hasVoid(ctx, in.OrderNo):
			// How a void on the terminal shows: not a difference to flag.
			// The void is asked about now; the query, not this, confirms it.
			res, err := e.markOnly(ctx, in, NotifyNotApplicable)
			if err == nil {
				e.voidRevoked(ctx, in.OrderNo)
			}
			return res, err
		case errors.Is(err, errRevokedPaid):
			voidSeen = true // no void: applied as any other news
		case errors.As(err, &te):
			// The order refuses this news as a transition it does not know
			// (news a final order refuses comes back as no change, and is
			// recorded as applied): it is recorded as seen, not applied,
			// rather than left for the gateway to send again forever.
			return e.markOnly(ctx, in, NotifyNotApplicable)
		default:
			// Not written (a busy database, shutdown): the gateway must
			// deliver it again, so it is not acknowledged.
			return "", err
		}
	}
}

// Why a notification's change was not made as it stands (applyNotification):
// nothing is written, and the engine takes the other way.
var (
	errNotifyMismatch = errors.New("notification does not match the order")
	errRevokedPaid    = errors.New("revoked notification for a paid order")
)

// refuseNotification records a notification whose amount is not the order's:
// refused, audited, flagged, and the order verified by a query instead.
func (e *Engine) refuseNotification(ctx context.Context, in InboxEntry, cause Cause, says, stored Money) (string, error) {
	cause.Action, cause.Detail = "notification refused", fmt.Sprintf("notification says %s, order is %s", says, stored)
	cause.Applies, cause.Receives = &InboxMark{ID: in.ID, Result: NotifyMismatch}, receives(in)
	_, err := e.update(ctx, in.OrderNo, cause, func(o *Order) error {
		o.NeedsAttention = true
		o.Attention = string(ReasonAmountMismatch)
		if o.Open() {
			e.plan(o, Fact{Due: DueNow}, e.now()) // verify with a query instead
		}
		return nil
	})
	return NotifyMismatch, err
}
