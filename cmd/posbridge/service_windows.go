//go:build windows

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kardianos/service"
)

func platformServiceConfig(c *service.Config) {
	c.Option["StartType"] = "automatic"
	// Restart within seconds after a crash, like the systemd unit.
	c.Option["OnFailure"] = "restart"
	c.Option["OnFailureDelayDuration"] = "2s"
	c.Option["OnFailureResetPeriod"] = 60
}

// prepareInstall creates the data directory, %ProgramData%\posbridge.
func prepareInstall(s service.Service, cfgPath string, out io.Writer) error {
	if err := os.MkdirAll(defaultStateDir(), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// systemLogWriter returns a writer to the Windows Event Log when running as a
// service (nil when interactive: stderr is the console).
func systemLogWriter(s service.Service) (io.Writer, error) {
	if service.Interactive() {
		return nil, nil
	}
	l, err := s.SystemLogger(nil)
	if err != nil {
		return nil, err
	}
	return &eventLogWriter{l: l}, nil
}

// eventLogWriter writes slog text records to the Event Log, one event per
// record, with the Event Log level taken from the record's level.
type eventLogWriter struct {
	l service.Logger
}

// Write logs p as one event. It returns len(p) even when the Event Log
// refuses the event: a logging failure must not fail the caller.
func (w *eventLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	switch {
	case strings.HasPrefix(msg, "level=ERROR"):
		_ = w.l.Error(msg)
	case strings.HasPrefix(msg, "level=WARN"):
		_ = w.l.Warning(msg)
	default:
		_ = w.l.Info(msg)
	}
	return len(p), nil
}
