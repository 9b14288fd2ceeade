package posbridge

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errors returned when an amount cannot be parsed or combined.
var (
	ErrUnknownCurrency  = errors.New("unknown currency")
	ErrNegativeAmount   = errors.New("amount is negative")
	ErrZeroAmount       = errors.New("amount must be greater than zero")
	ErrTooManyDecimals  = errors.New("amount has more decimals than the currency allows")
	ErrAmountSyntax     = errors.New("amount is not a plain decimal number")
	ErrAmountOverflow   = errors.New("amount is too large")
	ErrCurrencyMismatch = errors.New("currencies differ")
)

// currencyExponents maps ISO 4217 codes to the number of minor-unit digits.
var currencyExponents = map[string]int{
	// zero decimals
	"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "UGX": 0, "XOF": 0, "XAF": 0, "PYG": 0,
	"RWF": 0, "KMF": 0, "GNF": 0, "DJF": 0, "VUV": 0, "XPF": 0, "BIF": 0,
	// three decimals
	"KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
	// two decimals
	"AED": 2, "USD": 2, "EUR": 2, "GBP": 2, "SAR": 2, "QAR": 2, "EGP": 2, "CHF": 2, "CAD": 2,
	"AUD": 2, "NZD": 2, "HKD": 2, "SGD": 2, "CNY": 2, "INR": 2, "PKR": 2, "TRY": 2, "ZAR": 2,
	"SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "MXN": 2, "BRL": 2, "ARS": 2,
	"COP": 2, "PEN": 2, "PHP": 2, "THB": 2, "MYR": 2, "IDR": 2, "TWD": 2, "ILS": 2, "MAD": 2,
	"NGN": 2, "KES": 2, "GHS": 2, "LKR": 2, "BDT": 2, "RUB": 2, "UAH": 2, "RON": 2, "BGN": 2,
}

// maxMinor bounds every amount so that sums of many amounts cannot overflow int64.
const maxMinor = int64(1e15)

// CurrencyExponent reports the number of minor-unit digits of an ISO 4217
// currency code (2 for AED, 0 for JPY, 3 for KWD) and whether the code is known.
func CurrencyExponent(code string) (int, bool) {
	e, ok := currencyExponents[code]
	return e, ok
}

// Money is an exact amount: integer minor units of an ISO 4217 currency.
// The zero value is not a valid amount (it has no currency).
type Money struct {
	Minor    int64  // amount in minor units (fils, cents, yen)
	Currency string // ISO 4217 alphabetic code, upper case
}

// NewMoney returns minor units of currency, checking the currency and range.
func NewMoney(minor int64, currency string) (Money, error) {
	if _, ok := currencyExponents[currency]; !ok {
		return Money{}, fmt.Errorf("currency %q: %w", currency, ErrUnknownCurrency)
	}
	if minor < 0 {
		return Money{}, ErrNegativeAmount
	}
	if minor > maxMinor {
		return Money{}, ErrAmountOverflow
	}
	return Money{Minor: minor, Currency: currency}, nil
}

// ParseMoney parses a non-negative decimal amount in major units ("12.5",
// "12.50", "0") of currency. It refuses signs, exponents, NaN and infinities,
// spaces, more decimals than the currency has, amounts above 10^15 minor units
// and unknown currencies, each with its own error. Zero is accepted; use
// ParseAmount where an amount is required.
func ParseMoney(s, currency string) (Money, error) {
	exp, ok := currencyExponents[currency]
	if !ok {
		return Money{}, fmt.Errorf("currency %q: %w", currency, ErrUnknownCurrency)
	}
	if s == "" {
		return Money{}, fmt.Errorf("amount %q: %w", s, ErrAmountSyntax)
	}
	if s[0] == '-' {
		return Money{}, fmt.Errorf("amount %q: %w", s, ErrNegativeAmount)
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || hasDot && (frac == "" || !allDigits(frac)) {
		return Money{}, fmt.Errorf("amount %q: %w", s, ErrAmountSyntax)
	}
	if len(frac) > exp {
		return Money{}, fmt.Errorf("amount %q in %s (%d decimals): %w", s, currency, exp, ErrTooManyDecimals)
	}
	digits := strings.TrimLeft(intPart, "0") + frac + strings.Repeat("0", exp-len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return Money{Currency: currency}, nil
	}
	if len(digits) > 16 {
		return Money{}, fmt.Errorf("amount %q: %w", s, ErrAmountOverflow)
	}
	minor, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || minor > maxMinor {
		return Money{}, fmt.Errorf("amount %q: %w", s, ErrAmountOverflow)
	}
	return Money{Minor: minor, Currency: currency}, nil
}

// ParseAmount is ParseMoney for amounts that must be greater than zero, such
// as a payment or a refund.
func ParseAmount(s, currency string) (Money, error) {
	m, err := ParseMoney(s, currency)
	if err != nil {
		return Money{}, err
	}
	if m.Minor == 0 {
		return Money{}, fmt.Errorf("amount %q: %w", s, ErrZeroAmount)
	}
	return m, nil
}

// ParseMoneyJSON parses an amount given as a JSON number (12.5) or a JSON
// string ("12.50") without ever converting it to a float.
func ParseMoneyJSON(raw []byte, currency string) (Money, error) {
	s := strings.TrimSpace(string(raw))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		u, err := strconv.Unquote(s)
		if err != nil {
			return Money{}, fmt.Errorf("amount %s: %w", s, ErrAmountSyntax)
		}
		s = u
	}
	if strings.ContainsAny(s, "eE") {
		return Money{}, fmt.Errorf("amount %q: exponents are not allowed: %w", s, ErrAmountSyntax)
	}
	return ParseMoney(s, currency)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsZero reports whether m is zero minor units.
func (m Money) IsZero() bool { return m.Minor == 0 }

// Decimal formats m in major units with exactly the currency's decimals
// ("12.50" for 1250 AED, "500" for 500 JPY, "1.250" for 1250 KWD).
func (m Money) Decimal() string {
	exp := currencyExponents[m.Currency]
	s := strconv.FormatInt(m.Minor, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// String formats m as "12.50 AED".
func (m Money) String() string { return m.Decimal() + " " + m.Currency }

// Add returns m+o; both must be in the same currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("add %s to %s: %w", o.Currency, m.Currency, ErrCurrencyMismatch)
	}
	if o.Minor > 0 && m.Minor > math.MaxInt64-o.Minor {
		return Money{}, ErrAmountOverflow
	}
	return Money{Minor: m.Minor + o.Minor, Currency: m.Currency}, nil
}

// Sub returns m−o; both must be in the same currency. The result may be negative.
func (m Money) Sub(o Money) (Money, error) {
	if m.Currency != o.Currency {
		return Money{}, fmt.Errorf("subtract %s from %s: %w", o.Currency, m.Currency, ErrCurrencyMismatch)
	}
	return Money{Minor: m.Minor - o.Minor, Currency: m.Currency}, nil
}
