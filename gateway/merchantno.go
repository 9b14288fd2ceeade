package gateway

// ValidMerchantNo reports whether s is a merchant's number for an order or
// a refund as the gateways accept them: 1 to max letters, digits, "-" and
// "_". Each client names its gateway's max.
func ValidMerchantNo(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
