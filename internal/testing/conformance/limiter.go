package conformance

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// LimiterSpec is the limiter a suite asks a factory for.
type LimiterSpec struct {
	// State names the state the limiter keeps its slots in. Limiters built
	// with the same State share it, as the instances of one deployment
	// share the table; a State not used before has no slot taken.
	State string
	// Rate is the number of slots per second; Margin the fraction each slot
	// is stretched by (zero: none).
	Rate, Margin float64
	// Clock is the limiter's time source.
	Clock sms.Clock
	// DailySegments is the daily segment budget; zero means none.
	DailySegments int64
}

// NewLimiterFunc builds the limiter spec describes.
type NewLimiterFunc func(t *testing.T, spec LimiterSpec) sms.Limiter

// Limiter runs the limiter conformance suite against the limiters that
// newLimiter builds.
func Limiter(t *testing.T, newLimiter NewLimiterFunc) {
	fresh := func(t *testing.T, rate, margin float64, clock sms.Clock) sms.Limiter {
		return newLimiter(t, LimiterSpec{State: freshState(), Rate: rate, Margin: margin, Clock: clock})
	}
	t.Run("FirstGrantIsImmediate", func(t *testing.T) { limiterFirstGrant(t, fresh) })
	t.Run("GrantsAreSpacedByInterval", func(t *testing.T) { limiterSpacing(t, fresh) })
	t.Run("MaxWaitBoundTakesNothing", func(t *testing.T) { limiterMaxWait(t, fresh) })
	t.Run("NoBurstCreditAfterIdle", func(t *testing.T) { limiterIdle(t, fresh) })
	t.Run("ClockBetweenSlots", func(t *testing.T) { limiterClockBetweenSlots(t, fresh) })
	t.Run("ConcurrentGrantsAreDistinct", func(t *testing.T) { limiterConcurrent(t, fresh) })
	t.Run("MixedRatesUseTheStricterSpacing", func(t *testing.T) { limiterMixedRates(t, newLimiter) })
	t.Run("ConsecutiveSlotsInOneTake", func(t *testing.T) { limiterConsecutive(t, newLimiter) })
	t.Run("DailySegmentBudget", func(t *testing.T) { limiterBudget(t, newLimiter) })
	t.Run("BudgetUnderConcurrency", func(t *testing.T) { limiterBudgetConcurrent(t, newLimiter) })
}

// freshLimiter builds a limiter on a state of its own.
type freshLimiter func(t *testing.T, rate, margin float64, clock sms.Clock) sms.Limiter

var states atomic.Int64

// freshState names a state no limiter used before.
func freshState() string { return fmt.Sprintf("conformance-%d-%d", os.Getpid(), states.Add(1)) }

// reserve calls l.Reserve and fails the test on an error.
func reserve(t *testing.T, l sms.Limiter, maxWait time.Duration) (time.Time, bool) {
	t.Helper()
	at, ok, err := l.Reserve(context.Background(), maxWait)
	if err != nil {
		t.Fatalf("Reserve(%v) error = %v", maxWait, err)
	}
	return at, ok
}

