package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/packaging"
)

// wantErr is one expected mistake: its line, key and a part of its message.
type wantErr struct {
	line int
	key  string
	msg  string
}

func TestConfig_Check(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    []wantErr
	}{
		{"good", nil},
		{"unknown-key", []wantErr{{15, "gateway.retries", "unknown key"}, {29, "lane[2].speed", "unknown key"}}},
		{"unknown-table", []wantErr{{16, "retry", "unknown table"}}},
		{"bad-duration", []wantErr{{14, "gateway.timeout", `bad duration "10 seconds"`}, {28, "lane[2].sale_timeout", `bad duration "6"`}}},
		{"missing-key-file", []wantErr{{12, "gateway.merchant_private_key", "no such file"}}},
		{"unreadable-port", []wantErr{{27, "lane[2].port", "does not exist"}}},
		{"bad-listen", []wantErr{{3, "api.listen", "want host:port"}, {6, "notify.listen", "0 to 65535"}}},
		{"duplicate-lane", []wantErr{{26, "lane[2].id", `duplicate lane id "1": also lane[1].id on line 21`}}},
		{"bad-toml-syntax", []wantErr{{14, "gateway.timeout", ""}}},
		{"unsupported-gateway", []wantErr{{10, "gateway.api_key", "missing"}, {10, "gateway.api_secret_file", "missing"}, {10, "gateway.chain_id", "missing"},
			{12, "gateway.base_url", "/api/mer"}, {13, "gateway.partner_id", "not a Pay Protocol key"}, {14, "gateway.merchant_private_key", "not a Pay Protocol key"},
			{15, "gateway.gateway_public_key", "not a Pay Protocol key"}}},
		{"unknown-gateway", []wantErr{{9, "gateway.kind", `unknown gateway "visa"`}}},
		{"bad-reconcile", []wantErr{{18, "reconcile.sweep_every", "must be positive"}}},
		{"wrong-type", []wantErr{{24, "lane[1].baud", ""}}},
		{"missing-partner-id", []wantErr{{8, "gateway.partner_id", "missing"}}},
		{"open-api-without-token", []wantErr{{3, "api.listen", "set api.token"}}},
		{"no-lanes", []wantErr{{0, "lane", "at least one"}}},
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
		})
	}
}

