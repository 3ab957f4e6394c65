package replay

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/depthcast/depthcast/schema"
)

// blockMeta is what the index knows of one block.
type blockMeta struct {
	Offset  int64  // of the block header in the segment file
	Size    int64  // header plus stored payload
	Records uint32 // records in the block
	MinTime int64  // earliest record time, Unix nanoseconds
	MaxTime int64  // latest record time, Unix nanoseconds
	Syms    []symRef
}

// symRef says that a block holds valid events of a symbol (an index into segIndex.Syms), and whether one of
// them is a snapshot.
type symRef struct {
	ID       uint32
	Snapshot bool
}

// segIndex is the index of one segment: its symbol table and its blocks, in file order.
type segIndex struct {
	Seq    uint32
	Size   int64 // segment bytes the blocks cover: header plus every block
	Syms   []string
	Blocks []blockMeta
}

// blockSummary collects the meta of a block as its records are added.
type blockSummary struct {
	n          int
	minT, maxT int64
	syms       map[string]bool // symbol -> has a snapshot
	order      []string        // symbols in order of first appearance (deterministic output)
	dec        schema.Decoder  // for scans
	ev         schema.Event
}

func (s *blockSummary) reset() {
	s.n = 0
	clear(s.syms)
	s.order = s.order[:0]
}

// add records a record's time and, when its value is a valid event, its symbol and type.
func (s *blockSummary) add(t int64, sym string, snapshot bool) {
	if s.n == 0 || t < s.minT {
		s.minT = t
	}
	if s.n == 0 || t > s.maxT {
		s.maxT = t
	}
	s.n++
	if sym == "" {
		return
	}
	if s.syms == nil {
		s.syms = make(map[string]bool)
	}
	had, ok := s.syms[sym]
	if !ok {
		s.order = append(s.order, sym)
	}
	s.syms[sym] = had || snapshot
}

// peek returns the symbol of a record value and whether it is a snapshot; sym is "" when the value is not a
// valid event (the pipeline will reject it: it creates no book).
func peek(d *schema.Decoder, ev *schema.Event, value []byte) (sym string, snapshot bool) {
	if err := d.Decode(value, ev); err != nil {
		return "", false
	}
	return ev.Symbol, ev.Type == schema.EventSnapshot
}

// meta turns the summary into the block's index entry, adding new symbols to idx.
func (s *blockSummary) meta(idx *segIndex, ids map[string]uint32, off, size int64) blockMeta {
	m := blockMeta{Offset: off, Size: size, Records: uint32(s.n), MinTime: s.minT, MaxTime: s.maxT}
	for _, sym := range s.order {
		id, ok := ids[sym]
		if !ok {
			id = uint32(len(idx.Syms))
			idx.Syms = append(idx.Syms, sym)
			ids[sym] = id
		}
		m.Syms = append(m.Syms, symRef{ID: id, Snapshot: s.syms[sym]})
	}
	return m
}

// encode returns the index file bytes.
func (x *segIndex) encode() []byte {
	b := make([]byte, 0, 64+16*len(x.Syms)+32*len(x.Blocks))
	b = append(b, idxMagic...)
	b = binary.LittleEndian.AppendUint16(b, FormatVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, x.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(x.Size))
	b = binary.AppendUvarint(b, uint64(len(x.Syms)))
	for _, s := range x.Syms {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(x.Blocks)))
	for _, m := range x.Blocks {
		b = binary.AppendUvarint(b, uint64(m.Size))
		b = binary.AppendUvarint(b, uint64(m.Records))
		b = binary.AppendVarint(b, m.MinTime)
		b = binary.AppendUvarint(b, uint64(m.MaxTime-m.MinTime))
		b = binary.AppendUvarint(b, uint64(len(m.Syms)))
		for _, r := range m.Syms {
			v := uint64(r.ID) << 1
			if r.Snapshot {
				v |= 1
			}
			b = binary.AppendUvarint(b, v)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc(b))
}

