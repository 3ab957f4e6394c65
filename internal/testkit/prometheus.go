package testkit

import (
	"maps"
	"strconv"
	"strings"
)

// Sample is one sample of the Prometheus text format: a line name{labels} value.
type Sample struct {
	Name string
	// Labels maps each label's name to its value, unescaped; nil when the line has no labels.
	Labels map[string]string
	Value  float64
}

// Samples are the samples of a Prometheus text exposition (what GET /metrics answers), in the order
// written.
type Samples []Sample

// ParsePrometheus reads the samples of text, a Prometheus text exposition. Comments, blank lines and lines
// that are not a sample it can read are skipped; a timestamp after the value is ignored.
func ParsePrometheus(text string) Samples {
	var out Samples
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := parseSample(line); ok {
			out = append(out, s)
		}
	}
	return out
}

// Value returns the value of the first sample named name whose labels are exactly labels, and whether
// there is one. labels are written as in the text format (`channel="book",le="10"`), "" for none.
func (ss Samples) Value(name, labels string) (float64, bool) {
	want, rest, ok := parseLabels(labels + "}")
	if !ok || rest != "" {
		return 0, false
	}
	for _, s := range ss {
		if s.Name == name && maps.Equal(s.Labels, want) {
			return s.Value, true
		}
	}
	return 0, false
}

// parseSample reads a line name{labels} value [timestamp].
func parseSample(line string) (Sample, bool) {
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return Sample{}, false
	}
	s, rest := Sample{Name: line[:i]}, line[i:]
	if rest[0] == '{' {
		labels, after, ok := parseLabels(rest[1:])
		if !ok {
			return Sample{}, false
		}
		s.Labels, rest = labels, after
	}
	f := strings.Fields(rest)
	if len(f) == 0 || len(f) > 2 {
		return Sample{}, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return Sample{}, false
	}
	s.Value = v
	return s, true
}

// parseLabels reads label="value" pairs separated by commas up to the closing brace, and returns them
// with what follows the brace. Values may hold the escapes \\, \" and \n.
func parseLabels(s string) (labels map[string]string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if after, found := strings.CutPrefix(s, "}"); found {
			return labels, after, true
		}
		name, value, found := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		value = strings.TrimLeft(value, " \t")
		if !found || name == "" || !strings.HasPrefix(value, `"`) {
			return nil, "", false
		}
		var b strings.Builder
		j := 1
		for ; j < len(value) && value[j] != '"'; j++ {
			c := value[j]
			if c == '\\' && j+1 < len(value) {
				j++
				c = value[j]
				if c == 'n' {
					c = '\n'
				}
			}
			b.WriteByte(c)
		}
		if j == len(value) {
			return nil, "", false
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[name] = b.String()
		s = strings.TrimLeft(value[j+1:], " \t")
		if after, found := strings.CutPrefix(s, ","); found {
			s = after
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", false
		}
	}
}
