package main

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

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// The two sides meet only here.
var (
	_ ingest.Publisher = (*feed.Server)(nil)
	_ feed.Books       = (*ingest.Consumer)(nil)
)

// MainConfig configures a feed node.
type MainConfig struct {
	// Listen is the HTTP and WebSocket address. Port 0 picks a free port (see Main.Addr). Default
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
	// for the feed's Guard.MaxConnectionsPerIP. Default DefaultMaxHTTPConnectionsPerIP; -1: no cap.
	MaxHTTPConnectionsPerIP int
	Ingest                  ingest.Config
	Feed                    feed.Config
	Logger                  *slog.Logger
	// TLS, when set, makes the listener TLS: https:// and wss://. Default: plain TCP.
	TLS *tls.Config
	// Input, when set, replaces the Kafka consumer (and Ingest is not used): it returns what feeds the
	// books, publishing to pub, such as a recording's player.
	Input func(pub ingest.Publisher) (Input, error)
}

// Defaults of MainConfig's HTTP limits.
const (
	DefaultHTTPReadTimeout         = 30 * time.Second
	DefaultHTTPWriteTimeout        = 30 * time.Second
	DefaultHTTPIdleTimeout         = 60 * time.Second
	DefaultMaxHTTPConnectionsPerIP = 256
)

// Validate checks the node's own fields and those of its parts.
func (c *MainConfig) Validate() error {
	if c.ShutdownTimeout < 0 {
		return errors.New("shutdown timeout is negative")
	}
	if c.HTTPReadTimeout < 0 || c.HTTPWriteTimeout < 0 || c.HTTPIdleTimeout < 0 {
		return errors.New("HTTP read, write and idle timeouts may not be negative")
	}
	if c.MaxHTTPConnectionsPerIP < -1 {
		return errors.New("HTTP connections per IP: want -1 (no cap), 0 (the default) or more")
	}
	if c.Input == nil {
		if err := c.Ingest.Validate(); err != nil {
			return err
		}
	}
	return c.Feed.Validate()
}

// Main is one depthcast node: Kafka ingestion, the books, the feed and its HTTP endpoints. Run starts it
// and blocks until its context ends or Close is called, then stops it cleanly: every client gets 1001,
// readers stop, nothing is left running.
type Main struct {
	cfg     MainConfig
	log     *slog.Logger
	started chan struct{}
	addr    string

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewMain validates cfg and returns a node ready to Run.
func NewMain(cfg MainConfig) (*Main, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.HTTPReadTimeout, DefaultHTTPReadTimeout}, {&cfg.HTTPWriteTimeout, DefaultHTTPWriteTimeout}, {&cfg.HTTPIdleTimeout, DefaultHTTPIdleTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.MaxHTTPConnectionsPerIP == 0 {
		cfg.MaxHTTPConnectionsPerIP = DefaultMaxHTTPConnectionsPerIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Main{cfg: cfg, log: cfg.Logger, started: make(chan struct{}), done: make(chan struct{})}, nil
}

// Started is closed once the node listens; Addr is valid from then on.
func (m *Main) Started() <-chan struct{} { return m.started }

// Addr is the address the node listens on.
func (m *Main) Addr() string { return m.addr }

// TLS reports whether the node serves TLS (https://, wss://).
func (m *Main) TLS() bool { return m.cfg.TLS != nil }

// Run runs the node until ctx is done or Close is called.
func (m *Main) Run(ctx context.Context) error {
	defer close(m.done)
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	m.cancel = cancel
	m.mu.Unlock()
	defer cancel()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return fmt.Errorf("metrics exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	icfg := m.cfg.Ingest
	icfg.Logger = m.log.With("component", "ingest")
	icfg.Meter = mp.Meter("github.com/depthcast/depthcast/ingest")
	// Traces go out over OTLP when the OTEL_* environment asks for it (telemetry.go); otherwise none are made.
	tp, stopTracing, err := newTracerProvider(ctx)
	if err != nil {
		return err
	}
	defer func() {
		tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer tcancel()
		if err := stopTracing(tctx); err != nil {
			m.log.Warn("flushing traces", "err", err)
		}
	}()
	if icfg.TracerProvider == nil {
		icfg.TracerProvider = tp
	}
	fcfg := m.cfg.Feed
	fcfg.Logger = m.log.With("component", "feed")
	fcfg.Meter = mp.Meter("github.com/depthcast/depthcast/feed")
	fcfg.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	// The feed publishes what the consumer's writers apply, and reads books through the consumer: the
	// feed exists first, and reaches the consumer through an ingest.LateBooks once it exists.
	var consumer Input
	books := &ingest.LateBooks{}
	fcfg.Ready = func() bool {
		in, _ := books.Source().(Input)
		return in != nil && in.Ready()
	}
	srv, err := feed.New(fcfg, books)
	if err != nil {
		return err
	}
	if m.cfg.Input != nil {
		consumer, err = m.cfg.Input(srv)
	} else {
		consumer, err = ingest.New(icfg, srv)
	}
	if err != nil {
		return err
	}
	books.Set(consumer)

	ln := m.cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", m.cfg.Listen); err != nil {
			return err // "listen tcp ADDR: bind: address already in use"
		}
	}
	m.addr = ln.Addr().String()
	var capped *perIPListener
	if m.cfg.MaxHTTPConnectionsPerIP > 0 {
		capped = newPerIPListener(ln, m.cfg.MaxHTTPConnectionsPerIP)
		ln = capped
	}
	if m.cfg.TLS != nil {
		ln = tls.NewListener(ln, m.cfg.TLS)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: m.cfg.HTTPReadTimeout, WriteTimeout: m.cfg.HTTPWriteTimeout, IdleTimeout: m.cfg.HTTPIdleTimeout,
		ErrorLog: slog.NewLogLogger(m.log.With("component", "http").Handler(), slog.LevelDebug)}
	if capped != nil {
		hs.ConnState = capped.release
	}

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	ingestCtx, stopIngest := context.WithCancel(context.Background())
	defer stopIngest()
	feedCtx, stopFeed := context.WithCancel(context.Background())
	defer stopFeed()
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := consumer.Run(ingestCtx); err != nil {
			errc <- fmt.Errorf("ingest: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		_ = srv.Run(feedCtx)
	}()
	go func() {
		defer wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	if m.cfg.Input == nil {
		m.log.Info("depthcast listening", "addr", m.addr, "brokers", icfg.Brokers, "topic", icfg.Topic)
	} else { // the input is not Kafka (a recording): no brokers or topic to name
		m.log.Info("depthcast listening", "addr", m.addr)
	}
	close(m.started)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		m.log.Error("stopping", "err", runErr)
	}
	// Stop: drain the clients first while HTTP still answers (new upgrades and /readyz get 503, what is
	// queued goes out, then 1001), then HTTP, then the readers; nothing is committed, so nothing is half-done.
	drain := m.cfg.Feed.DrainTimeout
	if drain == 0 {
		drain = feed.DefaultDrainTimeout
	}
	sctx, scancel := context.WithTimeout(context.Background(), drain+m.cfg.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		m.log.Warn("clients did not all close in time", "err", err)
	}
	_ = hs.Shutdown(sctx)
	stopFeed()
	stopIngest()
	wg.Wait()
	m.log.Info("depthcast stopped")
	return runErr
}

// Close stops a running node and waits for Run to return.
func (m *Main) Close() error {
	m.mu.Lock()
	cancel := m.cancel
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-m.done
	return nil
}
