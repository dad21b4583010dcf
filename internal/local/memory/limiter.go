// Package memory holds in-process implementations of the domain's ports
// for local runs and tests: a rate limiter and a ledger with the same
// guarantees as the DynamoDB ones, within one process.
package memory

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/sms"
)

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Rate is the number of slots per second; it must be positive.
	Rate float64
	// Margin stretches every slot by this fraction: zero means none. Calls
	// may reach the provider up to Margin seconds after their slot starts
	// without breaking the 1-second bound.
	Margin float64
	// State is the slot state the limiter shares with other limiters, the
	// way instances share the DynamoDB table; nil means one of its own.
	State *LimiterState
	// Clock is the time source; nil means sms.SystemClock.
	Clock sms.Clock
	// DailySegments is the daily segment budget (SMS_DAILY_SEGMENT_LIMIT):
	// the most segments granted slots may carry per UTC day; zero means
	// none.
	DailySegments int64
	// Log receives the event daily_budget_80 when the budget's use
	// crosses 80 %; nil discards.
	Log *slog.Logger
}

// LimiterState is the state limiters share: the next free slot and the
// stricter spacing in force, as the DynamoDB limiter keeps them in its
// item. The zero value has no slot taken.
type LimiterState struct {
	mu   sync.Mutex
	next time.Time // zero: no slot taken yet
	// spacing is the interval stored by the limiter with the longest one
	// that took a slot until spacingUntil (sms.SpacingHold later).
	spacing      time.Duration
	spacingUntil time.Time
	// day is the UTC day (sms.UTCDay) whose segments used counts.
	day  int64
	used int64
}

// Limiter is an in-process sms.Limiter. It keeps one "next free slot" time
// and spaces slots sms.SlotInterval(Rate, Margin) apart — or by a stricter
// interval another limiter on the same state stored — exactly like the
// DynamoDB limiter of package dynamo (see docs/rate-limiting.md for the
// bound). It is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	clock    sms.Clock
	state    *LimiterState
	budget   int64
	log      *slog.Logger
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
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if cfg.State == nil {
		cfg.State = &LimiterState{}
	}
	if cfg.DailySegments < 0 {
		return nil, fmt.Errorf("memory: new limiter: daily segment budget %d is negative", cfg.DailySegments)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{interval: sms.SlotInterval(cfg.Rate, cfg.Margin), clock: cfg.Clock, state: cfg.State, budget: cfg.DailySegments, log: cfg.Log}, nil
}

// Interval is the spacing between consecutive slots of this limiter's own
// configuration.
func (l *Limiter) Interval() time.Duration { return l.interval }

// Reserve takes the next free slot if it starts no later than now+maxWait
// and returns its start: ReserveN(ctx, 1, 1, maxWait).
func (l *Limiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Time, bool, error) {
	return l.ReserveN(ctx, 1, 1, maxWait)
}

// ReserveN takes n consecutive slots if the first starts no later than
// now+maxWait and returns its start. When the stored next slot lies in
// the past (or no slot was ever taken) the first slot starts now: idle
// time never accumulates into burst credit. When the next slot is beyond
// now+maxWait, ReserveN takes nothing and returns ok == false. ReserveN
// does not sleep: the caller waits until the returned time before calling
// the provider. A negative maxWait counts as zero, an n below 1 as 1.
//
// The next slot after a grant is n intervals later: the limiter's own,
// or the longer one a limiter sharing the state stored within the last
// sms.SpacingHold.
//
// With a daily budget, a grant counts segments against the UTC day's
// budget; when the budget cannot take them, ReserveN takes nothing and
// fails with sms.DailyBudgetError.
func (l *Limiter) ReserveN(ctx context.Context, n, segments int, maxWait time.Duration) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, sms.E(sms.KindUnavailable, "rate limiter unavailable", sms.Cause(fmt.Errorf("memory: reserve slot: %w", err)))
	}
	maxWait, n, segments = max(maxWait, 0), max(n, 1), max(segments, 0)
	now := l.clock.Now()
	st := l.state
	st.mu.Lock()
	defer st.mu.Unlock()
	day := sms.UTCDay(now)
	used := int64(0)
	if st.day == day {
		used = st.used
	}
	if l.budget > 0 && used+int64(segments) > l.budget {
		return time.Time{}, false, sms.DailyBudgetError(now)
	}
	at := now
	switch {
	case st.next.IsZero() || st.next.Before(now):
	case st.next.After(now.Add(maxWait)):
		return time.Time{}, false, nil
	default:
		at = st.next
	}
	spacing := l.interval
	if st.spacing > l.interval && !st.spacingUntil.Before(now) {
		spacing = st.spacing
	} else {
		st.spacing, st.spacingUntil = l.interval, now.Add(sms.SpacingHold)
	}
	st.next = at.Add(time.Duration(n) * spacing)
	st.day, st.used = day, used+int64(segments)
	if l.budget > 0 {
		metrics.Add(ctx, metrics.DailyBudgetUsedPercent, float64(st.used)*100/float64(l.budget))
	}
	if l.budget > 0 && used*5 < l.budget*4 && st.used*5 >= l.budget*4 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "the daily segment budget is 80 % used",
			slog.String("event", "daily_budget_80"), slog.Int64("used", st.used), slog.Int64("budget", l.budget))
	}
	return at, true, nil
}
