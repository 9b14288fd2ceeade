// Package ui serves posbridge's local HTTP API (/api/v1, JSON), the websocket
// event stream and the cashier page (static files embedded with embed), over a
// posbridge.PaymentService. Websockets use github.com/gorilla/websocket and
// metrics github.com/prometheus/client_golang.
package ui

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posbridge/posbridge"
)

// Defaults of Config.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultMaxBodyBytes = 64 << 10
	DefaultCurrency     = "AED"

	// Server timeouts. WriteTimeout must outlast the longest ?wait= of
	// POST /payments (maxWait).
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = maxWait + 15*time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Config sets up a Server. Zero fields take the defaults.
type Config struct {
	// Addr is the listen address; DefaultAddr (loopback) when empty.
	Addr string
	// Listener, when set, is served instead of a listener on Addr (which
	// then names its address, for the Host check); Close closes it.
	Listener net.Listener
	// Token is the bearer token a client that is not on loopback must send.
	// When empty, such clients are refused.
	Token string
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed,
	// besides the page's own origin, to send state-changing requests and to
	// open the event stream.
	AllowedOrigins []string
	// AllowedHosts are the host names (or IPs), besides loopback IPs,
	// localhost and the literal IP of Addr, that requests may name in their
	// Host header; any other is refused with 421 (DNS rebinding).
	AllowedHosts []string
	// Lanes, when set, are the only lane ids POST /payments accepts.
	Lanes []string
	// RefundApproval says refunds wait for approval in the gateway's back
	// office (Pay Protocol): GET /lanes says so, and the page tells the
	// cashier that a pending refund is not money returned yet.
	RefundApproval bool
	// Currency is the currency the cashier page takes payments in
	// (DefaultCurrency when empty); the API accepts any known currency.
	Currency string
	// MaxBodyBytes limits every request body (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// Logger receives the server's logs (slog.Default() when nil).
	Logger *slog.Logger
	// Demo, when set, serves /demo/ beside the API: "posbridge demo" puts
	// its scenario picker there, and the cashier page shows the picker when
	// GET /demo/scenario answers. Its requests pass the API's checks (a
	// POST must be JSON from an allowed origin).
	Demo http.Handler
	// Registry holds extra collectors the daemon registers (for example the
	// gateway's notification counters); GET /metrics serves them too.
	Registry *prometheus.Registry
	// Components, when set, returns more components for GET /status than
	// the database and terminals the service reports (the gateway).
	Components func(ctx context.Context) []Component
	// Day, when set, serves the day's routes: POST /api/v1/day/close, GET
	// /api/v1/day/report (JSON or CSV) and the printable GET /day/report.
	// Without it they answer 404 not_found.
	Day posbridge.DayService
	// Settlement, when set, serves POST /api/v1/lanes/{lane}/settle (the
	// gateway's batch close for the lane's terminal). Without it the
	// route answers 404 not_found.
	Settlement posbridge.SettlementService
}

// Server is the local HTTP API, event stream and cashier page. Create it with
// NewServer, start it with Open and stop it with Close.
type Server struct {
	svc      posbridge.PaymentService
	cfg      Config
	logger   *slog.Logger
	handler  http.Handler
	routes   []route
	metrics  http.Handler
	since    sinceTracker // GET /status
	httpSrv  *http.Server
	ln       net.Listener
	serveErr chan error

	// shutdown is closed when the server shuts down; websocket writers then
	// send a 1001 close frame and return.
	shutdown     chan struct{}
	shutdownOnce sync.Once
	streamsMu    sync.Mutex // orders addStream against Close's Wait
	streams      sync.WaitGroup
	closed       atomic.Bool // the HTTP server was shut down
}

// NewServer returns a Server for svc; it does not listen until Open.
func NewServer(svc posbridge.PaymentService, cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Currency == "" {
		cfg.Currency = DefaultCurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		svc:      svc,
		cfg:      cfg,
		since:    sinceTracker{start: time.Now()},
		logger:   cfg.Logger.With(posbridge.LogKeyComponent, "ui"),
		shutdown: make(chan struct{}),
	}
	s.metrics = newMetricsHandler(svc, cfg.Registry, s.logger)
	s.routes = s.apiRoutes()
	s.handler = s.newHandler()
	return s
}

// Handler returns the server's handler (routes, auth, limits), for tests and
// for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Open listens on the configured address and serves in a goroutine. A port in
// use, or any other listen failure, is returned here.
func (s *Server) Open() error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
		}
	}
	s.ln = ln
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	// Shutdown neither closes nor waits for hijacked connections: tell the
	// websocket writers ourselves.
	s.httpSrv.RegisterOnShutdown(s.signalShutdown)
	s.serveErr = make(chan error, 1)
	go func() {
		err := s.httpSrv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	s.logger.Info("api listening", posbridge.LogKeyAddr, ln.Addr().String())
	return nil
}

// Addr returns the address the server listens on (useful with port 0), or
// the configured address before Open.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// URL returns the server's base URL, e.g. "http://127.0.0.1:8080".
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close shuts the server down gracefully: it stops accepting, waits for
// requests in flight until ctx ends, closes every websocket with 1001 (going
// away) and waits for their goroutines. Safe to call without Open, and
// more than once (a later call returns at once, nil).
func (s *Server) Close(ctx context.Context) error {
	s.signalShutdown()
	var err error
	if s.httpSrv != nil && s.closed.CompareAndSwap(false, true) {
		if e := s.httpSrv.Shutdown(ctx); e != nil {
			err = fmt.Errorf("shut down http server: %w", e)
			_ = s.httpSrv.Close()
		}
		if e := <-s.serveErr; e != nil && err == nil {
			err = fmt.Errorf("serve: %w", e)
		}
	}
	done := make(chan struct{})
	go func() { s.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("wait for event streams: %w", ctx.Err())
		}
	}
	return err
}

