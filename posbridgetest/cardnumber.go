package posbridgetest

import "iter"

// What the tests that look for card numbers in files, logs and answers
// share: where the runs of digits are, and the Luhn check. Each test
// decides which runs look like a card number where it looks.

// DigitRuns yields the start and end (exclusive) in b of every run of
// ASCII digits with no digit on either side, in order.
func DigitRuns(b []byte) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for i := 0; i < len(b); {
			if b[i] < '0' || b[i] > '9' {
				i++
				continue
			}
			j := i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			if !yield(i, j) {
				return
			}
			i = j
		}
	}
}

// Luhn reports whether digits (ASCII '0' to '9' only) pass the Luhn check
// that every card number passes.
func Luhn[D ~string | ~[]byte](digits D) bool {
	sum := 0
	for i := range len(digits) {
		v := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
