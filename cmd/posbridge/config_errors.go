package main

import (
	"fmt"
	"strings"
)

// The mistakes a config file can hold, as the loader and Check report them.

// ConfigError is one mistake in a config file. Line is 1-based, or 0 when the
// mistake is a missing key with no place in the file.
type ConfigError struct {
	File    string
	Line    int
	Key     string // dotted, with the lane's 1-based position: "gateway.timeout", "lane[2].port"
	Message string
}

// Error formats e as "FILE:LINE: KEY: message", leaving out what is unknown.
func (e ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ConfigErrors is every mistake found in a config file, in file order.
type ConfigErrors []ConfigError

// Error lists the mistakes one per line.
func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
