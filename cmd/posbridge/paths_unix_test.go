//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

func TestProbePort(t *testing.T) {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	defer ptm.Close()
	defer tty.Close()
	regular := filepath.Join(t.TempDir(), "ttyUSB0")
	mustWrite(t, regular, "")
	for _, tt := range []struct {
		name, port, wantErr string
	}{
		{"OK", tty.Name(), ""},
		{"ErrNotExist", "/nonexistent/ttyACM0", "does not exist"},
		{"ErrNotDevice", regular, "is not a serial device"},
		{"ErrNotTTY", "/dev/null", "is not a serial device"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := probePort(tt.port)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("probePort(%s) = %v, want %q", tt.port, err, tt.wantErr)
			}
		})
	}
}
