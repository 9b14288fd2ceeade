package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI answers POST /api/v1/payments/{order_no}/verify like the ui
// package does, for the orders it knows, and records what it was sent.
type fakeAPI struct {
	token string // when set, requests without "Bearer token" get 401

	mu       sync.Mutex
	auth     []string
	bodies   []string
	requests int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.bodies = append(f.bodies, string(body))
	f.mu.Unlock()
	answer := func(status int, v string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, v)
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		answer(http.StatusForbidden, `{"error":{"code":"forbidden","message":"The bearer token is not valid."}}`)
		return
	}
	no, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/payments/"), "/verify")
	if r.Method != http.MethodPost || !ok {
		answer(http.StatusNotFound, `{"error":{"code":"not_found","message":"No such API route."}}`)
		return
	}
	switch no {
	case "20250310090200000A1LATE":
		answer(http.StatusOK, `{"order_no":"20250310090200000A1LATE","lane":"1","amount":"100.00","currency":"AED",
			"reference":"","status":"pending","reason":"","terminal_outcome":"timeout","needs_attention":false,
			"attention":"","message":"Not confirmed yet — do not take payment again","checks":3,"attempts":1,
			"next_check_at":"2025-03-10T09:05:00Z","created_at":"2025-03-10T09:02:00Z","updated_at":"2025-03-10T09:04:00Z",
			"paid_at":null,"card":{"brand":"","last4":""},"refunded":"0.00","override":null,"version":4}`)
	case "20250310090300000A1BUSY":
		answer(http.StatusServiceUnavailable, `{"error":{"code":"unavailable","message":"The gateway is not reachable now."}}`)
	default:
		answer(http.StatusNotFound, `{"error":{"code":"not_found","message":"No such payment."}}`)
	}
}

// verifyConfig writes a valid config whose [api] is the fake's address.
func verifyConfig(t *testing.T, addr, token string) string {
	t.Helper()
	api := `listen = "` + addr + `"`
	if token != "" {
		api += "\ntoken = \"" + token + "\""
	}
	return writeTestConfig(t, t.TempDir(), api, "posbridge.db")
}

func TestVerify(t *testing.T) {
	for _, tt := range []struct {
		name      string
		token     string // configured and required by the fake
		no        string
		extra     []string
		wantOut   []string
		wantErr   string
		usage     bool
		wantBody  string
		noRequest bool
	}{
		{name: "ok", no: "20250310090200000A1LATE", wantOut: []string{
			"Order 20250310090200000A1LATE", "Amount 100.00 AED", "Status pending", "Reason -",
			"Message Not confirmed yet — do not take payment again", "Gateway checks 3", "Needs attention no"}},
		{name: "token sent", token: "s3cret-token", no: "20250310090200000A1LATE", wantOut: []string{"Status pending"}},
		{name: "reason sent", no: "20250310090200000A1LATE", extra: []string{"--reason", "customer asks"},
			wantOut: []string{"Status pending"}, wantBody: `{"reason":"customer asks"}`},
		{name: "unknown order", no: "20250101000000000X1ABCDEFGHIJ", wantErr: "no such order 20250101000000000X1ABCDEFGHIJ"},
		{name: "daemon refuses", no: "20250310090300000A1BUSY", wantErr: "The gateway is not reachable now."},
		{name: "invalid order number", no: "no-such", wantErr: "invalid order number", usage: true, noRequest: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAPI{token: tt.token}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := verifyConfig(t, srv.Listener.Addr().String(), tt.token)
			out, errOut, err := run(t, append([]string{"verify", tt.no, "--config", cfg}, tt.extra...)...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("verify: %v\n%s", err, errOut)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error()+errOut, tt.wantErr) {
					t.Fatalf("verify error %v, stderr %q; want %q", err, errOut, tt.wantErr)
				}
				if got := errors.Is(err, errUsage); got != tt.usage {
					t.Errorf("usage error = %v, want %v", got, tt.usage)
				}
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(flatten(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if tt.noRequest {
				if fake.requests != 0 {
					t.Errorf("%d requests sent for a bad order number", fake.requests)
				}
				return
			}
			if fake.requests != 1 {
				t.Fatalf("%d requests, want 1", fake.requests)
			}
			wantAuth := ""
			if tt.token != "" {
				wantAuth = "Bearer " + tt.token
			}
			if fake.auth[0] != wantAuth {
				t.Errorf("Authorization %q, want %q", fake.auth[0], wantAuth)
			}
			if tt.wantBody != "" {
				var got, want any
				if json.Unmarshal([]byte(fake.bodies[0]), &got) != nil || json.Unmarshal([]byte(tt.wantBody), &want) != nil ||
					!jsonEqual(got, want) {
					t.Errorf("body %q, want %s", fake.bodies[0], tt.wantBody)
				}
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestVerify_WrongToken: a daemon that refuses the token says so and points
// at [api] token.
func TestVerify_WrongToken(t *testing.T) {
	srv := httptest.NewServer(&fakeAPI{token: "right"})
	defer srv.Close()
	cfg := verifyConfig(t, srv.Listener.Addr().String(), "wrong")
	_, _, err := run(t, "verify", "20250310090200000A1LATE", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "[api] token") {
		t.Fatalf("verify with a wrong token: %v, want a refusal naming [api] token", err)
	}
}

func TestVerify_DaemonDown(t *testing.T) {
	// A port that was just free: nothing listens on it now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := verifyConfig(t, addr, "")
	_, _, err = run(t, "verify", "20250310090200000A1LATE", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "the daemon is not running at "+addr) {
		t.Fatalf("verify with no daemon: %v, want \"the daemon is not running at %s\"", err, addr)
	}
	if errors.Is(err, errUsage) {
		t.Errorf("no daemon is not a usage mistake: %v", err)
	}
}

// TestVerify_NotPosbridge: something else on the port (a 404 page that is
// not the API's error) is not reported as "no such order".
func TestVerify_NotPosbridge(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	cfg := verifyConfig(t, srv.Listener.Addr().String(), "")
	_, _, err := run(t, "verify", "20250310090200000A1LATE", "--config", cfg)
	if err == nil || strings.Contains(err.Error(), "no such order") || !strings.Contains(err.Error(), "is the daemon listening there?") {
		t.Fatalf("verify against a non-posbridge server: %v", err)
	}
}

func TestDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "[::1]:8080",
		"10.0.0.5:8080":  "10.0.0.5:8080",
	} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
