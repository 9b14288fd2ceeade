package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// docIndex records where each key and table of a TOML document is, so that a
// mistake found in the decoded values can name its line. Keys are written as
// ConfigError.Key writes them: "gateway.timeout", "lane[2].port".
type docIndex struct {
	keys   []docEntry // key = value expressions, in file order
	tables []docEntry // [table] and [[array]] headers, in file order
}

type docEntry struct {
	key        string
	file       string // the file (or "$ENV_VAR") that set it; empty: the config's own file
	line       int
	start, end int // byte range of the whole expression
}

// indexDoc walks the document with go-toml's parser. It stops quietly at a
// syntax error: the decoder reports that one, and the keys before it are
// still indexed.
func indexDoc(data []byte) docIndex {
	var (
		idx    docIndex
		p      unstable.Parser
		prefix string
		counts = make(map[string]int)
	)
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			name, first := joinKey(e.Key())
			if e.Kind == unstable.ArrayTable {
				counts[name]++
				name = fmt.Sprintf("%s[%d]", name, counts[name])
			} else if base, rest, ok := strings.Cut(name, "."); ok && counts[base] > 0 {
				// [lane.sub] belongs to the latest [[lane]].
				name = fmt.Sprintf("%s[%d].%s", base, counts[base], rest)
			}
			prefix = name
			if first != nil {
				idx.tables = append(idx.tables, docEntry{key: name, line: p.Shape(first.Raw).Start.Line})
			}
		case unstable.KeyValue:
			name, first := joinKey(e.Key())
			if first == nil {
				continue
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			idx.keys = append(idx.keys, docEntry{
				key:   name,
				line:  p.Shape(first.Raw).Start.Line,
				start: int(e.Raw.Offset),
				end:   int(e.Raw.Offset + e.Raw.Length),
			})
		}
	}
	return idx
}

// joinKey returns the dotted key of it and its first part's node.
func joinKey(it unstable.Iterator) (string, *unstable.Node) {
	var (
		parts []string
		first *unstable.Node
	)
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n
		}
		parts = append(parts, string(n.Data))
	}
	return strings.Join(parts, "."), first
}

// has reports whether key is written in the document.
func (x docIndex) has(key string) bool {
	for _, e := range x.keys {
		if e.key == key {
			return true
		}
	}
	return false
}

// line returns the line of key; for a key that is not written, the line of
// the nearest table header that holds it ("lane[2]" for "lane[2].port"), so
// a missing key is reported where it should be added; 0 if neither exists.
func (x docIndex) line(key string) int {
	_, l := x.pos(key)
	return l
}

// pos returns the file and line of key, as line does; the file is empty for
// the config's own file (and for a key with no place at all).
func (x docIndex) pos(key string) (string, int) {
	for i := len(x.keys) - 1; i >= 0; i-- {
		if e := x.keys[i]; e.key == key {
			return e.file, e.line
		}
	}
	for k := key; k != ""; {
		for _, t := range x.tables {
			if t.key == k {
				return t.file, t.line
			}
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return "", 0
}

// tableAt reports whether a table header is on line.
func (x docIndex) tableAt(line int) bool {
	for _, t := range x.tables {
		if t.line == line {
			return true
		}
	}
	return false
}

// keyValueAt returns the key = value expression that holds byte offset off.
func (x docIndex) keyValueAt(off int) (docEntry, bool) {
	for _, e := range x.keys {
		if off >= e.start && off < e.end {
			return e, true
		}
	}
	return docEntry{}, false
}

// keyAt names the key of a decoding mistake at (line, col): the indexed key
// there, else a header on that line, else the decoder's own key, else the
// text before "=" on that line under the nearest header above it (a line
// with a syntax error is not indexed).
func (c *Config) keyAt(data []byte, line, col int, fallback toml.Key) string {
	off := offsetOf(data, line, col)
	if e, ok := c.index.keyValueAt(off); ok {
		return e.key
	}
	for _, t := range c.index.tables {
		if t.line == line {
			return t.key // with its array position, which fallback lacks
		}
	}
	if len(fallback) > 0 {
		return strings.Join(fallback, ".")
	}
	text := lineText(data, line)
	k, _, ok := strings.Cut(text, "=")
	if !ok {
		return ""
	}
	k = strings.Trim(strings.TrimSpace(k), `"'`)
	if k == "" || strings.ContainsAny(k, "[]# \t") {
		return ""
	}
	var prefix string
	for _, t := range c.index.tables {
		if t.line < line {
			prefix = t.key
		}
	}
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// offsetOf converts a 1-based line and column to a byte offset in data.
func offsetOf(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	off += max(col-1, 0)
	return min(off, len(data))
}

func lineText(data []byte, line int) string {
	start := offsetOf(data, line, 1)
	rest := data[start:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	return string(rest)
}
