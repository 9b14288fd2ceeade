package posbridge_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/posbridge/posbridge"
)

func TestPayRequest_Validate(t *testing.T) {
	ok := posbridge.PayRequest{Lane: "1", Amount: posbridge.Money{Minor: 1250, Currency: "AED"}, Reference: "R-1", IdempotencyKey: "k-1"}
	for _, tc := range []struct {
		name  string
		edit  func(*posbridge.PayRequest)
		field string // "" when valid
	}{
		{"valid", func(*posbridge.PayRequest) {}, ""},
		{"no lane", func(r *posbridge.PayRequest) { r.Lane = "" }, "lane"},
		{"lane too long", func(r *posbridge.PayRequest) { r.Lane = strings.Repeat("l", posbridge.MaxLaneLen+1) }, "lane"},
		{"lane not ASCII", func(r *posbridge.PayRequest) { r.Lane = "caisse-é" }, "lane"},
		{"zero amount", func(r *posbridge.PayRequest) { r.Amount.Minor = 0 }, "amount"},
		{"negative amount", func(r *posbridge.PayRequest) { r.Amount.Minor = -5 }, "amount"},
		{"unknown currency", func(r *posbridge.PayRequest) { r.Amount.Currency = "XXQ" }, "currency"},
		{"reference at the limit", func(r *posbridge.PayRequest) { r.Reference = strings.Repeat("r", posbridge.MaxReferenceLen) }, ""},
		{"reference too long", func(r *posbridge.PayRequest) { r.Reference = strings.Repeat("r", posbridge.MaxReferenceLen+1) }, "reference"},
		{"key at the limit", func(r *posbridge.PayRequest) { r.IdempotencyKey = strings.Repeat("k", posbridge.MaxIdempotencyKeyLen) }, ""},
		{"key too long", func(r *posbridge.PayRequest) {
			r.IdempotencyKey = strings.Repeat("k", posbridge.MaxIdempotencyKeyLen+1)
		}, "Idempotency-Key"},
		{"key with a newline", func(r *posbridge.PayRequest) { r.IdempotencyKey = "k\n1" }, "Idempotency-Key"},
		{"no key", func(r *posbridge.PayRequest) { r.IdempotencyKey = "" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := r.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *posbridge.Error
			if !errors.As(err, &pe) || pe.Code != posbridge.EINVALID || pe.Field != tc.field {
				t.Fatalf("err = %v, want EINVALID on %s", err, tc.field)
			}
		})
	}
}
