package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// maxKeyFileSize bounds what checkKeyFile reads: an RSA key in PEM is a few
// kilobytes.
const maxKeyFileSize = 64 << 10

// checkKeyFile reads a PEM key file and parses it: an RSA private key
// (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY") when private, else an
// RSA public key (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY"). A key of the
// other kind is named as such.
func checkKeyFile(path string, private bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	// A device (/dev/zero) or directory named by mistake is never read.
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("read key file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	data, err := readLimited(f, maxKeyFileSize)
	if err != nil {
		return fmt.Errorf("read key file %s: %w", path, err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return fmt.Errorf("%s holds no PEM block: want a -----BEGIN ...----- key file", path)
	}
	isPrivate := strings.Contains(b.Type, "PRIVATE KEY")
	isPublic := strings.Contains(b.Type, "PUBLIC KEY") || b.Type == "CERTIFICATE"
	switch {
	case private && isPublic:
		return fmt.Errorf("%s holds a public key (%s): this must be the merchant's RSA private key", path, b.Type)
	case !private && isPrivate:
		return fmt.Errorf("%s holds a private key (%s): this must be the gateway's RSA public key; keep private keys out of this slot", path, b.Type)
	}
	if private {
		if _, err := parseRSAPrivateKey(b); err != nil {
			return fmt.Errorf("%s is not a valid RSA private key: %w", path, err)
		}
		return nil
	}
	if _, err := parseRSAPublicKey(b); err != nil {
		return fmt.Errorf("%s is not a valid RSA public key: %w", path, err)
	}
	return nil
}

func parseRSAPrivateKey(b *pem.Block) (*rsa.PrivateKey, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q: want RSA PRIVATE KEY or PRIVATE KEY", b.Type)
}

func parseRSAPublicKey(b *pem.Block) (*rsa.PublicKey, error) {
	switch b.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a certificate for a %T, not an RSA key", c.PublicKey)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY or RSA PUBLIC KEY", b.Type)
}
