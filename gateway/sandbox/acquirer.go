package sandbox

import (
	"context"
	"fmt"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
)

// Record tells the sandbox about an order made on a terminal, as the
// terminal's acquirer would (posbridge.Acquirer). A sale creates the order if
// needed and moves it to paid or failed; repeating a record is harmless. A
// refund creates a refund of r.OrigNo; a void revokes r.OrigNo. ErrInvalid
// for a bad record, ErrNotFound for an unknown original, ErrConflict when the
// record contradicts what the sandbox knows (another amount, paid after failed).
func (s *Sandbox) Record(ctx context.Context, r posbridge.AcquirerRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	no := string(r.OrderNo)
	if !payby.ValidMerchantOrderNo(no) {
		return fmt.Errorf("%w: merchant order number %q", ErrInvalid, no)
	}
	if _, ok := posbridge.CurrencyExponent(r.Amount.Currency); !ok || r.Amount.Minor <= 0 {
		return fmt.Errorf("%w: amount %s", ErrInvalid, r.Amount)
	}
	switch r.Status {
	case posbridge.GatewayCreated, posbridge.GatewayPaid, posbridge.GatewayFailed:
	default:
		return fmt.Errorf("%w: status %q", ErrInvalid, r.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	switch r.Kind {
	case "", "sale":
		return s.recordSale(no, r)
	case "refund":
		return s.recordRefund(no, r)
	case "void":
		o, ok := s.orders[string(r.OrigNo)]
		if !ok {
			return fmt.Errorf("void of %s: %w", r.OrigNo, ErrNotFound)
		}
		if r.Status == posbridge.GatewayPaid && !o.revoked {
			if o.codepay && o.status == StatusSettled {
				// After batch.close a sale can only be refunded (batch.go).
				return fmt.Errorf("void of %s: its batch is closed: %w", r.OrigNo, ErrConflict)
			}
			if code := s.revoke(o); code != "" {
				return fmt.Errorf("void of %s: code %s: %w", r.OrigNo, code, ErrConflict)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: kind %q", ErrInvalid, r.Kind)
}

func (s *Sandbox) recordSale(no string, r posbridge.AcquirerRecord) error {
	o, ok := s.orders[no]
	if !ok {
		o = s.newOrder(no, r.Amount)
		o.product = "In-store Payment"
		o.codepay = s.gw == "codepay"
	} else if o.amount != r.Amount {
		return fmt.Errorf("order %s is %s, record says %s: %w", no, o.amount, r.Amount, ErrConflict)
	}
	switch r.Status {
	case posbridge.GatewayPaid:
		switch o.status {
		case StatusCreated:
			s.pay(o, r.Card)
		case StatusFailure:
			if s.capture && !o.revoked && (o.failCode == "CANCELLED" || o.failCode == "ORDER_EXPIRED") {
				o.failCode, o.failDes = "", ""
				s.pay(o, r.Card)
				return nil
			}
			return fmt.Errorf("order %s failed, record says paid: %w", no, ErrConflict)
		}
	case posbridge.GatewayFailed:
		switch o.status {
		case StatusCreated:
			s.fail(o, "DECLINED", "declined on the terminal")
		case StatusPaid, StatusSettled:
			return fmt.Errorf("order %s paid, record says failed: %w", no, ErrConflict)
		}
	}
	return nil
}

func (s *Sandbox) recordRefund(no string, r posbridge.AcquirerRecord) error {
	o, ok := s.orders[string(r.OrigNo)]
	if !ok {
		return fmt.Errorf("refund of %s: %w", r.OrigNo, ErrNotFound)
	}
	status := map[posbridge.GatewayStatus]string{posbridge.GatewayCreated: RefundCreated,
		posbridge.GatewayPaid: RefundSuccess, posbridge.GatewayFailed: RefundFailure}[r.Status]
	if rf, ok := s.refunds[no]; ok {
		if rf.origin != o || rf.amount != r.Amount {
			return fmt.Errorf("refund %s differs: %w", no, ErrConflict)
		}
		if rf.status == RefundCreated || rf.status == RefundSettled {
			if status != RefundCreated {
				rf.status = status
				s.notifyRefund(rf)
			}
		}
		return nil
	}
	if code := s.refundable(o, r.Amount); code != "" {
		return fmt.Errorf("refund of %s: code %s: %w", r.OrigNo, code, ErrConflict)
	}
	rf := s.newRefund(no, o, r.Amount)
	if status != RefundCreated {
		rf.status = status
		s.notifyRefund(rf)
	}
	return nil
}
