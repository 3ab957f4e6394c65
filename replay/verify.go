package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Summary is what Verify found in a recording.
type Summary struct {
	Segments    []SegmentSummary
	Blocks      int
	Records     int64
	First, Last time.Time // earliest and latest record time; zero without records
	Partitions  []PartitionSummary
	Symbols     int     // distinct symbols with valid events
	Damage      []error // every damage found, each a *FormatError; empty for a sound recording
}

// SegmentSummary describes one segment file.
type SegmentSummary struct {
	File    string
	Bytes   int64
	Blocks  int
	Records int64
	Index   string // "ok", or why it was rebuilt
	Damage  error  // the damage that ended the segment's readable part, nil when sound
}

// PartitionSummary describes the records of one partition.
type PartitionSummary struct {
	Partition               int
	Records                 int64
	FirstOffset, LastOffset int64
	Backwards               int64 // records whose offset is not above the one before in the partition
}

// Verify reads every block of every segment, checking each checksum and record, and compares what it reads
// with the index. Unlike a Cursor, it goes on after damage, to the next segment. The error is for ctx or
// for I/O trouble other than damage; damage is in Summary.Damage.
func (r *Recording) Verify(ctx context.Context) (Summary, error) {
	var sum Summary
	dec, err := newDecoder()
	if err != nil {
		return sum, err
	}
	defer dec.Close()
	parts := map[int]*PartitionSummary{}
	syms := map[string]bool{}
	var lo, hi int64
	for _, s := range r.segs {
		ss := SegmentSummary{File: filepath.Base(s.path), Bytes: s.size, Index: "ok"}
		if s.rebuilt != nil {
			ss.Index = "rebuilt: " + s.rebuilt.Error()
		}
		for _, name := range s.idx.Syms {
			syms[name] = true
		}
		err := func() error {
			f, err := os.Open(s.path)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			defer f.Close()
			var hb [segHeaderSize]byte
			n, _ := io.ReadFull(f, hb[:])
			if _, err := parseSegHeader(s.path, hb[:n]); err != nil {
				return err
			}
			br := &blockReader{name: s.path, r: bufio.NewReaderSize(f, 1<<16), off: segHeaderSize, size: s.size, dec: dec}
			for i := 0; ; i++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				off := br.off
				recs, err := br.next()
				if err == io.EOF {
					if i != len(s.idx.Blocks) {
						return formatErr(s.path, off, ErrTruncated, "the segment ends after %d blocks, its index has %d", i, len(s.idx.Blocks))
					}
					return nil
				}
				if err != nil {
					return err
				}
				if i >= len(s.idx.Blocks) || s.idx.Blocks[i].Offset != off || s.idx.Blocks[i].Records != uint32(len(recs)) {
					return formatErr(s.path, off, ErrCorrupt, "block %d does not match the index", i)
				}
				ss.Blocks++
				for _, rec := range recs {
					ss.Records++
					t := rec.Time.UnixNano()
					if sum.Records+ss.Records == 1 || t < lo {
						lo = t
					}
					if sum.Records+ss.Records == 1 || t > hi {
						hi = t
					}
					p := parts[rec.Partition]
					if p == nil {
						p = &PartitionSummary{Partition: rec.Partition, FirstOffset: rec.Offset, LastOffset: rec.Offset - 1}
						parts[rec.Partition] = p
					}
					if rec.Offset <= p.LastOffset {
						p.Backwards++
					}
					p.Records++
					p.LastOffset = rec.Offset
				}
			}
		}()
		var fe *FormatError
		switch {
		case err == nil:
			ss.Damage = s.damage // a missing next segment
		case errors.As(err, &fe):
			ss.Damage = err
		default:
			return sum, err
		}
		if ss.Damage != nil {
			sum.Damage = append(sum.Damage, ss.Damage)
		}
		sum.Blocks += ss.Blocks
		sum.Records += ss.Records
		sum.Segments = append(sum.Segments, ss)
	}
	if sum.Records > 0 {
		sum.First, sum.Last = time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
	}
	for _, p := range parts {
		sum.Partitions = append(sum.Partitions, *p)
	}
	sort.Slice(sum.Partitions, func(i, j int) bool { return sum.Partitions[i].Partition < sum.Partitions[j].Partition })
	sum.Symbols = len(syms)
	return sum, nil
}
