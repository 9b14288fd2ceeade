package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

// web holds the cashier page: plain HTML, CSS and JS, no build step.
//
//go:embed web
var web embed.FS

// openAPI is the API's description, served as a file and checked by tests
// against the routes served.
//
//go:embed openapi.yaml
var openAPI []byte

func staticHandler() http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		// The page loads nothing from elsewhere; say so to the browser.
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/openapi.yaml" {
			h.Set("Content-Type", "application/yaml")
			_, _ = w.Write(openAPI)
			return
		}
		files.ServeHTTP(w, r)
	})
}
