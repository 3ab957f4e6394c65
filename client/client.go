package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"github.com/gorilla/websocket"
)

// Client is a connection to a depthcast feed that keeps local books of its subscriptions and reconnects on
// its own. Create it with Dial; read Events until it is closed; Close it when done.
type Client struct {
	url    string
	cfg    Config
	log    *slog.Logger
	dialer websocket.Dialer

	events chan Event
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the reading goroutine has exited and Events is closed
	err    error         // why the client stopped; written before done is closed

	wmu sync.Mutex // serializes writes to the connection

	mu     sync.Mutex
	conn   *websocket.Conn // the current connection, nil between connections
	lost   chan struct{}   // closed when conn's reading ends
	books  map[string]*bookSub
	trades map[string]bool
	// pending maps the id of a request made by Subscribe/Unsubscribe to where its reply goes.
	pending map[int64]chan error
	nextID  int64
	state   State
	// resubs maps the id of a subscribe request the client made on its own (restore, resubscribe, retry)
	// to its symbols the feed may still refuse, and resubOf each such symbol to the one request that
	// carries it; retries holds the subscriptions waiting for a retry, which retryLoop sends when due
	// (retryWake tells it the schedule changed).
	resubs    map[int64]*resub
	resubOf   map[subKey]int64
	retries   map[subKey]*retryEntry
	retryWake chan struct{}

	stats struct {
		connects, snapshots, updates, resumes, gaps, checksums, dropped atomic.Int64
	}
}

// bookSub is one book subscription and its local book. Guarded by Client.mu.
type bookSub struct {
	symbol string
	opts   BookOptions
	b      *book.Book
	synced bool // b is a base the prev_seq chain continues from
	resync bool // a fresh snapshot was asked for: updates are dropped until it comes
	fresh  bool // (re)subscribed on this connection and nothing received yet: tells resume from snapshot
	status Status
	sumOK  bool
}

