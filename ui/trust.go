package ui

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/posbridge/posbridge"
)

// The trust boundary of the API. A web page on any origin can make the
// browser send requests to loopback, and a DNS name of the attacker's can be
// made to resolve to 127.0.0.1, so:
//
//   - every request must name this daemon in its Host (checkHost: 421);
//   - every state-changing request must be JSON (415), which a page on
//     another origin cannot send without a CORS preflight, which is never
//     answered, and must come from no origin (a non-browser client), the
//     page's own origin or an allowed origin (403);
//   - a request that came through a proxy is not a loopback client
//     (requireAuth), whatever its socket says.

// Error codes of the trust boundary.
const (
	codeUnsupportedMedia = "unsupported_media_type"
	codeMisdirected      = "misdirected_request"
)

// hostAllowed reports whether a Host header's host (port ignored) names this
// daemon: a loopback IP literal, localhost, a configured allowed host, or
// the literal IP the server listens on.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() {
			return true
		}
		if lh, _, err := net.SplitHostPort(s.cfg.Addr); err == nil {
			if lip := net.ParseIP(lh); lip != nil && !lip.IsUnspecified() && lip.Equal(ip) {
				return true
			}
		}
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(strings.TrimSuffix(a, "."), host) {
			return true
		}
	}
	return false
}

// checkHost refuses, with 421, any request whose Host does not name this
// daemon (DNS rebinding).
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			writeError(w, r, s.logger, &posbridge.Error{Code: codeMisdirected,
				Message: "This server does not answer for that host name; use 127.0.0.1, localhost or a name in [api] allowed_hosts."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ownPort is the port the server is reached on: the listener's once open.
func (s *Server) ownPort() string {
	_, port, _ := net.SplitHostPort(s.Addr())
	return port
}

// originAllowed allows a request without Origin (not from a browser), from
// the page's own origin (http, a host this daemon answers for, the port it
// listens on) or from one of the configured allowed origins. Scheme, host
// and port are compared; the request's own Host plays no part.
func (s *Server) originAllowed(r *http.Request) bool {
	origin, ok := r.Header["Origin"]
	if !ok {
		return true
	}
	if len(origin) != 1 {
		return false
	}
	scheme, host, port, ok := parseOrigin(origin[0])
	if !ok {
		return false // includes "null"
	}
	if scheme == "http" && port == s.ownPort() && s.hostAllowed(net.JoinHostPort(host, port)) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		as, ah, ap, ok := parseOrigin(a)
		if ok && as == scheme && strings.EqualFold(ah, host) && ap == port {
			return true
		}
	}
	return false
}

// parseOrigin splits a serialized origin into lower-case scheme, host and
// port (the scheme's default port when absent).
func parseOrigin(origin string) (scheme, host, port string, ok bool) {
	u, err := url.Parse(strings.TrimRight(origin, "/"))
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", "", "", false
	}
	scheme = strings.ToLower(u.Scheme)
	host, port = strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		default:
			return "", "", "", false
		}
	}
	return scheme, host, port, true
}

// guardWrite refuses a state-changing request that is not JSON (415) or
// that comes from a browser page on an origin that is not allowed (403).
func (s *Server) guardWrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			writeError(w, r, s.logger, &posbridge.Error{Code: codeUnsupportedMedia,
				Message: "Send the request with Content-Type: application/json."})
			return
		}
		if !s.originAllowed(r) {
			writeError(w, r, s.logger, &posbridge.Error{Code: codeForbidden,
				Message: "Requests from this web origin are not allowed; add it to [api] allowed_origins."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// proxied reports whether a request says it was forwarded by a proxy: its
// socket address is the proxy's, not the client's.
func proxied(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return false
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" header,
// the scheme matched without regard to case (RFC 9110 §11.1).
func bearerToken(auth string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(auth), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// hasControl reports whether s has a C0 or C1 control character or DEL,
// which a terminal or log viewer could take as a command.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return true
		}
	}
	return false
}

// checkText refuses free text that is too long, not UTF-8 or has control
// characters, naming the field.
func checkText(field, what, s string, maxLen int) error {
	if len(s) > maxLen || !utf8.ValidString(s) {
		return invalid(field, "%s must be valid text of at most %d bytes.", what, maxLen)
	}
	if hasControl(s) {
		return invalid(field, "%s must not contain control characters (such as escape, newline or tab).", what)
	}
	return nil
}
