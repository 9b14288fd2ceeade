package ui

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
)

// Component states in GET /status.
const (
	StateUp      = "up"      // working
	StateDown    = "down"    // not working: needs a look if it lasts
	StateUnknown = "unknown" // not used yet (no gateway call since start)
)

// Component is one part of the daemon as GET /status reports it.
type Component struct {
	// Name is "database", "gateway" or "terminal:<lane id>".
	Name string `json:"name"`
	// State is StateUp, StateDown or StateUnknown.
	State string `json:"state"`
	// Since is when the component entered State (as far as this process
	// has seen: the start of the process at the earliest).
	Since time.Time `json:"since,omitzero"`
	// Detail says more: the terminal's port and link state, the last
	// gateway error.
	Detail string `json:"detail,omitempty"`
	// LastSuccess and LastError are the last good and failed calls (the
	// gateway).
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   time.Time `json:"last_error,omitzero"`
}

// statusJSON is the body of GET /status.
type statusJSON struct {
	// Status is "ok" when every component is up or unknown, "degraded" otherwise.
	Status     string      `json:"status"`
	Time       time.Time   `json:"time"`
	Components []Component `json:"components"`
}

// sinceTracker remembers when each component entered its state, for
// components that do not say themselves (the database).
type sinceTracker struct {
	mu    sync.Mutex
	start time.Time
	seen  map[string]Component
}

func (t *sinceTracker) stamp(c Component, now time.Time) Component {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil {
		t.seen = map[string]Component{}
	}
	prev, ok := t.seen[c.Name]
	switch {
	case !c.Since.IsZero():
	case ok && prev.State == c.State:
		c.Since = prev.Since
	case !ok:
		c.Since = t.start // first look: in this state since the process started, as far as we know
	default:
		c.Since = now
	}
	t.seen[c.Name] = c
	return c
}

// handleStatus serves GET /status: every component's state and since when
// (the database, each lane's terminal link, and what Config.Components adds:
// the gateway's last success and error). It answers 200 when all are up,
// 503 when any is down, with the same body, so a plain HTTP check can alert.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	now := time.Now()
	var comps []Component
	db := Component{Name: "database", State: StateUp}
	if err := s.svc.Ready(ctx); err != nil {
		db.State, db.Detail = StateDown, "the database does not answer"
	}
	comps = append(comps, s.since.stamp(db, now))
	if lanes, err := s.svc.Lanes(ctx); err == nil {
		for _, l := range lanes {
			c := Component{Name: "terminal:" + l.ID, State: StateDown, Since: l.Link.Since, Detail: "link " + string(l.Link.State)}
			if l.Link.State == posbridge.LinkUp {
				c.State = StateUp
			}
			if l.Link.Port != "" {
				c.Detail += " on " + l.Link.Port
			}
			comps = append(comps, s.since.stamp(c, now))
		}
	}
	if s.cfg.Components != nil {
		for _, c := range s.cfg.Components(ctx) {
			comps = append(comps, s.since.stamp(c, now))
		}
	}
	body := statusJSON{Status: "ok", Time: now.UTC(), Components: comps}
	code := http.StatusOK
	for _, c := range comps {
		if c.State == StateDown {
			body.Status, code = "degraded", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, body)
}

// MonitoringHandler serves only the read-only monitoring routes, GET
// /metrics, /status, /healthz and /readyz, to any client without a token,
// for a separate listener ([metrics] listen) that Prometheus scrapes. It
// changes nothing and shows no order.
func (s *Server) MonitoringHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.metrics.ServeHTTP)
	mux.HandleFunc("GET /status", s.handleStatus)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	return mux
}

// handleHealthz serves GET /healthz: the process answers.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz serves GET /readyz: 503 while the store does not answer.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		// Not ready is an answer, not a failure of this request.
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{Error: errorBody{Code: posbridge.EUNAVAILABLE, Message: "The store is not ready."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
