package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestDayConfig_Check(t *testing.T) {
	for _, tt := range []struct {
		day  DayConfig
		keys []string
	}{
		{DayConfig{CloseAt: "23:30", TimeZone: "Asia/Dubai", DeviceIDs: []string{"20001019"}}, nil},
		{DayConfig{CloseAt: "25:00"}, []string{"day.close_at"}},
		{DayConfig{CloseAt: "11pm"}, []string{"day.close_at"}},
		{DayConfig{TimeZone: "Mars/Olympus"}, []string{"day.time_zone"}},
		{DayConfig{DeviceIDs: []string{" "}}, []string{"day.device_ids"}},
		{DayConfig{CatchUpDays: -1}, []string{"day.catch_up_days"}},
	} {
		c := &Config{Day: tt.day}
		var got []string
		c.checkDay(func(key, format string, args ...any) { got = append(got, key) })
		if strings.Join(got, ",") != strings.Join(tt.keys, ",") {
			t.Errorf("%+v: mistakes %v, want %v", tt.day, got, tt.keys)
		}
		if len(tt.keys) == 0 {
			rc, err := tt.day.Root()
			if err != nil || rc.CloseAt != 23*time.Hour+30*time.Minute || rc.Location.String() != "Asia/Dubai" {
				t.Errorf("root %+v, %v", rc, err)
			}
		}
	}
	if rc, err := (DayConfig{}).Root(); err != nil || rc.CloseAt >= 0 {
		t.Errorf("no close_at: %+v, %v; want no scheduled run", rc, err)
	}
}

// TestDayCommand_AgainstTheDaemon runs "posbridge day close" and "day
// report" against the real daemon, its sandbox holding an order posbridge
// lacks; the second close changes nothing.
func TestDayCommand_AgainstTheDaemon(t *testing.T) {
	dir := t.TempDir()
	d, w, stop, err := startDemoWorld(context.Background(), demoSetup{dir: dir, listen: "127.0.0.1:0",
		script: browserApprove, logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stop(ctx)
	})
	if err := w.Sandbox.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: "GWONLY2", Kind: "sale",
		Amount: posbridge.Money{Minor: 999, Currency: "AED"}, Status: posbridge.GatewayPaid}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "demo.toml")
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut}
		if err := m.Run(context.Background(), args); err != nil {
			t.Fatalf("posbridge %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	first := run("day", "close", "--config", cfg)
	if !strings.Contains(first, "Only at the gateway  1") || !strings.Contains(first, "order GWONLY2") {
		t.Errorf("first close printed:\n%s", first)
	}
	o, err := d.Engine.Payment(context.Background(), "GWONLY2")
	if err != nil || o.Status != posbridge.StatusPaid || !o.NeedsAttention {
		t.Fatalf("GWONLY2 %+v, %v", o, err)
	}
	second := run("day", "close", "--config", cfg)
	if again, _ := d.Engine.Payment(context.Background(), "GWONLY2"); again.Version != o.Version {
		t.Errorf("the second close changed GWONLY2 (version %d → %d)", o.Version, again.Version)
	}
	if !strings.Contains(second, "(run 2)") {
		t.Errorf("second close printed:\n%s", second)
	}
	rows, err := csv.NewReader(strings.NewReader(run("day", "report", "--config", cfg))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if r[0] == "paid" && r[1] == "AED" && r[3] == "9.99" && r[2] == "1" {
			found = true
		}
	}
	if !found {
		t.Errorf("report rows %v lack paid 9.99 AED", rows)
	}

	var errOut bytes.Buffer
	m := &Main{Stdout: &bytes.Buffer{}, Stderr: &errOut}
	if err := m.Run(context.Background(), []string{"day", "close", "--config", cfg, "--date", "2999-01-01"}); err == nil ||
		!strings.Contains(err.Error(), "has not begun") {
		t.Errorf("a day in the future: %v", err)
	}
	if err := m.Run(context.Background(), []string{"day", "close", "--config", cfg, "--date", "tomorrow"}); err != errUsage {
		t.Errorf("a bad date: %v", err)
	}
}
