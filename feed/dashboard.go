package feed

import (
	"embed"
	"io/fs"
	"net/http"
)

// webFiles is the dashboard: plain HTML, CSS and JavaScript, served from the binary (no CDN, no build step).
//
//go:embed web
var webFiles embed.FS

// indexPage is the dashboard's page, served at /; its assets are under /ui/.
var indexPage = mustRead(webFiles, "web/index.html")

func mustRead(fsys fs.FS, name string) []byte {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return b
}

// dashboardAssets serves the dashboard's files under /ui/ (web/app.js at /ui/app.js). They are revalidated
// on every load, so a new binary's page never runs an old cached script.
func dashboardAssets() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
