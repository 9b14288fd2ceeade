package posbridge

import "fmt"

// Limits of the fields of a request, the same for every caller (the API
// refuses them with the same numbers).
const (
	MaxLaneLen           = 64  // a lane id: printable ASCII
	MaxReferenceLen      = 128 // the POS's reference, in bytes
	MaxIdempotencyKeyLen = 128 // an Idempotency-Key: printable ASCII
)

// Validate checks what can be checked without the engine's state: a lane
// id, a positive amount in a known currency, the lengths of the reference
// and the key. Every refusal is an EINVALID *Error naming the field.
func (r PayRequest) Validate() error {
	if r.Lane == "" || len(r.Lane) > MaxLaneLen || !printableASCII(r.Lane) {
		return &Error{Code: EINVALID, Field: "lane", Message: fmt.Sprintf("The lane id must be printable ASCII of 1 to %d characters.", MaxLaneLen)}
	}
	if r.Amount.Minor <= 0 {
		return &Error{Code: EINVALID, Field: "amount", Message: "The amount must be greater than zero."}
	}
	if _, ok := CurrencyExponent(r.Amount.Currency); !ok {
		return &Error{Code: EINVALID, Field: "currency", Message: fmt.Sprintf("Unknown currency %q.", r.Amount.Currency)}
	}
	if len(r.Reference) > MaxReferenceLen {
		return &Error{Code: EINVALID, Field: "reference", Message: fmt.Sprintf("The reference is longer than %d bytes.", MaxReferenceLen)}
	}
	return validKey(r.IdempotencyKey)
}

// validKey checks an Idempotency-Key (empty: none).
func validKey(key string) error {
	if len(key) > MaxIdempotencyKeyLen || !printableASCII(key) {
		return &Error{Code: EINVALID, Field: "Idempotency-Key", Message: fmt.Sprintf("The Idempotency-Key must be printable ASCII of at most %d characters.", MaxIdempotencyKeyLen)}
	}
	return nil
}

// printableASCII reports whether s holds only bytes 0x20 to 0x7e.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
