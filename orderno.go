package posbridge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxOrderNoLen is the longest merchant order number posbridge generates or
// accepts: the shortest limit among the terminal (32) and the gateways (64).
const MaxOrderNoLen = 32

// ErrInvalidOrderNo is returned for an order number that is empty, too long
// or has a character outside [A-Za-z0-9].
var ErrInvalidOrderNo = errors.New("invalid order number")

// OrderNo is a merchant order number: 1 to 32 characters of [A-Za-z0-9], so
// that every terminal and gateway accepts it unchanged.
type OrderNo string

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// orderNoRandomLen random base-62 characters give 59 bits: a collision among
// 10,000 numbers made in the same millisecond on the same lane has a chance
// below 1 in 10^10.
const orderNoRandomLen = 10

// NewOrderNo returns a fresh order number made of the UTC time to the
// millisecond (17 digits), up to 3 alphanumeric characters of the lane id, and
// 10 random base-62 characters read from random (crypto/rand when nil).
func NewOrderNo(now time.Time, lane string, random io.Reader) (OrderNo, error) {
	if random == nil {
		random = rand.Reader
	}
	b := make([]byte, 0, MaxOrderNoLen)
	b = now.UTC().AppendFormat(b, "20060102150405.000")
	// AppendFormat writes a dot before the milliseconds; drop it.
	b = append(b[:14], b[15:]...)
	laneChars := 0
	for i := 0; i < len(lane) && laneChars < 3; i++ {
		if isAlnum(lane[i]) {
			b = append(b, lane[i])
			laneChars++
		}
	}
	if laneChars == 0 {
		b = append(b, 'L')
	}
	var r [orderNoRandomLen]byte
	if _, err := io.ReadFull(random, r[:]); err != nil {
		return "", fmt.Errorf("read random for order number: %w", err)
	}
	for _, c := range r {
		// 256 % 62 leaves a small bias; irrelevant for uniqueness.
		b = append(b, base62[int(c)%len(base62)])
	}
	return OrderNo(b), nil
}

// ParseOrderNo validates an order number that comes from outside (API path,
// terminal, gateway, notification).
func ParseOrderNo(s string) (OrderNo, error) {
	if err := OrderNo(s).Validate(); err != nil {
		return "", err
	}
	return OrderNo(s), nil
}

// Validate reports ErrInvalidOrderNo, with the reason, if n is not 1 to 32
// characters of [A-Za-z0-9].
func (n OrderNo) Validate() error {
	if len(n) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidOrderNo)
	}
	if len(n) > MaxOrderNoLen {
		return fmt.Errorf("%w: %d characters, at most %d", ErrInvalidOrderNo, len(n), MaxOrderNoLen)
	}
	for i := 0; i < len(n); i++ {
		if !isAlnum(n[i]) {
			return fmt.Errorf("%w: character %q at %d", ErrInvalidOrderNo, n[i], i)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
