package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// copyTestKeys writes the test RSA key pair of testdata/config/keys into
// dir as merchant.pem (owner-only) and gateway.pem.
func copyTestKeys(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"merchant.pem", "gateway.pem"} {
		b, err := os.ReadFile(filepath.Join("testdata", "config", "keys", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// testKeyPEMs returns the test key pair in every encoding a config may hold.
func testKeyPEMs(t *testing.T) (pkcs1, pkcs8, public []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "config", "keys", "merchant.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("testdata merchant.pem holds no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(*rsa.PrivateKey)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
}

func TestConfig_CheckKeysAndToken(t *testing.T) {
	pkcs1, pkcs8, public := testKeyPEMs(t)
	notAKey := []byte("-----BEGIN PRIVATE KEY-----\nTk9UIEEgUkVBTCBLRVk=\n-----END PRIVATE KEY-----\n")
	const loopback = `listen = "127.0.0.1:8080"`
	tests := []struct {
		name             string
		api              string // the [api] section's keys
		merchant, gw     []byte
		merchantMode     os.FileMode
		wantErrs         []wantErr
		wantWarnings     []wantErr
		unixOnlyWarnings bool
	}{
		{name: "PKCS8", api: loopback, merchant: pkcs8, gw: public, merchantMode: 0o600},
		{name: "PKCS1", api: loopback, merchant: pkcs1, gw: public, merchantMode: 0o600},
		{name: "ErrPublicAsPrivate", api: loopback, merchant: public, gw: public, merchantMode: 0o600,
			wantErrs: []wantErr{{10, "gateway.merchant_private_key", "holds a public key"}}},
		{name: "ErrPrivateAsPublic", api: loopback, merchant: pkcs8, gw: pkcs1, merchantMode: 0o600,
			wantErrs: []wantErr{{11, "gateway.gateway_public_key", "holds a private key"}}},
		{name: "ErrNotAKey", api: loopback, merchant: notAKey, gw: public, merchantMode: 0o600,
			wantErrs: []wantErr{{10, "gateway.merchant_private_key", "not a valid RSA private key"}}},
		{name: "WarnReadableByOthers", api: loopback, merchant: pkcs8, gw: public, merchantMode: 0o644, unixOnlyWarnings: true,
			wantWarnings: []wantErr{{10, "gateway.merchant_private_key", "readable by group or others"}}},
		{name: "WarnReadableByGroup", api: loopback, merchant: pkcs8, gw: public, merchantMode: 0o640, unixOnlyWarnings: true,
			wantWarnings: []wantErr{{10, "gateway.merchant_private_key", "chmod 600"}}},
		{name: "ErrShortTokenOpenListener", api: "listen = \"0.0.0.0:8080\"\ntoken = \"x\"", merchant: pkcs8, gw: public, merchantMode: 0o600,
			wantErrs: []wantErr{{3, "api.token", "openssl rand -hex 32"}}},
		{name: "LongTokenOpenListener", api: "listen = \"0.0.0.0:8080\"\ntoken = \"" + strings.Repeat("a1", 16) + "\"", merchant: pkcs8, gw: public, merchantMode: 0o600},
		{name: "ShortTokenLoopback", api: loopback + "\ntoken = \"x\"", merchant: pkcs8, gw: public, merchantMode: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "merchant.pem"), tt.merchant, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, "merchant.pem"), tt.merchantMode); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "gateway.pem"), tt.gw, 0o644); err != nil {
				t.Fatal(err)
			}
			// The api section is at most two lines, so the gateway keys are
			// on lines 10 and 11 whatever it holds.
			api := tt.api
			if !strings.Contains(api, "\n") {
				api += "\n"
			}
			path := filepath.Join(dir, "posbridge.toml")
			mustWrite(t, path, "[api]\n"+api+"\n[notify]\nlisten = \"127.0.0.1:8081\"\n\n[gateway]\nkind = \"payby\"\npartner_id = \"200000000123\"\n"+
				"merchant_private_key = \"merchant.pem\"\ngateway_public_key = \"gateway.pem\"\n\n[[lane]]\nid = \"1\"\nport = \"auto\"\nvid = \"1a86\"\napp_id = \"P1\"\n")
			c, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			assertMistakes(t, "Check", path, c.Check(), tt.wantErrs)
			want := tt.wantWarnings
			if tt.unixOnlyWarnings && runtime.GOOS == "windows" {
				want = nil
			}
			assertMistakes(t, "Warnings", path, c.Warnings(), want)
		})
	}
}

func assertMistakes(t *testing.T, what, path string, got []ConfigError, want []wantErr) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s() = %d, want %d:\n%v", what, len(got), len(want), ConfigErrors(got))
	}
	for i, w := range want {
		g := got[i]
		if g.File != path || g.Line != w.line || g.Key != w.key || !strings.Contains(g.Message, w.msg) {
			t.Errorf("%s %d = %q, want %s:%d: %s: ...%s...", what, i, g.Error(), path, w.line, w.key, w.msg)
		}
	}
}
