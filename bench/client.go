package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The one client every contender is measured with: raw TCP, its own HTTP upgrade, big reads, and a frame
// parser that looks only at frame headers (and, when sampling latency, at the "time" field of a text
// frame). Its cost per message is the same whichever server it talks to.

// frameReader splits a byte stream of unmasked server frames. Frames larger than the buffer are counted
// and skipped without being seen.
type frameReader struct {
	buf  []byte
	r, w int
	skip int // payload bytes of an oversized frame still to skip

	// onText, when set, sees the payload of each complete final text frame.
	onText func(payload []byte)

	msgs        int64  // final data frames (text, binary, continuation)
	closeCode   int    // code of a close frame, 0 if none yet, 1005 for one without a code
	closeReason string // reason text of the close frame
	compressed  int64
}

func newFrameReader(size int) *frameReader { return &frameReader{buf: make([]byte, size)} }

// process parses what is buffered between r and w and returns the number of data messages completed.
func (f *frameReader) process() int64 {
	before := f.msgs
	for {
		if f.skip > 0 {
			n := min(f.skip, f.w-f.r)
			f.r += n
			f.skip -= n
			if f.skip > 0 {
				break
			}
			continue
		}
		avail := f.w - f.r
		if avail < 2 {
			break
		}
		b0, b1 := f.buf[f.r], f.buf[f.r+1]
		hdr, plen := 2, int(b1&0x7f)
		switch plen {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if b1&0x80 != 0 {
			hdr += 4 // masked: servers must not, but do not lose sync
		}
		if avail < hdr {
			break
		}
		switch plen {
		case 126:
			plen = int(binary.BigEndian.Uint16(f.buf[f.r+2:]))
		case 127:
			plen = int(binary.BigEndian.Uint64(f.buf[f.r+2:]))
		}
		if avail >= hdr+plen {
			f.frame(b0, f.buf[f.r+hdr:f.r+hdr+plen])
			f.r += hdr + plen
			continue
		}
		if hdr+plen > len(f.buf) {
			f.frame(b0, nil)
			f.skip = hdr + plen - avail
			f.r = f.w
			continue
		}
		break
	}
	switch {
	case f.r == f.w:
		f.r, f.w = 0, 0
	case f.r > 0:
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	return f.msgs - before
}

func (f *frameReader) frame(b0 byte, payload []byte) {
	fin, op := b0&0x80 != 0, b0&0x0f
	switch op {
	case 0, 1, 2:
		if fin {
			f.msgs++
		}
		if b0&0x40 != 0 {
			f.compressed++
		} else if op == 1 && fin && payload != nil && f.onText != nil {
			f.onText(payload)
		}
	case 8:
		f.closeCode = 1005
		if len(payload) >= 2 {
			f.closeCode = int(binary.BigEndian.Uint16(payload))
			f.closeReason = string(payload[2:])
		}
	}
}

// appendClientFrame appends a masked client frame.
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	dst = append(dst, key[:]...)
	for i, c := range payload {
		dst = append(dst, c^key[i&3])
	}
	return dst
}

// timeField returns the value of the first "time":"…" in a JSON payload.
func timeField(p []byte) ([]byte, bool) {
	i := bytes.Index(p, []byte(`"time":"`))
	if i < 0 {
		return nil, false
	}
	p = p[i+8:]
	j := bytes.IndexByte(p, '"')
	if j < 0 {
		return nil, false
	}
	return p[:j], true
}

// parseUTC returns the Unix nanoseconds of a time written as time.RFC3339Nano in UTC
// ("2006-01-02T15:04:05.999999999Z"), as the bench's producers write it, without time.Parse's string
// conversion and layout walk: the clients parse one per message. Other forms go through time.Parse.
func parseUTC(b []byte) (int64, bool) {
	num := func(s []byte) (int64, bool) {
		var v int64
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int64(c-'0')
		}
		return v, true
	}
	if len(b) < 20 || len(b) > 30 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return parseSlow(b)
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	var ns int64
	if len(b) > 20 {
		if b[19] != '.' || len(b) == 21 {
			return parseSlow(b)
		}
		f, ok := num(b[20 : len(b)-1])
		if !ok {
			return parseSlow(b)
		}
		for range 9 - (len(b) - 21) {
			f *= 10
		}
		ns = f
	}
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return parseSlow(b)
	}
	// Days from 1970-01-01 to y-mo-d (proleptic Gregorian; the "days from civil" algorithm).
	if mo <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (mo + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return ((days*24+h)*60+mi)*60*1e9 + sec*1e9 + ns, true
}

