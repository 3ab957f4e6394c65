package feed

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"
)

// message is one outgoing WebSocket text message, framed once and shared by every connection that sends it.
// Its bytes are never changed after creation. The permessage-deflate variant is built on first use, once for
// all connections that negotiated compression.
type message struct {
	frame []byte // complete unmasked server frame: header + payload

	// For the latency histogram: the upstream time of the event behind a live book or trade message (RFC
	// 3339; empty for other messages), its channel, and whether a write has already observed it.
	event   string
	channel channelID
	timed   atomic.Bool

	deflateOnce sync.Once
	deflated    []byte // compressed frame (RSV1 set), or the plain frame when compression does not pay
}

// newMessage frames payload as a final text frame. payload is copied.
func newMessage(payload []byte) *message {
	return &message{frame: appendFrame(make([]byte, 0, len(payload)+10), 0x81, payload)}
}

// appendFrame appends a server (unmasked) frame with the given first byte (FIN, RSV, opcode).
func appendFrame(dst []byte, b0 byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, b0, byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, 126, 0, 0)
		binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(n))
	default:
		dst = append(dst, b0, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(n))
	}
	return append(dst, payload...)
}

// payload returns the message's payload (the frame without its header).
func (m *message) payload() []byte {
	switch n := m.frame[1]; {
	case n < 126:
		return m.frame[2:]
	case n == 126:
		return m.frame[4:]
	default:
		return m.frame[10:]
	}
}

var flaterPool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// frameFor returns the bytes to write for a connection; deflate says whether it negotiated
// permessage-deflate (with no context takeover on the server side, so each message stands alone).
func (m *message) frameFor(deflate bool, threshold int) []byte {
	if !deflate || len(m.frame) < threshold {
		return m.frame
	}
	m.deflateOnce.Do(func() {
		var buf bytes.Buffer
		w := flaterPool.Get().(*flate.Writer)
		w.Reset(&buf)
		_, _ = w.Write(m.payload())
		_ = w.Flush()
		flaterPool.Put(w)
		out := buf.Bytes()
		out = out[:len(out)-4] // drop the 00 00 ff ff tail of the sync flush (RFC 7692 §7.2.1)
		if len(out) >= len(m.payload()) {
			m.deflated = m.frame
			return
		}
		m.deflated = appendFrame(make([]byte, 0, len(out)+10), 0xc1, out) // FIN + RSV1 + text
	})
	return m.deflated
}
