package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestServer_Status(t *testing.T) {
	gatewayDown := Component{Name: "gateway", State: StateDown, Since: testStart, LastError: testStart, Detail: "gateway outcome unknown"}
	for _, tt := range []struct {
		name       string
		unplug     bool
		notReady   bool
		extra      []Component
		wantCode   int
		wantStatus string
		wantStates map[string]string
	}{
		{"AllUp", false, false, nil, 200, "ok", map[string]string{"database": "up", "terminal:1": "up", "terminal:2": "up"}},
		{"TerminalUnplugged", true, false, nil, 503, "degraded", map[string]string{"database": "up", "terminal:1": "down", "terminal:2": "up"}},
		{"DatabaseDown", false, true, nil, 503, "degraded", map[string]string{"database": "down"}},
		{"GatewayDown", false, false, []Component{gatewayDown}, 503, "degraded", map[string]string{"gateway": "down", "terminal:1": "up"}},
		{"GatewayUnused", false, false, []Component{{Name: "gateway", State: StateUnknown}}, 200, "ok", map[string]string{"gateway": "unknown"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := withLanes("1", "2")
			if tt.unplug {
				f.LanesFunc = func(context.Context) ([]posbridge.LaneStatus, error) {
					unplugged := posbridge.LaneStatus{ID: "1", Link: posbridge.LinkStatus{State: posbridge.LinkDown, Since: testStart.Add(-3 * time.Minute), Port: "/dev/ttyACM0"}}
					return []posbridge.LaneStatus{unplugged, lane("2", posbridge.LinkUp, nil)}, nil
				}
			}
			f.ReadyFunc = ready
			if tt.notReady {
				f.ReadyFunc = func(context.Context) error { return posbridge.Errorf(posbridge.EUNAVAILABLE, "closed") }
			}
			cfg := Config{Logger: discardLogger()}
			if tt.extra != nil {
				cfg.Components = func(ctx context.Context) []Component { return tt.extra }
			}
			s := NewServer(f, cfg)
			// Both the API listener and the monitoring one serve it.
			for _, h := range []http.Handler{s.Handler(), s.MonitoringHandler()} {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("GET", "http://127.0.0.1:8080/status", nil)
				r.RemoteAddr = "127.0.0.1:5555"
				h.ServeHTTP(w, r)
				if w.Code != tt.wantCode {
					t.Fatalf("GET /status = %d, want %d: %s", w.Code, tt.wantCode, w.Body)
				}
				var body statusJSON
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
					t.Fatalf("body %s: %v", w.Body, err)
				}
				if body.Status != tt.wantStatus {
					t.Errorf("status = %q, want %q", body.Status, tt.wantStatus)
				}
				got := map[string]Component{}
				for _, c := range body.Components {
					got[c.Name] = c
					if c.Since.IsZero() && c.State != StateUnknown {
						t.Errorf("%s has no since", c.Name)
					}
				}
				for name, state := range tt.wantStates {
					if got[name].State != state {
						t.Errorf("%s = %+v, want state %s", name, got[name], state)
					}
				}
				if tt.unplug && !got["terminal:1"].Since.Equal(testStart.Add(-3*time.Minute)) {
					t.Errorf("terminal:1 since %v, want when its link went down", got["terminal:1"].Since)
				}
			}
		})
	}
}

// TestServer_MonitoringHandler checks that the monitoring listener's handler
// serves the read-only routes to any client without a token, and nothing
// else.
func TestServer_MonitoringHandler(t *testing.T) {
	f := withLanes("1", "2")
	f.ReadyFunc = ready
	f.StatsFunc = func(context.Context) (posbridge.Stats, error) { return posbridge.Stats{}, nil }
	s := NewServer(f, Config{Logger: discardLogger(), Token: "a-token-that-is-long-enough-to-be-used-here"})
	h := s.MonitoringHandler()
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/metrics", 200},
		{"GET", "/status", 200},
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/api/v1/payments", 404},
		{"POST", "/api/v1/payments", 404},
		{"GET", "/", 404},
		{"POST", "/metrics", 405},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(tt.method, "http://prometheus.shop.lan:9464"+tt.path, nil)
		r.RemoteAddr = "10.1.2.3:5555" // another computer, no token
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, w.Code, tt.want)
		}
	}
}