func parseSlow(b []byte) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

// clientOpts configures the clients of one trial.
type clientOpts struct {
	path    string // "/ws"
	deflate bool   // offer permessage-deflate
	bufSize int    // read buffer (default 16 KiB)
	rcvBuf  int    // SO_RCVBUF of stalled clients, set before connect; 0: kernel default
	// subscribe returns the text the i-th client sends after the upgrade (nil: nothing).
	subscribe func(i int) []byte
	// total, when set, is added every data message any client receives.
	total *atomic.Int64
	// lat, when set, receives "update" latencies: receive time minus the message's "time" field.
	lat *latencySink
	// stalled clients do not read after the handshake until drain is called.
	stalled func(i int) bool
}

// wsClient is one connection.
type wsClient struct {
	conn     net.Conn
	fr       *frameReader
	opts     *clientOpts
	msgs     atomic.Int64
	bytes    atomic.Int64
	code     atomic.Int32 // close code seen
	deflated bool         // the server accepted permessage-deflate
	stalled  bool         // does not read until drain
	drained  int          // bytes read by drain
	drainErr error
	// drainTook is how long drain read; lastUpdate the time field of the last update it read.
	drainTook  time.Duration
	lastUpdate time.Time
	done       chan struct{}
	now        time.Time // receive time of the current read, for onText

	latMu sync.Mutex
	lat   []int64
}

var errHandshake = errors.New("websocket handshake refused")

