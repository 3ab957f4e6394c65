package replay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/schema"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// ev builds a valid event value ("snap", "delta", "trade") or an invalid one ("junk").
func ev(t testing.TB, kind, sym string, seq int) []byte {
	t.Helper()
	tm := t0.Add(time.Duration(seq) * time.Second).Format(time.RFC3339Nano)
	var v string
	switch kind {
	case "snap":
		v = fmt.Sprintf(`{"type":"snapshot","symbol":%q,"seq":%d,"time":%q,"bids":[["100","1"]],"asks":[["101","1"]]}`, sym, seq, tm)
	case "delta":
		v = fmt.Sprintf(`{"type":"delta","symbol":%q,"seq":%d,"time":%q,"bids":[["100","2"]],"asks":[]}`, sym, seq, tm)
	case "trade":
		v = fmt.Sprintf(`{"type":"trade","symbol":%q,"seq":%d,"time":%q,"price":"100","size":"1","side":"buy","trade_id":"x"}`, sym, seq, tm)
	default:
		return []byte(`{"type":"snapshot","symbol":` + sym)
	}
	if _, err := schema.DecodeEvent([]byte(v)); err != nil {
		t.Fatalf("%s: %v", v, err)
	}
	return []byte(v)
}

// recordBlocks records blocks exactly as given: each inner string is "kind SYM SECONDS" and each block is
// written as one block. It returns the records in order.
func recordBlocks(t testing.TB, dir string, blocks [][]string) []engine.Record {
	t.Helper()
	r, err := NewRecorder(RecorderConfig{Dir: dir, Logger: quietLogger(), SegmentBytes: 600})
	if err != nil {
		t.Fatal(err)
	}
	var recs []engine.Record
	for _, b := range blocks {
		for _, spec := range b {
			var kind, sym string
			var sec float64
			if _, err := fmt.Sscan(spec, &kind, &sym, &sec); err != nil {
				t.Fatalf("%q: %v", spec, err)
			}
			rec := engine.Record{Partition: 0, Offset: int64(len(recs)), Time: t0.Add(time.Duration(sec * float64(time.Second))),
				Key: []byte(sym), Value: ev(t, kind, sym, len(recs)+1)}
			if err := r.Write(rec); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// Open(from) starts at the latest block from which every symbol with events before from has its last
// snapshot before from still ahead, and never after a record at or after from.
func TestOpenFrom(t *testing.T) {
	blocks := [][]string{
		{"snap A 0", "delta A 1"},                  // block 0: records 0-1
		{"snap B 2", "delta A 3"},                  // block 1: 2-3
		{"delta B 4", "snap A 5"},                  // block 2: 4-5
		{"delta B 6", "junk X 7"},                  // block 3: 6-7
		{"delta A 8", "snap B 9"},                  // block 4: 8-9
		{"delta A 10", "delta C 11", "trade A 12"}, // block 5: 10-12
		{"snap C 13", "snap A 14"},                 // block 6: 13-14
		{"snap B 15"},                              // block 7: 15
		{"delta B 16", "delta A 18", "snap C 17"},  // block 8: 16-18, times out of order
		{"delta A 19"},                             // block 9: 19
	}
	dir := t.TempDir()
	recs := recordBlocks(t, dir, blocks)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if len(rec.segs) < 2 {
		t.Fatalf("%d segments, want several", len(rec.segs))
	}
	first, last, err := rec.Range(context.Background())
	if err != nil || !first.Equal(t0) || !last.Equal(t0.Add(19*time.Second)) {
		t.Fatalf("Range: %v %v %v", first, last, err)
	}
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name  string
		from  time.Time
		first int // index of the first record the cursor returns
	}{
		{"zero from", time.Time{}, 0},
		{"before everything", sec(-5), 0},
		{"at the first record", sec(0), 0},
		{"inside block 0", sec(1), 0},
		{"A's first snapshot is all there is", sec(2), 0},
		{"B needs block 1, A block 0", sec(4), 0},
		{"A re-snapshotted in block 2, B in block 1", sec(6), 2},
		{"junk does not count", sec(8), 2},
		{"at B's snapshot time, its block straddles", sec(9), 2},
		{"B re-snapshotted in block 4", sec(10), 4},
		{"C seen without a snapshot", sec(12), 4},
		{"C and A re-snapshotted, from straddles block 6", sec(14), 4},
		{"A 6, B 4, C 6", sec(14.5), 8},
		{"after block 7: A 6, B 7, C 6", sec(16), 13},
		{"out-of-order times: block 8 straddles", sec(17.5), 13},
		{"after everything: A 6, B 7, C 8", sec(100), 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rec.Open(context.Background(), tc.from)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := drain(t, c)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, recs[tc.first:], got)
			checkStart(t, recs, len(recs)-len(got), tc.from)
		})
	}
}

