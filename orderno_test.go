package posbridge_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestNewOrderNo(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 30, 15, 123_000_000, time.UTC)
	tests := []struct {
		lane, prefix string
	}{
		{"1", "202611210930151231"},
		{"lane-7", "20261121093015123lan"},
		{"", "20261121093015123L"},
		{"---", "20261121093015123L"},
		{"Z9", "20261121093015123Z9"},
	}
	for _, tt := range tests {
		no, err := posbridge.NewOrderNo(now, tt.lane, nil)
		if err != nil {
			t.Fatalf("NewOrderNo: %v", err)
		}
		if !strings.HasPrefix(string(no), tt.prefix) {
			t.Errorf("NewOrderNo(lane %q) = %s, want prefix %s", tt.lane, no, tt.prefix)
		}
		if err := no.Validate(); err != nil {
			t.Errorf("generated %s does not validate: %v", no, err)
		}
		if len(no) > posbridge.MaxOrderNoLen {
			t.Errorf("%s is %d characters", no, len(no))
		}
	}
}

func TestNewOrderNo_UniqueInOneMillisecond(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 30, 15, 0, time.UTC)
	seen := make(map[posbridge.OrderNo]bool, 10000)
	for i := 0; i < 10000; i++ {
		no, err := posbridge.NewOrderNo(now, "lane1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[no] {
			t.Fatalf("duplicate order number %s after %d calls", no, i)
		}
		seen[no] = true
	}
}

func TestNewOrderNo_RandomFails(t *testing.T) {
	_, err := posbridge.NewOrderNo(time.Now(), "1", bytes.NewReader([]byte{1, 2}))
	if err == nil {
		t.Fatal("NewOrderNo with a short random source succeeded")
	}
}

func TestParseOrderNo(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"A", true},
		{"20261121093015123L1abcDEF0123", true},
		{strings.Repeat("9", 32), true},
		{strings.Repeat("9", 33), false},
		{"", false},
		{"ab-cd", false},
		{"ab_cd", false},
		{"ab cd", false},
		{"ab\x00", false},
		{"été", false},
	}
	for _, tt := range tests {
		_, err := posbridge.ParseOrderNo(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseOrderNo(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, posbridge.ErrInvalidOrderNo) {
			t.Errorf("ParseOrderNo(%q) error %v does not wrap ErrInvalidOrderNo", tt.in, err)
		}
	}
}
