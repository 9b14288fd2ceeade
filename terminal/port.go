package terminal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"

	"github.com/posbridge/posbridge"
)

// Port errors, mapped from *serial.PortError codes at the package edge.
var (
	ErrPortNotFound = errors.New("serial port not found")
	ErrPortBusy     = errors.New("serial port busy")
	ErrPortDenied   = errors.New("serial port permission denied")
	ErrPortClosed   = errors.New("serial port closed")
	ErrNoTerminal   = errors.New("no serial port matches the terminal")
)

// PortMatch says how Port "auto" recognises the terminal: by USB VID and PID
// (hex, case-insensitive) and optionally serial number, or by a keyword in
// the port's name or product (the Windows SDK looks for "GPS").
type PortMatch struct {
	VID, PID     string
	SerialNumber string
	NameKeyword  string
}

func (m PortMatch) matches(p PortInfo) bool {
	if m.VID == "" && m.PID == "" && m.SerialNumber == "" && m.NameKeyword == "" {
		return p.IsUSB
	}
	if m.VID != "" && !strings.EqualFold(m.VID, p.VID) {
		return false
	}
	if m.PID != "" && !strings.EqualFold(m.PID, p.PID) {
		return false
	}
	if m.SerialNumber != "" && m.SerialNumber != p.SerialNumber {
		return false
	}
	if k := strings.ToLower(m.NameKeyword); k != "" &&
		!strings.Contains(strings.ToLower(p.Name), k) && !strings.Contains(strings.ToLower(p.Product), k) {
		return false
	}
	return true
}

// PortInfo describes one serial port found on the machine.
type PortInfo struct {
	Name         string
	IsUSB        bool
	VID, PID     string
	SerialNumber string
	Product      string
	Manufacturer string
}

// Ports lists the machine's serial ports with their USB details.
func Ports() ([]PortInfo, error) {
	list, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	out := make([]PortInfo, 0, len(list))
	for _, p := range list {
		out = append(out, PortInfo{
			Name: p.Name, IsUSB: p.IsUSB, VID: p.VID, PID: p.PID,
			SerialNumber: p.SerialNumber, Product: p.Product, Manufacturer: p.Manufacturer,
		})
	}
	return out, nil
}

// FindPort returns the name of the first port in ports that m matches.
func FindPort(ports []PortInfo, m PortMatch) (string, error) {
	for _, p := range ports {
		if m.matches(p) {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("find terminal (vid %q pid %q serial %q keyword %q): %w", m.VID, m.PID, m.SerialNumber, m.NameKeyword, ErrNoTerminal)
}

// SerialOpener opens path at 115200 8N1 with go.bug.st/serial, or, when path
// is "auto", the first port m matches, enumerated afresh on every call (the
// device may come back under another name after a replug). Reads time out
// after tick and return (0, nil), which the Decoder treats as an idle tick.
func SerialOpener(path string, m PortMatch, tick time.Duration) Opener {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		name := path
		if path == "auto" {
			ports, err := Ports()
			if err != nil {
				return nil, err
			}
			if name, err = FindPort(ports, m); err != nil {
				return nil, err
			}
		}
		return OpenSerial(name, tick)
	}
}

// OpenSerial opens one serial port at 115200 8N1 with the given read timeout.
func OpenSerial(name string, tick time.Duration) (io.ReadWriteCloser, error) {
	p, err := serial.Open(name, &serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("open port %s: %w", name, mapPortError(err))
	}
	if tick > 0 {
		if err := p.SetReadTimeout(tick); err != nil {
			p.Close()
			return nil, fmt.Errorf("set read timeout on %s: %w", name, mapPortError(err))
		}
	}
	return p, nil
}

// mapPortError turns a *serial.PortError into this package's errors (which
// carry posbridge's "unavailable" meaning); other errors pass unchanged.
func mapPortError(err error) error {
	var pe *serial.PortError
	if !errors.As(err, &pe) {
		return err
	}
	var kind error
	switch pe.Code() {
	case serial.PortNotFound:
		kind = ErrPortNotFound
	case serial.PortBusy:
		kind = ErrPortBusy
	case serial.PermissionDenied:
		kind = ErrPortDenied
	case serial.PortClosed:
		kind = ErrPortClosed
	default:
		return err
	}
	return &posbridge.Error{Code: posbridge.EUNAVAILABLE, Message: "The card terminal is not reachable.", Err: fmt.Errorf("%w: %v", kind, pe)}
}
