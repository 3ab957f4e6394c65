package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
)

// Input feeds a node's books: the Kafka consumer (ingest.Consumer), the player of a recording
// (replay.Stream), or records a test hands over. Its books publish to the node's Hub; the feed reads them
// through Do.
type Input interface {
	engine.Books
	// Run feeds the books until ctx is done.
	Run(ctx context.Context) error
	// Ready reports whether the books caught up (GET /readyz).
	Ready() bool
}

var (
	_ Input = (*ingest.Consumer)(nil)
	_ Input = (*engine.Pipeline)(nil)
)

// Config configures a Node. The zero value of every field means its documented default.
type Config struct {
	// Listen is the HTTP and WebSocket address. Port 0 picks a free port (see Node.Addr). Default
	// "127.0.0.1:8080".
	Listen string
	// Listener, when set, is a listener already bound (for a command that binds its port before anything
	// else): the node serves on it and Listen is not used. The node closes it.
	Listener net.Listener
	// ShutdownTimeout bounds the graceful part of a stop beyond Feed.DrainTimeout (clients are drained
	// first, then the HTTP server stops). Default 5 s.
	ShutdownTimeout time.Duration
	// HTTPReadTimeout bounds reading one HTTP request, HTTPWriteTimeout writing its response, and
	// HTTPIdleTimeout how long a keep-alive connection may wait for its next request. They apply to plain
	// HTTP only: an upgraded WebSocket has its deadlines cleared and follows the feed's ping and write
	// timeouts. Defaults DefaultHTTPReadTimeout, DefaultHTTPWriteTimeout, DefaultHTTPIdleTimeout.
	HTTPReadTimeout, HTTPWriteTimeout, HTTPIdleTimeout time.Duration
	// MaxHTTPConnectionsPerIP caps the open TCP connections from one IP address, whatever they carry;
	// past it a new connection is closed at once. A connection upgraded to a WebSocket leaves this count
	// for the feed's Guard.MaxConnectionsPerIP. Connections from Feed.Guard.TrustedProxies are not capped
	// (every client behind a proxy shares its address; the feed counts them by X-Forwarded-For). Default
	// DefaultMaxHTTPConnectionsPerIP; -1: no cap.
	MaxHTTPConnectionsPerIP int
	// Ingest configures the Kafka consumer that feeds the books, unless Input is set.
	Ingest ingest.Config
	// Input, when set, replaces the Kafka consumer (and Ingest is not used): it returns what feeds the
	// books, publishing to pub, such as a recording's player.
	Input func(pub engine.Publisher) (Input, error)
	// Hub configures the live Hub of the feed: resume history, how long idle views linger and how many
	// symbols get metric series of their own.
	Hub feed.HubConfig
	// Feed configures the feed (its Logger, Meter, Metrics and Ready are set by the node).
	Feed feed.Config
	// TLS, when set, makes the listener TLS: https:// and wss://. Default: plain TCP.
	TLS *tls.Config
	// Logger receives the node's logs, with a "component" attribute per part. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider, when set, records the metrics of the node's parts instead of the node's own provider,
	// whose Prometheus registry (with the Go runtime and process collectors) GET /metrics serves. Default:
	// the node's own.
	MeterProvider metric.MeterProvider
	// TracerProvider, when set, traces ingestion (see ingest.Config.TracerProvider). Default: no traces.
	TracerProvider trace.TracerProvider
}

// Defaults of Config.
const (
	DefaultListen                  = "127.0.0.1:8080"
	DefaultShutdownTimeout         = 5 * time.Second
	DefaultHTTPReadTimeout         = 30 * time.Second
	DefaultHTTPWriteTimeout        = 30 * time.Second
	DefaultHTTPIdleTimeout         = 60 * time.Second
	DefaultMaxHTTPConnectionsPerIP = 256
)

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("invalid node config")

// WithDefaults returns a copy of c with every zero field of its own set to its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.HTTPReadTimeout, DefaultHTTPReadTimeout}, {&c.HTTPWriteTimeout, DefaultHTTPWriteTimeout}, {&c.HTTPIdleTimeout, DefaultHTTPIdleTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxHTTPConnectionsPerIP == 0 {
		c.MaxHTTPConnectionsPerIP = DefaultMaxHTTPConnectionsPerIP
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks the node's own fields and those of its parts.
func (c Config) Validate() error {
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("%w: shutdown timeout is negative", ErrConfig)
	}
	if c.HTTPReadTimeout < 0 || c.HTTPWriteTimeout < 0 || c.HTTPIdleTimeout < 0 {
		return fmt.Errorf("%w: HTTP read, write and idle timeouts may not be negative", ErrConfig)
	}
	if c.MaxHTTPConnectionsPerIP < -1 {
		return fmt.Errorf("%w: HTTP connections per IP: want -1 (no cap), 0 (the default) or more", ErrConfig)
	}
	if c.Input == nil {
		if err := c.Ingest.Validate(); err != nil {
			return err
		}
	}
	if err := c.Hub.Validate(); err != nil {
		return err
	}
	return c.Feed.Validate()
}

// Node is one depthcast node: its input (Kafka ingestion or a recording) and the books it feeds, the feed
// with its Hub, the HTTP server, metrics and traces. Run starts it and blocks until its context ends or
// Close is called, then stops it cleanly: every client gets 1001, the input stops, nothing is left running.
type Node struct {
	cfg     Config
	log     *slog.Logger
	started chan struct{}
	addr    string
	srv     *feed.Server // set before started is closed
	input   Input        // set before started is closed

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New validates cfg and returns a node ready to Run.
func New(cfg Config) (*Node, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, log: cfg.Logger, started: make(chan struct{}), done: make(chan struct{})}, nil
}

