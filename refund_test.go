package posbridge_test

import (
	"errors"
	"testing"

	"github.com/posbridge/posbridge"
)

func aed(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }

func TestRefundable(t *testing.T) {
	paid := aed(10000)
	tests := []struct {
		name    string
		refunds []posbridge.Refund
		want    int64
	}{
		{"none", nil, 10000},
		{"succeeded", []posbridge.Refund{{Amount: aed(2500), Status: posbridge.RefundSucceeded}}, 7500},
		{"pending counts", []posbridge.Refund{{Amount: aed(2500), Status: posbridge.RefundPending}, {Amount: aed(1000), Status: posbridge.RefundRequested}}, 6500},
		{"failed ignored", []posbridge.Refund{{Amount: aed(9000), Status: posbridge.RefundFailed}}, 10000},
		{"all", []posbridge.Refund{{Amount: aed(10000), Status: posbridge.RefundSucceeded}}, 0},
	}
	for _, tt := range tests {
		got, err := posbridge.Refundable(paid, tt.refunds)
		if err != nil || got.Minor != tt.want {
			t.Errorf("%s: Refundable = %v, %v; want %d", tt.name, got, err, tt.want)
		}
	}
}

func TestValidateRefund(t *testing.T) {
	paid := aed(5000)
	prior := []posbridge.Refund{{Amount: aed(2000), Status: posbridge.RefundSucceeded}, {Amount: aed(1000), Status: posbridge.RefundPending}}
	tests := []struct {
		amount posbridge.Money
		err    error
	}{
		{aed(2000), nil},
		{aed(2001), posbridge.ErrRefundExceeded},
		{aed(0), posbridge.ErrZeroAmount},
		{posbridge.Money{Minor: 100, Currency: "USD"}, posbridge.ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		err := posbridge.ValidateRefund(paid, prior, tt.amount)
		if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("ValidateRefund(%v) = %v, want %v", tt.amount, err, tt.err)
		}
	}
}
