package schema

import (
	"hash/crc32"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Book message types on the WebSocket feed.
const (
	TypeSnapshot = "snapshot"
	TypeUpdate   = "update"
)

// Channels a client subscribes to.
const (
	ChannelBook   = "book"
	ChannelTrades = "trades"
)

// Book statuses sent in "status" messages and listed by /v1/symbols.
const (
	StatusLive  = "live"
	StatusStale = "stale"
)

// BookMessage is a "snapshot" or "update" message on the book channel. Levels hold the book's integer
// prices and sizes; PriceExp and SizeExp give their scales (digits after the point).
type BookMessage struct {
	Type     string // TypeSnapshot or TypeUpdate
	Symbol   string
	Seq      uint64
	PrevSeq  uint64 // updates only
	Time     string
	PriceExp uint8
	SizeExp  uint8
	Bids     []IntLevel // best first
	Asks     []IntLevel // best first
	Checksum uint32
	Replay   bool
}

// IntLevel is a price level in integer ticks and lots, as the book keeps it.
type IntLevel struct {
	Price int64
	Size  int64
}

// AppendBookMessage appends m as one JSON object to dst.
func AppendBookMessage(dst []byte, m *BookMessage) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, m.Type...)
	dst = append(dst, `","channel":"book","symbol":`...)
	dst = AppendString(dst, m.Symbol)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, m.Seq, 10)
	if m.Type == TypeUpdate {
		dst = append(dst, `,"prev_seq":`...)
		dst = strconv.AppendUint(dst, m.PrevSeq, 10)
	}
	dst = append(dst, `,"time":`...)
	dst = AppendString(dst, m.Time)
	dst = append(dst, `,"bids":`...)
	dst = appendIntLevels(dst, m.Bids, m.PriceExp, m.SizeExp)
	dst = append(dst, `,"asks":`...)
	dst = appendIntLevels(dst, m.Asks, m.PriceExp, m.SizeExp)
	dst = append(dst, `,"checksum":`...)
	dst = strconv.AppendUint(dst, uint64(m.Checksum), 10)
	if m.Replay {
		dst = append(dst, `,"replay":true`...)
	}
	return append(dst, '}')
}

func appendIntLevels(dst []byte, ls []IntLevel, pexp, sexp uint8) []byte {
	dst = append(dst, '[')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `["`...)
		dst = AppendDecimal(dst, l.Price, pexp)
		dst = append(dst, `","`...)
		dst = AppendDecimal(dst, l.Size, sexp)
		dst = append(dst, `"]`...)
	}
	return append(dst, ']')
}

// AppendTrade appends a "trade" message for the trade event e.
func AppendTrade(dst []byte, e *Event, replay bool) []byte {
	dst = append(dst, `{"type":"trade","channel":"trades","symbol":`...)
	dst = AppendString(dst, e.Symbol)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"time":`...)
	dst = AppendString(dst, e.Time)
	dst = append(dst, `,"price":"`...)
	dst = AppendDecimal(dst, e.Price.Coef, e.Price.Exp)
	dst = append(dst, `","size":"`...)
	dst = AppendDecimal(dst, e.Size.Coef, e.Size.Exp)
	dst = append(dst, `","side":"`...)
	dst = append(dst, e.Side.String()...)
	dst = append(dst, `","trade_id":`...)
	dst = AppendString(dst, e.TradeID)
	if replay {
		dst = append(dst, `,"replay":true`...)
	}
	return append(dst, '}')
}

// AppendStatus appends a "status" message: status is StatusLive or StatusStale.
func AppendStatus(dst []byte, symbol, status string, replay bool) []byte {
	dst = append(dst, `{"type":"status","symbol":`...)
	dst = AppendString(dst, symbol)
	dst = append(dst, `,"status":`...)
	dst = AppendString(dst, status)
	if replay {
		dst = append(dst, `,"replay":true`...)
	}
	return append(dst, '}')
}

// AppendSubscribed appends a "subscribed" or "unsubscribed" reply (typ). id < 0 omits the id. depth and
// interval are written for the book channel only.
func AppendSubscribed(dst []byte, typ string, id int64, channel string, symbols []string, depth, intervalMS int) []byte {
	dst = append(dst, `{"type":`...)
	dst = AppendString(dst, typ)
	dst = appendID(dst, id)
	dst = append(dst, `,"channel":`...)
	dst = AppendString(dst, channel)
	dst = append(dst, `,"symbols":[`...)
	for i, s := range symbols {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	dst = append(dst, ']')
	if channel == ChannelBook && typ == "subscribed" {
		dst = append(dst, `,"depth":`...)
		dst = strconv.AppendInt(dst, int64(depth), 10)
		dst = append(dst, `,"interval_ms":`...)
		dst = strconv.AppendInt(dst, int64(intervalMS), 10)
	}
	return append(dst, '}')
}

// AppendError appends an "error" reply. id < 0 omits the id.
func AppendError(dst []byte, id int64, code, message string) []byte {
	return AppendSymbolError(dst, id, "", code, message)
}

// AppendSymbolError appends an "error" reply about one symbol of a request, named in its "symbol" field; the
// request's other symbols stand. An empty symbol omits the field (the error is about the whole request).
// id < 0 omits the id.
func AppendSymbolError(dst []byte, id int64, symbol, code, message string) []byte {
	dst = append(dst, `{"type":"error"`...)
	dst = appendID(dst, id)
	if symbol != "" {
		dst = append(dst, `,"symbol":`...)
		dst = AppendString(dst, symbol)
	}
	dst = append(dst, `,"code":`...)
	dst = AppendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, message)
	return append(dst, '}')
}