func TestConfigError_Error(t *testing.T) {
	for _, tt := range []struct {
		e    ConfigError
		want string
	}{
		{ConfigError{"a.toml", 3, "api.listen", "bad"}, "a.toml:3: api.listen: bad"},
		{ConfigError{"a.toml", 0, "lane", "none"}, "a.toml: lane: none"},
		{ConfigError{"a.toml", 7, "", "syntax"}, "a.toml:7: syntax"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestConfig_Example checks the shipped example. Its key files are relative
// to the config's directory, so they are created beside a copy of it, as IT
// does in /etc/posbridge. Untouched, it must fail on exactly its placeholder
// values; with them replaced (here through drop-in files) it must pass.
func TestConfig_Example(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posbridge.toml")
	mustWrite(t, path, packaging.ExampleConfig)
	copyTestKeys(t, dir)
	for from, to := range map[string]string{"merchant.pem": "merchant_private.pem", "gateway.pem": "gateway_public.pem"} {
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	untouched, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	got := untouched.Check()
	want := []string{"gateway.partner_id", "lane[1].port", "lane[1].app_id"}
	if len(got) != len(want) {
		t.Fatalf("untouched example: %d mistakes, want the %d placeholders %v:\n%v", len(got), len(want), want, ConfigErrors(got))
	}
	for i, k := range want {
		if got[i].Key != k || got[i].File != path || got[i].Line == 0 {
			t.Errorf("untouched example mistake %d = %q, want %s at its line", i, got[i].Error(), k)
		}
	}
	if err := os.Mkdir(DropInDir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(DropInDir(path), "10-shop.toml"), "[gateway]\npartner_id = \"200000000123\"\n")
	mustWrite(t, filepath.Join(DropInDir(path), "20-till.toml"), "[[lane]]\nid = \"1\"\nvid = \"1a86\"\npid = \"7523\"\napp_id = \"P7\"\n")

	c, err := LoadCheckedConfig(path)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	// The example's values are the defaults: a config with no keys but the
	// required ones must decode to the same.
	if got, want := c.Reconcile.Root(), posbridge.DefaultReconcileConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("example reconcile = %+v, want the defaults %+v", got, want)
	}
	def := defaultConfig()
	if c.API.Listen != def.API.Listen || c.API.Token != "" || len(c.API.AllowedOrigins) != 0 {
		t.Errorf("example api = %+v, want %+v", c.API, def.API)
	}
	if c.Notify != def.Notify || c.Log != def.Log {
		t.Errorf("example notify/log = %+v %+v, want %+v %+v", c.Notify, c.Log, def.Notify, def.Log)
	}
	g := c.Gateway
	if g.Kind != DefaultGatewayKind || g.BaseURL != DefaultPayByBaseURL || g.Timeout.Std() != DefaultGatewayTimeout ||
		g.RateLimit != DefaultGatewayRateLimit || g.NotifyWindow.Std() != DefaultGatewayNotifyWindow {
		t.Errorf("example gateway = %+v, want the defaults", g)
	}
	if g.MerchantPrivateKey != filepath.Join(dir, "merchant_private.pem") {
		t.Errorf("merchant_private_key = %q, want it beside the config", g.MerchantPrivateKey)
	}
	if len(c.Lanes) != 1 || c.Lanes[0].Baud != DefaultLaneBaud || c.Lanes[0].SaleTimeout.Std() != DefaultLaneSaleTimeout {
		t.Errorf("example lanes = %+v, want one with the default baud and sale timeout", c.Lanes)
	}
}

// TestConfig_ExampleDocumentsEveryKey fails when a key of Config is missing
// from the example, so the example stays the complete reference.
func TestConfig_ExampleDocumentsEveryKey(t *testing.T) {
	c := ParseConfig("example.toml", []byte(packaging.ExampleConfig))
	var missing []string
	walkTOMLKeys(reflect.TypeOf(Config{}), "", func(key string) {
		k := strings.Replace(key, "lane.", "lane[1].", 1)
		if !c.index.has(k) && !strings.Contains(packaging.ExampleConfig, "# "+key[strings.LastIndexByte(key, '.')+1:]+" = ") {
			missing = append(missing, key)
		}
	})
	if len(missing) > 0 {
		t.Fatalf("keys not in packaging/posbridge.example.toml: %v", missing)
	}
}

func walkTOMLKeys(t reflect.Type, prefix string, fn func(string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" || !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)) {
			walkTOMLKeys(ft, prefix+tag+".", fn)
			continue
		}
		fn(prefix + tag)
	}
}

func TestConfig_Defaults(t *testing.T) {
	c := ParseConfig(filepath.Join(t.TempDir(), "c.toml"), []byte("[[lane]]\nid = \"a\"\nport = \"auto\"\n"))
	if errs := c.decodeErr; len(errs) > 0 {
		t.Fatalf("decode: %v", ConfigErrors(errs))
	}
	if c.API.Listen != DefaultAPIListen || c.Notify.Listen != DefaultNotifyListen {
		t.Errorf("listen = %q, %q, want the defaults", c.API.Listen, c.Notify.Listen)
	}
	if got := c.Gateway.Timeout.Std(); got != 10*time.Second {
		t.Errorf("gateway timeout = %s, want 10s", got)
	}
	if l := c.Lanes[0]; l.Baud != 115200 || l.SaleTimeout.Std() != 6*time.Minute {
		t.Errorf("lane = %+v, want baud 115200 and sale_timeout 6m", l)
	}
	if filepath.Base(c.Store.Path) != "posbridge.db" || !filepath.IsAbs(c.Store.Path) && !strings.HasPrefix(c.Store.Path, ".") {
		t.Errorf("store path = %q, want posbridge.db in the state directory", c.Store.Path)
	}
}

// TestConfig_ExplicitZeroIsReported checks that a key written as zero is not
// silently replaced by its default.
func TestConfig_ExplicitZeroIsReported(t *testing.T) {
	c := ParseConfig("z.toml", []byte("[[lane]]\nid = \"a\"\nport = \"auto\"\napp_id = \"x\"\nbaud = 0\n"))
	var found bool
	for _, e := range c.Check() {
		if e.Key == "lane[1].baud" && e.Line == 5 {
			found = true
		}
	}
	if !found {
		t.Fatalf("baud = 0 not reported: %v", ConfigErrors(c.Check()))
	}
}

func TestMain_ConfigCheck(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		wantErr error
		want    string
	}{
		{"good", nil, "good.toml: ok\n"},
		{"bad-listen", errConfigMistakes, "bad-listen.toml:3: api.listen: "},
		{"unknown-key", errConfigMistakes, "unknown-key.toml:29: lane[2].speed: unknown key\n"},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			var out bytes.Buffer
			m := &Main{Stdout: &out, Stderr: &out}
			path := filepath.Join("testdata", "config", tt.fixture+".toml")
			err := m.Run(context.Background(), []string{"config", "check", path})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("config check = %v, want %v", err, tt.wantErr)
			}
			if err != nil && exitCode(err) == 0 {
				t.Fatalf("exit code 0 for a config with mistakes")
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("printed %q, want %q in it", out.String(), tt.want)
			}
		})
	}
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background(), []string{"config", "check"}); !errors.Is(err, errUsage) {
		t.Fatalf("config check without FILE = %v, want errUsage", err)
	}
	if err := m.Run(context.Background(), []string{"config", "check", filepath.Join(t.TempDir(), "none.toml")}); err == nil || errors.Is(err, errUsage) {
		t.Fatalf("config check of a missing file = %v, want an error", err)
	}
}

func TestConfig_UnreadableFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadConfig(missing) = %v, want ErrNotExist", err)
	}
}

// FuzzLoadConfig checks that no document makes decoding or checking panic,
// and that every mistake names the file and a line inside the document.
func FuzzLoadConfig(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(packaging.ExampleConfig))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join("testdata", "config", "fuzz.toml")
		c := ParseConfig(path, data)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range c.Check() {
			if e.File != path || e.Line < 0 || e.Line > lines || e.Message == "" {
				t.Fatalf("mistake %q: want file %s, a line in 0..%d and a message", e.Error(), path, lines)
			}
		}
	})
}

func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}
