package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/posbridge/posbridge/gateway"
)

// Keys are the two key pairs of a PayBy integration: the merchant's (the
// sandbox verifies requests with its public half) and the gateway's (the
// sandbox signs responses and notifications with it).
type Keys struct {
	Merchant *rsa.PrivateKey
	Gateway  *rsa.PrivateKey
}

// GenerateKeys returns two fresh RSA-2048 key pairs.
func GenerateKeys() (Keys, error) {
	m, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("generate merchant key: %w", err)
	}
	g, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Keys{}, fmt.Errorf("generate gateway key: %w", err)
	}
	return Keys{Merchant: m, Gateway: g}, nil
}

// LoadOrCreateKeys loads the key pairs from dir (the *KeyFile names), or
// generates and writes them, owner-only, when the private key files are
// absent. The public key files are always (re)written from the private keys.
func LoadOrCreateKeys(dir string) (Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("create key dir %s: %w", dir, err)
	}
	load := func(name string) (*rsa.PrivateKey, error) {
		file := filepath.Join(dir, name)
		k, err := gateway.LoadPrivateKey(file)
		if errors.Is(err, os.ErrNotExist) {
			if k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				return nil, fmt.Errorf("generate %s: %w", file, err)
			}
			pemBytes, err := gateway.EncodePrivateKeyPEM(k)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(file, pemBytes, 0o600); err != nil {
				return nil, fmt.Errorf("write %s: %w", file, err)
			}
			return k, nil
		}
		return k, err
	}
	var keys Keys
	var err error
	if keys.Merchant, err = load(MerchantPrivateKeyFile); err != nil {
		return Keys{}, err
	}
	if keys.Gateway, err = load(GatewayPrivateKeyFile); err != nil {
		return Keys{}, err
	}
	for name, k := range map[string]*rsa.PrivateKey{MerchantPublicKeyFile: keys.Merchant, GatewayPublicKeyFile: keys.Gateway} {
		pemBytes, err := gateway.EncodePublicKeyPEM(&k.PublicKey)
		if err != nil {
			return Keys{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), pemBytes, 0o600); err != nil {
			return Keys{}, fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
		}
	}
	return keys, nil
}
