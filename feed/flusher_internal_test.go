//go:build linux

package feed

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/testkit"
)

// flushPair is a session on the server end of a loopback TCP connection, without gws (nothing here
// closes it), and the client end.
type flushPair struct {
	srv    *Server
	s      *session
	client net.Conn
}

// newFlushPair connects a session to a client; small buffers (4 KiB on both sides) make the socket fill
// after a few KiB while the client does not read.
func newFlushPair(t *testing.T, cfg Config, small bool) *flushPair {
	t.Helper()
	srv := newBareServer(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	if small {
		d.Control = testkit.SmallReceiveBuffer
	}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if small {
		_ = conn.(*net.TCPConn).SetWriteBuffer(4096)
	}
	p := &flushPair{srv: srv, client: client,
		s: &session{srv: srv, nc: newNetConn(conn, time.Second), raw: rawConnOf(conn), fl: srv.flushShardFor()}}
	if p.s.raw == nil {
		t.Fatal("no raw connection for a TCP socket")
	}
	t.Cleanup(func() {
		_ = client.Close()
		_ = conn.Close()
		srv.wg.Wait()
	})
	return p
}

// messages returns n distinct messages of about size bytes and the bytes they make on the wire.
func flushMessages(n, size int) (msgs []*message, wire []byte) {
	for i := range n {
		p := fmt.Appendf(nil, `{"n":%d,"pad":"`, i)
		p = append(p, bytes.Repeat([]byte{'a' + byte(i%26)}, max(0, size-len(p)-2))...)
		p = append(p, `"}`...)
		m := newMessage(p)
		msgs = append(msgs, m)
		wire = append(wire, m.frame...)
	}
	return msgs, wire
}

// expect reads want from the client within timeout.
func (p *flushPair) expect(t *testing.T, want []byte, timeout time.Duration) {
	t.Helper()
	got := make([]byte, len(want))
	_ = p.client.SetReadDeadline(time.Now().Add(timeout))
	if n, err := io.ReadFull(p.client, got); err != nil {
		t.Fatalf("read %d of %d bytes: %v", n, len(want), err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("the stream differs from the frames queued at byte %d of %d", i, len(want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// idle waits until the session's writer has finished and nothing is queued.
func (p *flushPair) idle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.s.mu.Lock()
		done := !p.s.writing && p.s.queuedBytes == 0 && len(p.s.queue) == 0
		closing := p.s.closing
		p.s.mu.Unlock()
		if closing {
			t.Fatalf("the session is closing (%s %q)", p.s.reason, p.s.closeText)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session's writer did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

// flushAtOnce queues msgs as a flusher round finds them after a long round, and gives the session its
// flusher's write.
func (p *flushPair) flushAtOnce(msgs []*message) {
	p.s.mu.Lock()
	p.s.queue = append(p.s.queue, msgs...)
	for _, m := range msgs {
		p.s.queuedBytes += len(m.frame)
	}
	p.s.writing = true
	p.s.mu.Unlock()
	p.s.flushOnce(&flushRound{})
}

func (p *flushPair) sendAll(t *testing.T, msgs []*message) {
	t.Helper()
	for i, m := range msgs {
		if !p.s.send(m) {
			t.Fatalf("send %d refused", i)
		}
	}
}

// Every way a flusher's write can go ends with the queued frames on the wire, whole and in order: a
// write the socket takes at once stays with the flusher (no write loop, so no deadline set); a full
// socket, a batch too long for one writev, the connection's lock held by a control frame and a write
// deadline that passed while the flusher wrote without one all hand the rest to the write loop.
func TestFlusherHandsOver(t *testing.T) {
	for _, tc := range []struct {
		name      string
		small     bool
		n, size   int
		timeout   time.Duration // Config.WriteTimeout
		run       func(t *testing.T, p *flushPair, msgs []*message, wire []byte)
		writeLoop bool // whether the write loop must have taken over (it sets a write deadline)
	}{
		{name: "socket takes it", n: 200, size: 150, run: func(t *testing.T, p *flushPair, msgs []*message, wire []byte) {
			p.sendAll(t, msgs)
			p.expect(t, wire, 5*time.Second)
		}},
		{name: "full socket", small: true, n: 4000, size: 500, writeLoop: true, run: func(t *testing.T, p *flushPair, msgs []*message, wire []byte) {
			p.sendAll(t, msgs) // ~2 MB against ~8 KiB of buffers: the flusher's write is partial
			p.expect(t, wire, 10*time.Second)
		}},
		{name: "partial write", small: true, n: 1000, size: 500, writeLoop: true, run: func(t *testing.T, p *flushPair, msgs []*message, wire []byte) {
			p.flushAtOnce(msgs) // the socket takes some KiB of the 500 KB, ending inside a frame
			p.expect(t, wire, 10*time.Second)
		}},
		{name: "over maxIovecs", n: 3 * maxIovecs, size: 40, writeLoop: true, run: func(t *testing.T, p *flushPair, msgs []*message, wire []byte) {
			p.flushAtOnce(msgs)
			p.expect(t, wire, 5*time.Second)
		}},
		{name: "lock held", n: 50, size: 100, writeLoop: true, run: func(t *testing.T, p *flushPair, msgs []*message, wire []byte) {
			p.s.nc.wmu.Lock()
			p.sendAll(t, msgs)
			_ = p.client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := p.client.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Fatalf("read %d bytes while the connection's lock was held", n)
			}
			p.s.nc.wmu.Unlock()
			p.expect(t, wire, 5*time.Second)
		}},
		{name: "deadline passed", n: 50, size: 100, timeout: 200 * time.Millisecond, writeLoop: true, run: func(t *testing.T, p *flushPair, msgs []*message, wire []byte) {
			// As a write loop leaves it: a deadline in force, which then passes while the flusher writes.
			p.s.deadline = time.Now().Add(10 * time.Millisecond)
			_ = p.s.nc.SetWriteDeadline(p.s.deadline)
			time.Sleep(30 * time.Millisecond)
			p.sendAll(t, msgs)
			p.expect(t, wire, 5*time.Second)
			p.idle(t)
			if !p.s.deadline.After(time.Now()) {
				t.Errorf("the write loop left the deadline at %v, in the past", p.s.deadline)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFlushPair(t, Config{WriteTimeout: tc.timeout, SendQueueBytes: 64 << 20, SendQueueMessages: 1 << 20}, tc.small)
			msgs, wire := flushMessages(tc.n, tc.size)
			tc.run(t, p, msgs, wire)
			p.idle(t)
			if got := !p.s.deadline.IsZero(); got != tc.writeLoop {
				t.Errorf("write loop took over: %v, want %v", got, tc.writeLoop)
			}
			// And the flusher has it again afterwards: one more message goes out.
			more, wire2 := flushMessages(1, 64)
			p.sendAll(t, more)
			p.expect(t, wire2, 5*time.Second)
			p.idle(t)
			// A flusher counts what it wrote at the end of its round, after the session went idle.
			testkit.WaitFor(t, 5*time.Second, fmt.Sprintf("%d messages counted out", tc.n+1), func() bool {
				return p.srv.metrics.count.messagesOut.Load() == int64(tc.n+1)
			})
		})
	}
}
