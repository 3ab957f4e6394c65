package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingEnabled reports whether the standard OpenTelemetry environment asks for trace export over OTLP:
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and neither OTEL_SDK_DISABLED=true
// nor OTEL_TRACES_EXPORTER=none turns it off.
func tracingEnabled() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// newTracerProvider returns the node's TracerProvider: an SDK provider exporting over OTLP/HTTP (protobuf)
// when tracingEnabled, configured by the standard OTEL_* variables (endpoint, headers, timeout, sampler,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES), or nil when tracing is off, in which case nothing is
// traced at all. shutdown flushes the spans still buffered; it is a no-op when tracing is off.
func newTracerProvider(ctx context.Context) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !tracingEnabled() {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", serviceName())))
	if err != nil {
		return nil, nil, fmt.Errorf("trace resource: %w", err)
	}
	// Variables set by the environment win over the default service name.
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return sdk, sdk.Shutdown, nil
}

func serviceName() string {
	if s := os.Getenv("OTEL_SERVICE_NAME"); s != "" {
		return s
	}
	return "depthcast"
}

// traceHandler is a slog.Handler that adds trace_id and span_id to every record logged with a context
// that carries a valid span, then hands the record to the next handler.
type traceHandler struct {
	next slog.Handler
}

var _ slog.Handler = traceHandler{}

// newTraceHandler wraps next.
func newTraceHandler(next slog.Handler) slog.Handler { return traceHandler{next: next} }

// Enabled reports whether next handles level.
func (h traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the span's ids when ctx has one.
func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a traceHandler around next.WithAttrs.
func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a traceHandler around next.WithGroup.
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{next: h.next.WithGroup(name)}
}
