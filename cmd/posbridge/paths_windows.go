//go:build windows

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