// checkStart checks the Source contract for a cursor over recs that starts at start: no record at or after
// from is skipped, and every symbol with a valid event before from has its last snapshot before from (or,
// without one, its first event) at or after start.
func checkStart(t *testing.T, recs []engine.Record, start int, from time.Time) {
	t.Helper()
	if from.IsZero() {
		if start != 0 {
			t.Errorf("zero from: start %d", start)
		}
		return
	}
	need := map[string]int{}
	var d schema.Decoder
	var e schema.Event
	for i, r := range recs {
		if !r.Time.Before(from) {
			if i < start {
				t.Errorf("start %d skips record %d at %v, not before %v", start, i, r.Time, from)
			}
			continue
		}
		if d.Decode(r.Value, &e) != nil {
			continue
		}
		if _, ok := need[e.Symbol]; !ok || e.Type == schema.EventSnapshot {
			need[e.Symbol] = i
		}
	}
	for sym, i := range need {
		if i < start {
			t.Errorf("start %d is past %s's last snapshot (or first event) before %v at record %d", start, sym, from, i)
		}
	}
}

// On a real stream, Open(from) satisfies the contract for every from and does not start at the beginning
// when it need not.
func TestOpenFromSimulated(t *testing.T) {
	recs := simRecords(t, 3000, 4, 200)
	dir := t.TempDir()
	record(t, RecorderConfig{Dir: dir, BlockBytes: 2 << 10, SegmentBytes: 16 << 10}, recs)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	first, last, err := rec.Range(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for i := range 20 {
		from := first.Add(last.Sub(first) * time.Duration(i) / 19)
		c, err := rec.Open(context.Background(), from)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Next(context.Background())
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		start := -1
		for j := range recs {
			if recs[j].Partition == r.Partition && recs[j].Offset == r.Offset {
				start = j
				break
			}
		}
		if start < 0 {
			t.Fatalf("first record %d/%d not recorded", r.Partition, r.Offset)
		}
		checkStart(t, recs, start, from)
		if start > 0 {
			late++
		}
	}
	if late < 10 {
		t.Errorf("only %d of 20 opens started after the beginning", late)
	}
	if !strings.HasSuffix(rec.segs[0].path, segName(1)) {
		t.Errorf("first segment %s", rec.segs[0].path)
	}
}

// Past damage, Open(from) starts at the beginning: the cursor serves what precedes the damage, then the
// damage, as a cursor over damaged data must.
func TestOpenFromPastDamage(t *testing.T) {
	recs := simRecords(t, 1500, 4, 100)
	dir := t.TempDir()
	record(t, RecorderConfig{Dir: dir, BlockBytes: 2 << 10, SegmentBytes: 12 << 10}, recs)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.segs) < 3 {
		t.Fatalf("%d segments", len(rec.segs))
	}
	n := 0
	for _, b := range rec.segs[0].idx.Blocks {
		n += int(b.Records)
	}
	if err := os.Remove(rec.segs[1].path); err != nil { // a gap after the first segment
		t.Fatal(err)
	}
	rec, err = OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	_, last, err := rec.Range(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := rec.Open(context.Background(), last)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := drain(t, c)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("error %v, want ErrMissing", err)
	}
	sameRecords(t, recs[:n], got)
}

// Next honours its context, and a closed cursor says so.
func TestCursorContextAndClose(t *testing.T) {
	dir := t.TempDir()
	recs := simRecords(t, 50, 2, 0)
	record(t, RecorderConfig{Dir: dir, BlockBytes: 512}, recs)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	c, err := rec.Open(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := c.Next(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		// Records of the block already read may still come; then the cancellation.
		if _, err = c.Next(ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	if _, err := c.Next(context.Background()); err != nil {
		t.Fatalf("Next with a live context after a cancelled one: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := rec.Open(ctx, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v", err)
	}
}
