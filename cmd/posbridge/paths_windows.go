//go:build windows

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"golang.org/x/sys/windows"
)

// defaultStateDir returns %ProgramData%\posbridge: the service and an admin
// running "posbridge orders" must find the same database, whoever runs it.
func defaultStateDir() string {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "posbridge")
}

var comPort = regexp.MustCompile(`^(?i)(\\\\\.\\)?COM[0-9]+$`)

// probePort checks that name looks like a COM port. It does not open it:
// Windows opens serial ports exclusively, so probing would fail exactly when
// the service is running.
func probePort(name string) error {
	if !comPort.MatchString(name) {
		return fmt.Errorf("%q is not a COM port name, like COM3 (or use port = \"auto\")", name)
	}
	return nil
}

// diskSpace returns the free bytes (for this user) and the size of the
// volume holding dir.
func diskSpace(dir string) (free, size uint64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	if err := windows.GetDiskFreeSpaceEx(p, &free, &size, nil); err != nil {
		return 0, 0, fmt.Errorf("disk space of %s: %w", dir, err)
	}
	return free, size, nil
}
