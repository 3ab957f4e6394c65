package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"time"

	"github.com/depthcast/depthcast/engine"
)

// The on-disk format, version 1 (FORMAT.md has the full description). All fixed-width integers are
// little-endian; checksums are CRC-32C (Castagnoli).
const (
	// FormatVersion is the version written in every segment and index header. Readers refuse others.
	FormatVersion = 1

	segMagic       = "DCASTSEG"
	idxMagic       = "DCASTIDX"
	segHeaderSize  = 28 // magic 8, version 2, codec 1, flags 1, sequence 4, created 8, crc 4
	blkHeaderSize  = 20 // stored 4, raw 4, records 4, payload crc 4, header crc 4
	idxHeaderSize  = 24 // magic 8, version 2, reserved 2, sequence 4, segment size 8
	codecZstd      = 1
	segFileSuffix  = ".seg"
	idxFileSuffix  = ".idx"
	minRecordBytes = 5 // partition, offset, time, key length, value length: one byte each at least
)

// Limits that bound what a reader allocates whatever a file claims.
const (
	// MaxBlockBytes is the largest uncompressed block a reader accepts (and a writer makes).
	MaxBlockBytes = 16 << 20
	// MaxRecordBytes is the largest key plus value a Recorder accepts.
	MaxRecordBytes = 8 << 20
	// maxStoredBlock is the largest compressed payload a reader accepts.
	maxStoredBlock = MaxBlockBytes + MaxBlockBytes/64 + 1024
)

// Sentinel errors; every error about a file is a *FormatError wrapping one of the first six.
var (
	ErrBadMagic  = errors.New("not a depthcast recording file (bad magic)")
	ErrVersion   = errors.New("unsupported format version")
	ErrChecksum  = errors.New("checksum mismatch")
	ErrTruncated = errors.New("truncated")
	ErrCorrupt   = errors.New("corrupt data")
	ErrMissing   = errors.New("segment missing")

	ErrNoSegments  = errors.New("replay: no recording segments in the directory")
	ErrDirNotEmpty = errors.New("replay: the directory already holds a recording")
	ErrClosed      = errors.New("replay: closed")
	ErrEmpty       = errors.New("replay: the recording holds no readable records")
	ErrBadRecord   = errors.New("replay: record cannot be recorded")
)

// FormatError reports damage in a recording file: the file, the byte offset where the damage starts, and
// what is wrong (one of ErrBadMagic, ErrVersion, ErrChecksum, ErrTruncated, ErrCorrupt, ErrMissing, with
// detail).
type FormatError struct {
	File   string
	Offset int64
	Err    error
	Detail string
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("replay: %s at byte %d: %v", e.File, e.Offset, e.Err)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(file string, off int64, err error, format string, a ...any) *FormatError {
	return &FormatError{File: file, Offset: off, Err: err, Detail: fmt.Sprintf(format, a...)}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// segName is the file name of segment seq.
func segName(seq uint32) string { return fmt.Sprintf("%08d%s", seq, segFileSuffix) }

// idxPathFor returns the index path of a segment path.
func idxPathFor(segPath string) string {
	return segPath[:len(segPath)-len(filepath.Ext(segPath))] + idxFileSuffix
}

// segHeader is the fixed header at the start of a segment file.
type segHeader struct {
	Codec   uint8
	Seq     uint32
	Created int64 // Unix nanoseconds
}

func (h segHeader) append(b []byte) []byte {
	start := len(b)
	b = append(b, segMagic...)
	b = binary.LittleEndian.AppendUint16(b, FormatVersion)
	b = append(b, h.Codec, 0)
	b = binary.LittleEndian.AppendUint32(b, h.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Created))
	return binary.LittleEndian.AppendUint32(b, crc(b[start:]))
}

// parseSegHeader checks the fixed header of a segment (b holds at least what the file has, up to
// segHeaderSize bytes).
func parseSegHeader(file string, b []byte) (segHeader, error) {
	if len(b) < len(segMagic) || string(b[:len(segMagic)]) != segMagic {
		if len(b) == 0 {
			return segHeader{}, formatErr(file, 0, ErrTruncated, "empty segment file")
		}
		if len(b) < len(segMagic) && string(b) == segMagic[:len(b)] {
			return segHeader{}, formatErr(file, int64(len(b)), ErrTruncated, "segment header cut after %d bytes", len(b))
		}
		return segHeader{}, formatErr(file, 0, ErrBadMagic, "want %q", segMagic)
	}
	if len(b) < segHeaderSize {
		return segHeader{}, formatErr(file, int64(len(b)), ErrTruncated, "segment header cut after %d bytes", len(b))
	}
	b = b[:segHeaderSize]
	// The version comes before the checksum: another version may lay out the rest differently.
	if v := binary.LittleEndian.Uint16(b[8:]); v != FormatVersion {
		return segHeader{}, formatErr(file, 8, ErrVersion, "segment version %d, this reader reads %d", v, FormatVersion)
	}
	if got, want := binary.LittleEndian.Uint32(b[24:]), crc(b[:24]); got != want {
		return segHeader{}, formatErr(file, 24, ErrChecksum, "segment header crc %08x, computed %08x", got, want)
	}
	h := segHeader{Codec: b[10], Seq: binary.LittleEndian.Uint32(b[12:]), Created: int64(binary.LittleEndian.Uint64(b[16:]))}
	if h.Codec != codecZstd {
		return segHeader{}, formatErr(file, 10, ErrVersion, "unknown compression codec %d", h.Codec)
	}
	if b[11] != 0 {
		return segHeader{}, formatErr(file, 11, ErrVersion, "unknown flags %#x", b[11])
	}
	return h, nil
}

// blkHeader is the fixed header before every block payload.
type blkHeader struct {
	Stored  uint32 // compressed payload bytes after the header
	Raw     uint32 // uncompressed payload bytes
	Records uint32
	CRC     uint32 // CRC-32C of the compressed payload
}

func (h blkHeader) append(b []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, h.Stored)
	b = binary.LittleEndian.AppendUint32(b, h.Raw)
	b = binary.LittleEndian.AppendUint32(b, h.Records)
	b = binary.LittleEndian.AppendUint32(b, h.CRC)
	return binary.LittleEndian.AppendUint32(b, crc(b[start:]))
}

