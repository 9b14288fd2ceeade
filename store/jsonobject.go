package store

import (
	"encoding/json"
	"errors"
)

// objectMembers splits a JSON object into its members, each value's bytes as
// they stand: what json.Unmarshal into a map[string]json.RawMessage gives,
// in one pass and without checking the values. It is meant for snapshots
// this package encoded itself (every change's undo compares two of them);
// input that is not a well-formed object is handed to json.Unmarshal, so
// an error is always encoding/json's.
func objectMembers(data []byte) (map[string]json.RawMessage, error) {
	if m, ok := splitObject(data); ok {
		return m, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("json: not an object")
	}
	return m, nil
}

// splitObject is objectMembers' one pass: false when data is not an object
// it can split as it stands (a key with an escape or a byte outside ASCII,
// which encoding/json would rewrite, included).
func splitObject(data []byte) (map[string]json.RawMessage, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	m := make(map[string]json.RawMessage, 16)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return m, skipSpace(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		end, ok := stringEnd(data, i)
		if !ok {
			return nil, false
		}
		key := data[i+1 : end-1]
		for _, c := range key {
			if c == '\\' || c < 0x20 || c >= 0x80 {
				return nil, false
			}
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		vend, ok := valueEnd(data, i)
		if !ok {
			return nil, false
		}
		m[string(key)] = json.RawMessage(data[i:vend:vend])
		i = skipSpace(data, vend)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return m, skipSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string starting at data[i]
// (a '"').
func stringEnd(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// valueEnd returns the index just past the value starting at data[i]: a
// string, an object or array (to its matching bracket), or a literal or
// number (to the next delimiter). Values are not checked: the snapshots
// split here are encoding/json's own output, and a malformed value that
// differs between two is still caught when the undo holding it is
// marshalled.
func valueEnd(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, ok := stringEnd(data, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}