func dialClient(ctx context.Context, addr string, i int, o *clientOpts) (*wsClient, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if o.rcvBuf > 0 && o.stalled != nil && o.stalled(i) {
		d.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	size := o.bufSize
	if size == 0 {
		size = 16 << 10
	}
	c := &wsClient{conn: conn, fr: newFrameReader(size), opts: o, done: make(chan struct{})}
	if err := c.handshake(addr, i); err != nil {
		c.abort()
		return nil, err
	}
	if o.lat != nil {
		c.fr.onText = c.sample
	}
	c.stalled = o.stalled != nil && o.stalled(i)
	if !c.stalled {
		go c.readLoop()
	}
	return c, nil
}

func (c *wsClient) handshake(addr string, i int) error {
	_ = c.conn.SetDeadline(time.Now().Add(15 * time.Second))
	defer c.conn.SetDeadline(time.Time{})
	path := c.opts.path
	if path == "" {
		path = "/ws"
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if c.opts.deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	req += "\r\n"
	if _, err := c.conn.Write([]byte(req)); err != nil {
		return err
	}
	f := c.fr
	for {
		n, err := c.conn.Read(f.buf[f.w:])
		f.w += n
		if end := bytes.Index(f.buf[:f.w], []byte("\r\n\r\n")); end >= 0 {
			head := f.buf[:end]
			if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
				line, _, _ := bytes.Cut(head, []byte("\r\n"))
				return fmt.Errorf("%w: %s", errHandshake, line)
			}
			c.deflated = bytes.Contains(bytes.ToLower(head), []byte("permessage-deflate"))
			f.r = end + 4
			break
		}
		if err != nil {
			return err
		}
		if f.w == len(f.buf) {
			return fmt.Errorf("%w: response header too large", errHandshake)
		}
	}
	c.bytes.Add(int64(f.w - f.r))
	if m := f.process(); m > 0 { // frames that came with the response
		c.msgs.Add(m)
		if c.opts.total != nil {
			c.opts.total.Add(m)
		}
	}
	if c.opts.subscribe != nil {
		if msg := c.opts.subscribe(i); msg != nil {
			if _, err := c.conn.Write(appendClientFrame(nil, 1, msg)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	f := c.fr
	for {
		n, err := c.conn.Read(f.buf[f.w:])
		if n > 0 {
			if c.opts.lat != nil {
				c.now = time.Now()
			}
			f.w += n
			c.bytes.Add(int64(n))
			if m := f.process(); m > 0 {
				c.msgs.Add(m)
				if c.opts.total != nil {
					c.opts.total.Add(m)
				}
			}
			if f.closeCode != 0 {
				c.code.Store(int32(f.closeCode))
			}
		}
		if err != nil {
			return
		}
	}
}

// sample records the latency of an update message (runs on the read goroutine).
func (c *wsClient) sample(p []byte) {
	s := c.opts.lat
	if !s.on.Load() || !bytes.HasPrefix(p, []byte(`{"type":"update"`)) {
		return
	}
	if s.every > 1 && (c.msgs.Load()+c.fr.msgs)%int64(s.every) != 0 {
		return
	}
	tf, ok := timeField(p)
	if !ok {
		return
	}
	t, ok := parseUTC(tf)
	if !ok {
		return
	}
	c.latMu.Lock()
	c.lat = append(c.lat, c.now.UnixNano()-t)
	c.latMu.Unlock()
}

// takeLatencies returns and forgets the samples so far.
func (c *wsClient) takeLatencies() []int64 {
	c.latMu.Lock()
	defer c.latMu.Unlock()
	out := c.lat
	c.lat = nil
	return out
}

// drain reads a stalled client until its close frame or the timeout, and returns the close code (0 none).
// It records the bytes and messages read, and the "time" field of the last update before the close frame
// (lastUpdate: when the producer made the last update the server wrote before it decided to close).
func (c *wsClient) drain(timeout time.Duration) int {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	f := c.fr
	var last []byte
	f.onText = func(p []byte) {
		if bytes.HasPrefix(p, []byte(`{"type":"update"`)) {
			if tf, ok := timeField(p); ok {
				last = append(last[:0], tf...)
			}
		}
	}
	t0 := time.Now()
	total := 0
	var err error
	for f.closeCode == 0 {
		var n int
		n, err = c.conn.Read(f.buf[f.w:])
		f.w += n
		total += n
		f.process()
		if err != nil {
			break
		}
	}
	c.drained, c.drainErr, c.drainTook = total, err, time.Since(t0)
	if t, perr := time.Parse(time.RFC3339Nano, string(last)); perr == nil {
		c.lastUpdate = t
	}
	return f.closeCode
}

// abort drops the connection with a reset (no TIME_WAIT left behind: trials open thousands).
func (c *wsClient) abort() {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.conn.Close()
}

// latencySink collects latency samples of many clients.
type latencySink struct {
	on    atomic.Bool
	every int // sample one message in every (per client)
}

// dialAll opens n clients with bounded concurrency.
func dialAll(ctx context.Context, addr string, n int, o *clientOpts) ([]*wsClient, error) {
	clients := make([]*wsClient, n)
	var firstErr error
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var c *wsClient
				var err error
				for attempt := 0; attempt < 3; attempt++ {
					if c, err = dialClient(ctx, addr, i, o); err == nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				clients[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(clients)
		return nil, firstErr
	}
	return clients, nil
}

// waitMsgs waits until every non-stalled client received at least min messages.
func waitMsgs(ctx context.Context, clients []*wsClient, minMsgs int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		short := 0
		for _, c := range clients {
			if c != nil && c.msgs.Load() < minMsgs && !c.isStalled() {
				short++
			}
		}
		if short == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d clients got fewer than %d messages after %v", short, len(clients), minMsgs, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *wsClient) isStalled() bool { return c.stalled }

// gone reports whether the read loop of a client that reads has ended (connection lost or closed).
func (c *wsClient) gone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func closeAll(clients []*wsClient) {
	for _, c := range clients {
		if c != nil {
			c.abort()
		}
	}
}

// sumMsgs is the messages received by all clients so far.
func sumMsgs(clients []*wsClient) (msgs, byts int64) {
	for _, c := range clients {
		if c != nil {
			msgs += c.msgs.Load()
			byts += c.bytes.Load()
		}
	}
	return
}
