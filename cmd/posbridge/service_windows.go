//go:build windows

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
)

func platformServiceConfig(c *service.Config) {
	// The virtual account the MSI uses too; no password.
	c.UserName = windowsServiceAccount
	c.Option["StartType"] = "automatic"
	// Restart within seconds after a crash, like the systemd unit.
	c.Option["OnFailure"] = "restart"
	c.Option["OnFailureDelayDuration"] = "2s"
	c.Option["OnFailureResetPeriod"] = 86400
}

// prepareInstall creates the data directory, %ProgramData%\posbridge, and
// limits it to SYSTEM, Administrators and the service (dataDirSDDL), as the
// MSI does.
func prepareInstall(s service.Service, cfgPath string, out io.Writer) error {
	dir := defaultStateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(dataDirSDDL())
	if err != nil {
		return fmt.Errorf("data directory ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("data directory ACL: %w", err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("set data directory ACL: %w", err)
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
