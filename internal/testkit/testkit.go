// Package testkit holds what the tests of several packages share: waiting for a condition (WaitFor), a
// buffer safe for concurrent writers (Buffer), free loopback ports and an in-process Kafka-protocol broker
// (FreePort, StartBroker), a dialer control that shrinks a socket's receive buffer so a client stalls
// quickly (SmallReceiveBuffer), an OpenTelemetry meter provider whose metrics a test reads (Metrics), a
// reader of the Prometheus text format that GET /metrics answers (ParsePrometheus), and a line-by-line
// comparison (EqualLines). It imports no package of the project; only tests import it.
//
// Buffer and Metrics are safe for concurrent use; WaitFor, FreePort and StartBroker run on the test's
// goroutine.
package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, and fails t if timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Buffer is a bytes.Buffer whose Write and String may be called from several goroutines: a log handler's
// output, or a command's stdout copied by exec.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
