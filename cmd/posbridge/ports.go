package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/posbridge/posbridge/terminal"
)

const portsUsage = `Usage:
  posbridge ports

Lists the serial ports of this machine with USB VID, PID, serial number and
product name, to fill in a lane's port or its auto-detection match.
`

// runPorts runs "posbridge ports".
func (m *Main) runPorts(ctx context.Context, args []string) error {
	fs := m.flagSet("ports", portsUsage)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	ports, err := terminal.Ports()
	if err != nil {
		return err
	}
	writePorts(m, ports)
	return nil
}

func writePorts(m *Main, ports []terminal.PortInfo) {
	if len(ports) == 0 {
		fmt.Fprintln(m.Stdout, "no serial ports found")
		return
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PORT\tVID\tPID\tSERIAL\tPRODUCT")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, p := range ports {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, dash(p.VID), dash(p.PID), dash(p.SerialNumber), dash(p.Product))
	}
	w.Flush()
}