// parseBlkHeader checks a block header at offset off of file (b is exactly blkHeaderSize bytes).
func parseBlkHeader(file string, off int64, b []byte) (blkHeader, error) {
	if got, want := binary.LittleEndian.Uint32(b[16:]), crc(b[:16]); got != want {
		return blkHeader{}, formatErr(file, off, ErrChecksum, "block header crc %08x, computed %08x", got, want)
	}
	h := blkHeader{
		Stored:  binary.LittleEndian.Uint32(b[0:]),
		Raw:     binary.LittleEndian.Uint32(b[4:]),
		Records: binary.LittleEndian.Uint32(b[8:]),
		CRC:     binary.LittleEndian.Uint32(b[12:]),
	}
	switch {
	case h.Stored == 0 || h.Stored > maxStoredBlock:
		return h, formatErr(file, off, ErrCorrupt, "block stored size %d out of 1..%d", h.Stored, maxStoredBlock)
	case h.Raw > MaxBlockBytes:
		return h, formatErr(file, off, ErrCorrupt, "block raw size %d above %d", h.Raw, MaxBlockBytes)
	case h.Records == 0 || uint64(h.Records)*minRecordBytes > uint64(h.Raw):
		return h, formatErr(file, off, ErrCorrupt, "block of %d bytes cannot hold %d records", h.Raw, h.Records)
	}
	return h, nil
}

// Times are stored as Unix nanoseconds: the years 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func recordable(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// appendRecord appends one record in the block payload encoding.
func appendRecord(b []byte, rec *engine.Record) []byte {
	b = binary.AppendUvarint(b, uint64(rec.Partition))
	b = binary.AppendVarint(b, rec.Offset)
	b = binary.AppendVarint(b, rec.Time.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(rec.Key)))
	b = append(b, rec.Key...)
	b = binary.AppendUvarint(b, uint64(len(rec.Value)))
	return append(b, rec.Value...)
}

// parseRecords decodes a block payload holding n records into recs (reused), with Key and Value pointing
// into raw. A payload that does not hold exactly n well-formed records is an error (with the offset of the
// trouble within raw).
func parseRecords(raw []byte, n int, recs []engine.Record) ([]engine.Record, int, error) {
	recs = recs[:0]
	i := 0
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(raw[i:])
		if k <= 0 {
			return 0, false
		}
		i += k
		return v, true
	}
	sv := func() (int64, bool) {
		v, k := binary.Varint(raw[i:])
		if k <= 0 {
			return 0, false
		}
		i += k
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		l, ok := uv()
		if !ok || l > uint64(len(raw)-i) {
			return nil, false
		}
		b := raw[i : i+int(l) : i+int(l)]
		i += int(l)
		return b, true
	}
	for range n {
		start := i
		p, ok1 := uv()
		off, ok2 := sv()
		ts, ok3 := sv()
		if !ok1 || !ok2 || !ok3 || p > math.MaxInt32 {
			return recs, start, errors.New("bad record header")
		}
		key, ok4 := bytesOf()
		val, ok5 := bytesOf()
		if !ok4 || !ok5 {
			return recs, start, errors.New("record length past the end of the block")
		}
		if len(key) == 0 {
			key = nil
		}
		if len(val) == 0 {
			val = nil
		}
		recs = append(recs, engine.Record{Partition: int(p), Offset: off, Time: time.Unix(0, ts).UTC(), Key: key, Value: val})
	}
	if i != len(raw) {
		return recs, i, fmt.Errorf("%d bytes after the last of %d records", len(raw)-i, n)
	}
	return recs, 0, nil
}
