//go:build !windows

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// systemStateDir is where the systemd unit's StateDirectory=posbridge puts
// the service's data.
const systemStateDir = "/var/lib/posbridge"

// defaultStateDir returns where the database lives when [store] path is not
// set: the service's StateDirectory (systemd passes it in $STATE_DIRECTORY);
// else /var/lib/posbridge when it exists, so "posbridge orders" run by an
// admin reads the service's database; else the user's config directory (not
// the cache directory, which may be wiped: orders must never be lost).
func defaultStateDir() string {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d
	}
	if fi, err := os.Stat(systemStateDir); err == nil && fi.IsDir() {
		return systemStateDir
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "posbridge")
	}
	return "."
}

// probePort checks that name is a character device that can be opened for
// reading. A port held by a running posbridge (TIOCEXCL gives EBUSY) exists
// and is fine. O_NONBLOCK keeps open from waiting for carrier; O_NOCTTY keeps
// the terminal from becoming ours.
func probePort(name string) error {
	fi, err := os.Stat(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist: is the terminal plugged in? (or use port = \"auto\")", name)
		}
		return fmt.Errorf("stat port: %w", err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 || !isTTY(name) {
		return fmt.Errorf("%s is not a serial device", name)
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return nil
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("cannot open %s: permission denied (is the user in the dialout group?)", name)
		}
		return fmt.Errorf("open port: %w", err)
	}
	return f.Close()
}

// isTTY reports whether the character device name (or what its symlink, like
// /dev/posbridge-terminal, points to) is a tty: a pseudo terminal or a device
// the kernel lists in /sys/class/tty. Only ttys are opened: opening some
// other devices has effects (opening /dev/watchdog arms it).
func isTTY(name string) bool {
	real, err := filepath.EvalSymlinks(name)
	if err != nil {
		return false
	}
	if strings.HasPrefix(real, "/dev/pts/") {
		return true
	}
	_, err = os.Stat(filepath.Join("/sys/class/tty", filepath.Base(real)))
	return err == nil
}

// diskSpace returns the free bytes (for an unprivileged user) and the size of
// the file system holding dir.
func diskSpace(dir string) (free, size uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
