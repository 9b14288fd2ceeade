package store

import (
	"encoding/json"
	"maps"
	"testing"
)

// FuzzObjectMembers checks objectMembers against encoding/json: for every
// input json.Unmarshal takes as an object, the same members with the same
// bytes; for valid JSON that is not an object, an error.
func FuzzObjectMembers(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":"x\"}","b":[1,{"c":"]"}],"d":null}`,
		`{"status":"paid","card":{"brand":"VISA","last4":"1111"},"version":7}`,
		`{"a":1,"a":2}`, `{"k\u00e9y":true}`, "{\"caf\xc3\xa9\":1}", "{\"bad\xff\":1}",
		`{"a":1,}`, `{"a" 1}`, `[1,2]`, `"x"`, `null`, `{"a":[}`, `{"a":1}x`, ``, `{"a":tru}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := objectMembers(data)
		var want map[string]json.RawMessage
		werr := json.Unmarshal(data, &want)
		if werr != nil || want == nil {
			if err == nil && json.Valid(data) {
				t.Fatalf("objectMembers(%q) = %v, json.Unmarshal: %v (not an object)", data, got, werr)
			}
			// Not JSON: refused, or split where only values are malformed
			// (each is caught when the undo holding it is marshalled).
			return
		}
		if err != nil {
			t.Fatalf("objectMembers(%q): %v; json.Unmarshal took it", data, err)
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("objectMembers(%q) = %q, json.Unmarshal = %q", data, got, want)
		}
	})
}

// BenchmarkUndoOf measures one undo of a paid order's snapshot, as every
// change of an order writes.
func BenchmarkUndoOf(b *testing.B) {
	before := []byte(`{"no":"20260101100000000000000001","amount":{"minor":1250,"currency":"AED"},"status":"verifying","lane":"1","version":4,"created_at":"2026-01-01T10:00:00Z","updated_at":"2026-01-01T10:00:01Z","terminal_outcome":"approved","checks":1,"next_check_at":"2026-01-01T10:00:05Z"}`)
	after := []byte(`{"no":"20260101100000000000000001","amount":{"minor":1250,"currency":"AED"},"status":"paid","lane":"1","version":5,"created_at":"2026-01-01T10:00:00Z","updated_at":"2026-01-01T10:00:02Z","terminal_outcome":"approved","checks":2,"gateway_no":"1300000000000000001","card":{"brand":"VISA","last4":"1111"}}`)
	for b.Loop() {
		if _, err := undoOf(before, after); err != nil {
			b.Fatal(err)
		}
	}
}
