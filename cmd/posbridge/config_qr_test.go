package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestConfig_CheckQRLane(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    []wantErr
	}{
		{"qr-lane-good", nil},
		{"qr-lane-mistakes", []wantErr{
			{19, "lane[1].port", "no terminal"}, {20, "lane[1].baud", "no terminal"},
			{24, "lane[2].qr_wait", "shorter than qr_expiry"}, {31, "lane[3].qr_wait", "is for QR lanes"},
		}},
		{"qr-lane-codepay", []wantErr{{15, "lane[1].mode", `kind = "payby"`}}},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			path := filepath.Join("testdata", "config", tt.fixture+".toml")
			c, err := LoadConfig(path)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			got := c.Check()
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %d mistakes, want %d:\n%v", len(got), len(tt.want), ConfigErrors(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.File != path || g.Line != w.line || g.Key != w.key || !strings.Contains(g.Message, w.msg) {
					t.Errorf("mistake %d = %q, want %s:%d: %s: ...%s...", i, g.Error(), path, w.line, w.key, w.msg)
				}
			}
			if tt.want != nil {
				return
			}
			want := []posbridge.QRLane{
				{Wait: time.Minute, PollEvery: 2 * time.Second, Expiry: 5 * time.Minute},
				{Wait: 90 * time.Second, PollEvery: 3 * time.Second, Expiry: 10 * time.Minute},
			}
			for i, w := range want {
				if l := c.Lanes[i+1]; l.Mode != LaneQR || l.qr() != w {
					t.Errorf("lane %s: mode %q %+v, want qr %+v", l.ID, l.Mode, l.qr(), w)
				}
			}
		})
	}
}
