package replay_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/replay"
)

// growing is a source whose records can be added to, counting the cursors opened on it.
type growing struct {
	recs  []engine.Record
	opens int
}

func (g *growing) mem() *replay.Memory { m, _ := replay.NewMemory(g.recs); return m }
func (g *growing) Range(ctx context.Context) (time.Time, time.Time, error) {
	return g.mem().Range(ctx)
}
func (g *growing) Open(ctx context.Context, from time.Time) (replay.Cursor, error) {
	g.opens++
	return g.mem().Open(ctx, from)
}

func TestLibrarySymbols(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	rec := func(i int, sym string) engine.Record {
		return engine.Record{Offset: int64(i), Time: t0.Add(time.Duration(i) * time.Second), Key: []byte(sym)}
	}
	for _, tc := range []struct {
		maxAge    time.Duration
		wantOpens int
		wantAfter []string
	}{
		{0, 2, []string{"AAA", "BBB", "CCC"}},
		{time.Hour, 1, []string{"AAA", "BBB"}},
	} {
		g := &growing{recs: []engine.Record{rec(0, "BBB"), rec(1, "AAA"), rec(2, "BBB")}}
		lib := replay.NewLibrary(g)
		lib.MaxAge = tc.maxAge
		for range 2 {
			syms, err := lib.Symbols(context.Background())
			if err != nil || !slices.Equal(syms, []string{"AAA", "BBB"}) {
				t.Fatalf("Symbols = %v, %v", syms, err)
			}
		}
		g.recs = append(g.recs, rec(3, "CCC"))
		syms, _ := lib.Symbols(context.Background())
		if !slices.Equal(syms, tc.wantAfter) || g.opens != tc.wantOpens {
			t.Errorf("MaxAge %v: after growing, Symbols = %v with %d reads, want %v with %d", tc.maxAge, syms, g.opens, tc.wantAfter, tc.wantOpens)
		}
	}
	if _, err := replay.NewLibrary(&growing{}).Symbols(context.Background()); err == nil {
		t.Error("Symbols of an empty source: no error")
	}
}

// A recording's symbols come from its indexes; records that are not valid events do not count.
func TestRecordingSymbols(t *testing.T) {
	dir := t.TempDir()
	r, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := simRecords(t, 500, 9)
	recs = append(recs, engine.Record{Offset: 500, Time: recs[499].Time, Key: []byte("JUNK"), Value: []byte(`not json`)})
	for _, rec := range recs {
		if err := r.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := replay.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	mem, _ := replay.NewMemory(recs[:500])
	want, _ := replay.Symbols(context.Background(), mem)
	got, err := replay.NewLibrary(rd).Symbols(context.Background())
	if err != nil || !slices.Equal(got, want) || len(want) != 3 {
		t.Fatalf("Symbols = %v, %v; want %v", got, err, want)
	}
}
