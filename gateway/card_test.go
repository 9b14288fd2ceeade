package gateway_test

import (
	"strings"
	"testing"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

func TestCard_KeepsBrandAndLastFourOnly(t *testing.T) {
	tests := []struct {
		name, brand, number string
		want                posbridge.Card
	}{
		{"full number", "VISA", "4111111111111111", posbridge.Card{Brand: "VISA", Last4: "1111"}},
		{"masked number", "MASTERCARD", "5500******0004", posbridge.Card{Brand: "MASTERCARD", Last4: "0004"}},
		{"last four alone", "VISA", "1234", posbridge.Card{Brand: "VISA", Last4: "1234"}},
		{"ends in a letter", "VISA", "411111111111111X", posbridge.Card{Brand: "VISA"}},
		{"too short", "VISA", "123", posbridge.Card{Brand: "VISA"}},
		{"no number", "", "", posbridge.Card{}},
		{"long brand cut to 20", strings.Repeat("B", 30), "", posbridge.Card{Brand: strings.Repeat("B", 20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gateway.Card(tt.brand, tt.number); got != tt.want {
				t.Errorf("Card(%q, %q) = %+v, want %+v", tt.brand, tt.number, got, tt.want)
			}
		})
	}
}

func TestValidMerchantNo(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want bool
	}{
		{"ORD-1_a", 32, true},
		{strings.Repeat("9", 32), 32, true},
		{strings.Repeat("9", 33), 32, false},
		{strings.Repeat("9", 64), 64, true},
		{"", 64, false},
		{"ORD 1", 64, false},
		{"ORD/1", 64, false},
		{"ÖRD", 64, false},
	}
	for _, tt := range tests {
		if got := gateway.ValidMerchantNo(tt.s, tt.max); got != tt.want {
			t.Errorf("ValidMerchantNo(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.want)
		}
	}
}
