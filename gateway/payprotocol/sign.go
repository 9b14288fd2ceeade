package payprotocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Headers of every request and callback (research/gateway-api.md §3).
const (
	HeaderKey       = "X-PAY-KEY"
	HeaderTimestamp = "X-PAY-TIMESTAMP" // Unix seconds
	HeaderSign      = "X-PAY-SIGN"
)

// Window is how far a request's or a callback's timestamp may be from now.
const Window = 60 * time.Second

// Signature errors. A request or callback whose signature fails is never
// trusted; one whose timestamp is outside the window is refused too.
var (
	ErrNoSignature  = errors.New("payprotocol: X-PAY-KEY, X-PAY-TIMESTAMP or X-PAY-SIGN missing")
	ErrBadSignature = errors.New("payprotocol: X-PAY-SIGN does not match")
	ErrWrongKey     = errors.New("payprotocol: X-PAY-KEY is not ours")
	ErrStaleStamp   = errors.New("payprotocol: X-PAY-TIMESTAMP outside the 60 s window")
)

// Sign returns X-PAY-SIGN: Base64(HMAC-SHA256(secret, timestamp + METHOD +
// requestPath + body)). requestPath is the path from the host on, /api/mer
// included, with the query string of a GET; body is the exact bytes sent
// (empty for a GET).
func Sign(secret []byte, timestamp, method, requestPath string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte(strings.ToUpper(method)))
	m.Write([]byte(requestPath))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SetHeaders signs a request about to be sent at now.
func SetHeaders(h http.Header, key string, secret []byte, now time.Time, method, requestPath string, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderKey, key)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSign, Sign(secret, ts, method, requestPath, body))
}

// Verify checks the three headers of a request or callback received at now:
// the key is key, the signature over the exact body matches (compared in
// constant time), and the timestamp is within window of now. The signature
// is checked before the timestamp, so ErrStaleStamp means "signed by the
// holder of the secret, but old". It returns the signed time.
func Verify(h http.Header, key string, secret []byte, now time.Time, window time.Duration, method, requestPath string, body []byte) (time.Time, error) {
	k, ts, sig := h.Get(HeaderKey), h.Get(HeaderTimestamp), h.Get(HeaderSign)
	if k == "" || ts == "" || sig == "" {
		return time.Time{}, ErrNoSignature
	}
	if !hmac.Equal([]byte(k), []byte(key)) {
		return time.Time{}, ErrWrongKey
	}
	want := Sign(secret, ts, method, requestPath, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return time.Time{}, ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 || len(ts) > 12 {
		return time.Time{}, fmt.Errorf("%w: %q is not Unix seconds", ErrBadSignature, ts)
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > window || d < -window {
		return at, fmt.Errorf("%w: signed %s, now %s", ErrStaleStamp, at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return at, nil
}

// LoadSecret reads the API secret from file: its content with surrounding
// white space removed. A missing, unreadable or empty file is an error
// naming it.
func LoadSecret(file string) ([]byte, error) {
	if file == "" {
		return nil, errors.New("payprotocol: API secret file is required")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("payprotocol: API secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("payprotocol: API secret file %s is empty", file)
	}
	return []byte(s), nil
}
