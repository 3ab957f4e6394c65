package engine

import (
	"context"
	"sync"
	"testing"

	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/schema"
)

// A record on one symbol's partition (its key) that names another symbol, or that names its symbol twice,
// must not touch either book: it is refused, counted and handed to OnReject (the dead-letter path).
func TestPipelineRefusesAmbiguousRecords(t *testing.T) {
	m := testkit.NewMetrics()
	rec := &enginetest.Recorder{}
	var mu sync.Mutex
	reasons := map[int64]schema.Reason{}
	p := newTestPipeline(t, Config{Shards: 1, QueueSize: 4, Meter: m.Provider.Meter("t"),
		OnReject: func(r Record, reason schema.Reason, err error) {
			mu.Lock()
			reasons[r.Offset] = reason
			mu.Unlock()
		}}, rec)
	const victim, other = "VICTIM", "OTHER"
	records := []Record{
		{Offset: 0, Key: []byte(victim), Value: []byte(enginetest.Snap(victim, 1, enginetest.L("10:1"), enginetest.L("50:1")))},
		{Offset: 1, Key: []byte(other), Value: []byte(enginetest.Snap(other, 1, enginetest.L("10:1"), enginetest.L("50:1")))},
		// OTHER's partition, VICTIM's symbol.
		{Offset: 2, Key: []byte(other), Value: []byte(enginetest.Delta(victim, 2, enginetest.L("42:42"), nil))},
		// Two symbols in one record.
		{Offset: 3, Key: []byte(other), Value: []byte(`{"type":"delta","symbol":"OTHER","SYMBOL":"VICTIM","seq":2,"time":"2026-11-24T10:00:00Z","bids":[["42","42"]]}`)},
		{Offset: 4, Key: []byte(other), Value: []byte(`{"type":"delta","symbol":"OTHER","symbol":"VICTIM","seq":2,"time":"2026-11-24T10:00:00Z","bids":[["42","42"]]}`)},
		// VICTIM's real next delta applies; a record without a key is not checked.
		{Offset: 5, Key: []byte(victim), Value: []byte(enginetest.Delta(victim, 2, enginetest.L("11:1"), nil))},
		{Offset: 6, Value: []byte(enginetest.Delta(other, 2, enginetest.L("12:1"), nil))},
	}
	for _, r := range records {
		if err := p.Submit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := enginetest.BookOf(p.Do, victim), "live=true seq=2 11:1,10:1|50:1"; got != want {
		t.Errorf("VICTIM book = %q, want %q", got, want)
	}
	if got, want := enginetest.BookOf(p.Do, other), "live=true seq=2 12:1,10:1|50:1"; got != want {
		t.Errorf("OTHER book = %q, want %q", got, want)
	}
	want := map[int64]schema.Reason{2: schema.ReasonKeyMismatch, 3: schema.ReasonJSON, 4: schema.ReasonJSON}
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != len(want) {
		t.Errorf("rejected %v, want %v", reasons, want)
	}
	for off, r := range want {
		if reasons[off] != r {
			t.Errorf("record %d rejected as %q, want %q", off, reasons[off], r)
		}
	}
	if got := m.Value(t, MetricRejected, "reason=key_mismatch"); got != 1 {
		t.Errorf("%s{reason=key_mismatch} = %d, want 1", MetricRejected, got)
	}
}
