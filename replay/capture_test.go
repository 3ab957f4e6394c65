package replay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/replay"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// captureTopic is a kfake topic of three partitions holding records at t0, t0+1m and t0+2m in partition 0,
// t0 in partition 1, and nothing in partition 2.
func captureTopic(t *testing.T, t0 time.Time) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 3 {
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte("a"), Timestamp: t0.Add(time.Duration(i) * time.Minute)})
	}
	recs = append(recs, &kgo.Record{Partition: 1, Value: []byte("b"), Timestamp: t0})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return c.ListenAddrs()
}

// The tap of a capture records what the consumer hands over up to Until; Run returns once every partition
// has passed Until: partition 0 by a record stamped after it, partition 1 by reaching its end, partition 2
// holding nothing.
func TestCaptureUntil(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	brokers := captureTopic(t, t0)
	dir := t.TempDir()
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := replay.NewCapture(replay.CaptureConfig{Recorder: rec, Until: t0.Add(90 * time.Second), Brokers: brokers,
		Topic: topic, PollInterval: 10 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	tap := func(p int, off int64, at time.Time) {
		t.Helper()
		if err := c.Tap(ctx, engine.Record{Partition: p, Offset: off, Time: at, Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	tap(0, 0, t0)
	tap(0, 1, t0.Add(time.Minute))
	tap(1, 0, t0)
	select {
	case err := <-done:
		t.Fatalf("Run returned %v before partition 0 passed Until", err)
	case <-time.After(100 * time.Millisecond): // Run polls every 10 ms: it had its chances to end early
	}
	tap(0, 2, t0.Add(2*time.Minute)) // past Until: not recorded, partition 0 done
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := replay.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readAll(t, r, time.Time{}); len(got) != 3 {
		t.Errorf("%d records recorded, want the 3 stamped up to Until", len(got))
	}
}

// Without Until, Run lasts until its context ends; a write that fails ends it with the error.
func TestCaptureWriteFailure(t *testing.T) {
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := replay.NewCapture(replay.CaptureConfig{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	if err := c.Tap(context.Background(), engine.Record{Time: at, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	werr := c.Tap(context.Background(), engine.Record{Offset: 1, Time: at, Value: []byte("y")})
	if !errors.Is(werr, replay.ErrClosed) {
		t.Fatalf("Tap after the recorder closed: %v, want ErrClosed", werr)
	}
	if err := <-done; !errors.Is(err, replay.ErrClosed) {
		t.Errorf("Run: %v, want the write's error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c2, _ := replay.NewCapture(replay.CaptureConfig{Recorder: rec})
	go cancel()
	if err := c2.Run(ctx); err != nil {
		t.Errorf("Run after its context ended: %v, want nil", err)
	}
	if _, err := replay.NewCapture(replay.CaptureConfig{}); err == nil {
		t.Error("NewCapture without a recorder")
	}
	if _, err := replay.NewCapture(replay.CaptureConfig{Recorder: rec, Until: time.Now()}); err == nil {
		t.Error("NewCapture with Until and no brokers")
	}
}