// decodeIndex parses and checks an index file. Every count is bounded by the bytes left, so a damaged
// file cannot make it allocate more than a few times its own size.
func decodeIndex(file string, b []byte) (*segIndex, error) {
	if len(b) < len(idxMagic) || string(b[:len(idxMagic)]) != idxMagic {
		return nil, formatErr(file, 0, ErrBadMagic, "want %q", idxMagic)
	}
	if len(b) < idxHeaderSize+4 {
		return nil, formatErr(file, int64(len(b)), ErrTruncated, "index of %d bytes", len(b))
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != FormatVersion {
		return nil, formatErr(file, 8, ErrVersion, "index version %d, this reader reads %d", v, FormatVersion)
	}
	body := b[:len(b)-4]
	if got, want := binary.LittleEndian.Uint32(b[len(b)-4:]), crc(body); got != want {
		return nil, formatErr(file, int64(len(b)-4), ErrChecksum, "index crc %08x, computed %08x", got, want)
	}
	x := &segIndex{Seq: binary.LittleEndian.Uint32(b[12:]), Size: int64(binary.LittleEndian.Uint64(b[16:]))}
	i := idxHeaderSize
	bad := func(what string) error { return formatErr(file, int64(i), ErrCorrupt, "index: %s", what) }
	uv := func(limit uint64) (uint64, bool) {
		v, k := binary.Uvarint(body[i:])
		if k <= 0 || v > limit {
			return 0, false
		}
		i += k
		return v, true
	}
	if x.Size < segHeaderSize || x.Size > math.MaxInt64/2 {
		return nil, bad("segment size out of range")
	}
	nsyms, ok := uv(uint64(len(body) - i))
	if !ok {
		return nil, bad("symbol count")
	}
	x.Syms = make([]string, 0, nsyms)
	for range nsyms {
		l, ok := uv(math.MaxInt32)
		if !ok || l > uint64(len(body)-i) {
			return nil, bad("symbol length")
		}
		x.Syms = append(x.Syms, string(body[i:i+int(l)]))
		i += int(l)
	}
	nblocks, ok := uv(uint64(len(body)-i) / 5)
	if !ok {
		return nil, bad("block count")
	}
	x.Blocks = make([]blockMeta, 0, nblocks)
	off := int64(segHeaderSize)
	for range nblocks {
		m := blockMeta{Offset: off}
		size, ok1 := uv(uint64(blkHeaderSize + maxStoredBlock))
		recs, ok2 := uv(MaxBlockBytes / minRecordBytes)
		minT, k := binary.Varint(body[i:])
		if !ok1 || !ok2 || k <= 0 || size <= blkHeaderSize || recs == 0 {
			return nil, bad("block entry")
		}
		i += k
		span, ok3 := uv(uint64(math.MaxInt64 - minT))
		nrefs, ok4 := uv(uint64(len(body) - i))
		if !ok3 || !ok4 {
			return nil, bad("block entry")
		}
		m.Size, m.Records, m.MinTime, m.MaxTime = int64(size), uint32(recs), minT, minT+int64(span)
		m.Syms = make([]symRef, 0, nrefs)
		for range nrefs {
			v, ok := uv(uint64(len(x.Syms)-1)<<1 | 1)
			if !ok || len(x.Syms) == 0 {
				return nil, bad("symbol reference")
			}
			m.Syms = append(m.Syms, symRef{ID: uint32(v >> 1), Snapshot: v&1 == 1})
		}
		x.Blocks = append(x.Blocks, m)
		off += m.Size
	}
	if i != len(body) {
		return nil, bad(fmt.Sprintf("%d bytes after the last block", len(body)-i))
	}
	if off != x.Size {
		return nil, formatErr(file, 16, ErrCorrupt, "index blocks end at byte %d, segment size says %d", off, x.Size)
	}
	return x, nil
}

// scanSegment rebuilds the index of a segment by reading every block. It returns the index of every
// complete, valid block, and the damage that stopped the scan (nil at a clean end).
func scanSegment(br *blockReader, seq uint32) (*segIndex, error) {
	x := &segIndex{Seq: seq, Size: segHeaderSize}
	ids := make(map[string]uint32)
	var sum blockSummary
	for {
		off := br.off
		recs, err := br.next()
		if err != nil {
			if err == io.EOF {
				return x, nil
			}
			return x, err
		}
		sum.reset()
		for i := range recs {
			sym, snap := peek(&sum.dec, &sum.ev, recs[i].Value)
			sum.add(recs[i].Time.UnixNano(), sym, snap)
		}
		x.Blocks = append(x.Blocks, sum.meta(x, ids, off, br.off-off))
		x.Size = br.off
	}
}
