package dynamo

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

// These tests run the limiter on the real clock against the emulator, the
// way the send and drain functions use it: take a slot, sleep until it
// starts, call the provider. The provider call is recorded as the time the
// caller wakes up.

// load is what a run of callers recorded.
type load struct {
	calls    []time.Time // when each caller "called the provider"
	refusals int         // Reserve answers ok == false
}

// runCallers runs workers callers for d, spread over limiters. Each takes
// a slot waiting up to maxWait, sleeps until it starts and records the
// call; when refused it retries after a short pause.
func runCallers(t *testing.T, limiters []*Limiter, workers int, d, maxWait time.Duration) load {
	t.Helper()
	var (
		mu sync.Mutex
		ld load
		wg sync.WaitGroup
	)
	end := time.Now().Add(d)
	for w := range workers {
		l := limiters[w%len(limiters)]
		wg.Go(func() {
			for time.Now().Before(end) {
				at, ok, err := l.Reserve(context.Background(), maxWait)
				if err != nil {
					t.Errorf("Reserve error = %v", err)
					return
				}
				if !ok {
					mu.Lock()
					ld.refusals++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				time.Sleep(time.Until(at))
				called := time.Now()
				mu.Lock()
				ld.calls = append(ld.calls, called)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ld
}

// utilization is the share of rate·d used by the calls in the first d
// after the first call.
func utilization(calls []time.Time, rate float64, d time.Duration) float64 {
	if len(calls) == 0 {
		return 0
	}
	first := slices.MinFunc(calls, time.Time.Compare)
	n := 0
	for _, c := range calls {
		if c.Sub(first) < d {
			n++
		}
	}
	return float64(n) / (rate * d.Seconds())
}

func TestLimiterRealTimeOverload(t *testing.T) {
	const run = 3 * time.Second
	tests := []struct {
		rate      float64
		instances int
		workers   int
	}{
		{rate: 5, instances: 1, workers: 16},
		{rate: 50, instances: 1, workers: 16},
		{rate: 10, instances: 2, workers: 16},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("rate %v, %d instances, %d callers", tt.rate, tt.instances, tt.workers), func(t *testing.T) {
			table := newTable(t)
			var (
				limiters []*Limiter
				apis     []*countingAPI
			)
			for range tt.instances {
				api := newCountingAPI()
				apis = append(apis, api)
				limiters = append(limiters, mustLimiter(t, api, table, LimiterConfig{Name: "provider", Rate: tt.rate, Margin: sms.DefaultMargin}))
			}
			ld := runCallers(t, limiters, tt.workers, run, time.Second)
			var requests int64
			for _, api := range apis {
				requests += api.n.Load()
			}
			peak := conformance.MaxInWindow(ld.calls, time.Second)
			util := utilization(ld.calls, tt.rate, run)
			perGrant := float64(requests) / float64(len(ld.calls))
			t.Logf("rate %v: %d calls, peak %d in 1 s, utilization %.1f %%, %d requests (%.2f per grant), %d refusals",
				tt.rate, len(ld.calls), peak, 100*util, requests, perGrant, ld.refusals)
			if peak > int(tt.rate) {
				t.Errorf("peak calls in a 1 s window = %d, want at most %v", peak, tt.rate)
			}
			if util < 0.9 {
				t.Errorf("utilization = %.1f %%, want at least 90 %%", 100*util)
			}
			if perGrant > 2 {
				t.Errorf("requests per grant = %.2f, want at most 2", perGrant)
			}
		})
	}
}

func TestLimiterRealTimeLightLoad(t *testing.T) {
	const rate = 20
	table := newTable(t)
	api := newCountingAPI()
	l := mustLimiter(t, api, table, LimiterConfig{Name: "provider", Rate: rate, Margin: sms.DefaultMargin})
	interval := l.Interval()
	// One caller, with pauses from none (the next slot is ahead) to two
	// slots (the item has gone idle).
	pauses := []time.Duration{0, interval / 2, 2 * interval, 0, interval}
	var calls []time.Time
	for i := range 40 {
		at, ok, err := l.Reserve(context.Background(), time.Second)
		if err != nil || !ok {
			t.Fatalf("Reserve = %v, %v, %v; want a slot", at, ok, err)
		}
		time.Sleep(time.Until(at))
		calls = append(calls, time.Now())
		time.Sleep(pauses[i%len(pauses)])
	}
	perGrant := float64(api.n.Load()) / float64(len(calls))
	peak := conformance.MaxInWindow(calls, time.Second)
	t.Logf("light load: %d calls, %d requests (%.2f per grant), peak %d in 1 s", len(calls), api.n.Load(), perGrant, peak)
	if perGrant > 1.1 {
		t.Errorf("requests per grant = %.2f, want at most 1.1", perGrant)
	}
	if peak > rate {
		t.Errorf("peak calls in a 1 s window = %d, want at most %d", peak, rate)
	}
}

// TestLimiterRealTimeRollout runs an instance configured at 10/s and one at
// 4/s side by side on one item, as during a rollout that lowers
// SMS_RATE_LIMIT: both keep to the stricter spacing, so after the first
// slots the two together grant about 4 a second.
func TestLimiterRealTimeRollout(t *testing.T) {
	const run = 3 * time.Second
	table := newTable(t)
	oldAPI, newAPI := newCountingAPI(), newCountingAPI()
	limiters := []*Limiter{
		mustLimiter(t, oldAPI, table, LimiterConfig{Name: "provider", Rate: 10, Margin: sms.DefaultMargin}),
		mustLimiter(t, newAPI, table, LimiterConfig{Name: "provider", Rate: 4, Margin: sms.DefaultMargin}),
	}
	ld := runCallers(t, limiters, 16, run, time.Second)
	peak := conformance.MaxInWindow(ld.calls, time.Second)
	// Past the first second, only the stricter spacing is in force.
	first := slices.MinFunc(ld.calls, time.Time.Compare)
	var later []time.Time
	for _, c := range ld.calls {
		if c.Sub(first) >= time.Second {
			later = append(later, c)
		}
	}
	latePeak := conformance.MaxInWindow(later, time.Second)
	perGrant := float64(oldAPI.n.Load()+newAPI.n.Load()) / float64(len(ld.calls))
	t.Logf("rates 10 and 4 side by side: %d calls, peak %d in 1 s (%d after the first second), %.2f requests per grant",
		len(ld.calls), peak, latePeak, perGrant)
	if peak > 10 {
		t.Errorf("peak calls in a 1 s window = %d, want at most the larger rate, 10", peak)
	}
	if latePeak > 4 {
		t.Errorf("peak calls in a 1 s window after the first second = %d, want at most the stricter rate, 4", latePeak)
	}
}
