package gateway

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MinKeyBits is the smallest RSA key the adapters accept.
const MinKeyBits = 2048

// Errors of key loading and signature checks.
var (
	ErrKeyFormat    = errors.New("not an RSA key in PEM (PKCS#1, PKCS#8, PKIX or certificate)")
	ErrKeyTooSmall  = errors.New("RSA key is smaller than 2048 bits")
	ErrBadSignature = errors.New("signature does not verify")
	ErrNoSignature  = errors.New("signature missing")
)

// LoadPrivateKey reads an RSA private key from a PEM file in PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") form. Every error names file.
func LoadPrivateKey(file string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read private key %s: %w", file, err)
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", file, err)
	}
	return k, nil
}

// LoadPublicKey reads an RSA public key from a PEM file ("PUBLIC KEY" PKIX,
// "RSA PUBLIC KEY" PKCS#1 or a "CERTIFICATE"), or from a file holding only
// the base64 DER as gateway portals hand it out. Every error names file; a
// private key in the file is refused, since it is certainly the wrong file.
func LoadPublicKey(file string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read public key %s: %w", file, err)
	}
	k, err := ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", file, err)
	}
	return k, nil
}

// ParsePrivateKeyPEM parses the first PEM block of data as an RSA private key
// of at least MinKeyBits.
func ParsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("no PEM block: %w", ErrKeyFormat)
	}
	var key any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key: %w", b.Type, ErrKeyFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w: %w", b.Type, ErrKeyFormat, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%T is not RSA: %w", key, ErrKeyFormat)
	}
	if rk.N.BitLen() < MinKeyBits {
		return nil, fmt.Errorf("%d bits: %w", rk.N.BitLen(), ErrKeyTooSmall)
	}
	return rk, nil
}

// ParsePublicKeyPEM parses data as an RSA public key of at least MinKeyBits:
// a PEM "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE" block, or bare base64
// of a PKIX DER key.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	var key any
	var err error
	b, _ := pem.Decode(data)
	switch {
	case b == nil:
		der, derr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), ""))
		if derr != nil || len(der) == 0 {
			return nil, fmt.Errorf("neither PEM nor base64 DER: %w", ErrKeyFormat)
		}
		key, err = x509.ParsePKIXPublicKey(der)
	case b.Type == "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(b.Bytes)
	case b.Type == "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case b.Type == "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(b.Bytes); err == nil {
			key = c.PublicKey
		}
	case strings.Contains(b.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("holds a private key where the public key belongs: %w", ErrKeyFormat)
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key: %w", b.Type, ErrKeyFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w: %w", ErrKeyFormat, err)
	}
	rk, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%T is not RSA: %w", key, ErrKeyFormat)
	}
	if rk.N.BitLen() < MinKeyBits {
		return nil, fmt.Errorf("%d bits: %w", rk.N.BitLen(), ErrKeyTooSmall)
	}
	return rk, nil
}

// EncodePrivateKeyPEM returns k as a PKCS#8 "PRIVATE KEY" PEM block.
func EncodePrivateKeyPEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodePublicKeyPEM returns k as a PKIX "PUBLIC KEY" PEM block.
func EncodePublicKeyPEM(k *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// SignSHA256 signs msg, exactly as given, with SHA256withRSA (RSASSA-PKCS1-v1_5
// over SHA-256) and returns the signature in standard base64.
func SignSHA256(k *rsa.PrivateKey, msg []byte) (string, error) {
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifySHA256 checks a standard-base64 SHA256withRSA signature over msg,
// exactly as received. It returns ErrNoSignature for an empty sig and
// ErrBadSignature for anything that does not verify.
func VerifySHA256(k *rsa.PublicKey, msg []byte, sig string) error {
	sig = strings.TrimSpace(sig)
	if sig == "" {
		return ErrNoSignature
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: not base64", ErrBadSignature)
	}
	sum := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], raw); err != nil {
		return ErrBadSignature
	}
	return nil
}

// KeyPair is what a gateway client signs and verifies with: our private
// key, and the gateway's public key.
type KeyPair struct {
	Own     *rsa.PrivateKey
	Gateway *rsa.PublicKey
}

// LoadKeyPair returns the keys given, loading each missing one from its
// file. gw names the client ("payby"), own the role of our key ("merchant",
// "app") and portal the gateway as people know it ("PayBy"). A missing,
// unreadable or wrong file is an error naming it; so is a gateway key that
// is our own public key (the portal's two keys mixed up).
func LoadKeyPair(gw, own, portal string, ownKey *rsa.PrivateKey, ownFile string, gwKey *rsa.PublicKey, gwFile string) (KeyPair, error) {
	var err error
	if ownKey == nil {
		if ownFile == "" {
			return KeyPair{}, fmt.Errorf("%s: %s private key file is required", gw, own)
		}
		if ownKey, err = LoadPrivateKey(ownFile); err != nil {
			return KeyPair{}, fmt.Errorf("%s %s key: %w", gw, own, err)
		}
	}
	if gwKey == nil {
		if gwFile == "" {
			return KeyPair{}, fmt.Errorf("%s: gateway public key file is required", gw)
		}
		if gwKey, err = LoadPublicKey(gwFile); err != nil {
			return KeyPair{}, fmt.Errorf("%s gateway key: %w", gw, err)
		}
	}
	if ownKey.PublicKey.Equal(gwKey) {
		return KeyPair{}, fmt.Errorf("%s: gateway public key %s is the %s's own public key; download %s's key from the portal", gw, gwFile, own, portal)
	}
	return KeyPair{Own: ownKey, Gateway: gwKey}, nil
}
