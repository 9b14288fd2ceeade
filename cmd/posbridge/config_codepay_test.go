package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfig_CheckCodePay(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    []wantErr
	}{
		{"codepay-good", nil},
		{"codepay-missing-app-id", []wantErr{{8, "gateway.app_id", "missing"}, {12, "gateway.partner_id", "PayBy key"}}},
		{"codepay-long-merchant-no", []wantErr{{12, "gateway.merchant_no", "longer than CodePay's 32"}}},
		{"cloud-lane-payby", []wantErr{{32, "lane[3].mode", `kind = "codepay"`}, {34, "lane[3].port", "no cable"}}},
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
			if tt.want == nil && (c.Gateway.AppID != "wz6012822ca2f1as78" || c.Gateway.StoreNo != "4312") {
				t.Errorf("gateway = %+v", c.Gateway)
			}
			if tt.want == nil && (len(c.Lanes) != 3 || c.Lanes[2].Mode != LaneCloud || c.Lanes[2].TerminalSN != "WPOS20231114001" || c.Lanes[2].PollFor.Std() != time.Minute) {
				t.Errorf("lanes = %+v", c.Lanes)
			}
		})
	}
}
