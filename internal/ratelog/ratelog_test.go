package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(2, 3)
	l.now = func() time.Time { return now }
	allowed := 0
	for range 10 {
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("burst: %d allowed, want 3", allowed)
	}
	now = now.Add(time.Second) // two tokens
	ok, suppressed := l.Allow()
	if !ok || suppressed != 7 {
		t.Errorf("after 1s: ok=%v suppressed=%d, want true 7", ok, suppressed)
	}
	if ok, _ := l.Allow(); !ok {
		t.Error("second token missing")
	}
	if ok, _ := l.Allow(); ok {
		t.Error("third token after 1s at 2/s")
	}
}

func TestWarnCountsSuppressedLines(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(1, 1)
	l.now = func() time.Time { return now }
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for range 5 {
		l.Warn(log, "bad record", slog.Int("n", 1))
	}
	now = now.Add(time.Second)
	l.Warn(log, "bad record")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[1], "suppressed=4") || !strings.Contains(lines[0], "level=WARN") {
		t.Errorf("lines:\n%s", buf.String())
	}
}