// Started is closed once the node listens; Addr and Feed are valid from then on.
func (n *Node) Started() <-chan struct{} { return n.started }

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.addr }

// TLS reports whether the node serves TLS (https://, wss://).
func (n *Node) TLS() bool { return n.cfg.TLS != nil }

// Feed is the node's feed server, once Started is closed.
func (n *Node) Feed() *feed.Server { return n.srv }

// Ready reports whether the node's input caught up (what GET /readyz answers, draining aside); false before
// Started is closed.
func (n *Node) Ready() bool {
	select {
	case <-n.started:
		return n.input.Ready()
	default:
		return false
	}
}

// Run runs the node until ctx is done or Close is called. It may be called once.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.done)
	ctx, cancel := context.WithCancel(ctx)
	n.mu.Lock()
	n.cancel = cancel
	n.mu.Unlock()
	defer cancel()
	served := false // the HTTP server owns the listener from Serve on
	defer func() {
		if !served && n.cfg.Listener != nil {
			_ = n.cfg.Listener.Close()
		}
	}()

	mp := n.cfg.MeterProvider
	var metricsHandler http.Handler
	if mp == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
		if err != nil {
			return fmt.Errorf("metrics exporter: %w", err)
		}
		sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		defer func() { _ = sdk.Shutdown(context.Background()) }()
		mp, metricsHandler = sdk, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}

	// The one way a node is put together: the Hub first (it needs nothing), the input whose books publish
	// to it, then the feed over both.
	hub, err := feed.NewHub(n.cfg.Hub)
	if err != nil {
		return err
	}
	var input Input
	if n.cfg.Input != nil {
		input, err = n.cfg.Input(hub)
	} else {
		icfg := n.cfg.Ingest
		icfg.Logger = n.log.With("component", "ingest")
		icfg.Meter = mp.Meter("github.com/depthcast/depthcast/ingest")
		if icfg.TracerProvider == nil {
			icfg.TracerProvider = n.cfg.TracerProvider
		}
		input, err = ingest.New(icfg, hub)
	}
	if err != nil {
		return err
	}
	fcfg := n.cfg.Feed
	fcfg.Logger = n.log.With("component", "feed")
	fcfg.Meter = mp.Meter("github.com/depthcast/depthcast/feed")
	fcfg.Metrics = metricsHandler
	fcfg.Ready = input.Ready
	srv, err := feed.New(fcfg, hub, input)
	if err != nil {
		return err
	}

	ln := n.cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", n.cfg.Listen); err != nil {
			return err // "listen tcp ADDR: bind: address already in use"
		}
	}
	n.addr = ln.Addr().String()
	var capped *perIPListener
	if n.cfg.MaxHTTPConnectionsPerIP > 0 {
		proxies, _ := n.cfg.Feed.Guard.TrustedPrefixes() // Validate has refused bad ones
		capped = newPerIPListener(ln, n.cfg.MaxHTTPConnectionsPerIP, proxies)
		ln = capped
	}
	if n.cfg.TLS != nil {
		ln = tls.NewListener(ln, n.cfg.TLS)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: n.cfg.HTTPReadTimeout, WriteTimeout: n.cfg.HTTPWriteTimeout, IdleTimeout: n.cfg.HTTPIdleTimeout,
		ErrorLog: slog.NewLogLogger(n.log.With("component", "http").Handler(), slog.LevelDebug)}
	if capped != nil {
		hs.ConnState = capped.release
		meter := mp.Meter("github.com/depthcast/depthcast/node")
		refused, err := meter.Int64ObservableCounter("depthcast.http.connections.refused",
			metric.WithDescription("TCP connections closed as they were accepted: their IP had MaxHTTPConnectionsPerIP open"))
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(refused, capped.refused.Load())
			return nil
		}, refused)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer func() { _ = reg.Unregister() }()
	}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	inputCtx, stopInput := context.WithCancel(context.Background())
	defer stopInput()
	feedCtx, stopFeed := context.WithCancel(context.Background())
	defer stopFeed()
	wg.Go(func() {
		if err := input.Run(inputCtx); err != nil {
			errc <- fmt.Errorf("input: %w", err)
		}
	})
	wg.Go(func() { _ = srv.Run(feedCtx) })
	served = true
	wg.Go(func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	})
	attrs := []any{"addr", n.addr}
	if n.cfg.Input == nil {
		attrs = append(attrs, "brokers", n.cfg.Ingest.Brokers, "topic", n.cfg.Ingest.WithDefaults().Topic)
	}
	n.log.Info("depthcast listening", attrs...)
	n.srv, n.input = srv, input
	close(n.started)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		n.log.Error("stopping", "err", runErr)
	}
	// Stop: drain the clients first while HTTP still answers (new upgrades and /readyz get 503, what is
	// queued goes out, then 1001), then HTTP, then the input; nothing is committed, so nothing is half-done.
	drain := n.cfg.Feed.DrainTimeout
	if drain == 0 {
		drain = feed.DefaultDrainTimeout
	}
	sctx, scancel := context.WithTimeout(context.Background(), drain+n.cfg.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		n.log.Warn("clients did not all close in time", "err", err)
	}
	_ = hs.Shutdown(sctx)
	stopFeed()
	stopInput()
	wg.Wait()
	n.log.Info("depthcast stopped")
	return runErr
}

// Close stops a running node and waits for Run to return.
func (n *Node) Close() error {
	n.mu.Lock()
	cancel := n.cancel
	n.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-n.done
	return nil
}
