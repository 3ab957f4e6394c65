package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/schema"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runToEnd runs a command that ends by itself and returns its exit code and output.
func runToEnd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb testkit.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// topicRecords reads every record of the topic with franz-go, n of them, by partition in offset order.
func topicRecords(t *testing.T, brokers []string, n int) map[int][]engine.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out := map[int][]engine.Record{}
	for got := 0; got < n; {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records from the topic: %v", got, n, err)
		}
		f.EachRecord(func(r *kgo.Record) {
			out[int(r.Partition)] = append(out[int(r.Partition)], engine.Record{Partition: int(r.Partition), Offset: r.Offset,
				Time: r.Timestamp, Key: r.Key, Value: r.Value})
			got++
		})
	}
	return out
}

// recordingRecords reads a whole recording, by partition in file order; it fails on any damage.
func recordingRecords(t *testing.T, dir string) map[int][]engine.Record {
	t.Helper()
	rec, err := replay.OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if d := rec.Damage(); len(d) > 0 {
		t.Fatalf("damaged recording: %v", d)
	}
	c, err := rec.Open(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[int][]engine.Record{}
	for {
		r, err := c.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		out[r.Partition] = append(out[r.Partition], r)
	}
}

func sameStream(t *testing.T, want, got map[int][]engine.Record) {
	t.Helper()
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			t.Errorf("partition %d: %d records recorded, want %d", p, len(gs), len(ws))
		}
		for i := range min(len(gs), len(ws)) {
			w, g := ws[i], gs[i]
			if g.Offset != w.Offset || !g.Time.Equal(w.Time) || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
				t.Fatalf("partition %d record %d: got offset %d %v %q, want offset %d %v %q", p, i, g.Offset, g.Time, g.Value, w.Offset, w.Time, w.Value)
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("partition %d recorded, but not expected", p)
		}
	}
}

// record --to now against kfake, with the simulated exchange writing zstd batches: it stops by itself once
// it has read everything, and the recording holds every record kfake holds, byte for byte.
func TestRecordEveryRecord(t *testing.T) {
	brokers := newCluster(t)
	x, err := sim.New(sim.Config{Symbols: 5, Levels: 10, ResnapshotEvery: 300})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	if err := sim.Run(context.Background(), x, sim.WriterConfig{Brokers: brokers, Topic: topic, Compression: "zstd",
		MaxEvents: n, Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rec")
	code, stdout, stderr := runToEnd(t, "record", "--brokers", strings.Join(brokers, ","), "--out", dir, "--to", "now",
		"--block-bytes", "16384", "--segment-bytes", "65536", "--log-level", "warn")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("recorded %d records", n)) {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	idxs, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
	if len(segs) < 2 || len(idxs) != len(segs) {
		t.Errorf("%d segments and %d indexes, want rotation and every index written", len(segs), len(idxs))
	}
	sameStream(t, topicRecords(t, brokers, n), recordingRecords(t, dir))
}

// --from and --to: reading starts at the first record stamped at or after --from in each partition and
// stops once every partition has passed --to (by a later record, or by reaching its end).
func TestRecordFromTo(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t1 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	t2, t3 := t1.Add(10*time.Minute), t1.Add(20*time.Minute)
	batch := func(ts time.Time, tag string, parts ...int32) {
		var recs []*kgo.Record
		for i, p := range parts {
			recs = append(recs, &kgo.Record{Partition: p, Key: []byte(tag), Value: fmt.Appendf(nil, "%s-%d", tag, i), Timestamp: ts})
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	batch(t1, "a", 0, 1, 2, 0, 1, 2)
	batch(t2, "b", 0, 1, 2, 0, 2, 0)
	batch(t3, "c", 0, 1) // partition 2 ends with b: it is done by reaching its end
	dir := t.TempDir()
	code, stdout, stderr := runToEnd(t, "record", "--brokers", strings.Join(brokers, ","), "--out", dir,
		"--from", t2.Add(-time.Minute).Format(time.RFC3339Nano), "--to", t2.Add(time.Minute).Format(time.RFC3339Nano), "--log-level", "warn")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	all := topicRecords(t, brokers, 14)
	want := map[int][]engine.Record{}
	for p, rs := range all {
		for _, r := range rs {
			if string(r.Key) == "b" {
				want[p] = append(want[p], r)
			}
		}
	}
	sameStream(t, want, recordingRecords(t, dir))
}

// A record the recorder cannot take stops record with an error (exit 1), after what came before it was
// recorded.
func TestRecordFailsLoudly(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("ok"), Timestamp: time.Now()},
		&kgo.Record{Partition: 0, Value: []byte("far future"), Timestamp: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, _, stderr := runToEnd(t, "record", "--brokers", strings.Join(brokers, ","), "--out", dir, "--log-level", "error")
	if code != 1 || !strings.Contains(stderr, "recording failed at partition 0 offset 1") {
		t.Fatalf("exit %d, want 1 with the failure\nstderr: %s", code, stderr)
	}
	got := recordingRecords(t, dir)
	if len(got[0]) != 1 || string(got[0][0].Value) != "ok" {
		t.Fatalf("recorded %v, want the record before the failure", got)
	}
}

func TestRecordUsage(t *testing.T) {
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "00000001.seg"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"record", "--out", "x"}, 2, "--brokers is required"},
		{[]string{"record", "--brokers", "127.0.0.1:9"}, 2, "--out is required"},
		{[]string{"record", "--brokers", "127.0.0.1:9", "--out", "x", "--to", "tomorrow"}, 2, "--to"},
		{[]string{"record", "--brokers", "127.0.0.1:9", "--out", "x", "--from", "yesterday"}, 2, "start"},
		{[]string{"record", "--brokers", "127.0.0.1:9", "--out", "x", "--block-bytes", "-1"}, 2, "block size"},
		{[]string{"record", "--brokers", "127.0.0.1:9", "--out", used}, 1, "already holds a recording"},
		{[]string{"help", "record"}, 0, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runToEnd(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d with %q\nstderr: %s", code, tc.code, tc.stderr, stderr)
			}
		})
	}
}

