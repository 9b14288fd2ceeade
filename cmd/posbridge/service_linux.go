//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/kardianos/service"

	"github.com/posbridge/posbridge/packaging"
)

// serviceUser is the unit's User=; the packages' postinstall script and
// "service install" create it.
const serviceUser = "posbridge"

func platformServiceConfig(c *service.Config) {
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/bin/posbridge"
	}
	if len(c.Arguments) == 3 && c.Arguments[2] != "" {
		if unit, err := renderUnit(exe, c.Arguments[2]); err == nil {
			// Our hardened unit instead of kardianos's template.
			c.Option["SystemdScript"] = unit
		}
	}
}

// renderUnit returns packaging.SystemdUnit with ExecStart running exe with
// "run --config cfgPath", quoted for systemd.
func renderUnit(exe, cfgPath string) (string, error) {
	for _, s := range []string{exe, cfgPath} {
		if strings.Contains(s, "{{") || strings.ContainsAny(s, "\n\r") {
			// kardianos parses the unit as its template; a line break would
			// inject directives.
			return "", fmt.Errorf("path %q cannot go into a systemd unit", s)
		}
	}
	lines := strings.Split(packaging.SystemdUnit, "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, "ExecStart=") {
			lines[i] = "ExecStart=" + systemdQuote(exe) + " run --config " + systemdQuote(cfgPath)
			found = true
		}
	}
	if !found {
		return "", errors.New("packaging/linux/posbridge.service has no ExecStart")
	}
	return strings.Join(lines, "\n"), nil
}

// systemdQuote quotes one ExecStart word: specifiers (%) and variables ($)
// doubled, and double quotes around anything with a space, quote or backslash.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

// prepareInstall refuses a config the sandbox would hide and creates the
// service user.
func prepareInstall(s service.Service, cfgPath string, out io.Writer) error {
	for _, hidden := range []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"} {
		if strings.HasPrefix(cfgPath, hidden) {
			return fmt.Errorf("%s is under %s, which the service's sandbox hides (ProtectHome, PrivateTmp): put it in /etc/posbridge", cfgPath, filepath.Clean(hidden))
		}
	}
	if _, err := user.Lookup(serviceUser); err == nil {
		return nil
	}
	cmd := exec.Command("useradd", "--system", "--user-group", "--groups", "dialout",
		"--home-dir", systemStateDir, "--no-create-home", "--shell", "/usr/sbin/nologin",
		"--comment", "posbridge payment daemon", serviceUser)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create user %s: %w: %s", serviceUser, err, strings.TrimSpace(string(b)))
	}
	fmt.Fprintf(out, "%s: created system user %s (group dialout)\n", serviceName, serviceUser)
	return nil
}

// systemLogWriter returns nil: under systemd, stderr goes to the journal.
func systemLogWriter(s service.Service) (io.Writer, error) { return nil, nil }
