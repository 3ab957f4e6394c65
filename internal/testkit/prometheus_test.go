package testkit

import (
	"math"
	"reflect"
	"testing"
)

func TestParsePrometheus(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want Samples
	}{
		{"empty", "", nil},
		{"comments and blank lines", "# HELP x_total Things.\n# TYPE x_total counter\n\n  \n", nil},
		{"no labels", "x_total 3\n", Samples{{Name: "x_total", Value: 3}}},
		{"labels", `x_total{partition="0",reason="gap"} 7`,
			Samples{{Name: "x_total", Labels: map[string]string{"partition": "0", "reason": "gap"}, Value: 7}}},
		{"escapes in a value", `x{path="C:\\dir",quote="say \"hi\"",nl="a\nb",brace="}"} 1`,
			Samples{{Name: "x", Labels: map[string]string{"path": `C:\dir`, "quote": `say "hi"`, "nl": "a\nb", "brace": "}"}, Value: 1}}},
		{"trailing comma", `x{a="1",} 2`, Samples{{Name: "x", Labels: map[string]string{"a": "1"}, Value: 2}}},
		{"exponent, fraction, sign", "a 1.234567e+06\nb 0.25\nc -1\n",
			Samples{{Name: "a", Value: 1234567}, {Name: "b", Value: 0.25}, {Name: "c", Value: -1}}},
		{"histogram", "h_bucket{le=\"+Inf\"} 4\nh_sum 1.5\nh_count 4\n",
			Samples{{Name: "h_bucket", Labels: map[string]string{"le": "+Inf"}, Value: 4}, {Name: "h_sum", Value: 1.5}, {Name: "h_count", Value: 4}}},
		{"timestamp", "x 5 1700000000000\n", Samples{{Name: "x", Value: 5}}},
		{"surrounding space and CRLF", "  x 5  \r\ny{a=\"1\"}\t6\r\n", Samples{{Name: "x", Value: 5}, {Name: "y", Labels: map[string]string{"a": "1"}, Value: 6}}},
		{"order kept", "b 1\na 2\nb 3\n", Samples{{Name: "b", Value: 1}, {Name: "a", Value: 2}, {Name: "b", Value: 3}}},
		{"lines that are not samples skipped", "x\nx \ny nope\nz 1 2 3\n{a=\"1\"} 1\nw{a=\"1\" 1\nv{a=1} 1\nu{a=\"1\"b=\"2\"} 1\nt{a=\"1 1\nok 9\n",
			Samples{{Name: "ok", Value: 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParsePrometheus(tc.text); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePrometheus(%q):\ngot  %+v\nwant %+v", tc.text, got, tc.want)
			}
		})
	}
}

func TestParsePrometheusSpecialValues(t *testing.T) {
	got := ParsePrometheus("a NaN\nb +Inf\nc -Inf\n")
	if len(got) != 3 || !math.IsNaN(got[0].Value) || !math.IsInf(got[1].Value, 1) || !math.IsInf(got[2].Value, -1) {
		t.Errorf("got %+v, want NaN, +Inf and -Inf", got)
	}
}

func TestSamplesValue(t *testing.T) {
	ss := ParsePrometheus(`# TYPE x_total counter
x_total 1
x_total{channel="book"} 2
x_total{channel="book",le="10"} 3
x_total{channel="book"} 4
y{q="a\"b"} 5
`)
	for _, tc := range []struct {
		name, labels string
		want         float64
		ok           bool
	}{
		{"x_total", "", 1, true},
		{"x_total", `channel="book"`, 2, true}, // the first of two
		{"x_total", `channel="book",le="10"`, 3, true},
		{"x_total", `le="10",channel="book"`, 3, true},
		{"x_total", `channel="trades"`, 0, false},
		{"x_total", `le="10"`, 0, false}, // a subset of a sample's labels is not its labels
		{"x", "", 0, false},
		{"y", `q="a\"b"`, 5, true},
		{"y", `q="a"`, 0, false},
		{"x_total", `channel="book`, 0, false}, // malformed
		{"x_total", `channel="book"} x_total{`, 0, false},
	} {
		v, ok := ss.Value(tc.name, tc.labels)
		if v != tc.want || ok != tc.ok {
			t.Errorf("Value(%q, %q) = %v, %v; want %v, %v", tc.name, tc.labels, v, ok, tc.want, tc.ok)
		}
	}
}
