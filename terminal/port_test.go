package terminal

import (
	"errors"
	"testing"

	"go.bug.st/serial"

	"github.com/posbridge/posbridge"
)

func TestFindPort(t *testing.T) {
	ports := []PortInfo{
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "2D2D", PID: "0001", SerialNumber: "AAA", Product: "Modem"},
		{Name: "/dev/ttyACM1", IsUSB: true, VID: "2d2d", PID: "0001", SerialNumber: "BBB", Product: "Qualcomm GPS port"},
	}
	for _, tt := range []struct {
		name  string
		match PortMatch
		want  string
		err   error
	}{
		{"first usb", PortMatch{}, "/dev/ttyACM0", nil},
		{"vid pid case-insensitive", PortMatch{VID: "2d2d", PID: "0001"}, "/dev/ttyACM0", nil},
		{"serial number", PortMatch{VID: "2D2D", SerialNumber: "BBB"}, "/dev/ttyACM1", nil},
		{"keyword", PortMatch{NameKeyword: "gps"}, "/dev/ttyACM1", nil},
		{"no match", PortMatch{VID: "1234"}, "", ErrNoTerminal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindPort(ports, tt.match)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestMapPortError(t *testing.T) {
	_, err := OpenSerial("/nonexistent/tty", 0)
	if err == nil {
		t.Fatal("opened a missing port")
	}
	other := errors.New("plain")
	if mapPortError(other) != other {
		t.Fatal("non-port errors must pass unchanged")
	}
	// go.bug.st/serial has no exported constructor; the zero PortError is PortBusy.
	mapped := mapPortError(&serial.PortError{})
	if !errors.Is(mapped, ErrPortBusy) || posbridge.ErrorCode(mapped) != posbridge.EUNAVAILABLE {
		t.Fatalf("busy port: %v (code %s)", mapped, posbridge.ErrorCode(mapped))
	}
}
