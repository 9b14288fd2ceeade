package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kardianos/service"

	"github.com/posbridge/posbridge"
)

// daemonFunc runs the daemon with the config at cfgPath until ctx is
// canceled, then shuts it down and returns. It may block for its whole life.
type daemonFunc func(ctx context.Context, cfgPath string, logs daemonLogs) error

// daemonLogs says where a daemon logs.
type daemonLogs struct {
	// stderr is where it logs as its [log] section says (os.Stderr when nil).
	stderr io.Writer
	// service, when set, is the service manager's log (the Windows Event
	// Log), already the default logger: the daemon keeps it.
	service *slog.Logger
}

// daemonMain is what "posbridge run" and the system service run. The wiring
// of the engine, store, terminal, gateway and ui sets it.
var daemonMain daemonFunc = runDaemon

// errNoDaemon is returned when no daemon has been wired into the binary.
var errNoDaemon = errors.New("daemon not built into this binary")

// serviceName is the service's name for systemd and the Windows SCM; the
// MSI (packaging/windows/posbridge.wxs) registers the same name.
const (
	serviceName        = "posbridge"
	serviceDisplayName = "posbridge payment terminal"
	serviceDescription = "Takes card payments on the checkout's terminal and confirms them with the payment gateway."
)

// stopTimeout bounds how long Stop waits for the daemon to shut down; the
// systemd unit's TimeoutStopSec and the SCM's own limit are longer.
const stopTimeout = 10 * time.Second

// serviceConfig returns the kardianos config of the service that runs
// "posbridge run --config cfgPath" (cfgPath absolute).
func serviceConfig(cfgPath string) *service.Config {
	c := &service.Config{
		Name:        serviceName,
		DisplayName: serviceDisplayName,
		Description: serviceDescription,
		Arguments:   []string{"run", "--config", cfgPath},
		Option:      service.KeyValue{},
	}
	platformServiceConfig(c)
	return c
}

// program adapts a daemonFunc to kardianos's service.Interface: Start starts
// it and returns at once; Stop cancels it and waits up to stopTimeout.
type program struct {
	run     daemonFunc
	cfgPath string
	logger  *slog.Logger
	logs    daemonLogs // what run is given
	// check, when set, is run by Start before the daemon: a config it
	// rejects stops the service with that error (exit status ExitConfig
	// under systemd; a stop with an error, not a crash, for the Windows SCM,
	// so its failure actions do not restart it).
	check func(cfgPath string) error

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start runs the daemon in a goroutine that Stop ends. It never blocks: the
// SCM and systemd expect Start to return, and the terminal may be unplugged.
func (p *program) Start(s service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return errors.New("already started")
	}
	if p.check != nil {
		if err := p.check(p.cfgPath); err != nil {
			if p.logs.service != nil {
				// The Event Log: nobody reads this process's stderr.
				p.logger.Error("config not usable", posbridge.LogKeyError, err)
			}
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		err := p.run(ctx, p.cfgPath, p.logs)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			// The daemon died on its own: log it and exit non-zero so that
			// systemd (Restart=on-failure) and the SCM (OnFailure=restart)
			// start it again.
			p.logger.Error("daemon stopped", posbridge.LogKeyError, err)
			os.Exit(exitStatus(err, io.Discard))
		}
	}()
	return nil
}

// Stop cancels the daemon and waits for it to return, at most stopTimeout.
func (p *program) Stop(s service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("daemon did not stop within %s", stopTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil && !errors.Is(p.err, context.Canceled) {
		return p.err
	}
	return nil
}

// serveDaemon runs the daemon for "posbridge run --config FILE": in the
// foreground until ctx is canceled when started from a terminal, or under the
// service manager's control (the Windows SCM handshake, Event Log logging)
// when started as a service.
func (m *Main) serveDaemon(ctx context.Context, cfgPath string) error {
	if daemonMain == nil {
		return errNoDaemon
	}
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return fmt.Errorf("config path: %w", err)
	}
	if service.Interactive() {
		return daemonMain(ctx, abs, daemonLogs{stderr: m.Stderr})
	}
	p := &program{run: daemonMain, cfgPath: abs, logger: slog.Default(), check: checkConfigFile, logs: daemonLogs{stderr: m.Stderr}}
	s, err := service.New(p, serviceConfig(abs))
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if w, err := systemLogWriter(s); err != nil {
		return fmt.Errorf("open system log: %w", err)
	} else if w != nil {
		p.logger = NewLogger(LogConfig{Level: DefaultLogLevel, Format: "text"}, w, false)
		slog.SetDefault(p.logger)
		p.logs.service = p.logger
	}
	return s.Run()
}

// checkConfigFile loads and checks the config at path, returning a
// *configFailure when it cannot be run with.
func checkConfigFile(path string) error {
	if _, err := LoadCheckedConfig(path); err != nil {
		return &configFailure{path: path, err: err}
	}
	return nil
}

const serviceUsage = `Usage:
  posbridge service install --config FILE
  posbridge service uninstall|start|stop|status

install checks FILE, then registers the system service that runs
"posbridge run --config FILE" (on Linux: our hardened systemd unit, run as the
posbridge user, created if needed). The service starts at boot; "start" starts
it now.
`

// runService runs "posbridge service ACTION".
func (m *Main) runService(ctx context.Context, args []string) error {
	fs := m.flagSet("service", serviceUsage)
	cfgPath := fs.String("config", "", "config file (install)")
	if len(args) == 0 {
		fs.Usage()
		return errUsage
	}
	action := args[0]
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	switch action {
	case "install", "uninstall", "start", "stop", "status":
	default:
		fs.Usage()
		return errUsage
	}
	if action == "install" && *cfgPath == "" {
		fmt.Fprintln(m.Stderr, "posbridge service install: --config FILE is required")
		return errUsage
	}
	abs := ""
	if *cfgPath != "" {
		var err error
		if abs, err = filepath.Abs(*cfgPath); err != nil {
			return fmt.Errorf("config path: %w", err)
		}
	}
	s, err := service.New(&program{run: daemonMain, cfgPath: abs, logger: slog.Default()}, serviceConfig(abs))
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	switch action {
	case "install":
		if _, err := LoadCheckedConfig(abs); err != nil {
			return fmt.Errorf("not installing, the config has mistakes:\n%w", err)
		}
		if err := prepareInstall(s, abs, m.Stdout); err != nil {
			return err
		}
	case "status":
		st, err := s.Status()
		if err != nil && !errors.Is(err, service.ErrNotInstalled) {
			return fmt.Errorf("service status: %w", err)
		}
		fmt.Fprintf(m.Stdout, "%s: %s\n", serviceName, statusText(st, err))
		return nil
	}
	if err := service.Control(s, action); err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	fmt.Fprintf(m.Stdout, "%s: %s done\n", serviceName, action)
	return nil
}

func statusText(st service.Status, err error) string {
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed"
	case st == service.StatusRunning:
		return "running"
	case st == service.StatusStopped:
		return "stopped"
	default:
		return "unknown"
	}
}

// NewLogger returns the slog logger c describes, writing to w. withTime false
// leaves out the time, for sinks that stamp their own (the Event Log, journald).
func NewLogger(c LogConfig, w io.Writer, withTime bool) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if !withTime {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
