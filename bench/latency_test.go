package main

import (
	"testing"
	"time"
)

// TestLatencyRigReuse runs two trials on one broker, feed and set of clients: the second must deliver
// too. With a delta generator started afresh per trial it delivered nothing: its seqs repeated those the
// books had applied, and the pipeline skipped every delta as a duplicate.
func TestLatencyRigReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("1k clients and a broker: a few seconds")
	}
	syms := symbolNames(250)
	k, clients, sink, err := latencyRig(syms, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	defer closeAll(clients)
	for i := range 2 {
		tr := k.latencyTrial(clients, sink, syms, 2000, 200*time.Millisecond, 500*time.Millisecond, "")
		if tr.st.N == 0 || tr.delivered == 0 {
			t.Fatalf("trial %d on the same rig delivered nothing (produced %d)", i, tr.produced)
		}
		if tr.leg.N == 0 {
			t.Fatalf("trial %d: no Kafka-leg samples from the tap", i)
		}
		// Each record's leg is a part of each of its deliveries; the two are sampled per record and per
		// delivery, so on a loaded machine their medians can cross, but the leg's median cannot pass the
		// whole's 99th percentile.
		if tr.leg.P50 > tr.st.P99 {
			t.Errorf("trial %d: Kafka leg p50 %v above the end-to-end p99 %v: the leg is a part of the whole", i, tr.leg.P50, tr.st.P99)
		}
	}
}
