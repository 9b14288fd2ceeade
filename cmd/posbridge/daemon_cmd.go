package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"
)

const runUsage = `Usage:
  posbridge run --config FILE

Runs the daemon in the foreground until interrupted (Ctrl-C or SIGTERM), then
shuts down cleanly: the API first, the terminal ports and the database last.
Logs go to stderr. "posbridge config check FILE" finds mistakes in FILE first.
`

// runRun runs "posbridge run --config FILE".
func (m *Main) runRun(ctx context.Context, args []string) error {
	fs := m.flagSet("run", runUsage)
	cfgPath := fs.String("config", "", "config file (TOML)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if path := os.Getenv("POSBRIDGE_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	return m.serveDaemon(ctx, *cfgPath)
}

// startCPUProfile writes a CPU profile of the daemon to path until stop is
// called (POSBRIDGE_CPUPROFILE: for scripts/bench, to see where a payment's
// CPU goes; read it with go tool pprof).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("POSBRIDGE_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("POSBRIDGE_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// runDaemon is the daemon "posbridge run" and the service run: it loads and
// checks the config, starts everything, waits for ctx, and shuts down within
// a few seconds.
func runDaemon(ctx context.Context, cfgPath string, logs daemonLogs) error {
	cfg, err := LoadCheckedConfig(cfgPath)
	if err != nil {
		return &configFailure{path: cfgPath, err: err}
	}
	logger := logs.service
	if logger == nil {
		stderr := logs.stderr
		if stderr == nil {
			stderr = os.Stderr
		}
		logger = NewLogger(cfg.Log, stderr, true)
		slog.SetDefault(logger)
	}
	d, err := openDaemon(ctx, cfg, logger, daemonOptions{})
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Close(stopCtx)
}
