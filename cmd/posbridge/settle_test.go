package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// With the CodePay gateway a serial lane may name its terminal_sn (the
// batch a settlement closes); a bad one is reported on its line.
func TestConfig_SettleTerminal(t *testing.T) {
	path := filepath.Join("testdata", "config", "codepay-settle-lanes.toml")
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Check()
	if len(got) != 1 || got[0].Key != "lane[2].terminal_sn" || got[0].Line != 33 || !strings.Contains(got[0].Message, "no spaces") {
		t.Fatalf("Check() = %v, want one mistake: lane[2].terminal_sn on line 33", ConfigErrors(got))
	}
	if c.Lanes[0].TerminalSN != "WPOS20231114002" {
		t.Fatalf("lane 1 terminal_sn = %q", c.Lanes[0].TerminalSN)
	}
}

// "posbridge day settle" needs --config and --lane.
func TestDaySettle_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"day", "settle"},
		{"day", "settle", "--config", "x.toml"},
		{"day", "settle", "--lane", "1"},
		{"day", "settle", "--config", "x.toml", "--lane", "1", "extra"},
	} {
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut}
		if err := m.Run(context.Background(), args); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
