package posbridge

import (
	"testing"
	"time"
)

func TestCheckSooner(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		before, after time.Time
		want          bool
	}{
		{"none before, none after", time.Time{}, time.Time{}, false},
		{"none before, one after", time.Time{}, t0, true},
		{"one before, none after", t0, time.Time{}, false},
		{"brought forward", t0, t0.Add(-time.Second), true},
		{"unchanged", t0, t0, false},
		{"put back", t0, t0.Add(time.Second), false},
	} {
		if got := checkSooner(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: checkSooner = %v; want %v", tc.name, got, tc.want)
		}
	}
}

// A sale found in progress after a restart is not re-attached while a
// closer (a cashier's cancel) works on it: the closer decided, and decides
// again before writing, on the sale not being on the terminal.
func TestLanes_AdoptRefusedWhileClosing(t *testing.T) {
	lt := newLaneTable(map[string]Terminal{"1": nil})
	l := lt.get("1")
	if !lt.beginClose(l, "A") {
		t.Fatal("beginClose refused an order not on the terminal")
	}
	if lt.adopt(l, "A") || lt.onTerminal(l, "A") {
		t.Fatal("adopt re-attached a sale being closed")
	}
	lt.endClose("A")
	if !lt.adopt(l, "A") || !lt.onTerminal(l, "A") {
		t.Fatal("adopt refused a sale nobody closes")
	}
}
