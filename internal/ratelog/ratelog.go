// Package ratelog limits how often a warning is logged: a flood of bad records or failing requests costs a
// few lines per second, and the next line that gets through says how many were suppressed.
//
// A Limiter is safe for concurrent use.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter is a token bucket for log lines.
type Limiter struct {
	mu         sync.Mutex
	rate       float64 // tokens per second
	burst      float64
	tokens     float64
	last       time.Time
	suppressed int64
	now        func() time.Time
}

// New returns a Limiter that lets perSecond lines through on average, and burst at once.
func New(perSecond, burst float64) *Limiter {
	return &Limiter{rate: perSecond, burst: burst, tokens: burst, now: time.Now}
}

// Allow reports whether a line may be logged now, and how many were suppressed since the last one.
func (l *Limiter) Allow() (ok bool, suppressed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// Warn logs msg at Warn through the limiter.
func (l *Limiter) Warn(log *slog.Logger, msg string, attrs ...slog.Attr) {
	l.WarnContext(context.Background(), log, msg, attrs...)
}

// WarnContext logs msg at Warn through the limiter, with ctx (so a trace-aware handler adds the span's
// ids). A line that follows suppressed ones carries their count as "suppressed".
func (l *Limiter) WarnContext(ctx context.Context, log *slog.Logger, msg string, attrs ...slog.Attr) {
	ok, suppressed := l.Allow()
	if !ok {
		return
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}
