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
