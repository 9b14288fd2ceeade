package ui

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/posbridge/posbridge"
)

// FuzzParsePayRequest: any body either parses into a request that keeps
// the promises (a positive amount in a known currency, a lane, a bounded
// reference) or is refused with an EINVALID error; it never panics.
func FuzzParsePayRequest(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "paybody", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/paybody: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > DefaultMaxBodyBytes {
			return
		}
		req, err := parsePayRequest(body, nil)
		if err != nil {
			var e *posbridge.Error
			if !errors.As(err, &e) || e.Code != posbridge.EINVALID || e.Message == "" {
				t.Fatalf("refusal is not an EINVALID *posbridge.Error: %#v", err)
			}
			return
		}
		if req.Lane == "" || len(req.Reference) > maxReferenceLen {
			t.Fatalf("accepted %+v", req)
		}
		if _, ok := posbridge.CurrencyExponent(req.Amount.Currency); !ok || req.Amount.Minor <= 0 {
			t.Fatalf("accepted amount %+v", req.Amount)
		}
		// The amount survives a round trip through its decimal form.
		again, err := posbridge.ParseAmount(req.Amount.Decimal(), req.Amount.Currency)
		if err != nil || again != req.Amount {
			t.Fatalf("amount %v round-trips to %v, %v", req.Amount, again, err)
		}
	})
}

func TestParsePayRequest_Fixtures(t *testing.T) {
	tests := []struct {
		file  string
		field string // "" with ok
		ok    bool
	}{
		{"valid-string-amount.json", "", true},
		{"valid-number-amount.json", "", true},
		{"too-many-decimals.json", "amount", false},
		{"exponent-amount.json", "amount", false},
		{"negative-amount.json", "amount", false},
		{"unknown-field.json", "tip", false},
		{"two-values.json", "", false},
		{"truncated.json", "", false},
		{"lowercase-currency.json", "currency", false},
		{"overflow-amount.json", "amount", false},
		{"nul-lane.json", "lane", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "paybody", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			req, err := parsePayRequest(b, nil)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if req.Amount.Currency == "" {
					t.Fatalf("no currency: %+v", req)
				}
				return
			}
			var e *posbridge.Error
			if !errors.As(err, &e) || e.Code != posbridge.EINVALID || e.Field != tt.field {
				t.Fatalf("got %#v, want EINVALID on %q", err, tt.field)
			}
		})
	}
}
