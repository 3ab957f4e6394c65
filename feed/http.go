package feed

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	if s.cfg.Replayer != nil {
		mux.HandleFunc("GET /replay", func(w http.ResponseWriter, r *http.Request) {
			s.serveWS(w, r.WithContext(context.WithValue(r.Context(), replayRoute{}, true)))
		})
	}
	mux.HandleFunc("GET /v1/symbols", s.serveSymbols)
	mux.HandleFunc("GET /v1/book/{symbol}", s.serveBook)
	mux.HandleFunc("GET /v1/stats", s.serveStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.isDraining() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		if !s.cfg.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("catching up\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(indexPage)
	})
	mux.Handle("GET /ui/", dashboardAssets())
	return mux
}

// replayRoute marks the requests of /replay for serveWS.
type replayRoute struct{}

// ServeHTTP serves the feed: /ws, /replay (with a Replayer), /v1/symbols, /v1/book/{symbol}, /v1/stats, /healthz, /readyz, /metrics,
// and the dashboard at / with its assets under /ui/. Every WebSocket upgrade passes the guard first
// (Config.Guard), whatever its route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r) {
		s.serveUpgrade(w, r)
		return
	}
	if !s.serveAPI(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
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

func (s *Server) serveSymbols(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"symbols": s.symbols()})
}

// serveBook answers a snapshot in the shape of the WebSocket snapshot, cut on the book's writer.
func (s *Server) serveBook(w http.ResponseWriter, r *http.Request) {
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
	if s.lookup(sym) == nil {
		writeJSON(w, http.StatusNotFound, httpError{"error", CodeUnknownSymbol, "no such symbol: " + sym})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var body []byte
	live := false
	err := s.books.Do(ctx, sym, func(b *book.Book) {
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
