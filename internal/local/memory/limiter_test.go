package memory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestLimiterConformance(t *testing.T) {
	var (
		mu     sync.Mutex
		states = map[string]*LimiterState{}
	)
	conformance.Limiter(t, func(t *testing.T, spec conformance.LimiterSpec) sms.Limiter {
		mu.Lock()
		st, ok := states[spec.State]
		if !ok {
			st = &LimiterState{}
			states[spec.State] = st
		}
		mu.Unlock()
		return newLimiter(t, LimiterConfig{Rate: spec.Rate, Margin: spec.Margin, State: st, Clock: spec.Clock, DailySegments: spec.DailySegments})
	})
}

// newLimiter returns a limiter for cfg and fails the test on error.
func newLimiter(t testing.TB, cfg LimiterConfig) *Limiter {
	t.Helper()
	l, err := NewLimiter(cfg)
	if err != nil {
		t.Fatalf("NewLimiter(%+v) error = %v", cfg, err)
	}
	return l
}

func TestLimiterMargin(t *testing.T) {
	tests := []struct {
		rate, margin float64
		want         time.Duration
	}{
		{rate: 10, margin: 0, want: 100 * time.Millisecond}, // zero means none
		{rate: 10, margin: sms.DefaultMargin, want: 105 * time.Millisecond},
		{rate: 10, margin: 0.1, want: 110 * time.Millisecond},
		{rate: 1, margin: 0, want: time.Second},
	}
	for _, tt := range tests {
		l := newLimiter(t, LimiterConfig{Rate: tt.rate, Margin: tt.margin})
		if got := l.Interval(); got != tt.want {
			t.Errorf("NewLimiter(rate %v, margin %v).Interval() = %v, want %v", tt.rate, tt.margin, got, tt.want)
		}
	}
}

func TestNewLimiterRejectsBadConfig(t *testing.T) {
	tests := []LimiterConfig{
		{Rate: 0},
		{Rate: -1},
		{Rate: 10, Margin: -0.1},
	}
	for _, cfg := range tests {
		if l, err := NewLimiter(cfg); err == nil || l != nil {
			t.Errorf("NewLimiter(%+v) = %v, %v; want an error", cfg, l, err)
		}
	}
}

func TestLimiterCanceledContext(t *testing.T) {
	l := newLimiter(t, LimiterConfig{Rate: 10})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, ok, err := l.Reserve(ctx, time.Second)
	if ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve(canceled) = ok %v, err %v; want false, context.Canceled", ok, err)
	}
	if got, want := sms.KindOf(err), sms.KindUnavailable; got != want {
		t.Errorf("KindOf(err) = %v, want %v", got, want)
	}
	// The canceled call took nothing.
	at, ok, err := l.Reserve(context.Background(), 0)
	if err != nil || !ok {
		t.Fatalf("Reserve = %v, %v, %v; want a slot", at, ok, err)
	}
}

func BenchmarkMemoryLimiterReserve(b *testing.B) {
	l := newLimiter(b, LimiterConfig{Rate: 1e9})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := l.Reserve(ctx, time.Hour); !ok || err != nil {
			b.Fatalf("Reserve = %v, %v", ok, err)
		}
	}
}

func BenchmarkMemoryLimiterReserveParallel(b *testing.B) {
	l := newLimiter(b, LimiterConfig{Rate: 1e9})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, err := l.Reserve(ctx, time.Hour); !ok || err != nil {
				b.Errorf("Reserve = %v, %v", ok, err)
				return
			}
		}
	})
}
