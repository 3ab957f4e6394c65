package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestIsControlRecord(t *testing.T) {
	tests := []struct {
		name       string
		key, value []byte
		want       bool
	}{
		{"commit marker", []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 7}, true},
		{"abort marker", []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0}, true},
		{"unknown marker type", []byte{0, 0, 0, 2}, []byte{0, 0, 0, 0, 0, 0}, false},
		{"marker version 1", []byte{0, 1, 0, 1}, []byte{0, 0, 0, 0, 0, 0}, false},
		{"an event", []byte("BTC-USD"), []byte(`{"type":"delta"}`), false},
		{"four-byte key, JSON value", []byte("SOLX"), []byte(`{"a":1}`), false},
		{"six-byte value not binary", []byte{0, 0, 0, 1}, []byte(`{"a":1`), false},
		{"empty", nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isControlRecord(&kafka.Message{Key: tc.key, Value: tc.value}); got != tc.want {
				t.Errorf("isControlRecord = %v, want %v", got, tc.want)
			}
		})
	}
}

// An upstream that writes in transactions leaves commit markers in the log, which kafka-go hands to readers
// as messages: they are skipped and counted, not rejected as bad JSON or sent to the dead-letter topic, and
// a log that ends in a marker still counts as read to its end.
func TestKafkaTransactionMarkers(t *testing.T) {
	for _, traced := range []bool{false, true} {
		name := "batched"
		if traced {
			name = "traced"
		}
		t.Run(name, func(t *testing.T) {
			k := newTestCluster(t, 1, kgo.TransactionalID("gateway-1"), kgo.RequiredAcks(kgo.AllISRAcks()))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			txn := func(values ...string) {
				t.Helper()
				if err := k.cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				k.produce(t, values...)
				if err := k.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					t.Fatal(err)
				}
			}
			txn(enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("100:2"), nil))
			txn(enginetest.Delta("BTC-USD", 3, nil, enginetest.L("101:3")))

			m := testkit.NewMetrics()
			cfg := Config{Meter: m.Provider.Meter("t"), DeadLetterTopic: "md.dead"}
			if traced {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(&countingExporter{}))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				cfg.TracerProvider = tp
			}
			c := newTestConsumer(t, k, cfg, &enginetest.Recorder{})
			runConsumer(t, c)
			waitBook(t, c, "BTC-USD", "live=true seq=3 100:2|101:3")
			// The log ends with a commit marker: the partition is read to its end all the same.
			testkit.WaitFor(t, 10*time.Second, "Ready with a marker last in the log", c.Ready)

			txn(enginetest.Delta("BTC-USD", 4, enginetest.L("99:1"), nil))
			waitBook(t, c, "BTC-USD", "live=true seq=4 100:2,99:1|101:3")
			testkit.WaitFor(t, 5*time.Second, "three markers counted", func() bool { return m.Value(t, metricControlRecords) == 3 })
			if got := m.Value(t, engine.MetricRejected, "reason=bad_json"); got > 0 {
				t.Errorf("%d markers rejected as bad JSON", got)
			}
			if got := m.Value(t, metricDeadLetter, "result=written"); got > 0 {
				t.Errorf("%d records sent to the dead-letter topic", got)
			}
		})
	}
}

// Records of an aborted transaction never reach a book: the readers read committed and drop the aborted
// transactions the broker lists with each fetch. The aborted events here would apply cleanly (seq 2 after 1,
// seq 3 after 2), so a reader that kept them would show them in the book and then see a gap.
func TestKafkaAbortedTransactionsAreDropped(t *testing.T) {
	for _, traced := range []bool{false, true} {
		name := "batched"
		if traced {
			name = "traced"
		}
		t.Run(name, func(t *testing.T) {
			k := newTestCluster(t, 1, kgo.TransactionalID("gateway-1"), kgo.RequiredAcks(kgo.AllISRAcks()))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			txn := func(commit kgo.TransactionEndTry, values ...string) {
				t.Helper()
				if err := k.cl.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				k.produce(t, values...)
				if err := k.cl.EndTransaction(ctx, commit); err != nil {
					t.Fatal(err)
				}
			}
			txn(kgo.TryCommit, enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")))
			txn(kgo.TryAbort, enginetest.Delta("BTC-USD", 2, enginetest.L("50:5"), nil), enginetest.Delta("BTC-USD", 3, nil, enginetest.L("150:5")))
			txn(kgo.TryCommit, enginetest.Delta("BTC-USD", 2, enginetest.L("100:2"), nil))
			txn(kgo.TryAbort, enginetest.Delta("BTC-USD", 3, enginetest.L("60:6"), nil)) // the log ends with an abort marker

			m := testkit.NewMetrics()
			cfg := Config{Meter: m.Provider.Meter("t")}
			if traced {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(&countingExporter{}))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				cfg.TracerProvider = tp
			}
			rec := &enginetest.Recorder{}
			c := newTestConsumer(t, k, cfg, rec)
			runConsumer(t, c)
			testkit.WaitFor(t, 10*time.Second, "Ready with an abort marker last in the log", c.Ready)
			waitBook(t, c, "BTC-USD", "live=true seq=2 100:2|101:1")

			txn(kgo.TryAbort, enginetest.Delta("BTC-USD", 3, enginetest.L("70:7"), nil))
			txn(kgo.TryCommit, enginetest.Delta("BTC-USD", 3, nil, enginetest.L("101:3")))
			waitBook(t, c, "BTC-USD", "live=true seq=3 100:2|101:3")
			testkit.WaitFor(t, 5*time.Second, "six markers counted", func() bool { return m.Value(t, metricControlRecords) == 6 })
			if g := m.Value(t, engine.MetricGaps); g > 0 {
				t.Errorf("%d gaps: aborted records were applied", g)
			}
			for _, l := range rec.Lines() {
				for _, bad := range []string{"50:5", "150:5", "60:6", "70:7"} {
					if strings.Contains(l, bad) {
						t.Errorf("published %q: it holds a level of an aborted transaction", l)
					}
				}
			}
		})
	}
}
