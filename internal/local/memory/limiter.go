// Package memory holds in-process implementations of the domain's ports
// for local runs and tests: a rate limiter and a ledger with the same
// guarantees as the DynamoDB ones, within one process.
package memory

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Rate is the number of slots per second; it must be positive.
	Rate float64
	// Margin stretches every slot by this fraction (zero means
	// sms.DefaultMargin). Calls may reach the provider up to Margin
	// seconds after their slot starts without breaking the 1-second bound.
	Margin float64
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
}

// Limiter is an in-process sms.Limiter. It keeps one "next free slot" time
// and spaces slots sms.SlotInterval(Rate, Margin) apart, exactly like the
// DynamoDB limiter of package dynamo (see its documentation for the bound).
// It is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	clock    sms.Clock

	mu   sync.Mutex
	next time.Time // zero: no slot taken yet
}

// NewLimiter returns a limiter for cfg. It fails when cfg.Rate is not a
// positive finite number or cfg.Margin is negative or not finite.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("memory: new limiter: rate %v is not a positive number", cfg.Rate)
	}
	if !(cfg.Margin >= 0) || math.IsInf(cfg.Margin, 0) {
		return nil, fmt.Errorf("memory: new limiter: margin %v is not a non-negative number", cfg.Margin)
	}
	if cfg.Margin == 0 {
		cfg.Margin = sms.DefaultMargin
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &Limiter{interval: sms.SlotInterval(cfg.Rate, cfg.Margin), clock: cfg.Clock}, nil
}

// Interval is the spacing between consecutive slots.
func (l *Limiter) Interval() time.Duration { return l.interval }

// Reserve takes the next free slot if it starts no later than now+maxWait
// and returns its start. When the stored next slot lies in the past (or no
// slot was ever taken) the slot starts now: idle time never accumulates
// into burst credit. When the next slot is beyond now+maxWait, Reserve
// takes nothing and returns ok == false. Reserve does not sleep: the
// caller waits until the returned time before calling the provider. A
// negative maxWait counts as zero.
func (l *Limiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, sms.E(sms.KindUnavailable, "rate limiter unavailable", sms.Cause(fmt.Errorf("memory: reserve slot: %w", err)))
	}
	if maxWait < 0 {
		maxWait = 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.next.IsZero() || l.next.Before(now):
		l.next = now.Add(l.interval)
		return now, true, nil
	case l.next.After(now.Add(maxWait)):
		return time.Time{}, false, nil
	default:
		at := l.next
		l.next = at.Add(l.interval)
		return at, true, nil
	}
}
