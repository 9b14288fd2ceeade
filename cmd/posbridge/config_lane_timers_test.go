package main

import (
	"strings"
	"testing"

	"github.com/posbridge/posbridge/packaging"
)

// TestConfig_LaneTimersAndTrace: a lane's link timers and trace file are
// read, and impossible timers are reported at their key.
func TestConfig_LaneTimersAndTrace(t *testing.T) {
	base := packaging.ExampleConfig
	for _, tt := range []struct {
		name    string
		keys    string
		wantKey string
	}{
		{"defaults", "", ""},
		{"set", "heartbeat = \"2s\"\nlink_timeout = \"10s\"\nrequest_timeout = \"5s\"\ntrace = \"/tmp/lane.trace\"\n", ""},
		{"negative", "request_timeout = \"-1s\"\n", "lane[1].request_timeout"},
		{"link-shorter-than-heartbeat", "heartbeat = \"5s\"\nlink_timeout = \"5s\"\n", "lane[1].link_timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, "sale_timeout = \"6m\"\n", "sale_timeout = \"6m\"\n"+tt.keys, 1)
			c := ParseConfig("posbridge.toml", []byte(text))
			var got string
			for _, e := range c.Check() {
				if strings.HasPrefix(e.Key, "lane[1].") && e.Key != "lane[1].app_id" && e.Key != "lane[1].port" {
					got = e.Key
				}
			}
			if got != tt.wantKey {
				t.Fatalf("error at %q, want %q: %v", got, tt.wantKey, c.Check())
			}
			if tt.name == "set" {
				l := c.Lanes[0]
				if l.Heartbeat.Std().String() != "2s" || l.LinkTimeout.Std().String() != "10s" || l.RequestTimeout.Std().String() != "5s" || l.Trace != "/tmp/lane.trace" {
					t.Fatalf("lane %+v", l)
				}
			}
		})
	}
}
