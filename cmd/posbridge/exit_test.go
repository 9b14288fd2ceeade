package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posbridge/posbridge/packaging"
)

func TestExitStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"OK", nil, ExitOK},
		{"Usage", fmt.Errorf("run: %w", errUsage), ExitUsage},
		{"ConfigMistakes", errConfigMistakes, ExitConfig},
		{"ConfigFailure", &configFailure{path: "a.toml", err: errors.New("a.toml:3: api.listen: bad")}, ExitConfig},
		{"Other", errors.New("listen tcp: address in use"), ExitFailure},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := exitStatus(tt.err, &out); got != tt.want {
				t.Fatalf("exitStatus(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestMain_RunWithExampleConfig runs the daemon on the untouched example, as
// an unconfigured till's service does: it must exit with ExitConfig (which
// the unit does not restart on) and end with one line saying what to do.
func TestMain_RunWithExampleConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posbridge.toml")
	mustWrite(t, path, packaging.ExampleConfig)
	for _, tt := range []struct {
		name string
		path string
	}{
		{"Example", path},
		{"Missing", filepath.Join(dir, "none.toml")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := &Main{Stdout: &out, Stderr: &out}
			err := m.Run(context.Background(), []string{"run", "--config", tt.path})
			var printed bytes.Buffer
			if got := exitStatus(err, &printed); got != ExitConfig {
				t.Fatalf("run = %v (exit %d), want exit %d", err, got, ExitConfig)
			}
			lines := strings.Split(strings.TrimSpace(printed.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, "posbridge config check "+tt.path) || !strings.Contains(last, "restart") && !strings.Contains(last, "sc start") {
				t.Fatalf("last line %q: want what to do (config check, then restart)", last)
			}
		})
	}
}

// TestProgram_StartRefusesBadConfig checks the service path: Start checks the
// config before starting the daemon and returns the failure, so systemd gets
// exit 78 and the Windows SCM a stop with an error rather than a crash.
func TestProgram_StartRefusesBadConfig(t *testing.T) {
	started := false
	p := &program{
		run:     func(ctx context.Context, cfgPath string, _ daemonLogs) error { started = true; return nil },
		cfgPath: filepath.Join(t.TempDir(), "none.toml"),
		logger:  NewLogger(LogConfig{Level: "error"}, &bytes.Buffer{}, false),
		check:   checkConfigFile,
	}
	err := p.Start(nil)
	if !errors.Is(err, errConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start = %v, want a config failure for the missing file", err)
	}
	if started {
		t.Fatal("the daemon started with a config that cannot be used")
	}
}

func TestMain_ConfigExample(t *testing.T) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background(), []string{"config", "example"}); err != nil {
		t.Fatalf("config example: %v", err)
	}
	if out.String() != packaging.ExampleConfig {
		t.Fatalf("config example printed something other than packaging/posbridge.example.toml")
	}
}
