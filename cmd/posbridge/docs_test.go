package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readDoc reads a file from the module root.
func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADME_Prerequisites: a newcomer learns what to install before the
// first build, and what the build says when gcc is missing.
func TestREADME_Prerequisites(t *testing.T) {
	readme := readDoc(t, "README.md")
	gomod := readDoc(t, "go.mod")
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	i := strings.Index(readme, "## Prerequisites")
	if i < 0 {
		t.Fatal("README has no \"## Prerequisites\" section")
	}
	section := readme[i:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	for _, want := range []string{"Go " + m[1], "gcc", "CGO_ENABLED", "undefined: sqlite3.Error", "first build", "chromium"} {
		if !strings.Contains(section, want) {
			t.Errorf("README's prerequisites do not mention %q", want)
		}
	}
	if !strings.Contains(readme, "docs/architecture.md") {
		t.Errorf("README does not point newcomers at docs/architecture.md")
	}
}

// TestDocs_ArchitecturePaths: every path docs/architecture.md names in
// backticks exists, so the map stays true as the tree changes.
func TestDocs_ArchitecturePaths(t *testing.T) {
	doc := readDoc(t, "docs/architecture.md")
	n := 0
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_./-]+(?:/|\\.go|\\.md|\\.yaml|\\.sql|\\.toml))`").FindAllStringSubmatch(doc, -1) {
		p := m[1]
		if strings.Contains(p, "*") || strings.Contains(p, "000N") {
			continue
		}
		n++
		if _, err := os.Stat(filepath.Join("..", "..", p)); err != nil {
			t.Errorf("docs/architecture.md names %s, which does not exist", p)
		}
	}
	for _, p := range []string{"scripts/check-imports", "scripts/mutants", "scripts/test"} {
		n++
		if _, err := os.Stat(filepath.Join("..", "..", p)); err != nil || !strings.Contains(doc, p) {
			t.Errorf("%s: missing from the tree or the doc (%v)", p, err)
		}
	}
	if n < 20 {
		t.Errorf("only %d paths checked: the pattern no longer matches the doc", n)
	}
}
