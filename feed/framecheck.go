package feed

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
)

// errFrameRefused ends the read loop of a connection whose frames frameGuard refused; the close frame with
// the reason has already gone out.
var errFrameRefused = errors.New("feed: client frame refused")

// flateTail ends a permessage-deflate message (RFC 7692 §7.2.2).
var flateTail = []byte{0x00, 0x00, 0xff, 0xff}

// frameGuard sits between a client's socket and gws's reader and checks every frame header before gws
// sees it, whatever the pieces the bytes arrive in: a header is held back until it is complete and
// checked. It refuses, with the close frame written before gws reads on:
//   - a payload length with the top bit set, and a data message over the message limit (1009);
//   - RSV2 or RSV3, RSV1 without permessage-deflate or on a control or continuation frame, a reserved
//     opcode, an unmasked frame (1002);
//   - a compressed message that inflates past the message limit (1009) or is not a valid deflate stream
//     (1007); client messages carry no context between them (client_no_context_takeover), so each is
//     inflated on its own, before gws does.
//
// Only the connection's read goroutine calls Read; sess is set before that goroutine starts.
type frameGuard struct {
	src     io.Reader
	max     int
	deflate bool
	sess    *session

	hdr     [14]byte
	nh      int    // header bytes held in hdr
	pending []byte // checked header bytes gws has not read yet
	left    uint64 // payload bytes of the current frame still to come
	mask    [4]byte
	maskAt  int

	dataFrame  bool // the current frame is a data frame
	fin        bool // the current frame ends its message
	inMessage  bool // a fragmented data message is open
	compressed bool // the current data message is compressed
	msgLen     int  // payload bytes of the current data message so far
	zbuf       []byte
	err        error
}

// headerLen returns the length of the frame header whose first bytes are h (at least two).
func headerLen(h []byte) int {
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func (g *frameGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if g.left > 0 {
		if uint64(len(p)) > g.left {
			p = p[:g.left]
		}
		n, err := g.src.Read(p)
		if n > 0 {
			g.left -= uint64(n)
			if g.dataFrame && g.compressed {
				for i := range p[:n] {
					g.zbuf = append(g.zbuf, p[i]^g.mask[g.maskAt&3])
					g.maskAt++
				}
			}
			if g.left == 0 {
				if rerr := g.endFrame(); rerr != nil {
					return 0, rerr
				}
			}
		}
		return n, err
	}
	for {
		need := 2
		if g.nh >= 2 {
			need = headerLen(g.hdr[:g.nh])
		}
		if g.nh >= need {
			break
		}
		n, err := g.src.Read(g.hdr[g.nh:need])
		g.nh += n
		if err != nil && g.nh < need {
			return 0, err
		}
	}
	if err := g.checkHeader(); err != nil {
		return 0, err
	}
	if g.left == 0 {
		if err := g.endFrame(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// checkHeader checks the complete header in g.hdr and makes it the next bytes gws reads.
func (g *frameGuard) checkHeader() error {
	h := g.hdr[:g.nh]
	g.nh = 0
	b0, b1 := h[0], h[1]
	fin, rsv1, rsv23, op := b0&0x80 != 0, b0&0x40 != 0, b0&0x30 != 0, b0&0x0f
	var length uint64
	switch b1 & 0x7f {
	case 126:
		length = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(h[2:10])
		if length>>63 != 0 {
			return g.refuse(ReasonProtocol, "invalid frame length")
		}
	default:
		length = uint64(b1 & 0x7f)
	}
	switch {
	case b1&0x80 == 0:
		return g.refuse(ReasonProtocol, "client frames must be masked")
	case rsv23:
		return g.refuse(ReasonProtocol, "reserved bits set")
	case op >= 3 && op <= 7 || op >= 11:
		return g.refuse(ReasonProtocol, fmt.Sprintf("reserved opcode %d", op))
	case rsv1 && (!g.deflate || op != 1 && op != 2):
		return g.refuse(ReasonProtocol, "RSV1 set on a frame that cannot be compressed")
	}
	copy(g.mask[:], h[len(h)-4:])
	g.maskAt = 0
	g.left = length
	g.pending = h
	g.dataFrame = op < 8
	g.fin = fin
	if !g.dataFrame {
		return nil // gws checks control frames (length, FIN)
	}
	if op != 0 {
		if g.inMessage {
			return g.refuse(ReasonProtocol, "new message inside a fragmented message")
		}
		g.compressed, g.msgLen, g.zbuf = rsv1, 0, g.zbuf[:0]
	} else if !g.inMessage {
		return g.refuse(ReasonProtocol, "continuation frame outside a fragmented message")
	}
	g.inMessage = !fin
	if length > uint64(g.max) || g.msgLen+int(length) > g.max {
		return g.refuse(ReasonTooBig, "message too big")
	}
	g.msgLen += int(length)
	return nil
}

// endFrame runs when the current frame's payload is complete: a compressed message that ends here is
// inflated once to check it before gws reads its last bytes.
func (g *frameGuard) endFrame() error {
	if !g.dataFrame || !g.fin || !g.compressed {
		return nil
	}
	g.compressed = false
	z := append(g.zbuf, flateTail...)
	g.zbuf = z[:0]
	if cap(g.zbuf) > 4096 {
		g.zbuf = nil // keep only a small buffer between messages
	}
	fr := flate.NewReader(bytes.NewReader(z))
	n, err := io.Copy(io.Discard, io.LimitReader(fr, int64(g.max)+1))
	_ = fr.Close()
	switch {
	case n > int64(g.max):
		return g.refuse(ReasonTooBig, "message too big once inflated")
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return g.refuse(ReasonInvalidData, "invalid compressed message")
	}
	return nil
}

// refuse closes the connection with r and ends the read loop.
func (g *frameGuard) refuse(r CloseReason, text string) error {
	g.err = errFrameRefused
	g.pending = nil
	if g.sess != nil {
		g.sess.refuse(r, text)
	}
	return g.err
}