// demo --record records what its node reads while it serves: every partition from offset 0 without a gap,
// and nothing but events of the simulated exchange.
func TestDemoRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	addr, stop := runInBackground(t, "demo", "--listen", "127.0.0.1:0", "--rate", "1000", "--symbols", "3", "--levels", "10",
		"--record", dir, "--flush-interval", "100ms", "--log-level", "warn")
	waitFor(t, "3 live symbols", func() bool { return len(symbolsStatus(t, addr)) == 3 })
	waitFor(t, "a recorded block", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		if len(m) == 0 {
			return false
		}
		fi, err := os.Stat(m[0])
		return err == nil && fi.Size() > 1000
	})
	stop()
	if _, err := os.Stat(filepath.Join(dir, "00000001.idx")); err != nil {
		t.Errorf("no index after a clean stop: %v", err)
	}
	got := recordingRecords(t, dir)
	total := 0
	syms := map[string]bool{}
	for p, rs := range got {
		for i, r := range rs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", p, i, r.Offset)
			}
			e, err := schema.DecodeEvent(r.Value)
			if err != nil {
				t.Fatalf("partition %d offset %d: %v", p, r.Offset, err)
			}
			syms[e.Symbol] = true
		}
		total += len(rs)
	}
	if total < 10 || len(syms) != 3 {
		t.Fatalf("recorded %d records of %v", total, slices.Sorted(func(yield func(string) bool) {
			for s := range syms {
				if !yield(s) {
					return
				}
			}
		}))
	}
}

// recording verify: a summary and exit 0 for a sound recording; the damage, with file and offset, and exit 1
// for a damaged one.
func TestRecordingVerify(t *testing.T) {
	dir := t.TempDir()
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := rec.Write(engine.Record{Partition: i % 2, Offset: int64(i / 2), Time: time.Now(), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runToEnd(t, "recording", "verify", "--log-level", "error", dir)
	if code != 0 || !strings.Contains(stdout, "1 segments, 1 blocks, 10 records") || !strings.Contains(stdout, "partition 1: 5 records, offsets 0 to 4") ||
		!strings.HasSuffix(stdout, "OK\n") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	seg := filepath.Join(dir, "00000001.seg")
	if err := os.Truncate(seg, 40); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runToEnd(t, "recording", "verify", "--log-level", "error", dir)
	if code != 1 || !strings.Contains(stdout, "DAMAGED") || !strings.Contains(stderr, seg+" at byte 28: truncated") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if code, _, _ := runToEnd(t, "recording", "check", dir); code != 2 {
		t.Errorf("recording check: exit %d, want 2", code)
	}
	if code, _, _ := runToEnd(t, "recording", "verify"); code != 2 {
		t.Errorf("recording verify without a directory: exit %d, want 2", code)
	}
}
