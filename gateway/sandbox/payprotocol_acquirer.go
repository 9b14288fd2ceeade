package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// Record implements posbridge.Acquirer for the demo's simulated card
// terminal: Pay Protocol has no card terminals (its customers pay on the
// hosted page), so a terminal sale is entered as an order the customer then
// pays in full (or fails), notified like any other. Only sales: a card
// void or refund is refused with ErrInvalid.
func (p *PayProtocol) Record(ctx context.Context, r posbridge.AcquirerRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	no := string(r.OrderNo)
	if !ppValidNo(no) {
		return fmt.Errorf("%w: merchant order number %q", ErrInvalid, no)
	}
	if r.Kind != "" && r.Kind != "sale" {
		return fmt.Errorf("%w: Pay Protocol takes no card %s", ErrInvalid, r.Kind)
	}
	if _, ok := posbridge.CurrencyExponent(r.Amount.Currency); !ok || r.Amount.Minor <= 0 {
		return fmt.Errorf("%w: amount %s", ErrInvalid, r.Amount)
	}
	p.mu.Lock()
	o, ok := p.orders[no]
	if !ok {
		now := p.clock.Now()
		p.seq++
		o = &PPOrder{OutTradeNo: no, OutPaymentNo: fmt.Sprintf("PP%s%06d", now.UTC().Format("20060102150405"), p.seq),
			Status: PPUnpaid, Amount: r.Amount, Paid: posbridge.Money{Currency: r.Amount.Currency}, Refunded: posbridge.Money{Currency: r.Amount.Currency},
			Description: "In-store payment", ChainID: 1, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		p.orders[no], p.byPayment[o.OutPaymentNo] = o, o
	}
	status := o.Status
	p.mu.Unlock()
	switch r.Status {
	case posbridge.GatewayPaid:
		if status == PPPaid {
			return nil
		}
		return p.Pay(no, nil)
	case posbridge.GatewayFailed:
		if status == PPFailed {
			return nil
		}
		return p.FailPayment(no)
	case posbridge.GatewayCreated:
		return nil
	}
	return fmt.Errorf("%w: status %q", ErrInvalid, r.Status)
}

var _ posbridge.Acquirer = (*PayProtocol)(nil)
