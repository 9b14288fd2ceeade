package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

var quiet = slog.New(slog.DiscardHandler)

// closingTerminal counts its Close; its other methods are never called.
type closingTerminal struct {
	posbridge.Terminal
	closed atomic.Int32
}

func (t *closingTerminal) Close() error { t.closed.Add(1); return nil }

// closer counts its Close.
type closer struct{ closed atomic.Int32 }

func (c *closer) Close() error { c.closed.Add(1); return nil }

// unusedGateway is a gateway the tests never reach (an empty store).
type unusedGateway struct{ posbridge.Gateway }

func (unusedGateway) Name() string { return "unused" }

// rig is a daemon's parts over an in-memory network.
type rig struct {
	net    *posbridgetest.MemNet
	db     *store.DB
	term   *closingTerminal
	closer *closer
	parts  daemon.Parts
}

func newRig(t *testing.T, handler func(posbridge.NotificationService) (http.Handler, error)) *rig {
	t.Helper()
	db, err := store.OpenOptions(filepath.Join(t.TempDir(), "posbridge.db"), store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{net: &posbridgetest.MemNet{}, db: db, term: &closingTerminal{}, closer: &closer{}}
	r.parts = daemon.Parts{
		Store: db, Gateway: unusedGateway{}, Terminals: map[string]posbridge.Terminal{"1": r.term},
		Reconcile: posbridge.DefaultReconcileConfig(), Logger: quiet,
		Notify:  daemon.Notify{Listener: r.net.Listen("notify"), Path: "/notify/test", Handler: handler},
		Closers: []io.Closer{r.closer},
	}
	return r
}

// post posts to the notification endpoint and returns the status.
func (r *rig) post(t *testing.T, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://notify"+path, strings.NewReader("{}"))
	resp, err := r.net.Client().Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDaemon_ServesNotificationsUntilClose: the handler made over the open
// engine answers POST at its path, nothing else; Close closes every part,
// the store last.
func TestDaemon_ServesNotificationsUntilClose(t *testing.T) {
	var svc posbridge.NotificationService
	r := newRig(t, func(s posbridge.NotificationService) (http.Handler, error) {
		svc = s
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }), nil
	})
	d, err := daemon.Open(context.Background(), r.parts)
	if err != nil {
		t.Fatal(err)
	}
	if svc != d.Engine {
		t.Fatalf("the handler was made over %v, not the daemon's engine", svc)
	}
	if d.Notify.URL() != "http://notify" || d.Notify.Path != "/notify/test" {
		t.Fatalf("notify at %s%s", d.Notify.URL(), d.Notify.Path)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/notify/test", http.StatusAccepted},
		{http.MethodGet, "/notify/test", http.StatusMethodNotAllowed},
		{http.MethodPost, "/notify/other", http.StatusNotFound},
	} {
		if got := r.post(t, tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.post(t, http.MethodPost, "/notify/test"); got != 0 {
		t.Errorf("after Close the endpoint answered %d", got)
	}
	r.checkClosed(t)
	if err := d.Close(context.Background()); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if r.term.closed.Load() != 1 {
		t.Fatal("a second Close closed the terminal again")
	}
}

// TestOpen_FailureClosesEveryPart: when Open fails (here the notification
// handler cannot be made) it closes what it was given and returns no daemon.
func TestOpen_FailureClosesEveryPart(t *testing.T) {
	errKey := errors.New("no gateway key")
	r := newRig(t, func(posbridge.NotificationService) (http.Handler, error) { return nil, errKey })
	r.parts.Metrics = r.net.Listen("metrics")
	d, err := daemon.Open(context.Background(), r.parts)
	if !errors.Is(err, errKey) || d != nil {
		t.Fatalf("Open = %v, %v; want the handler's error and no daemon", d, err)
	}
	r.checkClosed(t)
	if _, err := r.net.Dial(context.Background(), "tcp", "metrics:80"); err == nil {
		t.Error("the metrics listener is still open")
	}
}

// checkClosed fails unless the terminal, the closer, the notify listener
// and the store are closed.
func (r *rig) checkClosed(t *testing.T) {
	t.Helper()
	if r.term.closed.Load() != 1 || r.closer.closed.Load() != 1 {
		t.Errorf("terminal closed %d times, closer %d", r.term.closed.Load(), r.closer.closed.Load())
	}
	if _, err := r.net.Dial(context.Background(), "tcp", "notify:80"); err == nil {
		t.Error("the notify listener is still open")
	}
	if err := r.db.Ping(context.Background()); err == nil {
		t.Error("the store is still open")
	}
}
