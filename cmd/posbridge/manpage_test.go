package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestManPage checks that posbridge(1) is made from the CLI's help: every
// command the usage lists has its own section holding its help text.
func TestManPage(t *testing.T) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background(), []string{"man"}); err != nil {
		t.Fatalf("man: %v", err)
	}
	page := out.String()
	if !strings.HasPrefix(page, `.\"`) || !strings.Contains(page, "\n.TH POSBRIDGE 1 ") || !strings.Contains(page, "\n.SH EXIT STATUS\n") {
		t.Fatalf("not a man page:\n%s", page)
	}
	documented := map[string]bool{"version": true, "man": true} // described in the usage itself
	for _, c := range manCommands {
		documented[c.name] = true
		if !strings.Contains(page, ".SS "+c.name+"\n") || !strings.Contains(page, roffText(strings.TrimRight(c.help, "\n"))) {
			t.Errorf("the man page lacks %s's help", c.name)
		}
	}
	_, commands, _ := strings.Cut(usage, "Commands:\n")
	for _, mm := range regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(commands, -1) {
		if !documented[mm[1]] {
			t.Errorf("command %s is in the usage but not in the man page", mm[1])
		}
	}
	for i, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "'") {
			t.Errorf("line %d starts with a roff control character: %q", i+1, l)
		}
	}
}
