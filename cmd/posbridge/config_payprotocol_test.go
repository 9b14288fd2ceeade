package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestConfig_CheckPayProtocol(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    []wantErr
	}{
		{"payprotocol-good", nil},
		{"payprotocol-bad", []wantErr{{10, "gateway.api_secret_file", "empty"}, {11, "gateway.chain_id", "missing"},
			{12, "gateway.page_url", "use https"}, {13, "gateway.notify_window", "fixed at 60 s"}}},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			path := filepath.Join("testdata", "config", tt.fixture+".toml")
			c, err := LoadConfig(path)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			got := c.Check()
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %d mistakes, want %d:\n%v", len(got), len(tt.want), ConfigErrors(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.File != path || g.Line != w.line || g.Key != w.key || !strings.Contains(g.Message, w.msg) {
					t.Errorf("mistake %d = %q, want %s:%d: %s: ...%s...", i, g.Error(), path, w.line, w.key, w.msg)
				}
			}
			if tt.want == nil {
				g := c.Gateway
				if g.APIKey != "pk_test_1234" || g.ChainID != 3 || g.APISecretFile != filepath.Join("testdata", "config", "keys", "payprotocol.secret") || g.PageURL != "https://payment-sandbox.payprotocol.network" {
					t.Errorf("gateway = %+v", g)
				}
			}
		})
	}
}

// Without base_url and page_url, Pay Protocol's production addresses.
func TestConfig_PayProtocolDefaults(t *testing.T) {
	c := ParseConfig(filepath.Join(t.TempDir(), "posbridge.toml"), []byte("[gateway]\nkind = \"payprotocol\"\n"))
	if c.Gateway.BaseURL != DefaultPayProtocolBaseURL || c.Gateway.PageURL != DefaultPayProtocolPageURL {
		t.Fatalf("base %q page %q", c.Gateway.BaseURL, c.Gateway.PageURL)
	}
}
