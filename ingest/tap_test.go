package ingest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
)

// tapLog is a Tap that keeps what it sees and fails for the offsets in fail.
type tapLog struct {
	mu   sync.Mutex
	recs []engine.Record
	fail map[int64]bool
}

func (l *tapLog) Tap(_ context.Context, r engine.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	if l.fail[r.Offset] {
		return errors.New("disk full")
	}
	return nil
}

func (l *tapLog) seen() []engine.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]engine.Record(nil), l.recs...)
}

// The tap sees every record the readers submit, rejected ones included, in offset order; its failures are
// logged and counted, and ingestion goes on.
func TestKafkaTap(t *testing.T) {
	k := newTestCluster(t, 1)
	values := []string{
		enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")),
		enginetest.Delta("BTC-USD", 2, enginetest.L("100:2"), nil),
		`{"type":"bogus"}`,
		enginetest.Delta("BTC-USD", 3, enginetest.L("99:1"), nil),
		enginetest.Trade("BTC-USD", 4, "101", "1"),
	}
	k.produce(t, values...)
	tap := &tapLog{fail: map[int64]bool{1: true, 3: true}}
	m := testkit.NewMetrics()
	var logs testkit.Buffer
	rec := &enginetest.Recorder{}
	c := newTestConsumer(t, k, Config{Books: engine.Config{Tap: tap}, Meter: m.Provider.Meter("test"), Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec)
	runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=3 100:2,99:1|101:1")
	testkit.WaitFor(t, 10*time.Second, "the tap sees every record", func() bool { return len(tap.seen()) == len(values) })
	for i, r := range tap.seen() {
		if r.Offset != int64(i) || r.Partition != 0 || string(r.Value) != values[i] || string(r.Key) == "" || r.Time.IsZero() {
			t.Errorf("tap record %d: %d/%d %q", i, r.Partition, r.Offset, r.Value)
		}
	}
	if got := m.Value(t, engine.MetricTapErrors, "partition=0"); got != 2 {
		t.Errorf("%s = %d, want 2", engine.MetricTapErrors, got)
	}
	if !strings.Contains(logs.String(), "tap failed") || !strings.Contains(logs.String(), "disk full") {
		t.Errorf("no tap failure in the log:\n%s", logs.String())
	}
}
