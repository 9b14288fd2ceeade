package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfig_CheckEventsKeep(t *testing.T) {
	const outbox = "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\ntill = \"t\"\n"
	for _, tt := range []struct {
		name    string
		section string
		want    []wantErr
		keep    time.Duration
	}{
		{"Default", "", nil, 30 * 24 * time.Hour},
		{"Week", "[store]\nevents_keep = \"168h\"\n", nil, 7 * 24 * time.Hour},
		{"Zero", "[store]\nevents_keep = \"0s\"\n", []wantErr{{31, "store.events_keep", "must be positive"}}, 0},
		{"BacklogLonger", "[store]\nevents_keep = \"168h\"\n" + outbox,
			[]wantErr{{32, "outbox.kind", "longer than store.events_keep"}}, 7 * 24 * time.Hour},
		{"BacklogFits", "[store]\nevents_keep = \"168h\"\n" + outbox + "max_backlog = \"72h\"\n", nil, 7 * 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path, data := goodWithOutbox(t, tt.section)
			c := ParseConfig(path, data)
			got := c.Check()
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %d mistakes, want %d:\n%v", len(got), len(tt.want), ConfigErrors(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Line != w.line || !strings.Contains(g.Message, w.msg) {
					t.Errorf("mistake %d = %q, want line %d: ...%s...", i, g.Error(), w.line, w.msg)
				}
			}
			if c.Store.EventsKeep.Std() != tt.keep {
				t.Errorf("events_keep = %s, want %s", c.Store.EventsKeep.Std(), tt.keep)
			}
		})
	}
}
