package sandbox

import (
	"fmt"

	"github.com/posbridge/posbridge"
)

// Pay makes the customer pay the order outTradeNo: amount nil pays in
// full; an amount from 0.5× to below the order's amount pays it partially,
// up to 1.2× pays it; anything else is refused with ErrInvalid (Pay
// Protocol's manual repair). Only an unpaid, unexpired order can be paid
// (ErrConflict otherwise).
func (p *PayProtocol) Pay(no string, amount *posbridge.Money) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[no]
	if !ok {
		return fmt.Errorf("pay %s: %w", no, ErrNotFound)
	}
	p.expireLocked(o)
	if o.Status != PPUnpaid {
		return fmt.Errorf("pay %s (%s): %w", no, o.Status, ErrConflict)
	}
	paid := o.Amount
	if amount != nil {
		paid = *amount
	}
	if paid.Currency != o.Amount.Currency || paid.Minor*2 < o.Amount.Minor || paid.Minor*10 > o.Amount.Minor*12 {
		return fmt.Errorf("%w: %s is outside 0.5× to 1.2× of %s: manual repair", ErrInvalid, paid, o.Amount)
	}
	o.Status = PPPaid
	if paid.Minor < o.Amount.Minor {
		o.Status = PPPartiallyPaid
	}
	o.Paid, o.PaidAt, o.Charges = paid, p.clock.Now(), 1
	p.notifyPaymentLocked(o)
	return nil
}

// FailPayment makes an unpaid order's payment fail.
func (p *PayProtocol) FailPayment(no string) error { return p.close(no, "fail") }

// Expire makes an unpaid order's page expire now.
func (p *PayProtocol) Expire(no string) error { return p.close(no, "expire") }

func (p *PayProtocol) close(no, why string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[no]
	if !ok {
		return fmt.Errorf("%s %s: %w", why, no, ErrNotFound)
	}
	p.expireLocked(o)
	if o.Status != PPUnpaid {
		return fmt.Errorf("%s %s (%s): %w", why, no, o.Status, ErrConflict)
	}
	o.Status = PPFailed
	if why == "expire" {
		o.ExpiresAt = p.clock.Now()
	}
	p.notifyPaymentLocked(o)
	return nil
}

// expireLocked closes an unpaid order whose page has expired.
func (p *PayProtocol) expireLocked(o *PPOrder) {
	if o.Status == PPUnpaid && !p.clock.Now().Before(o.ExpiresAt) {
		o.Status = PPFailed
		p.notifyPaymentLocked(o)
	}
}

// ApproveRefund is the merchant approving a refund in the back office and
// the transfer going through: success.
func (p *PayProtocol) ApproveRefund(no string) error { return p.moveRefund(no, PPRefundSuccess) }

// RejectRefund is the merchant rejecting a refund in the back office.
func (p *PayProtocol) RejectRefund(no string) error { return p.moveRefund(no, PPRefundRejected) }

// FailRefund is an approved refund's transfer failing.
func (p *PayProtocol) FailRefund(no string) error { return p.moveRefund(no, PPRefundFailure) }

func (p *PayProtocol) moveRefund(no, to string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.refunds[no]
	if !ok {
		return fmt.Errorf("refund %s: %w", no, ErrNotFound)
	}
	if r.Status != PPRefundPending {
		return fmt.Errorf("refund %s (%s): %w", no, r.Status, ErrConflict)
	}
	r.Status = to
	if to != PPRefundSuccess {
		o := p.orders[r.OutTradeNo]
		o.Refunded.Minor -= r.Amount.Minor
	}
	p.notifyRefundLocked(r)
	return nil
}
