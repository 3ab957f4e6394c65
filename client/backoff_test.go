package client

import (
	"errors"
	"testing"
	"time"
)

// The backoff doubles per attempt from MinBackoff up to MaxBackoff, with jitter between half and all of it;
// 1001 on a connection that held is redialled at once; 1013 starts four steps higher.
func TestBackoff(t *testing.T) {
	c := &Client{cfg: Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}.WithDefaults()}
	lost := errors.New("connection reset")
	tests := []struct {
		err      error
		attempt  int
		min, max time.Duration
	}{
		{lost, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{lost, 1, 100 * time.Millisecond, 200 * time.Millisecond},
		{lost, 3, 400 * time.Millisecond, 800 * time.Millisecond},
		{lost, 10, time.Second, 2 * time.Second},
		{&CloseError{Code: 1001}, 0, 0, 0},
		{&CloseError{Code: 1001}, 1, 100 * time.Millisecond, 200 * time.Millisecond},
		{&CloseError{Code: 1013}, 0, 800 * time.Millisecond, 1600 * time.Millisecond},
		{&HandshakeError{StatusCode: 429}, 0, 800 * time.Millisecond, 1600 * time.Millisecond},
		{nil, 0, 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		for range 50 {
			if d := c.backoff(tc.err, tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%v, %d) = %v, want %v..%v", tc.err, tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}
