package posbridge

import "context"

// CallbackResender is a Gateway that can be asked to send an order's
// notification again (Pay Protocol's /payment/notify). The engine asks
// before it gives up on an order: a callback lost on the way is delivered
// again and applied like any other, and the engine still queries the order
// itself before it closes anything, so the resend is help, never proof.
type CallbackResender interface {
	// ResendOrderNotification asks the gateway to notify the order's
	// current status again. An error only means the gateway did not take
	// the request; nothing about the order follows from it.
	ResendOrderNotification(ctx context.Context, no OrderNo) error
}

// askResend asks a gateway that can resend callbacks to notify no again;
// a refusal is logged and changes nothing.
func (e *Engine) askResend(ctx context.Context, no OrderNo) {
	r, ok := e.gateway.(CallbackResender)
	if !ok {
		return
	}
	ran, err := e.gw.call(ctx, false, false, func() error { return r.ResendOrderNotification(ctx, no) })
	if ran && err != nil {
		e.Logger.Warn("callback resend refused", LogKeyOrder, no, LogKeyError, err)
	}
}
