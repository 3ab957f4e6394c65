package ingest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The hold window starts with the first event held after nothing was: a full batch handed over with
// nothing else held ends the window and the fetch span, so the next event held waits a window of its own;
// while events are still held, the next one waits out the window of the first.
func TestHandOffHoldWindow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      int  // events added before the wait, in batches of 3
		wantSpans   int  // fetch spans ended before the wait
		wantExpired bool // the window of the event added after the wait has ended already
	}{
		{"batch not full", 1, 0, true},
		{"full batch handed over", 3, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := engine.New(engine.Config{Shards: 1, QueueSize: 6, Logger: slog.New(slog.DiscardHandler)}, enginetest.Discard{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sr := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
			h := newHandOff(p.NewBatcher(), tp.Tracer(engine.TracerName), testTopic, 0)
			defer h.drop(nil)
			ctx := context.Background()
			var off int64
			add := func() {
				t.Helper()
				v := enginetest.Snap("BTC-USD", uint64(off+1), enginetest.L("1:1"), enginetest.L("9:1"))
				if err := h.add(ctx, engine.Record{Offset: off, Key: []byte("BTC-USD"), Value: []byte(v)}); err != nil {
					t.Fatal(err)
				}
				off++
				h.holdContext(ctx) // as the partition reader does before its next fetch
			}
			for range tc.before {
				add()
			}
			ended := sr.Ended()
			if len(ended) != tc.wantSpans {
				t.Errorf("%d fetch spans ended after %d events, want %d", len(ended), tc.before, tc.wantSpans)
			}
			for _, s := range ended {
				for _, a := range s.Attributes() {
					if a.Key == engine.AttrRecords && a.Value.AsInt64() != int64(tc.before) {
						t.Errorf("the fetch span holds %d records, want %d", a.Value.AsInt64(), tc.before)
					}
				}
			}
			time.Sleep(2 * holdWindow)
			added := time.Now()
			add()
			deadline, ok := h.holdContext(ctx).Deadline()
			if !ok {
				t.Fatal("an event is held, and the hold context has no deadline")
			}
			if expired := deadline.Before(added); expired != tc.wantExpired {
				t.Errorf("window of the event added after the wait ends %v from its add (expired %v), want expired %v",
					deadline.Sub(added), expired, tc.wantExpired)
			}
		})
	}
}
