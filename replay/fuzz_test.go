package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/depthcast/depthcast/engine"
)

// realSegment records n simulated records in blocks of about blockBytes and returns the segment's bytes and
// the records.
func realSegment(t testing.TB, n, blockBytes int) ([]byte, []engine.Record) {
	t.Helper()
	recs := simRecords(t, n, 3, 50)
	dir := t.TempDir()
	record(t, RecorderConfig{Dir: dir, BlockBytes: blockBytes}, recs)
	data, err := os.ReadFile(filepath.Join(dir, segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	return data, recs
}

// FuzzSegmentReader: arbitrary bytes never panic the segment or index reader, and a real segment that is
// truncated or has a byte changed gives back a prefix of what was written, then an error.
//
// mode 0 reads data as a segment and as an index; mode 1 truncates the real segment at pos; mode 2 xors the
// byte at pos with flip (made non-zero); mode 3 wraps data into an index with valid header and checksum, so
// that the body parser is reached; mode 4 wraps data into a block payload with valid checksums claiming
// pos%64+1 records, so that the record parser is reached.
func FuzzSegmentReader(f *testing.F) {
	seg, recs := realSegment(f, 300, 1<<10)
	// Inputs are kept small: the fuzzer minimizes every new input it finds, which takes long on big ones.
	small, _ := realSegment(f, 8, 200)
	f.Add(uint8(0), uint32(0), byte(0), small)
	f.Add(uint8(0), uint32(0), byte(0), small[:len(small)/2])
	f.Add(uint8(0), uint32(0), byte(0), []byte(segMagic))
	f.Add(uint8(0), uint32(0), byte(0), (&segIndex{Seq: 1, Size: segHeaderSize + 100, Syms: []string{"A"},
		Blocks: []blockMeta{{Size: 100, Records: 2, MinTime: 5, MaxTime: 9, Syms: []symRef{{0, true}}}}}).encode())
	f.Add(uint8(1), uint32(len(seg)/3), byte(0), []byte(nil))
	f.Add(uint8(1), uint32(segHeaderSize+blkHeaderSize/2), byte(0), []byte(nil))
	f.Add(uint8(2), uint32(segHeaderSize+2), byte(1), []byte(nil))
	f.Add(uint8(2), uint32(len(seg)-5), byte(0x80), []byte(nil))
	f.Add(uint8(3), uint32(100), byte(0), (&segIndex{Seq: 1, Size: segHeaderSize + 100, Syms: []string{"A"},
		Blocks: []blockMeta{{Size: 100, Records: 2, MinTime: 5, MaxTime: 9, Syms: []symRef{{0, true}}}}}).encode()[idxHeaderSize:])
	var payload []byte
	for i := range recs[:3] {
		payload = appendRecord(payload, &recs[i])
	}
	f.Add(uint8(4), uint32(2), byte(0), payload)
	enc, err := newEncoder()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { enc.Close() })
	f.Fuzz(func(t *testing.T, mode uint8, pos uint32, flip byte, data []byte) {
		switch mode % 5 {
		case 0:
			_ = ReadSegment("fuzz.seg", data, func(engine.Record) {})
			_, _ = decodeIndex("fuzz.idx", data)
			return
		case 3:
			b := []byte(idxMagic)
			b = binary.LittleEndian.AppendUint16(b, FormatVersion)
			b = binary.LittleEndian.AppendUint16(b, 0)
			b = binary.LittleEndian.AppendUint32(b, 1)
			b = binary.LittleEndian.AppendUint64(b, uint64(pos))
			b = append(b, data...)
			b = binary.LittleEndian.AppendUint32(b, crc(b))
			x, err := decodeIndex("fuzz.idx", b)
			if err != nil {
				return
			}
			y, err := decodeIndex("fuzz.idx", x.encode())
			if err != nil || !reflect.DeepEqual(x, y) {
				t.Fatalf("index does not survive encode and decode: %v\n%+v\n%+v", err, x, y)
			}
			return
		case 4:
			b := segHeader{Codec: codecZstd, Seq: 1}.append(nil)
			b = encodeBlock(enc, b, data, int(pos%64)+1)
			var n uint32
			err := ReadSegment("fuzz.seg", b, func(engine.Record) { n++ })
			if err == nil && n != pos%64+1 {
				t.Fatalf("read %d records, the block says %d", n, pos%64+1)
			}
			return
		case 1:
			data = bytes.Clone(seg[:int(pos)%(len(seg)+1)])
		case 2:
			data = bytes.Clone(seg)
			data[int(pos)%len(data)] ^= flip | 1
		}
		n := 0
		err := ReadSegment("fuzz.seg", data, func(r engine.Record) {
			if n >= len(recs) {
				t.Fatalf("more records than were written")
			}
			w := recs[n]
			if r.Partition != w.Partition || r.Offset != w.Offset || !r.Time.Equal(w.Time) || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) {
				t.Fatalf("record %d differs from what was written", n)
			}
			n++
		})
		var fe *FormatError
		switch {
		case len(data) == len(seg) && bytes.Equal(data, seg):
			if err != nil {
				t.Fatalf("undamaged segment: %v", err)
			}
		case err == nil && mode%5 == 1 && n < len(recs):
			// Cut exactly at a block boundary: a clean, shorter segment.
		case err == nil:
			t.Fatalf("damaged segment read without error (%d records)", n)
		case !errors.As(err, &fe) || fe.File != "fuzz.seg" || fe.Offset < 0 || fe.Offset > int64(len(data)):
			t.Fatalf("error %v is not a *FormatError within the file", err)
		}
	})
}

// A header that claims a huge block costs no memory: the reader checks lengths against the file first.
func TestReaderBoundsAllocations(t *testing.T) {
	hdr := segHeader{Codec: codecZstd, Seq: 1}.append(nil)
	blk := blkHeader{Stored: maxStoredBlock, Raw: MaxBlockBytes, Records: 1000}.append(nil)
	data := append(hdr, blk...)
	data = append(data, make([]byte, 100)...)
	idx := []byte(idxMagic)
	idx = binary.LittleEndian.AppendUint16(idx, FormatVersion)
	idx = append(idx, make([]byte, 14)...)
	idx = binary.AppendUvarint(idx, 1<<40) // symbols
	idx = binary.LittleEndian.AppendUint32(idx, crc(idx))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if err := ReadSegment("big.seg", data, func(engine.Record) {}); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ReadSegment: %v, want ErrTruncated", err)
		}
		if _, err := decodeIndex("big.idx", idx); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeIndex: %v, want ErrCorrupt", err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
		t.Fatalf("10 reads of lying headers allocated %d bytes", d)
	}
}
