package gateway

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/posbridge/posbridge"
)

// NotifyServer is the HTTP side every gateway's notification handler
// shares: POST only, the body read up to MaxBody, checked by Verify before
// anything is trusted, handed to the service, and answered with Ack only
// when the service returned nil (stored and applied). Forged (401),
// malformed (400) and oversized (413) requests are counted and reach
// nothing; a service error gets a 500 so that the gateway retries. A
// notification signed by the gateway but outside its time window
// (ErrStale) is handed over marked stale: its content is not trusted, it
// only makes the engine ask the gateway. Safe for concurrent use.
type NotifyServer struct {
	gateway string
	ack     string
	fail    string
	maxBody int64
	clock   posbridge.Clock
	svc     posbridge.NotificationService
	log     *slog.Logger
	verify  func(body []byte, h http.Header, now time.Time) (posbridge.Notification, error)
	// refuseStale: a stale notification is refused (401), not verified by query.
	refuseStale bool
	logReceived bool

	accepted, forged, stale, malformed, oversized, serviceErrors atomic.Uint64
}

// NotifyServerConfig configures a NotifyServer.
type NotifyServerConfig struct {
	Gateway string // the gateway's name, for logs ("payby")
	Ack     string // the body that acknowledges a notification
	Fail    string // the body of a refusal
	MaxBody int64  // required, > 0
	Clock   posbridge.Clock
	Logger  *slog.Logger
	// Verify checks and decodes a notification's body (sent with header
	// h) at now: an error wrapping ErrForged, ErrMalformed or ErrOversized
	// refuses it; ErrStale comes with the decoded notification.
	Verify func(body []byte, h http.Header, now time.Time) (posbridge.Notification, error)
	// RefuseStale refuses (401, counted stale, nothing applied) a
	// notification outside the window instead of handing it over marked
	// stale: for gateways whose timestamp is part of the signature and
	// whose retries are signed afresh (Pay Protocol), an old one is a replay.
	RefuseStale bool
	// LogReceived logs each notification Verify accepted (not a stale
	// one): its id, order and status.
	LogReceived bool
}

// NewNotifyServer returns a server applying notifications through svc.
func NewNotifyServer(cfg NotifyServerConfig, svc posbridge.NotificationService) (*NotifyServer, error) {
	if svc == nil {
		return nil, fmt.Errorf("%s notify: a notification service is required", cfg.Gateway)
	}
	if cfg.Verify == nil || cfg.MaxBody <= 0 {
		return nil, fmt.Errorf("%s notify: Verify and MaxBody are required", cfg.Gateway)
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &NotifyServer{gateway: cfg.Gateway, ack: cfg.Ack, fail: cfg.Fail, maxBody: cfg.MaxBody, clock: cfg.Clock, svc: svc, verify: cfg.Verify, refuseStale: cfg.RefuseStale, logReceived: cfg.LogReceived,
		log: cfg.Logger.With(posbridge.LogKeyComponent, "notify", posbridge.LogKeyGateway, cfg.Gateway)}, nil
}

// NotifyKey returns key, or the public key loaded from file when key is
// nil; a missing or bad file is an error naming it.
func NotifyKey(gateway string, key *rsa.PublicKey, file string) (*rsa.PublicKey, error) {
	if key != nil {
		return key, nil
	}
	if file == "" {
		return nil, fmt.Errorf("%s notify: gateway public key file is required", gateway)
	}
	key, err := LoadPublicKey(file)
	if err != nil {
		return nil, fmt.Errorf("%s notify: %w", gateway, err)
	}
	return key, nil
}

// Stats returns the server's counters.
func (s *NotifyServer) Stats() NotifyStats {
	return NotifyStats{
		Accepted:      s.accepted.Load(),
		Forged:        s.forged.Load(),
		Stale:         s.stale.Load(),
		Malformed:     s.malformed.Load(),
		Oversized:     s.oversized.Load(),
		ServiceErrors: s.serviceErrors.Load(),
	}
}

// ServeHTTP handles one notification.
func (s *NotifyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.malformed.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, r, fmt.Errorf("%w: over %d bytes", ErrOversized, s.maxBody))
			return
		}
		s.refuse(w, r, fmt.Errorf("%w: read body: %w", ErrMalformed, err))
		return
	}
	n, err := s.verify(body, r.Header, s.clock.Now())
	if err == nil && s.logReceived {
		s.log.Info("notification received", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo, "status", notifyStatus(n))
	}
	if errors.Is(err, ErrStale) && s.refuseStale {
		s.stale.Add(1)
		s.log.Warn("notification refused", posbridge.LogKeyAddr, r.RemoteAddr, posbridge.LogKeyError, err)
		http.Error(w, s.fail, http.StatusUnauthorized)
		return
	}
	if errors.Is(err, ErrStale) {
		// Signed by the gateway but outside the window: a late retry (the
		// gateways retry for hours, possibly with the first timestamp) or
		// a replay. Its content is not trusted; the engine asks the gateway.
		s.stale.Add(1)
		s.log.Info("stale notification verified by query", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo)
		n.Stale = true
		err = nil
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if err := s.svc.ApplyNotification(r.Context(), n); err != nil {
		s.serviceErrors.Add(1)
		s.log.Error("notification not applied", "notify_id", n.ID, posbridge.LogKeyOrder, n.OrderNo, posbridge.LogKeyError, err)
		http.Error(w, s.fail, http.StatusInternalServerError)
		return
	}
	s.accepted.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, s.ack)
}

func (s *NotifyServer) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrOversized):
		s.oversized.Add(1)
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrForged):
		s.forged.Add(1)
		status = http.StatusUnauthorized
	default:
		s.malformed.Add(1)
	}
	s.log.Warn("notification refused", posbridge.LogKeyAddr, r.RemoteAddr, posbridge.LogKeyError, err)
	http.Error(w, s.fail, status)
}

// notifyStatus is a notification's status for the log: the refund's for a
// refund, else the order's.
func notifyStatus(n posbridge.Notification) string {
	if n.Kind == posbridge.NotifyRefund {
		return string(n.Refund)
	}
	return string(n.Status)
}
