package deploy_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"`)
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promNumber   = regexp.MustCompile(`\b[0-9][0-9a-zA-Z.]*`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"}
)

// promQuery is what a PromQL expression refers to.
type promQuery struct {
	metrics []string // metric (sample) names
	labels  []string // label names in matchers and in by/without/on/ignoring clauses
}

// parsePromQL extracts the metric and label names of a PromQL expression. It knows enough PromQL for the
// queries of this directory: selectors with matchers, ranges, aggregations with grouping, functions,
// binary operators and numbers.
func parsePromQL(expr string) promQuery {
	var q promQuery
	for _, m := range promMatcher.FindAllStringSubmatch(expr, -1) {
		q.labels = append(q.labels, m[1])
	}
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promNumber.ReplaceAllString(s, " ")
	for _, m := range promGrouping.FindAllStringSubmatch(s, -1) {
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				q.labels = append(q.labels, l)
			}
		}
	}
	s = promGrouping.ReplaceAllString(s, " ")
	for _, m := range promIdent.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || slices.Contains(promKeywords, strings.ToLower(m[0])) {
			continue // a function call or a keyword
		}
		if !slices.Contains(q.metrics, m[0]) {
			q.metrics = append(q.metrics, m[0])
		}
	}
	return q
}

// The parser is itself tested, so that a metric it misses cannot slip through the checks built on it.
func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		expr            string
		metrics, labels []string
	}{
		{`depthcast_feed_connections`, []string{"depthcast_feed_connections"}, nil},
		{`sum by (instance) (rate(depthcast_feed_messages_sent_total{instance=~"$instance"}[$__rate_interval]))`,
			[]string{"depthcast_feed_messages_sent_total"}, []string{"instance", "instance"}},
		{`sum by (code, reason) (increase(depthcast_feed_disconnects_total{instance=~"a|b",code="1013"}[5m]))`,
			[]string{"depthcast_feed_disconnects_total"}, []string{"instance", "code", "code", "reason"}},
		{`sum by (instance) (depthcast_ingest_symbols) - sum without (shard) (depthcast_ingest_books_stale) > 0`,
			[]string{"depthcast_ingest_symbols", "depthcast_ingest_books_stale"}, []string{"instance", "shard"}},
		{`max(depthcast_ingest_partition_lag offset 5m) / on (instance) group_left up`,
			[]string{"depthcast_ingest_partition_lag", "up"}, []string{"instance"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="}"}[1m])))`, []string{"x_bucket"}, []string{"a", "le"}},
	} {
		q := parsePromQL(tc.expr)
		if !slices.Equal(q.metrics, tc.metrics) {
			t.Errorf("%s: metrics %v, want %v", tc.expr, q.metrics, tc.metrics)
		}
		slices.Sort(q.labels)
		slices.Sort(tc.labels)
		if !slices.Equal(q.labels, tc.labels) {
			t.Errorf("%s: labels %v, want %v", tc.expr, q.labels, tc.labels)
		}
	}
}

// checkQuery checks that every metric expr names exists on the real node and that every label it groups or
// matches by is a label of one of those metrics or one that Prometheus adds to every target (extra).
func checkQuery(t *testing.T, where, expr string, metrics map[string]map[string]bool, extra ...string) promQuery {
	t.Helper()
	q := parsePromQL(expr)
	if len(q.metrics) == 0 {
		t.Errorf("%s: %q queries no metric", where, expr)
	}
	have := map[string]bool{}
	for _, l := range extra {
		have[l] = true
	}
	for _, m := range q.metrics {
		labels, ok := metrics[m]
		if !ok {
			t.Errorf("%s: %q queries %s, which a real node does not export", where, expr, m)
			continue
		}
		for l := range labels {
			have[l] = true
		}
	}
	for _, l := range q.labels {
		if !have[l] {
			t.Errorf("%s: %q uses label %q, which none of %v has", where, expr, l, q.metrics)
		}
	}
	return q
}
