package vectorgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strconv"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

// Files returns the vector files by name (decimals.json, checksums.json, sequences.json), each indented
// JSON ending in a newline. The same call always returns the same bytes.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, gen := range map[string]func() (any, error){
		"decimals.json":  decimals,
		"checksums.json": checksums,
		"sequences.json": sequences,
	} {
		v, err := gen()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b, err := encode(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = append(b, '\n')
	}
	return out, nil
}

// encode writes v as indented JSON, except that a sequence's steps are written one per line.
func encode(v any) ([]byte, error) {
	seqs, ok := v.(map[string][]sequence)
	if !ok {
		return json.MarshalIndent(v, "", "  ")
	}
	var buf bytes.Buffer
	buf.WriteString("{\n  \"sequences\": [\n")
	for i, q := range seqs["sequences"] {
		steps := q.Steps
		q.Steps = nil
		head, err := json.Marshal(q)
		if err != nil {
			return nil, err
		}
		buf.WriteString("    ")
		buf.Write(head[:len(head)-len(`,"steps":null}`)])
		buf.WriteString(",\"steps\": [\n")
		for j, st := range steps {
			b, err := json.Marshal(st)
			if err != nil {
				return nil, err
			}
			buf.WriteString("      ")
			buf.Write(b)
			if j < len(steps)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString("    ]}")
		if i < len(seqs["sequences"])-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("  ]\n}")
	return buf.Bytes(), nil
}

// ---- decimals ----

type decimalValid struct {
	In  string `json:"in"`
	Out string `json:"out"`
}

type decimalInvalid struct {
	In    string `json:"in"`
	Error string `json:"error"` // "not_decimal" or "overflow"
}

type decimalFile struct {
	Valid   []decimalValid   `json:"valid"`
	Invalid []decimalInvalid `json:"invalid"`
}

var decimalInputs = []string{
	"0", "00", "0.0", "0.000", "-0", "+0", "1", "01", "1.0", "1.", "1.50", "43000.10", "43000.1", "0.0015",
	"0.00150", "000123.4500", "-1.5", "+2.25", "100", "100.000", "1000000", "0.000000000000000001",
	"123456789012345678", "9223372036854775807", "-9223372036854775808", "922337203685477580.7",
	"0.100000000000000000000000", "5e3", "1.5e-3", "1E2", "2.50e1", ".5", "-.5",
	// invalid
	"", "-", "+", ".", "abc", "1.2.3", "1,5", " 1", "1 ", "0x10", "1e", "NaN", "Inf", "--1", "1-", "١",
	"9223372036854775808", "-9223372036854775809", "0.0000000000000000001", "99999999999999999999",
}

func decimals() (any, error) {
	var f decimalFile
	for _, in := range decimalInputs {
		d, err := schema.ParseDecimal(in)
		switch {
		case err == nil:
			f.Valid = append(f.Valid, decimalValid{In: in, Out: d.String()})
		case errors.Is(err, schema.ErrOverflow):
			f.Invalid = append(f.Invalid, decimalInvalid{In: in, Error: "overflow"})
		case errors.Is(err, schema.ErrNotDecimal):
			f.Invalid = append(f.Invalid, decimalInvalid{In: in, Error: "not_decimal"})
		default:
			return nil, fmt.Errorf("%q: unexpected error %w", in, err)
		}
	}
	return f, nil
}

// ---- checksums ----

type checksumAt struct {
	Depth  int    `json:"depth"`
	String string `json:"string"`
	CRC32  uint32 `json:"crc32"`
}

type checksumCase struct {
	Name   string       `json:"name"`
	Bids   [][2]string  `json:"bids"` // best first, canonical
	Asks   [][2]string  `json:"asks"`
	Depths []checksumAt `json:"depths"`
}

var checksumDepths = []int{0, 1, 2, 5, 10, 25}

func checksums() (any, error) {
	cases := []struct {
		name       string
		bids, asks [][2]string
	}{
		{"empty", nil, nil},
		{"protocol_example", [][2]string{{"43000.1", "2"}, {"42999", "1.5"}}, [][2]string{{"43000.2", "1"}}},
		{"bids_only", [][2]string{{"10", "1"}, {"9.5", "0.25"}}, nil},
		{"asks_only", nil, [][2]string{{"10.5", "3"}, {"11", "0.000001"}}},
		{"mixed_scales", [][2]string{{"100", "1"}, {"99.99", "0.5"}, {"99.9", "12"}, {"99", "0.00000001"}}, [][2]string{{"100.01", "7"}, {"100.1", "1"}, {"101", "1000000"}}},
	}
	r := rand.New(rand.NewPCG(15, 1))
	for _, n := range []int{12, 30} {
		var bids, asks [][2]string
		for i := range n {
			bids = append(bids, [2]string{fmtTicks(int64(50000-i*3), 2), fmtTicks(1+r.Int64N(5000000), 6)})
			asks = append(asks, [2]string{fmtTicks(int64(50001+i*7), 2), fmtTicks(1+r.Int64N(5000000), 6)})
		}
		cases = append(cases, struct {
			name       string
			bids, asks [][2]string
		}{fmt.Sprintf("random_%d_levels", n), bids, asks})
	}
	var out []checksumCase
	for _, c := range cases {
		b := book.New("X")
		if err := b.ApplySnapshot(1, "", toLevels(c.bids), toLevels(c.asks)); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		cc := checksumCase{Name: c.name, Bids: orEmpty(c.bids), Asks: orEmpty(c.asks)}
		for _, d := range checksumDepths {
			s := checksumString(b, d)
			sum := b.Checksum(d)
			if crc32.ChecksumIEEE([]byte(s)) != sum {
				return nil, fmt.Errorf("%s: depth %d: book.Checksum and the checksum string disagree", c.name, d)
			}
			cc.Depths = append(cc.Depths, checksumAt{Depth: d, String: s, CRC32: sum})
		}
		out = append(out, cc)
	}
	return map[string]any{"cases": out}, nil
}

// ---- sequences ----

// expect is the client's book after a step.
type expect struct {
	Seq            uint64      `json:"seq"`
	Status         string      `json:"status"` // "live" or "stale"
	Bids           [][2]string `json:"bids"`   // the whole local book, best first
	Asks           [][2]string `json:"asks"`
	ChecksumString string      `json:"checksum_string"`
	Checksum       uint32      `json:"checksum"`
}

// step is one message from the feed (or a reconnect), and what the client holds after it.
type step struct {
	Message   json.RawMessage `json:"message,omitempty"`
	Reconnect *reconnect      `json:"reconnect,omitempty"`
	Expect    *expect         `json:"expect,omitempty"`
	Error     string          `json:"error,omitempty"` // "gap" or "checksum": the client must detect it here
}

// reconnect marks a new connection: the client resubscribes with resume = its book's seq, and the feed
// continues the prev_seq chain from there.
type reconnect struct {
	Resume uint64 `json:"resume"`
}

type sequence struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Symbol      string `json:"symbol"`
	Depth       int    `json:"depth"`
	Steps       []step `json:"steps"`
}

// upstream is one event of the source: a snapshot, a delta, a gap (stale) or a recovery.
type upstream struct {
	kind       string // "snapshot", "delta", "stale", "reconnect"
	bids, asks [][2]string
}

// feedSim plays upstream events through a book as the feed does and writes the messages one depth-n
// subscription gets, with the book a client holds after each.
type feedSim struct {
	symbol string
	depth  int
	src    *book.Book
	seq    uint64
	last   uint64 // seq of the last book message sent
	live   bool
	steps  []step
}

func newSim(symbol string, depth int) *feedSim {
	return &feedSim{symbol: symbol, depth: depth, src: book.New(symbol)}
}

const vecTime = "2026-11-24T10:00:00.000000001Z"

func (f *feedSim) play(evs []upstream) error {
	for i, e := range evs {
		if err := f.one(e); err != nil {
			return fmt.Errorf("event %d (%s): %w", i, e.kind, err)
		}
	}
	return nil
}

func (f *feedSim) one(e upstream) error {
	switch e.kind {
	case "stale":
		f.live = false
		f.steps = append(f.steps, step{Message: schema.AppendStatus(nil, f.symbol, schema.StatusStale, false), Expect: f.expect()})
		return nil
	case "reconnect":
		f.steps = append(f.steps, step{Reconnect: &reconnect{Resume: f.last}})
		return nil
	}
	f.seq++
	switch e.kind {
	case "snapshot":
		if !f.live && len(f.steps) > 0 {
			// The client's book at "live" is still the stale one: the snapshot that replaces it follows.
			f.steps = append(f.steps, step{Message: schema.AppendStatus(nil, f.symbol, schema.StatusLive, false), Expect: f.expect()})
		}
		if err := f.src.ApplySnapshot(f.seq, vecTime, toLevels(e.bids), toLevels(e.asks)); err != nil {
			return err
		}
		f.live = true
		m := &schema.BookMessage{Type: schema.TypeSnapshot, Symbol: f.symbol, Seq: f.seq, Time: vecTime,
			PriceExp: f.src.PriceExp(), SizeExp: f.src.SizeExp(),
			Bids: f.src.Top(book.Bids, f.depth, nil), Asks: f.src.Top(book.Asks, f.depth, nil), Checksum: f.src.Checksum(f.depth)}
		f.last = f.seq
		f.steps = append(f.steps, step{Message: schema.AppendBookMessage(nil, m), Expect: f.expect()})
	case "delta":
		if !f.live {
			return nil // not applied while stale; the seq is used up
		}
		if err := f.src.ApplyDelta(f.seq, vecTime, toLevels(e.bids), toLevels(e.asks)); err != nil {
			return err
		}
		bids, asks := f.src.ViewDiff(f.depth, nil, nil)
		if len(bids) == 0 && len(asks) == 0 {
			return nil // nothing this view can see
		}
		m := &schema.BookMessage{Type: schema.TypeUpdate, Symbol: f.symbol, Seq: f.seq, PrevSeq: f.last, Time: vecTime,
			PriceExp: f.src.PriceExp(), SizeExp: f.src.SizeExp(), Bids: bids, Asks: asks, Checksum: f.src.Checksum(f.depth)}
		f.last = f.seq
		f.steps = append(f.steps, step{Message: schema.AppendBookMessage(nil, m), Expect: f.expect()})
	default:
		return fmt.Errorf("unknown event kind %q", e.kind)
	}
	return nil
}

func (f *feedSim) expect() *expect {
	st := schema.StatusLive
	if !f.live {
		st = schema.StatusStale
	}
	pe, se := f.src.PriceExp(), f.src.SizeExp()
	return &expect{
		Seq: f.last, Status: st,
		Bids:           strLevels(f.src.Top(book.Bids, f.depth, nil), pe, se),
		Asks:           strLevels(f.src.Top(book.Asks, f.depth, nil), pe, se),
		ChecksumString: checksumString(f.src, f.depth),
		Checksum:       f.src.Checksum(f.depth),
	}
}

func sequences() (any, error) {
	var out []sequence
	add := func(name, desc string, depth int, evs []upstream) error {
		f := newSim("BTC-USD", depth)
		if err := f.play(evs); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, sequence{Name: name, Description: desc, Symbol: "BTC-USD", Depth: depth, Steps: f.steps})
		return nil
	}
	boundary := boundaryEvents()
	for _, d := range []int{0, 3, 5, 10} {
		if err := add(fmt.Sprintf("depth_boundary_d%d", d), "inserts that push levels out of the top N, deletes that pull levels in, a price scale widening mid-stream", d, boundary); err != nil {
			return nil, err
		}
	}
	random := randomEvents(rand.New(rand.NewPCG(15, 2)), 150)
	for _, d := range []int{0, 1, 10, 25} {
		if err := add(fmt.Sprintf("random_d%d", d), "150 random deltas over a 40-level book", d, random); err != nil {
			return nil, err
		}
	}
	stale := append(append(append([]upstream{}, boundary[:4]...), upstream{kind: "stale"},
		upstream{kind: "delta", bids: [][2]string{{"99", "1"}}}),
		upstream{kind: "snapshot", bids: [][2]string{{"101", "2"}, {"100.5", "1"}}, asks: [][2]string{{"102", "3"}}},
		upstream{kind: "delta", asks: [][2]string{{"102", "0"}, {"103.25", "4"}}})
	if err := add("stale_live_resnapshot", "status stale (no updates while stale), status live, a fresh snapshot that replaces the book, updates chained to it", 5, stale); err != nil {
		return nil, err
	}
	resume := append(append(append([]upstream{}, boundary[:5]...), upstream{kind: "reconnect"}), boundary[5:9]...)
	if err := add("resume", "a reconnect: the client resubscribes with resume = its seq and the updates continue the prev_seq chain with no snapshot", 5, resume); err != nil {
		return nil, err
	}
	// Sequences that must fail, made from a valid one.
	base := out[1] // depth_boundary_d3
	if len(base.Steps) < 6 {
		return nil, errors.New("depth_boundary_d3 too short")
	}
	gap := sequence{Name: "gap_missing_update", Description: "an update is missing: the next one's prev_seq is not the book's seq", Symbol: base.Symbol, Depth: base.Depth}
	gap.Steps = append(gap.Steps, base.Steps[:3]...)
	gap.Steps = append(gap.Steps, step{Message: base.Steps[4].Message, Error: "gap"})
	out = append(out, gap)

	bad, err := editMessage(base.Steps[3].Message, func(m map[string]any) {
		m["checksum"] = json.Number(strconv.FormatUint(uint64(uint32(toU(m["checksum"])+1)), 10))
	})
	if err != nil {
		return nil, err
	}
	mism := sequence{Name: "checksum_wrong_value", Description: "an update whose checksum does not match the book after it", Symbol: base.Symbol, Depth: base.Depth}
	mism.Steps = append(append(mism.Steps, base.Steps[:3]...), step{Message: bad, Error: "checksum"})
	out = append(out, mism)

	bad2, err := editMessage(base.Steps[2].Message, func(m map[string]any) {
		for _, side := range []string{"bids", "asks"} {
			if ls, _ := m[side].([]any); len(ls) > 0 {
				l := ls[0].([]any)
				l[1] = "123.456"
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	mism2 := sequence{Name: "checksum_level_altered", Description: "an update with one size altered and the feed's checksum: the local book no longer matches it", Symbol: base.Symbol, Depth: base.Depth}
	mism2.Steps = append(append(mism2.Steps, base.Steps[:2]...), step{Message: bad2, Error: "checksum"})
	out = append(out, mism2)

	bad3, err := editMessage(base.Steps[0].Message, func(m map[string]any) {
		ls := m["bids"].([]any)
		m["bids"] = ls[1:]
	})
	if err != nil {
		return nil, err
	}
	out = append(out, sequence{Name: "checksum_snapshot_level_missing", Description: "a snapshot missing its best bid: its checksum does not match", Symbol: base.Symbol, Depth: base.Depth,
		Steps: []step{{Message: bad3, Error: "checksum"}}})
	return map[string][]sequence{"sequences": out}, nil
}

func boundaryEvents() []upstream {
	return []upstream{
		{kind: "snapshot",
			bids: [][2]string{{"100", "1"}, {"99.5", "2"}, {"99", "3"}, {"98.5", "4"}, {"98", "5"}, {"97.5", "6"}, {"97", "7"}, {"96.5", "8"}, {"96", "9"}, {"95.5", "10"}, {"95", "11"}, {"94.5", "12"}},
			asks: [][2]string{{"100.5", "1"}, {"101", "2"}, {"101.5", "3"}, {"102", "4"}, {"102.5", "5"}, {"103", "6"}, {"103.5", "7"}, {"104", "8"}, {"104.5", "9"}, {"105", "10"}, {"105.5", "11"}, {"106", "12"}}},
		{kind: "delta", bids: [][2]string{{"100", "1.5"}}},                                      // size change at the top
		{kind: "delta", bids: [][2]string{{"100", "0"}}},                                        // delete the best: one enters from below
		{kind: "delta", bids: [][2]string{{"100.25", "0.5"}}},                                   // insert above: the last of the top N leaves
		{kind: "delta", asks: [][2]string{{"106", "0"}}},                                        // delete far below every top N but full book
		{kind: "delta", asks: [][2]string{{"100.5", "0"}, {"101", "0"}, {"101.5", "0"}}},        // three deletes: three enter
		{kind: "delta", asks: [][2]string{{"100.75", "2"}, {"100.8", "1"}, {"100.9", "0.001"}}}, // three inserts
		{kind: "delta", bids: [][2]string{{"94", "1"}}},                                         // below every top N
		{kind: "delta", bids: [][2]string{{"99.125", "3.0000"}}, asks: [][2]string{{"102", "4.5"}}},
		{kind: "delta", bids: [][2]string{{"99.5", "0"}, {"99.25", "7"}}},
		{kind: "delta", bids: [][2]string{{"100.25", "0"}, {"99.25", "0"}, {"99.125", "0"}, {"99", "0"}}, asks: [][2]string{{"100.75", "0"}}},
		{kind: "delta", bids: [][2]string{{"12345", "0"}}}, // deletes a level that does not exist
	}
}

func randomEvents(r *rand.Rand, n int) []upstream {
	var snap upstream
	snap.kind = "snapshot"
	for i := range 20 {
		snap.bids = append(snap.bids, [2]string{fmtTicks(int64(100000-i*5), 2), fmtTicks(1+r.Int64N(100000), 4)})
		snap.asks = append(snap.asks, [2]string{fmtTicks(int64(100005+i*5), 2), fmtTicks(1+r.Int64N(100000), 4)})
	}
	evs := []upstream{snap}
	for range n {
		var e upstream
		e.kind = "delta"
		for range 1 + r.IntN(3) {
			size := "0"
			if r.IntN(3) > 0 {
				size = fmtTicks(1+r.Int64N(100000), 4)
			}
			off := int64(r.IntN(40))
			if r.IntN(2) == 0 {
				e.bids = append(e.bids, [2]string{fmtTicks(100000-off*5, 2), size})
			} else {
				e.asks = append(e.asks, [2]string{fmtTicks(100005+off*5, 2), size})
			}
		}
		evs = append(evs, e)
	}
	return evs
}

// ---- helpers ----

func fmtTicks(v int64, exp uint8) string { return string(schema.AppendDecimal(nil, v, exp)) }

func toLevels(ls [][2]string) []schema.Level {
	out := make([]schema.Level, 0, len(ls))
	for _, l := range ls {
		p, err1 := schema.ParseDecimal(l[0])
		s, err2 := schema.ParseDecimal(l[1])
		if err1 != nil || err2 != nil {
			panic(fmt.Sprintf("vector level %q does not parse", l))
		}
		out = append(out, schema.Level{Price: p, Size: s})
	}
	return out
}

func strLevels(ls []book.Level, pe, se uint8) [][2]string {
	out := [][2]string{}
	for _, l := range ls {
		out = append(out, [2]string{fmtTicks(l.Price, pe), fmtTicks(l.Size, se)})
	}
	return out
}

func orEmpty(ls [][2]string) [][2]string {
	if ls == nil {
		return [][2]string{}
	}
	return ls
}

// checksumString is the checksum input of a depth-n view of b.
func checksumString(b *book.Book, n int) string {
	if n <= 0 || n > schema.ChecksumDepth {
		n = schema.ChecksumDepth
	}
	return string(schema.AppendChecksumInput(nil, b.Top(book.Bids, n, nil), b.Top(book.Asks, n, nil), b.PriceExp(), b.SizeExp()))
}

func editMessage(raw []byte, edit func(map[string]any)) (json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	edit(m)
	return json.Marshal(m)
}

func toU(v any) uint64 {
	n, _ := strconv.ParseUint(string(v.(json.Number)), 10, 64)
	return n
}
