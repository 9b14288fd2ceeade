package posbridge

import (
	"context"
	"errors"
	"fmt"
)

// act carries out one item's action and returns what it did. Errors are
// reported in the result and logged: one order the gateway or the store
// could not settle does not stop the others.
func (d *DayCloser) act(ctx context.Context, it DayItem, lists dayLists, cause Cause) string {
	cause.Detail = it.Detail
	var res string
	var err error
	switch {
	case it.Action == ActNone:
		return ""
	case it.Kind == DayOrder && it.Action == ActImport:
		res, err = d.importOrder(ctx, lists.orders[it.No], cause)
	case it.Kind == DayOrder && it.Action == ActVerify:
		res, err = d.verifyOrder(ctx, it.No, cause)
	case it.Kind == DayOrder && it.Action == ActApply:
		res, err = d.applyOrder(ctx, it.No, lists.orders[it.No].GatewayOrder, cause)
	case it.Kind == DayOrder && it.Action == ActFlag:
		res, err = d.flag(ctx, it.No, AttentionDayDifferent+": "+it.Detail, cause)
	case it.Kind == DayRefund:
		res, err = d.actRefund(ctx, it, lists.refunds[it.No], cause)
	}
	if err != nil {
		d.log.Warn("day close item", LogKeyOrder, it.No, LogKeyError, err)
		return "error: " + err.Error()
	}
	return res
}

func (d *DayCloser) importOrder(ctx context.Context, g ListedOrder, cause Cause) (string, error) {
	lane := d.cfg.DeviceLanes[g.DeviceID]
	if lane == "" {
		lane = ImportLane
	}
	o := ImportedOrder(g, lane, d.e.now())
	cause.Action = joinDetail(cause.Action, "import")
	ev, err := d.ds.ImportOrder(ctx, &o, cause)
	if ErrorCode(err) == ECONFLICT {
		return "already stored", nil
	}
	if err != nil {
		return "", err
	}
	d.e.Bus.Publish(ev)
	if o.Status == StatusPending {
		d.e.wake() // the reconciler follows it from now on
	}
	return "imported " + string(o.Status) + ", needs attention", nil
}

// verifyOrder asks the gateway about an order its list lacks: an answer is
// applied like any other; "not known" flags the order.
func (d *DayCloser) verifyOrder(ctx context.Context, no OrderNo, cause Cause) (string, error) {
	g, err := d.e.queryGateway(ctx, no, false)
	if errors.Is(err, ErrGatewayNotFound) {
		return d.flag(ctx, no, AttentionUnknownToGW, cause)
	}
	if err != nil {
		return "", err
	}
	before, err := d.e.store.Order(ctx, no)
	if err != nil {
		return "", err
	}
	if agrees(before.Status, g.Status) && (g.Amount.Currency == "" || g.Amount == before.Amount) {
		return "the gateway knows it: " + string(g.Status), nil
	}
	return d.applyOrder(ctx, no, g, cause)
}

// applyOrder applies the gateway's word through Transition and flags the
// order: the day close found what per-order checks had not.
func (d *DayCloser) applyOrder(ctx context.Context, no OrderNo, g GatewayOrder, cause Cause) (string, error) {
	cause.Action = joinDetail(cause.Action, "gateway says "+string(g.Status))
	o, err := d.e.update(ctx, no, cause, func(o *Order) error {
		changed, err := o.Apply(gatewayInput(*o, g), d.e.now())
		if err != nil && !errors.Is(err, ErrOrderFinal) {
			return err
		}
		if learn(o, g) {
			changed = true
		}
		if !o.NeedsAttention {
			o.NeedsAttention, o.Attention, changed = true, AttentionDayDifferent, true
		}
		if !changed {
			return ErrNoChange
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "now " + string(o.Status) + ", needs attention", nil
}

// flag marks an order as needing attention, unless it already does.
func (d *DayCloser) flag(ctx context.Context, no OrderNo, why string, cause Cause) (string, error) {
	cause.Action = joinDetail(cause.Action, "flag")
	_, err := d.e.update(ctx, no, cause, func(o *Order) error {
		if o.NeedsAttention {
			return ErrNoChange
		}
		o.NeedsAttention, o.Attention = true, why
		return nil
	})
	if err != nil {
		return "", err
	}
	return "needs attention", nil
}

func (d *DayCloser) actRefund(ctx context.Context, it DayItem, g ListedRefund, cause Cause) (string, error) {
	switch it.Action {
	case ActApply:
		r, err := d.e.applyRefund(ctx, it.No, g.GatewayRefund, cause)
		if err != nil {
			return "", err
		}
		if _, err := d.flag(ctx, r.OrderNo, AttentionRefundDifferent, cause); err != nil {
			return "", err
		}
		return "refund now " + string(r.Status), nil
	case ActVerify:
		if r, ok, err := d.localRefund(ctx, it); err != nil {
			return "", err
		} else if ok && r.Method.OnTerminal() {
			// Made on the terminal: asked about the way it shows at the
			// gateway (a void as its order revoked), never re-sent.
			v, err := d.e.verifyTerminalRefund(ctx, r, cause, true)
			if err != nil {
				return "", err
			}
			if v.Status == r.Status {
				return d.flag(ctx, r.OrderNo, AttentionRefundUnknown, cause)
			}
			return "refund now " + string(v.Status), nil
		}
		start := d.e.now()
		q, err := d.e.gateway.QueryRefund(ctx, it.No)
		d.e.recordCheck(ctx, it.OrigNo, CheckRefundQuery, "day close refund query "+string(it.No), start, resultText(string(q.Status), err), err)
		if errors.Is(err, ErrGatewayNotFound) {
			return d.flag(ctx, it.OrigNo, AttentionRefundUnknown, cause)
		}
		if err != nil {
			return "", err
		}
		if refundStatus(q.Status) == RefundStatus(it.LocalStatus) {
			return "the gateway knows it: " + string(q.Status), nil
		}
		r, err := d.e.applyRefund(ctx, it.No, q, cause)
		if err != nil {
			return "", err
		}
		return "refund now " + string(r.Status), nil
	case ActFlag:
		if it.OrigNo == "" {
			// PayBy's refund list does not name the refunded order; the
			// refund query does.
			q, err := d.e.gateway.QueryRefund(ctx, it.No)
			if err != nil || q.OrderNo == "" {
				return "refunded order unknown; see the gateway's portal", nil
			}
			it.OrigNo = q.OrderNo
		}
		why := AttentionRefundDifferent
		if it.Bucket == BucketOnlyGateway {
			why = AttentionRefundElsewhere
		}
		res, err := d.flag(ctx, it.OrigNo, why, cause)
		if errors.Is(err, ErrNotFound) || ErrorCode(err) == ENOTFOUND {
			return "refunded order " + string(it.OrigNo) + " is not in posbridge", nil
		}
		return res, err
	}
	return "", nil
}

// localRefund returns the stored refund an item names, when there is one.
func (d *DayCloser) localRefund(ctx context.Context, it DayItem) (Refund, bool, error) {
	if it.OrigNo == "" {
		return Refund{}, false, nil
	}
	rs, err := d.e.store.Refunds(ctx, it.OrigNo)
	if errors.Is(err, ErrNotFound) {
		return Refund{}, false, nil
	}
	if err != nil {
		return Refund{}, false, fmt.Errorf("refunds of %s: %w", it.OrigNo, err)
	}
	for _, r := range rs {
		if r.No == it.No {
			return r, true, nil
		}
	}
	return Refund{}, false, nil
}
