//go:build linux

package termsim

import (
	"errors"
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal standing in for the terminal's USB serial port:
// the simulator serves the master side, and any serial client opens Name
// (or Link, a symlink to it).
type PTY struct {
	master, slave *os.File
	// Name is the device path of the slave side, e.g. /dev/pts/3.
	Name string
	// Link is the symlink pointing at Name, when one was asked for.
	Link string
}

// OpenPTY creates a pty in raw mode and, when link is not empty, points the
// symlink link at it (replacing an older symlink there). The PTY keeps its
// slave side open so that clients may come and go, like a terminal that stays
// plugged in while the ECR restarts.
func OpenPTY(link string) (*PTY, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	p := &PTY{master: m, slave: s, Name: s.Name()}
	if err := makeRaw(s); err != nil {
		p.Close()
		return nil, err
	}
	if link != "" {
		if fi, err := os.Lstat(link); err == nil {
			if fi.Mode()&os.ModeSymlink == 0 {
				p.Close()
				return nil, fmt.Errorf("link %s: exists and is not a symlink", link)
			}
			if err := os.Remove(link); err != nil {
				p.Close()
				return nil, fmt.Errorf("replace link %s: %w", link, err)
			}
		}
		if err := os.Symlink(p.Name, link); err != nil {
			p.Close()
			return nil, fmt.Errorf("link %s to %s: %w", link, p.Name, err)
		}
		p.Link = link
	}
	return p, nil
}

func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get pty termios: %w", err)
	}
	// cfmakeraw
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set pty raw: %w", err)
	}
	return nil
}

// Read reads from the master side.
func (p *PTY) Read(b []byte) (int, error) { return p.master.Read(b) }

// Write writes to the master side.
func (p *PTY) Write(b []byte) (int, error) { return p.master.Write(b) }

// Close removes the link (if it still points here) and closes both sides,
// which a client sees as the cable being pulled.
func (p *PTY) Close() error {
	if p.Link != "" {
		if dst, err := os.Readlink(p.Link); err == nil && dst == p.Name {
			os.Remove(p.Link)
		}
	}
	return errors.Join(p.master.Close(), p.slave.Close())
}
