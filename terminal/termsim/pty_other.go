//go:build !linux

package termsim

import (
	"errors"
	"io"
)

// PTY is only available on Linux.
type PTY struct {
	io.ReadWriteCloser
	Name, Link string
}

// OpenPTY is only available on Linux.
func OpenPTY(link string) (*PTY, error) {
	return nil, errors.New("termsim: pty is only supported on linux")
}