// Dial connects to the feed at rawURL (ws:// or wss://, path /ws) and returns a client that keeps the
// connection up until Close. ctx bounds this first handshake only. It returns the handshake's error if this
// first connection fails; later ones are retried (see the package documentation).
func Dial(ctx context.Context, rawURL string, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: url %q: %w", rawURL, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("client: url %q: scheme must be ws or wss", rawURL)
	}
	cfg = cfg.WithDefaults()
	c := &Client{
		url:     rawURL,
		cfg:     cfg,
		log:     cfg.Logger,
		dialer:  websocket.Dialer{HandshakeTimeout: cfg.HandshakeTimeout, EnableCompression: !cfg.DisableCompression},
		events:  make(chan Event, cfg.EventBuffer),
		done:    make(chan struct{}),
		books:   map[string]*bookSub{},
		trades:  map[string]bool{},
		pending: map[int64]chan error{},

		resubs:    map[int64]*resub{},
		resubOf:   map[subKey]int64{},
		retries:   map[subKey]*retryEntry{},
		retryWake: make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	conn, err := c.dial(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	// The first connection is current at once: a Subscribe right after Dial goes out on it and waits for
	// its reply.
	lost := make(chan struct{})
	c.conn, c.lost, c.state = conn, lost, StateConnected
	go c.run(conn, lost)
	return c, nil
}

// Events returns the channel of everything the client learns. It is closed when the client stops (after
// Close, or after an error that is not retried: see Err).
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the client has stopped and Events is closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped: nil after Close, otherwise the error that is not retried (a
// *CloseError for 1008, a *HandshakeError for 401, an error wrapping ErrGaveUp). It returns nil while the
// client runs.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// State returns the connection's state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Close closes the connection with 1000, stops the client and closes Events. It waits until nothing the
// client started is left running. It is safe to call more than once.
func (c *Client) Close() error {
	c.cancel()
	<-c.done
	return nil
}

// Stats are counters of what the client did since Dial.
type Stats struct {
	Connects  int64 // connections made
	Snapshots int64 // snapshots applied
	Updates   int64 // updates applied
	Resumes   int64 // book subscriptions the feed continued after a reconnect without a snapshot
	Gaps      int64 // prev_seq gaps found
	Checksums int64 // checksum mismatches found
	Dropped   int64 // updates dropped while waiting for a snapshot
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{Connects: s.connects.Load(), Snapshots: s.snapshots.Load(), Updates: s.updates.Load(),
		Resumes: s.resumes.Load(), Gaps: s.gaps.Load(), Checksums: s.checksums.Load(), Dropped: s.dropped.Load()}
}

// request is a client message (docs/protocol.md §2).
type request struct {
	Op         string            `json:"op"`
	ID         int64             `json:"id"`
	Channel    string            `json:"channel,omitempty"`
	Symbols    []string          `json:"symbols,omitempty"`
	Depth      *int              `json:"depth,omitempty"`
	IntervalMS *int              `json:"interval_ms,omitempty"`
	Resume     map[string]uint64 `json:"resume,omitempty"`
}

func bookRequest(id int64, opts BookOptions, symbols []string, resume map[string]uint64) request {
	d, i := opts.Depth, opts.IntervalMS
	return request{Op: "subscribe", ID: id, Channel: schema.ChannelBook, Symbols: symbols, Depth: &d, IntervalMS: &i, Resume: resume}
}

// SubscribeBook subscribes to the books of symbols with opts and keeps a local book of each. Subscribing
// again to a symbol replaces its subscription and starts from a fresh snapshot. It waits for the feed's
// reply while connected: an error reply is returned as a *ServerError and nothing is subscribed. When the
// client is between connections, or the connection is lost before the reply, the subscription is kept and
// made on the next connection (a refusal then arrives as an ErrorEvent). It returns ErrClosed when the
// client is closed, or stops, before the reply.
func (c *Client) SubscribeBook(ctx context.Context, opts BookOptions, symbols ...string) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	if err := checkSymbols(symbols); err != nil {
		return err
	}
	return c.request(ctx, func(id int64) request {
		for _, s := range symbols {
			c.books[s] = &bookSub{symbol: s, opts: opts, b: book.New(s), resync: true, fresh: true}
			c.supersedeLocked(subKey{schema.ChannelBook, s})
		}
		return bookRequest(id, opts, symbols, nil)
	}, func() {
		for _, s := range symbols {
			delete(c.books, s)
		}
	})
}

// SubscribeTrades subscribes to the trades of symbols; see SubscribeBook for how it waits.
func (c *Client) SubscribeTrades(ctx context.Context, symbols ...string) error {
	if err := checkSymbols(symbols); err != nil {
		return err
	}
	return c.request(ctx, func(id int64) request {
		for _, s := range symbols {
			c.trades[s] = true
			c.supersedeLocked(subKey{schema.ChannelTrades, s})
		}
		return request{Op: "subscribe", ID: id, Channel: schema.ChannelTrades, Symbols: symbols}
	}, func() {
		for _, s := range symbols {
			delete(c.trades, s)
		}
	})
}

// Unsubscribe ends the subscriptions of channel ("book" or "trades") for symbols, and drops their books.
func (c *Client) Unsubscribe(ctx context.Context, channel string, symbols ...string) error {
	if channel != schema.ChannelBook && channel != schema.ChannelTrades {
		return fmt.Errorf("%w: unknown channel %q", ErrConfig, channel)
	}
	if err := checkSymbols(symbols); err != nil {
		return err
	}
	return c.request(ctx, func(id int64) request {
		for _, s := range symbols {
			if channel == schema.ChannelBook {
				delete(c.books, s)
			} else {
				delete(c.trades, s)
			}
			c.supersedeLocked(subKey{channel, s})
		}
		return request{Op: "unsubscribe", ID: id, Channel: channel, Symbols: symbols}
	}, nil)
}

func checkSymbols(symbols []string) error {
	if len(symbols) == 0 {
		return fmt.Errorf("%w: no symbols", ErrConfig)
	}
	if len(symbols) > MaxSymbolsPerRequest {
		return fmt.Errorf("%w: %d symbols in one request, at most %d", ErrConfig, len(symbols), MaxSymbolsPerRequest)
	}
	for _, s := range symbols {
		if s == "" {
			return fmt.Errorf("%w: empty symbol", ErrConfig)
		}
	}
	return nil
}

// request records a change of the subscriptions (register, under c.mu) and, while connected, sends the
// request it returns and waits for the reply. undo runs, under c.mu, when the feed refuses it.
func (c *Client) request(ctx context.Context, register func(id int64) request, undo func()) error {
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return ErrClosed
	}
	c.nextID++
	id := c.nextID
	req := register(id)
	conn, lost := c.conn, c.lost
	if conn == nil {
		c.mu.Unlock()
		return nil // made on the next connection
	}
	reply := make(chan error, 1)
	c.pending[id] = reply
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.write(conn, req); err != nil {
		return nil // the connection is going; the subscription is made on the next one
	}
	select {
	case err := <-reply:
		if err != nil && undo != nil {
			c.mu.Lock()
			undo()
			c.mu.Unlock()
		}
		return err
	case <-lost:
		return nil
	case <-c.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends one request on conn.
func (c *Client) write(conn *websocket.Conn, req request) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = conn.SetWriteDeadline(timeNow().Add(c.cfg.HandshakeTimeout))
	return conn.WriteMessage(websocket.TextMessage, data)
}

// Book returns a copy of the local book of symbol, with its n best levels per side (n <= 0: all), and
// whether the client has a book for symbol that holds a snapshot.
func (c *Client) Book(symbol string, n int) (BookView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.books[symbol]
	if s == nil || s.b.Seq() == 0 {
		return BookView{}, false
	}
	return s.view(n), true
}

// view copies the top n levels of s. Called under Client.mu.
func (s *bookSub) view(n int) BookView {
	v := BookView{Symbol: s.symbol, Depth: s.opts.Depth, Seq: s.b.Seq(), ChecksumOK: s.sumOK, Status: s.status}
	v.Time, _ = parseTime(s.b.Time())
	pe, se := s.b.PriceExp(), s.b.SizeExp()
	for side, dst := range [2]*[]schema.Level{&v.Bids, &v.Asks} {
		levels := s.b.Top(book.Side(side), n, nil)
		out := make([]schema.Level, len(levels))
		for i, l := range levels {
			out[i] = schema.Level{Price: schema.Decimal{Coef: l.Price, Exp: pe}.Canonical(), Size: schema.Decimal{Coef: l.Size, Exp: se}.Canonical()}
		}
		*dst = out
	}
	return v
}
