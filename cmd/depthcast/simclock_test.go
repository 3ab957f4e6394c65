package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/sim"
)

// simulate stamps events and Kafka records with the current time by default, as a real gateway does, and with
// the simulated clock (from sim.Epoch) under --clock sim.
func TestSimulateClock(t *testing.T) {
	for _, tc := range []struct {
		clock []string
		from  func(start, end time.Time) (time.Time, time.Time)
	}{
		{nil, func(s, e time.Time) (time.Time, time.Time) { return s.Add(-time.Second), e.Add(time.Second) }},
		{[]string{"--clock", "wall"}, func(s, e time.Time) (time.Time, time.Time) { return s.Add(-time.Second), e.Add(time.Second) }},
		{[]string{"--clock", "sim"}, func(time.Time, time.Time) (time.Time, time.Time) { return sim.Epoch, sim.Epoch.Add(time.Second) }},
	} {
		t.Run(strings.Join(append([]string{"default"}, tc.clock...), " "), func(t *testing.T) {
			brokers := newCluster(t)
			const n = 200
			start := time.Now()
			code, stdout, stderr := runToEnd(t, append([]string{"simulate", "--brokers", strings.Join(brokers, ","),
				"--max-events", "200", "--rate", "0", "--log-level", "warn"}, tc.clock...)...)
			end := time.Now()
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			lo, hi := tc.from(start, end)
			for _, recs := range topicRecords(t, brokers, n) {
				for _, r := range recs {
					if r.Time.Before(lo) || r.Time.After(hi) {
						t.Fatalf("record timestamp %v, want within [%v, %v]", r.Time, lo, hi)
					}
					var ev struct{ Time time.Time }
					if err := json.Unmarshal(r.Value, &ev); err != nil {
						t.Fatalf("event %q: %v", r.Value, err)
					}
					if ev.Time.Before(lo) || ev.Time.After(hi) {
						t.Fatalf("event time %v, want within [%v, %v]", ev.Time, lo, hi)
					}
				}
			}
		})
	}
	if code, _, stderr := runToEnd(t, "simulate", "--brokers", "127.0.0.1:1", "--clock", "moon"); code != 2 || !strings.Contains(stderr, `--clock "moon": want wall or sim`) {
		t.Errorf("--clock moon: exit %d, stderr %q", code, stderr)
	}
}
