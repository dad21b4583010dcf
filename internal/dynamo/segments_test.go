package dynamo

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// call is one provider call of a message of segments parts, recorded when
// the caller woke up for its slot.
type call struct {
	at       time.Time
	segments int
}

// maxSegmentsInWindow returns the most segments the calls starting in
// any half-open window [t, t+window) carry, t a call's time.
func maxSegmentsInWindow(calls []call, window time.Duration) int {
	sorted := slices.Clone(calls)
	slices.SortFunc(sorted, func(a, b call) int { return a.at.Compare(b.at) })
	best, j, sum := 0, 0, 0
	for i := range sorted {
		for j < len(sorted) && sorted[j].at.Sub(sorted[i].at) < window {
			sum += sorted[j].segments
			j++
		}
		best = max(best, sum)
		sum -= sorted[i].segments
	}
	return best
}

func TestMaxSegmentsInWindow(t *testing.T) {
	at := func(ms, segs int) call {
		return call{at: epoch.Add(time.Duration(ms) * time.Millisecond), segments: segs}
	}
	tests := []struct {
		calls []call
		want  int
	}{
		{nil, 0},
		{[]call{at(0, 3)}, 3},
		{[]call{at(0, 3), at(999, 2), at(1000, 5)}, 7},
		{[]call{at(1000, 5), at(0, 3), at(500, 1)}, 6},
	}
	for _, tt := range tests {
		if got := maxSegmentsInWindow(tt.calls, time.Second); got != tt.want {
			t.Errorf("maxSegmentsInWindow(%v) = %d, want %d", tt.calls, got, tt.want)
		}
	}
}

// TestSegmentsBoundRealTime measures SMS_RATE_UNIT=segments on the real
// clock against the emulator: 8 callers over two instances send messages
// of 1 to 4 segments (and a few of 24, more than the rate) for 5 s, each
// taking one slot per segment in one request and calling at the first.
// In any 1-s window the provider gets at most rate + n - 1 segments, n
// the largest message in it; a message of more segments than the rate
// takes its slots across seconds, so that the limit still holds on
// average.
func TestSegmentsBoundRealTime(t *testing.T) {
	const rate = 20
	table := newTable(t)
	var limiters []*Limiter
	for range 2 {
		limiters = append(limiters, mustLimiter(t, newCountingAPI(), table, LimiterConfig{Name: "segments", Rate: rate, Margin: sms.DefaultMargin}))
	}
	sizes := []int{1, 3, 2, 4, 1, 24, 2, 3}
	var (
		mu    sync.Mutex
		calls []call
		wg    sync.WaitGroup
	)
	end := time.Now().Add(5 * time.Second)
	for w := range 8 {
		l := limiters[w%2]
		wg.Go(func() {
			for k := w; time.Now().Before(end); k++ {
				n := sizes[k%len(sizes)]
				at, ok, err := l.ReserveN(context.Background(), n, n, 2*time.Second)
				if err != nil {
					t.Errorf("ReserveN error = %v", err)
					return
				}
				if !ok {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				time.Sleep(time.Until(at))
				mu.Lock()
				calls = append(calls, call{at: time.Now(), segments: n})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(calls) < 10 {
		t.Fatalf("only %d calls: the run proves nothing", len(calls))
	}
	// The bound of any window: rate + n - 1 for the largest n in it.
	slices.SortFunc(calls, func(a, b call) int { return a.at.Compare(b.at) })
	room, total := rate+slices.Max(sizes), 0
	for i, c := range calls {
		total += c.segments
		sum, largest := 0, 0
		for _, d := range calls[i:] {
			if d.at.Sub(c.at) >= time.Second {
				break
			}
			sum += d.segments
			largest = max(largest, d.segments)
		}
		if bound := rate + largest - 1; sum > bound {
			t.Errorf("the window from %v holds %d segments, over the bound %d (largest message %d)", c.at.Format("15:04:05.000"), sum, bound, largest)
		}
		room = min(room, rate+largest-1-sum)
	}
	span := calls[len(calls)-1].at.Sub(calls[0].at)
	t.Logf("%d calls, %d segments in %v (%.1f segments/s); peak %d segments in a 1-s window; least room under a window's bound: %d",
		len(calls), total, span.Round(time.Millisecond), float64(total)/span.Seconds(), maxSegmentsInWindow(calls, time.Second), room)
}
