package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/segmentio/kafka-go"
)

// CaptureConfig configures a Capture: the Recorder it writes to, and the Kafka input it records (as the
// consumer reads it: the same brokers, topic, partitions and start position), which tells when every
// partition has passed Until.
type CaptureConfig struct {
	// Recorder receives the records. Required.
	Recorder *Recorder
	// Until, when not zero, ends the capture once every partition has passed it: a partition is done at its
	// first record stamped after Until, or once read up to its end as listed after Until. Records stamped
	// after Until are not recorded. Zero: the capture runs until its context ends.
	Until time.Time
	// Brokers, Topic, Partitions and Start name what the consumer reads (see ingest.Config); they are used
	// only with Until.
	Brokers    []string
	Topic      string
	Partitions []int
	Start      string
	// PollInterval is how often Run looks whether every partition is done. Default 200 ms.
	PollInterval time.Duration
	// Logger receives what Run retries. Default slog.Default().
	Logger *slog.Logger
}

// Capture records what a Kafka consumer reads: it is the consumer's engine.Tap, and its Run returns once
// the recording is complete (every partition past Until) or a write failed. It is safe for concurrent use
// (the partition readers call Tap concurrently).
type Capture struct {
	cfg  CaptureConfig
	from int64 // Start as a ListOffsets timestamp (kafkatopic.ParseStart), with Until only

	mu      sync.Mutex
	next    map[int]int64 // next offset per partition, after the last record seen
	done    map[int]bool  // partitions past Until
	failure error         // the first write that failed
	failed  chan struct{} // closed with failure
}

var _ engine.Tap = (*Capture)(nil)

// NewCapture returns a Capture of cfg.
func NewCapture(cfg CaptureConfig) (*Capture, error) {
	if cfg.Recorder == nil {
		return nil, errors.New("capture without a recorder")
	}
	var from int64
	if !cfg.Until.IsZero() {
		if len(cfg.Brokers) == 0 {
			return nil, errors.New("capture until a time without brokers")
		}
		var err error
		if from, err = kafkatopic.ParseStart(cfg.Start); err != nil {
			return nil, err
		}
	}
	if cfg.Topic == "" {
		cfg.Topic = kafkatopic.DefaultTopic
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Capture{cfg: cfg, from: from, next: map[int]int64{}, done: map[int]bool{}, failed: make(chan struct{})}, nil
}

// Tap records r, unless it is stamped after Until. A write that fails ends Run with its error.
func (c *Capture) Tap(_ context.Context, r engine.Record) error {
	if !c.cfg.Until.IsZero() {
		c.mu.Lock()
		c.next[r.Partition] = r.Offset + 1
		if r.Time.After(c.cfg.Until) {
			c.done[r.Partition] = true
		}
		skip := c.done[r.Partition]
		c.mu.Unlock()
		if skip {
			return nil
		}
	}
	if err := c.cfg.Recorder.Write(r); err != nil {
		err = fmt.Errorf("recording failed at partition %d offset %d: %w", r.Partition, r.Offset, err)
		c.mu.Lock()
		if c.failure == nil {
			c.failure = err
			close(c.failed)
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// Run waits until the capture is complete (nil; with Until only), a write failed (its error), or ctx ends
// (nil). Once the time is past Until it lists the partitions' end offsets, once, and from then on looks
// every PollInterval whether each partition is done.
func (c *Capture) Run(ctx context.Context) error {
	if c.cfg.Until.IsZero() {
		select {
		case <-ctx.Done():
			return nil
		case <-c.failed:
			return c.failure
		}
	}
	transport := &kafka.Transport{ClientID: "depthcast-record", DialTimeout: 5 * time.Second}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: transport, Timeout: 10 * time.Second}
	var bounds *kafkatopic.Bounds
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	for {
		if bounds == nil && !time.Now().Before(c.cfg.Until) {
			b, err := kafkatopic.ReadBounds(ctx, client, c.cfg.Topic, c.cfg.Partitions, c.from, kafka.ReadCommitted)
			if err == nil {
				bounds = &b
			} else if ctx.Err() == nil {
				c.cfg.Logger.Warn("cannot list the partitions' offsets, retrying", "err", err)
			}
		}
		if bounds != nil && c.complete(bounds.Start, bounds.End) {
			c.cfg.Logger.Info("every partition has passed the end time", "until", c.cfg.Until.Format(time.RFC3339Nano))
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.failed:
			return c.failure
		case <-tick.C:
		}
	}
}

// complete reports whether every partition is done: past Until, or read up to its end. A partition nothing
// was read from is done when it holds nothing from where reading started.
func (c *Capture) complete(starts, ends map[int]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, end := range ends {
		next, seen := c.next[p]
		if !seen {
			next = starts[p]
		}
		if !c.done[p] && next < end {
			return false
		}
	}
	return true
}
