package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/posbridge/posbridge"
)

// server serves one handler on a listener in a goroutine it owns.
type server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// serve starts serving h on ln; what it logs if serving fails goes to logger
// with msg.
func serve(ln net.Listener, srv *http.Server, logger *slog.Logger, msg string) *server {
	s := &server{srv: srv, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(msg, posbridge.LogKeyError, err)
		}
	}()
	return s
}

// close stops accepting, waits until ctx ends for the requests in flight,
// then drops the connections still open, and waits for the goroutine.
func (s *server) close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// NotifyServer serves the gateway's notification handler at its path on its
// own listener: the address the gateway posts to, apart from the local API.
type NotifyServer struct {
	// Path is where the handler is served (POST only), such as /notify/payby.
	Path    string
	handler http.Handler
	ln      net.Listener
	logger  *slog.Logger
	s       *server
}

// NewNotifyServer returns a server for handler at path on ln, which it owns
// from now on (Close closes it).
func NewNotifyServer(ln net.Listener, path string, handler http.Handler, logger *slog.Logger) *NotifyServer {
	return &NotifyServer{Path: path, handler: handler, ln: ln, logger: logger}
}

// Open starts serving.
func (n *NotifyServer) Open() {
	mux := http.NewServeMux()
	mux.Handle("POST "+n.Path, n.handler)
	n.s = serve(n.ln, &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
	}, n.logger, "notify server")
}

// URL is the base URL of the listener ("http://host:port"), without Path.
func (n *NotifyServer) URL() string { return "http://" + n.ln.Addr().String() }

// Handler is the notification handler served.
func (n *NotifyServer) Handler() http.Handler { return n.handler }

// Close stops serving: the requests in flight may finish until ctx ends,
// then their connections are dropped. Without Open it closes the listener.
func (n *NotifyServer) Close(ctx context.Context) error {
	if n.s == nil {
		return n.ln.Close()
	}
	return n.s.close(ctx)
}

// MonitorServer is the optional monitoring listener: the API's read-only
// monitoring routes (/metrics, /status, /healthz, /readyz), without the
// token.
type MonitorServer struct{ s *server }

// OpenMonitor serves h on ln, which it owns from now on, until Close.
func OpenMonitor(ln net.Listener, h http.Handler, logger *slog.Logger) *MonitorServer {
	return &MonitorServer{s: serve(ln, &http.Server{
		Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
	}, logger, "metrics server")}
}

// Addr is the address the listener is bound to.
func (m *MonitorServer) Addr() string { return m.s.ln.Addr().String() }

// Close stops the listener and waits for it.
func (m *MonitorServer) Close(ctx context.Context) error { return m.s.close(ctx) }
