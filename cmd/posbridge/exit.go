package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
)

// Exit statuses of the posbridge process.
const (
	// ExitOK is success.
	ExitOK = 0
	// ExitFailure is any failure that is not a usage or config mistake; the
	// service manager restarts the daemon after it.
	ExitFailure = 1
	// ExitUsage is a command-line mistake.
	ExitUsage = 2
	// ExitConfig is a config that cannot be run with: missing, unreadable or
	// with mistakes (sysexits.h EX_CONFIG). The systemd unit does not restart
	// on it (RestartPreventExitStatus=78): restarting cannot fix a config.
	ExitConfig = 78
)

// errConfig marks an error that exits with ExitConfig.
var errConfig = errors.New("config cannot be used")

// configFailure is a config file the daemon cannot run with. Its message
// lists the mistakes and ends with one line saying what to do.
type configFailure struct {
	path string
	err  error
}

// Error lists the mistakes, then says what to do in one line.
func (e *configFailure) Error() string {
	restart := "systemctl restart posbridge"
	if runtime.GOOS == "windows" {
		restart = "sc start posbridge"
	}
	return fmt.Sprintf("%v\nconfig %s is not usable: fix it until \"posbridge config check %s\" says ok, then %s",
		e.err, e.path, e.path, restart)
}

// Unwrap returns the mistakes and errConfig.
func (e *configFailure) Unwrap() []error { return []error{e.err, errConfig} }

// exitStatus maps Run's error to the process exit status: ExitOK for
// success, ExitUsage for a usage mistake (the usage has been printed),
// ExitConfig for an unusable config, ExitFailure for anything else. It
// prints the error, prefixed with "posbridge: ", to w, except a usage one.
func exitStatus(err error, w io.Writer) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		return ExitUsage
	case errors.Is(err, errConfig):
		fmt.Fprintln(w, "posbridge:", err)
		return ExitConfig
	default:
		fmt.Fprintln(w, "posbridge:", err)
		return ExitFailure
	}
}