func (s *Server) signalShutdown() {
	s.shutdownOnce.Do(func() {
		s.streamsMu.Lock()
		close(s.shutdown)
		s.streamsMu.Unlock()
	})
}

// route is one API route; the table is both what is served and what the
// OpenAPI test compares with ui/openapi.yaml.
type route struct {
	method  string
	path    string // ServeMux pattern path, e.g. /api/v1/payments/{order_no}
	handler http.HandlerFunc
	public  bool // served to non-loopback clients without a token
}

func (s *Server) apiRoutes() []route {
	const p = "/api/v1"
	return []route{
		{method: "POST", path: p + "/payments", handler: s.serve(s.handlePay)},
		{method: "GET", path: p + "/payments", handler: s.serve(s.handlePayments)},
		{method: "GET", path: p + "/payments/{order_no}", handler: s.serve(s.handlePayment)},
		{method: "POST", path: p + "/payments/{order_no}/cancel", handler: s.serve(s.handleAction(actionCancel))},
		{method: "POST", path: p + "/payments/{order_no}/verify", handler: s.serve(s.handleAction(actionVerify))},
		{method: "POST", path: p + "/payments/{order_no}/check", handler: s.serve(s.handleCheck)},
		{method: "GET", path: p + "/payments/{order_no}/qr.png", handler: s.serve(s.handleQR)},
		{method: "POST", path: p + "/payments/{order_no}/retry", handler: s.serve(s.handleAction(actionRetry))},
		{method: "POST", path: p + "/payments/{order_no}/override", handler: s.serve(s.handleOverride)},
		{method: "POST", path: p + "/payments/{order_no}/refunds", handler: s.serve(s.handleRefund)},
		{method: "GET", path: p + "/payments/{order_no}/refunds", handler: s.serve(s.handleRefunds)},
		{method: "POST", path: p + "/payments/{order_no}/void", handler: s.serve(s.handleVoid)},
		{method: "POST", path: p + "/lanes/{lane}/settle", handler: s.serve(s.handleSettle)},
		{method: "GET", path: p + "/lanes", handler: s.serve(s.handleLanes)},
		{method: "GET", path: p + "/events", handler: s.handleEvents},
		{method: "GET", path: p + "/healthz", handler: s.handleHealthz, public: true},
		{method: "GET", path: p + "/readyz", handler: s.handleReadyz},
		{method: "GET", path: p + "/metrics", handler: s.metrics.ServeHTTP},
		// The probes again at the root, where service managers and Prometheus
		// look for them by default.
		{method: "GET", path: "/healthz", handler: s.handleHealthz, public: true},
		{method: "GET", path: "/readyz", handler: s.handleReadyz},
		{method: "GET", path: "/metrics", handler: s.metrics.ServeHTTP},
		{method: "GET", path: "/status", handler: s.handleStatus},
		{method: "POST", path: p + "/day/close", handler: s.needDay(s.serve(s.handleDayClose))},
		{method: "GET", path: p + "/day/report", handler: s.needDay(s.serve(s.handleDayReport))},
	}
}

func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	// paths knows every route's path whatever the method, to tell a wrong
	// method (405) from an unknown route (404).
	paths := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range s.routes {
		h := http.Handler(rt.handler)
		if rt.method != http.MethodGet {
			h = s.guardWrite(h)
		}
		if !rt.public {
			h = s.requireAuth(h)
		}
		mux.Handle(rt.method+" "+rt.path, h)
		if _, ok := allow[rt.path]; !ok {
			paths.Handle(rt.path, http.NotFoundHandler())
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
	}
	// Anything else under /api/ is a JSON 404 or 405, not the page's file server.
	mux.Handle("/api/", s.requireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			w.Header().Set("Allow", strings.Join(allow[pattern], ", "))
			writeError(w, r, s.logger, &posbridge.Error{Code: codeMethod, Message: fmt.Sprintf("%s is not allowed on %s.", r.Method, r.URL.Path)})
			return
		}
		writeError(w, r, s.logger, posbridge.Errorf(posbridge.ENOTFOUND, "No such API route: %s %s.", r.Method, r.URL.Path))
	})))
	if s.cfg.Demo != nil {
		mux.Handle("GET /demo/", s.requireAuth(s.cfg.Demo))
		mux.Handle("POST /demo/", s.requireAuth(s.guardWrite(s.cfg.Demo)))
	}
	mux.Handle("GET /day/report", s.requireAuth(s.needDay(s.serve(s.handleReportPage))))
	mux.Handle("/", s.requireAuth(staticHandler()))
	return s.checkHost(s.limitBody(mux))
}

// limitBody caps every request body; reading past the cap fails with
// *http.MaxBytesError, which decodeJSON turns into 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(w, r, s.logger, errTooLarge(s.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// requireAuth lets loopback clients through and asks every other client for
// the bearer token: 401 without one, 403 with a wrong one (or when no token
// is configured). A request forwarded by a proxy (Forwarded, X-Forwarded-For
// or X-Real-IP) is not a loopback client even when the proxy is.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLoopback(r.RemoteAddr) && !proxied(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="posbridge"`)
			writeError(w, r, s.logger, &posbridge.Error{Code: codeUnauthorized, Message: "A bearer token is required from this address."})
			return
		}
		if s.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) != 1 {
			writeError(w, r, s.logger, &posbridge.Error{Code: codeForbidden, Message: "The bearer token is not valid."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a RemoteAddr ("host:port") is in 127.0.0.0/8 or ::1.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
