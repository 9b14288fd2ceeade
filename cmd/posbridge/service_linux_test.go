//go:build linux

package main

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/posbridge/posbridge/packaging"
)

// parseUnit reads a systemd unit into section → key → values (a key may
// repeat, as DeviceAllow does). Comments and blank lines are skipped.
func parseUnit(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := make(map[string]map[string][]string)
	var section string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = make(map[string][]string)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d: %q is not key=value in a section", n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	for _, tt := range []struct {
		name, exe, cfg string
		wantExec       string
	}{
		{"packaged", "", "", "/usr/bin/posbridge run --config /etc/posbridge/posbridge.toml"},
		{"installed", "/opt/posbridge/posbridge", "/etc/posbridge/shop.toml", "/opt/posbridge/posbridge run --config /etc/posbridge/shop.toml"},
		{"quoted", "/opt/pos bridge/posbridge", "/etc/posbridge/100%.toml", `"/opt/pos bridge/posbridge" run --config /etc/posbridge/100%%.toml`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			unit := packaging.SystemdUnit
			if tt.exe != "" {
				var err error
				if unit, err = renderUnit(tt.exe, tt.cfg); err != nil {
					t.Fatalf("renderUnit: %v", err)
				}
			}
			u := parseUnit(t, unit)
			svc := u["Service"]
			if svc == nil || u["Unit"] == nil || u["Install"] == nil {
				t.Fatalf("unit sections = %v, want Unit, Service and Install", keys(u))
			}
			for _, d := range []struct {
				key  string
				want []string
			}{
				{"ExecStart", []string{tt.wantExec}},
				{"User", []string{"posbridge"}},
				{"SupplementaryGroups", []string{"dialout"}},
				{"StateDirectory", []string{"posbridge"}},
				{"Restart", []string{"on-failure"}},
				{"RestartSec", []string{"2"}},
				{"RestartPreventExitStatus", []string{strconv.Itoa(ExitConfig)}},
				{"DevicePolicy", []string{"closed"}},
				{"DeviceAllow", []string{"char-ttyACM rw", "char-ttyUSB rw"}},
				{"NoNewPrivileges", []string{"yes"}},
				{"ProtectSystem", []string{"strict"}},
				{"ProtectHome", []string{"yes"}},
				{"PrivateTmp", []string{"yes"}},
				{"RestrictAddressFamilies", []string{"AF_UNIX AF_INET AF_INET6"}},
				{"UMask", []string{"0077"}},
			} {
				if got := svc[d.key]; !slices.Equal(got, d.want) {
					t.Errorf("[Service] %s = %q, want %q", d.key, got, d.want)
				}
			}
			// PrivateDevices=yes would hide the terminal from the daemon.
			if v := svc["PrivateDevices"]; len(v) > 0 && v[0] != "no" {
				t.Errorf("PrivateDevices = %q: it hides /dev/ttyACM*", v)
			}
			if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
				t.Errorf("WantedBy = %q, want multi-user.target", got)
			}
			if strings.Contains(unit, "{{") {
				t.Errorf("unit holds template markup, which kardianos would try to expand")
			}
		})
	}
}

func TestRenderUnit_RejectsLineBreaks(t *testing.T) {
	if _, err := renderUnit("/usr/bin/posbridge", "/etc/a.toml\nUser=root"); err == nil {
		t.Fatal("renderUnit accepted a config path that injects a directive")
	}
}

// TestServiceConfig_UsesOurUnit checks that "service install" hands kardianos
// our unit, with ExecStart running this binary on the given config.
func TestServiceConfig_UsesOurUnit(t *testing.T) {
	c := serviceConfig("/etc/posbridge/posbridge.toml")
	if c.Name != serviceName || !slices.Equal(c.Arguments, []string{"run", "--config", "/etc/posbridge/posbridge.toml"}) {
		t.Fatalf("service config = %+v", c)
	}
	script, _ := c.Option["SystemdScript"].(string)
	u := parseUnit(t, script)
	exec := u["Service"]["ExecStart"]
	if len(exec) != 1 || !strings.HasSuffix(exec[0], " run --config /etc/posbridge/posbridge.toml") {
		t.Fatalf("SystemdScript ExecStart = %q, want this binary run with the config", exec)
	}
	if got := u["Service"]["User"]; !slices.Equal(got, []string{"posbridge"}) {
		t.Fatalf("SystemdScript is not our unit: User = %q", got)
	}
}