// wantGrant checks that Reserve(maxWait) grants a slot at want.
func wantGrant(t *testing.T, l sms.Limiter, maxWait time.Duration, want time.Time) {
	t.Helper()
	at, ok := reserve(t, l, maxWait)
	if !ok {
		t.Fatalf("Reserve(%v) ok = false, want a slot at %v", maxWait, want.Format(time.RFC3339Nano))
	}
	if !at.Equal(want) {
		t.Fatalf("Reserve(%v) = %v, want %v", maxWait, at.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// wantNoGrant checks that Reserve(maxWait) takes nothing.
func wantNoGrant(t *testing.T, l sms.Limiter, maxWait time.Duration) {
	t.Helper()
	at, ok := reserve(t, l, maxWait)
	if ok {
		t.Fatalf("Reserve(%v) = %v, ok = true; want ok = false", maxWait, at.Format(time.RFC3339Nano))
	}
}

func limiterFirstGrant(t *testing.T, newLimiter freshLimiter) {
	for _, maxWait := range []time.Duration{0, -time.Second, time.Second} {
		clock := NewClock(epoch)
		l := newLimiter(t, 10, 0.05, clock)
		wantGrant(t, l, maxWait, epoch)
	}
}

func limiterSpacing(t *testing.T, newLimiter freshLimiter) {
	tests := []struct {
		rate, margin float64
		interval     time.Duration
	}{
		{rate: 10, margin: 0.05, interval: 105 * time.Millisecond},
		{rate: 5, margin: 0.05, interval: 210 * time.Millisecond},
		{rate: 3, margin: 0.1, interval: 366666667 * time.Nanosecond},
		{rate: 1000, margin: 0.05, interval: 1050 * time.Microsecond},
		{rate: 0.5, margin: 0.05, interval: 2100 * time.Millisecond},
		// Zero margin is zero, not the default.
		{rate: 10, margin: 0, interval: 100 * time.Millisecond},
		{rate: 1000, margin: 0, interval: time.Millisecond},
	}
	for _, tt := range tests {
		if got := sms.SlotInterval(tt.rate, tt.margin); got != tt.interval {
			t.Fatalf("sms.SlotInterval(%v, %v) = %v, want %v", tt.rate, tt.margin, got, tt.interval)
		}
		clock := NewClock(epoch)
		l := newLimiter(t, tt.rate, tt.margin, clock)
		const slots = 10
		maxWait := slots * tt.interval
		for k := range slots + 1 {
			wantGrant(t, l, maxWait, epoch.Add(time.Duration(k)*tt.interval))
		}
		wantNoGrant(t, l, maxWait)
		// The refusal took nothing: slot 11 is still the next one.
		wantGrant(t, l, maxWait+tt.interval, epoch.Add((slots+1)*tt.interval))
	}
}

func limiterMaxWait(t *testing.T, newLimiter freshLimiter) {
	const rate, margin = 10, 0.05
	interval := sms.SlotInterval(rate, margin)
	tests := []struct {
		name    string
		maxWait time.Duration
		grant   bool
	}{
		{name: "zero", maxWait: 0},
		{name: "negative", maxWait: -time.Hour},
		{name: "one nanosecond short", maxWait: interval - time.Nanosecond},
		{name: "exactly to the slot", maxWait: interval, grant: true},
		{name: "beyond the slot", maxWait: time.Second, grant: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewClock(epoch)
			l := newLimiter(t, rate, margin, clock)
			wantGrant(t, l, 0, epoch)
			if !tt.grant {
				for range 3 {
					wantNoGrant(t, l, tt.maxWait)
				}
				// Nothing was written: the next slot is still epoch+interval.
				wantGrant(t, l, interval, epoch.Add(interval))
				return
			}
			wantGrant(t, l, tt.maxWait, epoch.Add(interval))
			wantGrant(t, l, tt.maxWait+interval, epoch.Add(2*interval))
		})
	}
}

func limiterIdle(t *testing.T, newLimiter freshLimiter) {
	const rate, margin = 10, 0.05
	interval := sms.SlotInterval(rate, margin)
	for _, idle := range []time.Duration{interval + time.Nanosecond, time.Second, time.Hour} {
		clock := NewClock(epoch)
		l := newLimiter(t, rate, margin, clock)
		for k := range 5 {
			wantGrant(t, l, time.Second, epoch.Add(time.Duration(k)*interval))
		}
		// The last slot was at epoch+4i; the next free one at epoch+5i.
		// Idle past it: the first grant is now, and only one is free now.
		clock.Set(epoch.Add(5*interval + idle))
		now := clock.Now()
		wantGrant(t, l, 0, now)
		wantNoGrant(t, l, 0)
		wantNoGrant(t, l, interval-time.Nanosecond)
		wantGrant(t, l, interval, now.Add(interval))
	}
}

func limiterClockBetweenSlots(t *testing.T, newLimiter freshLimiter) {
	const rate, margin = 10, 0.05
	interval := sms.SlotInterval(rate, margin)
	clock := NewClock(epoch)
	l := newLimiter(t, rate, margin, clock)
	for k := range 4 {
		wantGrant(t, l, time.Second, epoch.Add(time.Duration(k)*interval))
	}
	// Next free slot: epoch+4i. Half a slot later, slots still queue behind it.
	clock.Set(epoch.Add(interval / 2))
	wantGrant(t, l, 4*interval, epoch.Add(4*interval))
	// Exactly at the next free slot: granted at once.
	clock.Set(epoch.Add(5 * interval))
	wantGrant(t, l, 0, epoch.Add(5*interval))
	wantNoGrant(t, l, 0)
	// Just past the next free slot: the grant is now, not the stale slot.
	clock.Set(epoch.Add(6*interval + time.Millisecond))
	now := clock.Now()
	wantGrant(t, l, 0, now)
	wantGrant(t, l, interval, now.Add(interval))
}

func limiterConcurrent(t *testing.T, newLimiter freshLimiter) {
	const rate, margin = 50, 0.05
	const workers, each = 8, 4
	interval := sms.SlotInterval(rate, margin)
	clock := NewClock(epoch)
	l := newLimiter(t, rate, margin, clock)
	var (
		mu     sync.Mutex
		grants []time.Time
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				at, ok, err := l.Reserve(context.Background(), time.Hour)
				if err != nil || !ok {
					t.Errorf("Reserve = %v, %v, %v; want a slot", at, ok, err)
					return
				}
				mu.Lock()
				grants = append(grants, at)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(grants, time.Time.Compare)
	if got, want := len(grants), workers*each; got != want {
		t.Fatalf("grants = %d, want %d", got, want)
	}
	for k, at := range grants {
		if want := epoch.Add(time.Duration(k) * interval); !at.Equal(want) {
			t.Errorf("grant %d = %v, want %v", k, at.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}
}

// limiterMixedRates runs limiters configured with different rates on one
// state, as old and new instances do while a change of SMS_RATE_LIMIT
// rolls out: every one of them spaces its slots by the stricter (longer)
// interval for as long as the stricter configuration keeps taking slots,
// and by its own again once that one has taken none for sms.SpacingHold.
func limiterMixedRates(t *testing.T, newLimiter NewLimiterFunc) {
	const margin = 0.05
	clock := NewClock(epoch)
	state := freshState()
	build := func(rate float64) (sms.Limiter, time.Duration) {
		return newLimiter(t, LimiterSpec{State: state, Rate: rate, Margin: margin, Clock: clock}), sms.SlotInterval(rate, margin)
	}
	fast, fastI := build(10) // 105 ms
	slow, slowI := build(4)  // 262.5 ms
	faster, fasterI := build(20)

	// The rate goes down from 10 to 4: the slow limiter's first slot is the
	// one the fast limiter left, and from there the fast limiter too keeps
	// the slow spacing.
	wantGrant(t, fast, time.Second, epoch)
	wantGrant(t, slow, time.Second, epoch.Add(fastI))
	next := epoch.Add(fastI + slowI)
	for range 3 {
		wantGrant(t, fast, time.Second, next)
		next = next.Add(slowI)
	}
	wantNoGrant(t, fast, next.Sub(clock.Now())-time.Nanosecond)

	// The stricter spacing holds across idle time shorter than the hold.
	clock.Set(next.Add(10 * time.Second))
	now := clock.Now()
	wantGrant(t, fast, 0, now)
	wantNoGrant(t, fast, slowI-time.Nanosecond)
	wantGrant(t, fast, slowI, now.Add(slowI))

	// Once the slow limiter has taken no slot for sms.SpacingHold (its last
	// one was taken at epoch), the fast limiter is back to its own.
	clock.Set(epoch.Add(sms.SpacingHold + time.Second))
	now = clock.Now()
	wantGrant(t, fast, 0, now)
	wantGrant(t, fast, fastI, now.Add(fastI))
	next = now.Add(2 * fastI)

	// The rate goes up from 10 to 20: while the 10/s limiter still takes
	// slots, the 20/s one keeps its spacing.
	wantGrant(t, faster, time.Second, next)
	wantGrant(t, faster, time.Second, next.Add(fastI))
	wantNoGrant(t, faster, 2*fastI-time.Nanosecond)
	// After the hold since the 10/s limiter's last slot, the new rate holds.
	clock.Set(now.Add(sms.SpacingHold + time.Second))
	now = clock.Now()
	wantGrant(t, faster, 0, now)
	wantGrant(t, faster, fasterI, now.Add(fasterI))
}

// reserveN calls l.ReserveN and returns its answer.
func reserveN(t *testing.T, l sms.Limiter, n, segments int, maxWait time.Duration) (time.Time, bool, error) {
	t.Helper()
	return l.ReserveN(context.Background(), n, segments, maxWait)
}

func limiterConsecutive(t *testing.T, newLimiter NewLimiterFunc) {
	const rate, margin = 10, 0.05
	interval := sms.SlotInterval(rate, margin)
	clock := NewClock(epoch)
	l := newLimiter(t, LimiterSpec{State: freshState(), Rate: rate, Margin: margin, Clock: clock})
	// Three slots at once: granted at the first, the next free slot three
	// intervals later.
	if at, ok, err := reserveN(t, l, 3, 3, 0); err != nil || !ok || !at.Equal(epoch) {
		t.Fatalf("ReserveN(3) = %v, %v, %v; want %v", at, ok, err, epoch)
	}
	wantGrant(t, l, time.Second, epoch.Add(3*interval))
	// Twelve slots at rate 10 take more than a second: the slot after
	// them is twelve intervals on.
	if at, ok, err := reserveN(t, l, 12, 12, time.Second); err != nil || !ok || !at.Equal(epoch.Add(4*interval)) {
		t.Fatalf("ReserveN(12) = %v, %v, %v; want %v", at, ok, err, epoch.Add(4*interval))
	}
	wantNoGrant(t, l, 16*interval-time.Nanosecond)
	wantGrant(t, l, 16*interval, epoch.Add(16*interval))
	// A take whose first slot is beyond the wait takes nothing.
	if _, ok, err := reserveN(t, l, 5, 5, 0); err != nil || ok {
		t.Fatalf("ReserveN(5) with no wait = %v, %v; want no slot", ok, err)
	}
	wantGrant(t, l, 17*interval, epoch.Add(17*interval))
	// A take below one slot is one slot.
	if at, ok, err := reserveN(t, l, 0, 1, time.Hour); err != nil || !ok || !at.Equal(epoch.Add(18*interval)) {
		t.Fatalf("ReserveN(0) = %v, %v, %v; want %v", at, ok, err, epoch.Add(18*interval))
	}
	wantGrant(t, l, time.Hour, epoch.Add(19*interval))
}

// wantBudgetError checks that err is the daily budget's refusal, to be
// retried at the next midnight UTC.
func wantBudgetError(t *testing.T, err error, now time.Time) {
	t.Helper()
	if !sms.IsDailyBudget(err) {
		t.Fatalf("error = %v, want the daily budget's", err)
	}
	e := sms.AsError(err)
	if e.Kind != sms.KindRateLimited || e.Code != sms.CodeQuotaExceeded {
		t.Errorf("budget error kind %v code %q, want rate-limited quota_exceeded", e.Kind, e.Code)
	}
	if want := sms.NextUTCDay(now).Sub(now); e.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v (until midnight UTC)", e.RetryAfter, want)
	}
}

func limiterBudget(t *testing.T, newLimiter NewLimiterFunc) {
	const rate, margin = 1000, 0.0
	clock := NewClock(epoch)
	l := newLimiter(t, LimiterSpec{State: freshState(), Rate: rate, Margin: margin, Clock: clock, DailySegments: 10})
	take := func(slots, segments int) error {
		t.Helper()
		clock.Advance(time.Second) // every take finds a free slot
		at, ok, err := reserveN(t, l, slots, segments, 0)
		if err == nil && (!ok || !at.Equal(clock.Now())) {
			t.Fatalf("ReserveN(%d, %d) = %v, %v; want a slot now", slots, segments, at, ok)
		}
		return err
	}
	for _, segs := range []int{4, 4} {
		if err := take(1, segs); err != nil {
			t.Fatalf("ReserveN(1, %d) error = %v", segs, err)
		}
	}
	wantBudgetError(t, take(1, 3), clock.Now())
	// The refused take took no slot: the next slot is still now.
	wantGrant(t, l, 0, clock.Now())
	if err := take(1, 1); err != nil {
		t.Fatalf("the 10th segment: error = %v", err)
	}
	wantBudgetError(t, take(1, 1), clock.Now())
	wantBudgetError(t, take(3, 3), clock.Now())
	// A take refused for want of a slot counts nothing.
	m := newLimiter(t, LimiterSpec{State: freshState(), Rate: 1, Margin: 0, Clock: clock, DailySegments: 2})
	if _, ok, err := reserveN(t, m, 1, 1, 0); err != nil || !ok {
		t.Fatalf("first take: %v, %v", ok, err)
	}
	if _, ok, err := reserveN(t, m, 1, 1, 0); err != nil || ok {
		t.Fatalf("a take with no slot free: %v, %v; want no slot", ok, err)
	}
	clock.Advance(time.Second)
	if _, ok, err := reserveN(t, m, 1, 1, 0); err != nil || !ok {
		t.Fatalf("the budget's second segment after a refusal for want of a slot: %v, %v", ok, err)
	}
	// A new UTC day has a new budget.
	clock.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	for range 2 {
		if err := take(1, 5); err != nil {
			t.Fatalf("the next day: error = %v", err)
		}
	}
	wantBudgetError(t, take(1, 1), clock.Now())
}

func limiterBudgetConcurrent(t *testing.T, newLimiter NewLimiterFunc) {
	const (
		workers = 24
		budget  = 17
	)
	clock := NewClock(epoch)
	state := freshState()
	instances := []sms.Limiter{
		newLimiter(t, LimiterSpec{State: state, Rate: 1000, Margin: 0, Clock: clock, DailySegments: budget}),
		newLimiter(t, LimiterSpec{State: state, Rate: 1000, Margin: 0, Clock: clock, DailySegments: budget}),
	}
	var (
		mu       sync.Mutex
		granted  int
		refusals int
		wg       sync.WaitGroup
	)
	for i := range workers {
		l := instances[i%2]
		wg.Go(func() {
			// Up to an hour of waiting: every take finds a slot, so only
			// the budget refuses.
			_, ok, err := l.ReserveN(context.Background(), 1, 2, time.Hour)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case sms.IsDailyBudget(err):
				refusals++
			case err != nil:
				t.Errorf("ReserveN error = %v", err)
			case ok:
				granted++
			}
		})
	}
	wg.Wait()
	// Two segments a take: 8 takes fit in 17.
	if granted != budget/2 {
		t.Errorf("takes granted = %d, want exactly %d of 2 segments within a budget of %d", granted, budget/2, budget)
	}
	if granted+refusals != workers {
		t.Errorf("granted %d + refused %d != %d takes", granted, refusals, workers)
	}
}
