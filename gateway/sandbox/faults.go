package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// FaultKind is what an injected fault does to a call.
type FaultKind string

// Fault kinds. Only FaultCode and FaultHTTP502 leave the state untouched;
// every other kind processes the call (and commits its change) first, so
// that the client's "query before acting again" is exercised.
const (
	FaultCode      FaultKind = "code"      // answer Code/Msg (signed unless Unsigned), change nothing
	FaultHTTP502   FaultKind = "http502"   // answer HTTP 502 with an HTML body, change nothing
	FaultDelay     FaultKind = "delay"     // commit, then answer after Delay or when the client gives up
	FaultDrop      FaultKind = "drop"      // commit, then close the connection without an answer
	FaultUnsigned  FaultKind = "unsigned"  // commit, answer without the sign header
	FaultBadSign   FaultKind = "badsign"   // commit, answer with a signature of other bytes
	FaultMalformed FaultKind = "malformed" // commit, answer truncated JSON (signed)
	FaultCommit500 FaultKind = "commit500" // commit, answer 500 SYSTEM_ERROR
	FaultCommit504 FaultKind = "commit504" // commit, answer 504 SERVICE_TIMEOUT
)

// Fault is one injected misbehaviour for the next Times calls (1 when 0) of a path.
type Fault struct {
	Kind     FaultKind     `json:"kind"`
	Code     string        `json:"code,omitempty"`
	Msg      string        `json:"msg,omitempty"`
	Unsigned bool          `json:"unsigned,omitempty"`
	Delay    time.Duration `json:"delay,omitempty"` // nanoseconds in JSON
	Times    int           `json:"times,omitempty"`
}

// SetFault queues f for path ("/acquire2/getOrder", relative to /sgs/api, or
// "*" for any path). Faults of a path apply in the order they were set.
func (s *Sandbox) SetFault(path string, f Fault) error {
	switch f.Kind {
	case FaultCode:
		if f.Code == "" {
			return fmt.Errorf("%w: fault %q needs a code", ErrInvalid, f.Kind)
		}
	case FaultHTTP502, FaultDelay, FaultDrop, FaultUnsigned, FaultBadSign, FaultMalformed, FaultCommit500, FaultCommit504:
	default:
		return fmt.Errorf("%w: unknown fault kind %q", ErrInvalid, f.Kind)
	}
	if path != "*" && !knownPath(path) {
		return fmt.Errorf("%w: unknown path %q", ErrInvalid, path)
	}
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], f)
	return nil
}

// ClearFaults removes every queued fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string][]Fault{}
}

// Faults returns the queued faults by path.
func (s *Sandbox) Faults() map[string][]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]Fault{}
	for k, v := range s.faults {
		out[k] = append([]Fault(nil), v...)
	}
	return out
}

// takeFault pops the next fault for path; s.mu must be held.
func (s *Sandbox) takeFault(path string) (Fault, bool) {
	for _, p := range []string{path, "*"} {
		q := s.faults[p]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		q[0].Times--
		if q[0].Times <= 0 {
			q = q[1:]
		}
		if len(q) == 0 {
			delete(s.faults, p)
		} else {
			s.faults[p] = q
		}
		return f, true
	}
	return Fault{}, false
}

// transportFault acts out a fault that is the same whatever the API's wire
// format: a proxy's 502 page, an answer (send) after Delay or when the
// client gives up, or a connection closed without an answer. It reports
// whether f was one of these.
func (s *Sandbox) transportFault(w http.ResponseWriter, r *http.Request, f Fault, send func()) bool {
	switch f.Kind {
	case FaultHTTP502:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	case FaultDelay:
		t := s.clock.NewTimer(f.Delay)
		select {
		case <-t.C():
		case <-r.Context().Done():
		}
		t.Stop()
		send()
	case FaultDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // aborts the response without an answer
	default:
		return false
	}
	return true
}
