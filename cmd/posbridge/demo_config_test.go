package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// TestDemoConfig_FileSaysWhatTheDemoRuns: demo.toml, read as any config
// file is, is the config the demo's daemon runs (its [reconcile] aside), for
// every gateway, with a fleet and with QR timers; so "posbridge day close
// --config DIR/demo.toml" talks to that daemon.
func TestDemoConfig_FileSaysWhatTheDemoRuns(t *testing.T) {
	dir := t.TempDir()
	keys, err := sandbox.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if _, err := demoPayProtocolSecret(dir); err != nil {
		t.Fatal(err)
	}
	pty, err := termsim.OpenPTY("") // the simulated terminal's port, as in the demo
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	port := pty.Name
	for _, tc := range []struct {
		name string
		s    demoSetup
		nats string
	}{
		{"payby", demoSetup{gateway: "payby", saleTimeout: 8 * time.Second}, ""},
		{"payby-qr-timers-fleet", demoSetup{gateway: "payby", saleTimeout: 20 * time.Second,
			qrTimers: &demoQRTimers{Wait: 6 * time.Second, PollEvery: time.Second, Expiry: 30 * time.Second}}, "nats://127.0.0.1:4222"},
		{"codepay", demoSetup{gateway: "codepay", saleTimeout: 8 * time.Second}, ""},
		{"payprotocol", demoSetup{gateway: "payprotocol", saleTimeout: 8 * time.Second}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := demoPlace{cfgPath: filepath.Join(dir, "demo.toml"), listen: "127.0.0.1:18080", port: port,
				sbURL: "http://127.0.0.1:18081", sb: sb, natsURL: tc.nats}
			cfg := demoConfig(tc.s, at)
			text := demoConfigText(cfg)
			if err := os.WriteFile(at.cfgPath, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			finishDemoConfig(cfg)
			read, err := loadConfig(at.cfgPath, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if len(read.decodeErr) > 0 {
				t.Fatalf("demo.toml does not decode: %v\n%s", read.decodeErr, text)
			}
			got, want := reflect.ValueOf(read).Elem(), reflect.ValueOf(cfg).Elem()
			for i := 0; i < got.NumField(); i++ {
				if f := got.Type().Field(i); f.IsExported() && !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
					t.Errorf("%s: demo.toml says\n%+v\nthe demo runs\n%+v\n%s", f.Name, got.Field(i).Interface(), want.Field(i).Interface(), text)
				}
			}
			if errs := read.Check(); len(errs) > 0 {
				t.Errorf("demo.toml: %v", errs)
			}
			if errs := cfg.Check(); len(errs) > 0 {
				t.Errorf("the demo's config: %v", errs)
			}
		})
	}
}
