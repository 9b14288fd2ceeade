package ui

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/posbridge/posbridge"
)

// documentedRoutes reads "METHOD /path" pairs from openapi.yaml's paths
// section: a path is a two-space-indented key starting with "/", a method a
// four-space-indented HTTP verb under it.
func documentedRoutes(t *testing.T, doc []byte) []string {
	t.Helper()
	var routes []string
	inPaths, path := false, ""
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && line != "" && !strings.HasPrefix(line, " "):
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case inPaths && strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     "):
			m := strings.TrimSuffix(strings.TrimSpace(line), ":")
			if slices.Contains([]string{"get", "post", "put", "patch", "delete"}, m) {
				routes = append(routes, strings.ToUpper(m)+" "+path)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(routes)
	return routes
}

func TestOpenAPI_RoutesMatch(t *testing.T) {
	f := &fakeService{}
	s := NewServer(f, Config{Logger: discardLogger()})
	var served []string
	for _, rt := range s.routes {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(served)
	documented := documentedRoutes(t, openAPI)
	if !slices.Equal(served, documented) {
		t.Fatalf("served and documented routes differ\nserved:     %q\ndocumented: %q", served, documented)
	}

	// Every documented route is really served: the handler answers it with
	// something other than the router's 404/405.
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		path = strings.ReplaceAll(path, "{order_no}", "NOSUCHORDER1")
		req := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:4000"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		routerMiss := rec.Code == http.StatusMethodNotAllowed ||
			rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "No such API route")
		if routerMiss {
			t.Errorf("%s: router answered %d: %s", r, rec.Code, rec.Body)
		}
	}
	// And an undocumented one is not.
	req := httptest.NewRequest("GET", "http://127.0.0.1:8080/api/v1/refunds", nil)
	req.RemoteAddr = "127.0.0.1:4000"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), posbridge.ENOTFOUND) {
		t.Errorf("undocumented route: %d %s", rec.Code, rec.Body)
	}
}

func TestOpenAPI_ErrorCodesDocumented(t *testing.T) {
	for _, code := range []string{posbridge.EINVALID, posbridge.ENOTFOUND, posbridge.ECONFLICT, posbridge.ELANEBUSY,
		posbridge.EIDEMPOTENCY, posbridge.EFINAL, posbridge.EUNAVAILABLE, posbridge.EINTERNAL,
		codeUnauthorized, codeForbidden, codeTooLarge, codeMethod, codeUnsupportedMedia, codeMisdirected} {
		if !bytes.Contains(openAPI, []byte(code)) {
			t.Errorf("openapi.yaml does not mention error code %q", code)
		}
	}
}
