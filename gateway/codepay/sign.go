package codepay

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/posbridge/posbridge/gateway"
)

// Params is a flat CodePay message (a request, a response or a
// notification): each top-level field with its value as the JSON text that
// is sent or was received. Keeping the text, not a decoded value, is what
// makes the signed string equal the sent one ("34.50" stays "34.50").
type Params map[string]json.RawMessage

// SetString sets k to the JSON string v.
func (p Params) SetString(k, v string) {
	b, _ := json.Marshal(v)
	p[k] = b
}

// SetNumber sets k to the JSON number whose text is v (an amount formatted
// by posbridge, an integer). v must be a valid JSON number.
func (p Params) SetNumber(k, v string) { p[k] = json.RawMessage(v) }

// String returns k's value as its plain text ("" when absent or null).
func (p Params) String(k string) string {
	s, _ := plainValue(p[k])
	return s
}

// Canonical returns the string CodePay signs (research §2.3): every field
// except sign whose value is neither null nor "", sorted by key in byte
// order, joined as k=v with "&". A value is its plain text: a string without
// quotes or escapes, a number exactly as written, true or false, and an
// object or array as its compact JSON. Nothing is URL-encoded.
func (p Params) Canonical() string {
	keys := make([]string, 0, len(p))
	vals := make(map[string]string, len(p))
	for k, raw := range p {
		if k == "sign" {
			continue
		}
		v, ok := plainValue(raw)
		if !ok || v == "" {
			continue
		}
		keys = append(keys, k)
		vals[k] = v
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(vals[k])
	}
	return b.String()
}

// plainValue returns the text a JSON value contributes to the canonical
// string, and false for null, absent or unreadable values.
func plainValue(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return "", false
		}
		return b.String(), true
	}
	return string(raw), true
}

// Sign sets p's sign field to the base64 SHA256withRSA (RSA2) signature of
// p.Canonical() with key.
func (p Params) Sign(key *rsa.PrivateKey) error {
	sig, err := gateway.SignSHA256(key, []byte(p.Canonical()))
	if err != nil {
		return err
	}
	p.SetString("sign", sig)
	return nil
}

// Verify checks p's sign field over p.Canonical() with key:
// gateway.ErrNoSignature when it is absent or empty, gateway.ErrBadSignature
// when it does not verify.
func (p Params) Verify(key *rsa.PublicKey) error {
	return gateway.VerifySHA256(key, []byte(p.Canonical()), p.String("sign"))
}

// ParseParams reads a flat JSON object, keeping every value's text. It
// refuses anything but a single object and duplicate keys (a second value
// for a key would be signed differently by different readers).
func ParseParams(body []byte) (Params, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("json: want an object")
	}
	p := Params{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("json: key %v", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("json field %q: %w", k, err)
		}
		if _, dup := p[k]; dup {
			return nil, fmt.Errorf("json: field %q twice", k)
		}
		p[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("json: trailing data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("json: trailing data after the object")
	}
	return p, nil
}

// Marshal writes p as a JSON object with sorted keys and every value's text
// exactly as held.
func (p Params) Marshal() ([]byte, error) {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		v := bytes.TrimSpace(p[k])
		if !json.Valid(v) {
			return nil, fmt.Errorf("field %q: invalid JSON value %q", k, v)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
