package posbridge_test

import (
	"errors"
	"testing"

	"github.com/posbridge/posbridge"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in, cur string
		minor   int64
		out     string // formatted back; "" means same as in
		err     error
	}{
		{"12.50", "AED", 1250, "12.50", nil},
		{"12.5", "AED", 1250, "12.50", nil},
		{"12", "AED", 1200, "12.00", nil},
		{"0", "AED", 0, "0.00", nil},
		{"0.01", "USD", 1, "0.01", nil},
		{"007.10", "EUR", 710, "7.10", nil},
		{"500", "JPY", 500, "500", nil},
		{"1.250", "KWD", 1250, "1.250", nil},
		{"1.2", "BHD", 1200, "1.200", nil},
		{"0.005", "OMR", 5, "0.005", nil},
		{"999999999999.99", "AED", 99999999999999, "999999999999.99", nil},
		{"-1.00", "AED", 0, "", posbridge.ErrNegativeAmount},
		{"1.005", "AED", 0, "", posbridge.ErrTooManyDecimals},
		{"1.500", "AED", 0, "", posbridge.ErrTooManyDecimals},
		{"1.5", "JPY", 0, "", posbridge.ErrTooManyDecimals},
		{"1e3", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"NaN", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"Inf", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"+1", "AED", 0, "", posbridge.ErrAmountSyntax},
		{" 1", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"1,00", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"", "AED", 0, "", posbridge.ErrAmountSyntax},
		{".5", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"5.", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"1.2.3", "AED", 0, "", posbridge.ErrAmountSyntax},
		{"99999999999999999999", "AED", 0, "", posbridge.ErrAmountOverflow},
		{"10000000000000.01", "AED", 0, "", posbridge.ErrAmountOverflow},
		{"1.00", "XXX", 0, "", posbridge.ErrUnknownCurrency},
		{"1.00", "aed", 0, "", posbridge.ErrUnknownCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.in+"_"+tt.cur, func(t *testing.T) {
			m, err := posbridge.ParseMoney(tt.in, tt.cur)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseMoney(%q, %s) error = %v, want %v", tt.in, tt.cur, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMoney(%q, %s): %v", tt.in, tt.cur, err)
			}
			if m.Minor != tt.minor || m.Currency != tt.cur {
				t.Fatalf("ParseMoney(%q) = %+v, want %d %s", tt.in, m, tt.minor, tt.cur)
			}
			if got := m.Decimal(); got != tt.out {
				t.Fatalf("Decimal() = %q, want %q", got, tt.out)
			}
		})
	}
}

func TestParseAmount_ErrZeroAmount(t *testing.T) {
	for _, in := range []string{"0", "0.00", "000"} {
		if _, err := posbridge.ParseAmount(in, "AED"); !errors.Is(err, posbridge.ErrZeroAmount) {
			t.Fatalf("ParseAmount(%q) = %v, want ErrZeroAmount", in, err)
		}
	}
	if m, err := posbridge.ParseAmount("0.01", "AED"); err != nil || m.Minor != 1 {
		t.Fatalf("ParseAmount(0.01) = %v, %v", m, err)
	}
}

func TestParseMoneyJSON(t *testing.T) {
	tests := []struct {
		raw   string
		minor int64
		err   error
	}{
		{`12.5`, 1250, nil},
		{`"12.50"`, 1250, nil},
		{`12`, 1200, nil},
		{` 10.01 `, 1001, nil},
		{`1.01e2`, 0, posbridge.ErrAmountSyntax},
		{`1E2`, 0, posbridge.ErrAmountSyntax},
		{`"NaN"`, 0, posbridge.ErrAmountSyntax},
		{`"Infinity"`, 0, posbridge.ErrAmountSyntax},
		{`-3`, 0, posbridge.ErrNegativeAmount},
		{`null`, 0, posbridge.ErrAmountSyntax},
		{`"1.234"`, 0, posbridge.ErrTooManyDecimals},
	}
	for _, tt := range tests {
		m, err := posbridge.ParseMoneyJSON([]byte(tt.raw), "AED")
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseMoneyJSON(%s) error = %v, want %v", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || m.Minor != tt.minor {
			t.Errorf("ParseMoneyJSON(%s) = %v, %v; want %d", tt.raw, m, err, tt.minor)
		}
	}
}

func TestMoney_AddSub(t *testing.T) {
	a := posbridge.Money{Minor: 1050, Currency: "AED"}
	b := posbridge.Money{Minor: 25, Currency: "AED"}
	if s, err := a.Add(b); err != nil || s.Minor != 1075 {
		t.Fatalf("Add = %v, %v", s, err)
	}
	if d, err := b.Sub(a); err != nil || d.Minor != -1025 || d.Decimal() != "-10.25" {
		t.Fatalf("Sub = %v (%s), %v", d, d.Decimal(), err)
	}
	if _, err := a.Add(posbridge.Money{Minor: 1, Currency: "USD"}); !errors.Is(err, posbridge.ErrCurrencyMismatch) {
		t.Fatalf("Add across currencies: %v, want ErrCurrencyMismatch", err)
	}
	if _, err := posbridge.NewMoney(-1, "AED"); !errors.Is(err, posbridge.ErrNegativeAmount) {
		t.Fatalf("NewMoney(-1): %v", err)
	}
	if _, err := posbridge.NewMoney(1, "ZZZ"); !errors.Is(err, posbridge.ErrUnknownCurrency) {
		t.Fatalf("NewMoney(ZZZ): %v", err)
	}
}

// FuzzParseMoney checks that any accepted amount formats back to a string that
// parses to the same value, and that nothing panics.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"12.50", "0", "1e3", "-1", "999999999999.99", "0.001", "NaN", "00.10", "1.2.3"} {
		f.Add(s, "AED")
		f.Add(s, "JPY")
		f.Add(s, "KWD")
	}
	f.Fuzz(func(t *testing.T, s, cur string) {
		m, err := posbridge.ParseMoney(s, cur)
		if err != nil {
			return
		}
		if m.Minor < 0 {
			t.Fatalf("ParseMoney(%q) gave a negative amount %d", s, m.Minor)
		}
		back, err := posbridge.ParseMoney(m.Decimal(), cur)
		if err != nil || back != m {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, m.Decimal(), back, err)
		}
		j, err := posbridge.ParseMoneyJSON([]byte(m.Decimal()), cur)
		if err != nil || j != m {
			t.Fatalf("JSON number %q -> %v, %v", m.Decimal(), j, err)
		}
	})
}