// AppendHeartbeat appends a "heartbeat" message.
func AppendHeartbeat(dst []byte, now string) []byte {
	dst = append(dst, `{"type":"heartbeat","time":`...)
	dst = AppendString(dst, now)
	return append(dst, '}')
}

// AppendPong appends a "pong" reply. id < 0 omits the id.
func AppendPong(dst []byte, id int64, now string) []byte {
	dst = append(dst, `{"type":"pong"`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"time":`...)
	dst = AppendString(dst, now)
	return append(dst, '}')
}

// AppendReplayStarted appends a replay_started message (docs/protocol.md, replay): the range and speed a replay
// plays, or plays from a seek on. id < 0 is left out.
func AppendReplayStarted(dst []byte, id int64, from, to time.Time, speed float64) []byte {
	dst = append(dst, `{"type":"replay_started"`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"from":`...)
	dst = AppendString(dst, FormatTime(from))
	dst = append(dst, `,"to":`...)
	dst = AppendString(dst, FormatTime(to))
	dst = append(dst, `,"speed":`...)
	dst = strconv.AppendFloat(dst, speed, 'f', -1, 64)
	return append(dst, '}')
}

// AppendReplayEnd appends a replay_end message with its reason; message is written when not empty (for
// errors). id < 0 is left out.
func AppendReplayEnd(dst []byte, id int64, reason, message string) []byte {
	dst = append(dst, `{"type":"replay_end"`...)
	dst = appendID(dst, id)
	dst = append(dst, `,"reason":`...)
	dst = AppendString(dst, reason)
	if message != "" {
		dst = append(dst, `,"message":`...)
		dst = AppendString(dst, message)
	}
	return append(dst, '}')
}

func appendID(dst []byte, id int64) []byte {
	if id < 0 {
		return dst
	}
	dst = append(dst, `,"id":`...)
	return strconv.AppendInt(dst, id, 10)
}

const hexDigits = "0123456789abcdef"

// plain8 reports whether the eight bytes of x are all ASCII from 0x20 and neither '"' nor '\\': bytes
// AppendString copies as they are (the zero-byte and less-than tests of Hacker's Delight 6-1, exact for
// "any byte").
func plain8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b := x^(lo*'"'), x^(lo*'\\')
	return ((x-lo*0x20)&^x|(q-lo)&^q|(b-lo)&^b|x)&hi == 0
}

// AppendString appends s as a JSON string literal, escaping quotes, backslashes, control characters and
// invalid UTF-8 (as U+FFFD).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	i := 0
	// Eight bytes at a time while none needs escaping or UTF-8 checking: symbols and times never do.
	for i+8 <= len(s) && plain8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
		uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
		i += 8
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ChecksumDepth is the number of levels per side the checksum covers at most.
const ChecksumDepth = 10

// Checksum returns the CRC-32 (IEEE) of the checksum string of the given levels (see AppendChecksumInput).
// The caller passes the levels to cover: the top min(10, N) of each side for a depth-N view (10 for a full
// book).
func Checksum(bids, asks []IntLevel, priceExp, sizeExp uint8) uint32 {
	bp := checksumBufs.Get().(*[]byte)
	*bp = AppendChecksumInput((*bp)[:0], bids, asks, priceExp, sizeExp)
	crc := crc32.ChecksumIEEE(*bp)
	checksumBufs.Put(bp)
	return crc
}

var checksumBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// AppendChecksumInput appends the string the checksum covers: each bid best first as "price:size;", then
// "|", then each ask best first as "price:size;", with canonical decimals. Callers that keep a buffer of
// their own hash it with crc32.ChecksumIEEE and allocate nothing.
func AppendChecksumInput(dst []byte, bids, asks []IntLevel, priceExp, sizeExp uint8) []byte {
	for _, l := range bids {
		dst = appendChecksumLevel(dst, l, priceExp, sizeExp)
	}
	dst = append(dst, '|')
	for _, l := range asks {
		dst = appendChecksumLevel(dst, l, priceExp, sizeExp)
	}
	return dst
}

func appendChecksumLevel(dst []byte, l IntLevel, pexp, sexp uint8) []byte {
	dst = AppendDecimal(dst, l.Price, pexp)
	dst = append(dst, ':')
	dst = AppendDecimal(dst, l.Size, sexp)
	return append(dst, ';')
}
