package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/sim"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// simRecords returns n records of the simulated exchange (snapshots, deltas, trades; re-snapshots every
// resnap events of a symbol), spread over three partitions by symbol, with increasing offsets.
func simRecords(t testing.TB, n, symbols, resnap int) []engine.Record {
	t.Helper()
	x, err := sim.New(sim.Config{Symbols: symbols, Levels: 10, ResnapshotEvery: resnap})
	if err != nil {
		t.Fatal(err)
	}
	next := map[int]int64{}
	out := make([]engine.Record, n)
	for i := range out {
		e := x.Next()
		p := int(e.Key[0]) % 3
		out[i] = engine.Record{Partition: p, Offset: next[p], Time: e.Time, Key: []byte(e.Key), Value: bytes.Clone(e.Value)}
		next[p]++
	}
	return out
}

// record writes recs with a Recorder of cfg (Dir set by the caller) and closes it.
func record(t testing.TB, cfg RecorderConfig, recs []engine.Record) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	r, err := NewRecorder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := r.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll opens dir from from and returns every record the cursor gives (copied) and the error that ended
// it (nil for io.EOF).
func readAll(t testing.TB, dir string, log *slog.Logger) ([]engine.Record, error) {
	t.Helper()
	if log == nil {
		log = quietLogger()
	}
	rec, err := OpenDirLogger(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	c, err := rec.Open(context.Background(), zeroTime)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return drain(t, c)
}

func drain(t testing.TB, c Cursor) ([]engine.Record, error) {
	t.Helper()
	var out []engine.Record
	for {
		r, err := c.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		out = append(out, r)
	}
}

// sameRecords reports the first difference between want and got.
func sameRecords(t testing.TB, want, got []engine.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d records, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		w, g := want[i], got[i]
		if w.Partition != g.Partition || w.Offset != g.Offset || !w.Time.Equal(g.Time) || !bytes.Equal(w.Key, g.Key) || !bytes.Equal(w.Value, g.Value) {
			t.Fatalf("record %d: got %d/%d %v %q %q, want %d/%d %v %q %q", i, g.Partition, g.Offset, g.Time, g.Key, g.Value,
				w.Partition, w.Offset, w.Time, w.Key, w.Value)
		}
	}
}
