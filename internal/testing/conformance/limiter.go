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
