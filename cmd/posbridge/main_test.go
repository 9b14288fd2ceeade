package main

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestMain_Version(t *testing.T) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background(), []string{"version"}); err != nil {
		t.Fatalf("version: %v", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "posbridge ") || !strings.Contains(got, runtime.Version()) {
		t.Fatalf("version printed %q, want the name and %s", got, runtime.Version())
	}
}

func TestMain_Usage(t *testing.T) {
	for _, args := range [][]string{nil, {"no-such-command"}} {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out}
		err := m.Run(context.Background(), args)
		if !errors.Is(err, errUsage) {
			t.Fatalf("Run(%q) = %v, want errUsage", args, err)
		}
		if !strings.Contains(out.String(), "Commands:") {
			t.Fatalf("Run(%q) printed %q, want the usage", args, out.String())
		}
		if got := exitCode(err); got != 2 {
			t.Fatalf("exit code %d, want 2", got)
		}
	}
}
