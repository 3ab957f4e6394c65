package testkit

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Metrics is an OpenTelemetry meter provider whose metrics a test reads on demand.
type Metrics struct {
	Reader   *sdkmetric.ManualReader
	Provider *sdkmetric.MeterProvider
}

// NewMetrics returns a Metrics with a fresh manual reader.
func NewMetrics() *Metrics {
	r := sdkmetric.NewManualReader()
	return &Metrics{Reader: r, Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))}
}

// Value returns the sum over the int64 data points (counters and gauges) of the named instrument whose
// attributes include attrs ("key=value"), or -1 when the instrument has no such point.
func (m *Metrics) Value(t testing.TB, name string, attrs ...string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	match := func(set attribute.Set) bool {
		for _, a := range attrs {
			k, v, _ := strings.Cut(a, "=")
			got, ok := set.Value(attribute.Key(k))
			if !ok || got.String() != v {
				return false
			}
		}
		return true
	}
	total, found := int64(0), false
	add := func(dps []metricdata.DataPoint[int64]) {
		for _, dp := range dps {
			if match(dp.Attributes) {
				total, found = total+dp.Value, true
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != name {
				continue
			}
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				add(d.DataPoints)
			case metricdata.Gauge[int64]:
				add(d.DataPoints)
			}
		}
	}
	if !found {
		return -1
	}
	return total
}

// EqualLines fails t when got and want differ, showing both line by line.
func EqualLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
