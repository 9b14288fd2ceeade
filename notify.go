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
)

// ApplyNotification implements NotificationService: the notification is
// stored in the inbox first, then checked against the stored order (number,
// amount, currency) and applied through the same transition function as
// every other source; a mismatch is refused, audited and flagged. It returns
// nil only once the notification is durably stored and applied (or recorded
// as not applicable), so the gateway's handler may acknowledge it.
func (e *Engine) ApplyNotification(ctx context.Context, n Notification) error {
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = e.now()
	}
	entry, dup, err := e.store.ReceiveNotification(ctx, InboxEntry{
		Gateway: n.Gateway, NotificationID: n.ID, Kind: n.Kind, OrderNo: n.OrderNo,
		Status: notificationStatus(n), Body: n.Body, Verified: true, ReceivedAt: n.ReceivedAt,
	})
	if err != nil {
		return fmt.Errorf("store notification %s: %w", n.ID, err)
	}
	if dup && !entry.AppliedAt.IsZero() {
		e.count(&e.notifyResults, NotifyDuplicate)
		return nil
	}
	if err := e.applyInbox(ctx, entry, &n); err != nil {
		return err
	}
	e.wake()
	return nil
}

func notificationStatus(n Notification) string {
	if n.Kind == NotifyRefund {
		return string(n.Refund)
	}
	return string(n.Status)
}

// applyInbox applies one stored notification. n is the decoded notification
// when it just arrived; after a restart only the inbox entry is known and the
// order is verified with a fresh query instead.
func (e *Engine) applyInbox(ctx context.Context, in InboxEntry, n *Notification) error {
	result, err := e.applyNotification(ctx, in, n)
	if err != nil {
		return err
	}
	e.count(&e.notifyResults, result)
	if err := e.store.MarkNotificationApplied(ctx, in.ID, e.now(), result); err != nil {
		return fmt.Errorf("mark notification %s applied: %w", in.NotificationID, err)
	}
	return nil
}

func (e *Engine) applyNotification(ctx context.Context, in InboxEntry, n *Notification) (string, error) {
	switch in.Kind {
	case NotifyOrder:
	case NotifyRefund:
		if n == nil {
			return NotifyApplied, nil // open refunds are re-queried by the reconciler
		}
		return e.applyRefundNotification(ctx, *n)
	default:
		return NotifyNotApplicable, nil
	}
	o, err := e.store.Order(ctx, in.OrderNo)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return NotifyUnknownOrder, nil
		}
		return "", err
	}
	cause := Cause{Actor: ActorNotification, Who: in.Gateway + " " + in.NotificationID, Action: "notification", Detail: "gateway says " + in.Status}
	if n == nil {
		// Received before a restart and not applied: ask the gateway again
		// rather than trust a body we cannot re-verify here.
		if _, err := e.verify(ctx, o, false, cause); err != nil && o.Status != StatusPaid {
			// The query is what applies it now: keep one scheduled even for a
			// failed or canceled order, whose check (cancel, then query when
			// refused as paid) finds a payment the notification reported.
			e.reschedule(ctx, o, e.now(), cause)
		}
		return NotifyApplied, nil
	}
	if n.Amount != o.Amount {
		_, err := e.update(ctx, o.No, Cause{Actor: ActorNotification, Who: cause.Who, Action: "notification refused",
			Detail: fmt.Sprintf("notification says %s, order is %s", n.Amount, o.Amount)}, func(o *Order) error {
			o.NeedsAttention = true
			o.Attention = string(ReasonAmountMismatch)
			if o.Open() {
				o.NextCheckAt = e.now() // verify with a query instead
			}
			return nil
		})
		return NotifyMismatch, err
	}
	g := GatewayOrder{OrderNo: n.OrderNo, GatewayNo: n.GatewayNo, Status: n.Status, Revoked: n.Revoked, Amount: n.Amount, Card: n.Card}
	_, err = e.applyInput(ctx, o.No, cause, gatewayInput(g), func(o *Order) bool { return learn(o, g) })
	var te *TransitionError
	if err != nil && !errors.As(err, &te) {
		// Not written (a busy database, shutdown): the gateway must deliver
		// it again, so it is not acknowledged.
		return "", err
	}
	return NotifyApplied, nil
}
