package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestTraceHandler(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	withSpan := trace.ContextWithSpanContext(context.Background(), sc)
	tests := []struct {
		name    string
		ctx     context.Context
		log     func(l *slog.Logger, ctx context.Context)
		want    map[string]any
		without []string
	}{
		{"span", withSpan, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "k", 1) },
			map[string]any{"msg": "m", "k": 1.0, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}, nil},
		{"no span", context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			map[string]any{"msg": "m"}, []string{"trace_id", "span_id"}},
		{"no context", nil, func(l *slog.Logger, _ context.Context) { l.Info("m") },
			map[string]any{"msg": "m"}, []string{"trace_id", "span_id"}},
		{"invalid span", trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}),
			func(l *slog.Logger, ctx context.Context) { l.WarnContext(ctx, "m") }, map[string]any{"level": "WARN"}, []string{"trace_id"}},
		{"with attrs", withSpan, func(l *slog.Logger, ctx context.Context) { l.With("component", "ingest").InfoContext(ctx, "m") },
			map[string]any{"component": "ingest", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, nil},
		{"below level", withSpan, func(l *slog.Logger, ctx context.Context) { l.DebugContext(ctx, "m") }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(newTraceHandler(slog.NewJSONHandler(&buf, nil)))
			tt.log(l, tt.ctx)
			if tt.want == nil {
				if buf.Len() != 0 {
					t.Errorf("logged %s, want nothing", buf.String())
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (record %s)", k, got[k], v, buf.String())
				}
			}
			for _, k := range tt.without {
				if _, ok := got[k]; ok {
					t.Errorf("%s present in %s", k, buf.String())
				}
			}
		})
	}
}

func TestLoggerFlagsAddTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	lf := logFlags{level: "info", format: "json"}
	l, err := lf.logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	l.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "hello")
	if !strings.Contains(buf.String(), `"trace_id":"01000000000000000000000000000000"`) {
		t.Errorf("the command's logger does not add trace ids: %s", buf.String())
	}
}

func TestTracingOffWithoutEndpoint(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	}
	for _, tt := range tests {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
			t.Setenv(k, tt.env[k])
		}
		if got := tracingEnabled(); got != tt.want {
			t.Errorf("%v: tracingEnabled() = %v, want %v", tt.env, got, tt.want)
		}
		tp, shutdown, err := newTracerProvider(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if (tp != nil) != tt.want {
			t.Errorf("%v: provider %v, want one: %v", tt.env, tp, tt.want)
		}
		if err := shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes every export request's protobuf body.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				o.services = append(o.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func attrOf(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return nil
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a node exports its ingest spans over OTLP/HTTP: every record is
// in exactly one fetch span (topic, partition, offset range, symbols, count), every event in one apply
// span, and the apply spans link to fetch spans that were exported.
func TestTracesExportedOverOTLP(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "depthcast-test")

	brokers := newCluster(t)
	prod := newProducer(t, brokers)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	keys, values := events(x, n)
	produce(t, prod, keys, values)
	tp, shutdown, err := newTracerProvider(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic}, TracerProvider: tp})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	m.Stop()
	if err := shutdown(context.Background()); err != nil { // flushes the spans
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if !slices.Contains(recv.services, "depthcast-test") {
		t.Errorf("service names %v, want depthcast-test", recv.services)
	}
	fetchIDs := map[string]bool{}
	var fetched, applied, fetchSpans, applySpans int64
	offsets := map[int64][]int64{} // partition -> first, last pairs
	for _, s := range recv.spans {
		switch s.Name {
		case ingest.SpanFetch:
			fetchSpans++
			fetchIDs[string(s.SpanId)] = true
			if s.Kind != tracepb.Span_SPAN_KIND_CONSUMER {
				t.Errorf("fetch span kind %v", s.Kind)
			}
			if v := attrOf(s, ingest.AttrTopic); v.GetStringValue() != topic {
				t.Errorf("fetch span topic %v", v)
			}
			part, first, last := attrOf(s, ingest.AttrPartition), attrOf(s, ingest.AttrOffsetFirst), attrOf(s, ingest.AttrOffsetLast)
			count, syms := attrOf(s, engine.AttrRecords), attrOf(s, engine.AttrSymbols)
			if part == nil || first == nil || last == nil || count == nil || syms == nil {
				t.Fatalf("fetch span without its attributes: %v", s.Attributes)
			}
			if last.GetIntValue()-first.GetIntValue()+1 != count.GetIntValue() {
				t.Errorf("fetch span offsets %d..%d with %d records", first.GetIntValue(), last.GetIntValue(), count.GetIntValue())
			}
			for _, v := range syms.GetArrayValue().GetValues() {
				if !slices.Contains(x.Symbols(), v.GetStringValue()) {
					t.Errorf("fetch span symbol %q", v.GetStringValue())
				}
			}
			if len(syms.GetArrayValue().GetValues()) == 0 {
				t.Error("fetch span without symbols")
			}
			fetched += count.GetIntValue()
			offsets[part.GetIntValue()] = append(offsets[part.GetIntValue()], first.GetIntValue(), last.GetIntValue())
		case engine.SpanApply:
			applySpans++
			applied += attrOf(s, engine.AttrRecords).GetIntValue()
		}
	}
	if fetched != n || applied != n {
		t.Errorf("fetch spans hold %d records and apply spans %d events, want %d each", fetched, applied, n)
	}
	// The fetch spans of a partition cover its offsets without overlap.
	for p, fl := range offsets {
		pairs := make([][2]int64, 0, len(fl)/2)
		for i := 0; i < len(fl); i += 2 {
			pairs = append(pairs, [2]int64{fl[i], fl[i+1]})
		}
		slices.SortFunc(pairs, func(a, b [2]int64) int { return int(a[0] - b[0]) })
		for i := 1; i < len(pairs); i++ {
			if pairs[i][0] != pairs[i-1][1]+1 {
				t.Errorf("partition %d: fetch spans %v overlap or leave a hole", p, pairs)
				break
			}
		}
	}
	linked := 0
	for _, s := range recv.spans {
		if s.Name != engine.SpanApply {
			continue
		}
		for _, l := range s.Links {
			if !fetchIDs[string(l.SpanId)] {
				t.Errorf("apply span links to %x, not an exported fetch span", l.SpanId)
			}
			linked++
		}
	}
	if linked == 0 {
		t.Error("no apply span links to a fetch span")
	}
	t.Logf("%d records in %d fetch spans, %d apply spans with %d links", n, fetchSpans, applySpans, linked)
}
