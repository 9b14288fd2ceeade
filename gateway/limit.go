package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
)

// Limiter is a token bucket shared by all calls of one gateway client. Time
// comes from a posbridge.Clock, so tests drive it without sleeping. The zero
// rate means no limit. It is safe for concurrent use.
type Limiter struct {
	clock  posbridge.Clock
	rate   float64 // tokens per second
	burst  float64
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewLimiter returns a full bucket of burst tokens refilled at perSecond.
// perSecond <= 0 disables limiting; burst < 1 counts as 1.
func NewLimiter(clock posbridge.Clock, perSecond float64, burst int) *Limiter {
	if clock == nil {
		clock = posbridge.SystemClock{}
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{clock: clock, rate: perSecond, burst: float64(burst), tokens: float64(burst), last: clock.Now()}
}

// Wait blocks until a token is available or ctx ends; it returns ctx.Err()
// in the latter case and gives the token back. Calls are served in order of
// arrival.
func (l *Limiter) Wait(ctx context.Context) error {
	if l == nil || l.rate <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.clock.Now()
	if now.After(l.last) {
		l.tokens += now.Sub(l.last).Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
	l.tokens--
	if l.tokens >= 0 {
		l.mu.Unlock()
		return nil
	}
	wait := time.Duration(-l.tokens / l.rate * float64(time.Second))
	l.mu.Unlock()
	t := l.clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		l.tokens++
		l.mu.Unlock()
		return ctx.Err()
	}
}
