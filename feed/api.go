package feed

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/schema"
)

// api is the HTTP API beside the WebSocket routes (docs/protocol.md §3): /v1/symbols, /v1/book/{symbol},
// /v1/stats, /healthz, /readyz, /metrics, and the dashboard at / with its assets under /ui/. It reads the
// Hub and the Books; the door (guard.checkAPI) has already passed a /v1/ request when it gets here.
type api struct {
	hub      *Hub
	books    engine.Books
	stats    func() Stats
	ready    func() bool  // the books caught up
	draining func() bool  // Shutdown started
	metrics  http.Handler // nil: no /metrics
}

// register adds the API's routes to mux.
func (a *api) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/symbols", a.serveSymbols)
	mux.HandleFunc("GET /v1/book/{symbol}", a.serveBook)
	mux.HandleFunc("GET /v1/stats", a.serveStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.serveReady)
	if a.metrics != nil {
		mux.Handle("GET /metrics", a.metrics)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(indexPage)
	})
	mux.Handle("GET /ui/", dashboardAssets())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type httpError struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// serveReady answers 200 once the books caught up, 503 before and while draining.
func (a *api) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.draining() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	if !a.ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("catching up\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// serveSymbols lists the symbols, those the request's token may see when authentication is on.
func (a *api) serveSymbols(w http.ResponseWriter, r *http.Request) {
	syms := a.hub.symbols()
	if g := grantFrom(r.Context()); g != nil {
		syms = slices.DeleteFunc(syms, func(s symbolInfo) bool { return !g.Allows(s.Symbol) })
	}
	writeJSON(w, http.StatusOK, map[string]any{"symbols": syms})
}

func (a *api) serveStats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, a.stats())
}

// serveBook answers a snapshot in the shape of the WebSocket snapshot, cut on the book's writer.
func (a *api) serveBook(w http.ResponseWriter, r *http.Request) {
	sym := r.PathValue("symbol")
	depth := 0
	if d := r.URL.Query().Get("depth"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > MaxDepth {
			writeJSON(w, http.StatusBadRequest, httpError{"error", CodeBadRequest, "depth must be 1.." + strconv.Itoa(MaxDepth) + ", or 0 for the full book"})
			return
		}
		depth = n
	}
	if a.hub.lookup(sym) == nil {
		writeJSON(w, http.StatusNotFound, httpError{"error", CodeUnknownSymbol, "no such symbol: " + sym})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var body []byte
	live := false
	err := a.books.Do(ctx, sym, func(b *book.Book) {
		live = b.Live()
		bids := b.Top(book.Bids, depth, nil)
		asks := b.Top(book.Asks, depth, nil)
		body = schema.AppendBookMessage(nil, &schema.BookMessage{Type: schema.TypeSnapshot, Symbol: sym, Seq: b.Seq(), Time: b.Time(),
			PriceExp: b.PriceExp(), SizeExp: b.SizeExp(), Bids: bids, Asks: asks, Checksum: b.Checksum(depth)})
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, httpError{"error", CodeUnavailable, err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	st := schema.StatusStale
	if live {
		st = schema.StatusLive
	}
	w.Header().Set("X-Book-Status", st)
	_, _ = w.Write(append(body, '\n'))
}
