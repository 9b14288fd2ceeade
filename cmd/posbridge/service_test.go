package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProgram_StartStop checks the kardianos adapter: Start returns while the
// daemon runs, Stop cancels it and waits for it to return.
func TestProgram_StartStop(t *testing.T) {
	started := make(chan string, 1)
	var stopped bool
	p := &program{cfgPath: "/etc/posbridge/posbridge.toml", run: func(ctx context.Context, cfgPath string, _ daemonLogs) error {
		started <- cfgPath
		<-ctx.Done()
		stopped = true
		return ctx.Err()
	}}
	if err := p.Start(nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := <-started; got != "/etc/posbridge/posbridge.toml" {
		t.Fatalf("daemon got config %q", got)
	}
	if err := p.Start(nil); err == nil {
		t.Fatal("second Start succeeded, want an error")
	}
	if err := p.Stop(nil); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !stopped {
		t.Fatal("Stop returned before the daemon did")
	}
}

// TestProgram_StopReportsShutdownError checks that an error while shutting
// down reaches the service manager.
func TestProgram_StopReportsShutdownError(t *testing.T) {
	errClose := errors.New("close store: disk full")
	p := &program{run: func(ctx context.Context, _ string, _ daemonLogs) error {
		<-ctx.Done()
		return errClose
	}}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); !errors.Is(err, errClose) {
		t.Fatalf("Stop = %v, want %v", err, errClose)
	}
}

func TestProgram_StopBeforeStart(t *testing.T) {
	if err := (&program{}).Stop(nil); err != nil {
		t.Fatalf("Stop before Start = %v, want nil", err)
	}
}

func TestMain_ServiceUsage(t *testing.T) {
	for _, args := range [][]string{
		{"service"},
		{"service", "restart"},
		{"service", "install"},
		{"service", "start", "extra"},
	} {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out}
		if err := m.Run(context.Background(), args); !errors.Is(err, errUsage) {
			t.Errorf("Run(%q) = %v, want errUsage", args, err)
		}
	}
}

// TestMain_ServiceInstallChecksConfig checks that install refuses a config
// with mistakes before it touches the system.
func TestMain_ServiceInstallChecksConfig(t *testing.T) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	path := filepath.Join("testdata", "config", "bad-listen.toml")
	err := m.Run(context.Background(), []string{"service", "install", "--config", path})
	if err == nil || !strings.Contains(err.Error(), "bad-listen.toml:3: api.listen") {
		t.Fatalf("install with a bad config = %v, want its mistakes", err)
	}
}

func TestServeDaemon_NotWired(t *testing.T) {
	old := daemonMain
	daemonMain = nil
	defer func() { daemonMain = old }()
	m := &Main{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.serveDaemon(ctx, "x.toml"); !errors.Is(err, errNoDaemon) {
		t.Fatalf("serveDaemon = %v, want errNoDaemon", err)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
