package dynamo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestBudgetShare(t *testing.T) {
	tests := []struct {
		budget int64
		shares []float64
		want   []int64
	}{
		{budget: 10000, shares: []float64{10}, want: []int64{10000}},
		{budget: 25, shares: []float64{4, 4, 2}, want: []int64{10, 10, 5}},
		{budget: 10, shares: []float64{500, 500, 1}, want: []int64{4, 5, 1}},
		{budget: 2, shares: []float64{500, 500, 1}, want: []int64{0, 1, 1}},
	}
	for _, tt := range tests {
		rate := 0.0
		for _, r := range tt.shares {
			rate += r
		}
		var got []int64
		var sum, lo int64
		cum := 0.0
		for _, r := range tt.shares {
			b := budgetShare(tt.budget, cum, cum+r, rate)
			got, sum, cum = append(got, b), sum+b, cum+r
			lo = min(lo, b)
		}
		if sum != tt.budget || lo < 0 {
			t.Errorf("budgetShare(%d, %v): parts %v add up to %d, want %d", tt.budget, tt.shares, got, sum, tt.budget)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("budgetShare(%d, %v) = %v, want %v", tt.budget, tt.shares, got, tt.want)
				break
			}
		}
	}
}

// TestLimiterDailyBudgetAcrossShards spends a budget of 25 segments over
// three shards (10, 10 and 5): every segment of it is granted, whatever
// shards the picks land on, and not one more; each shard logs crossing
// 80 % of its part once; a grant costs one request, and a refusal the
// instance knows of none.
func TestLimiterDailyBudgetAcrossShards(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC))
	api := newCountingAPI()
	var logs bytes.Buffer
	l := mustLimiter(t, api, table, LimiterConfig{Name: "budget", Rate: 10, ShardRate: 4, Clock: clock, DailySegments: 25,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := context.Background()
	granted := 0
	for range 40 {
		clock.Advance(time.Second)
		_, ok, err := l.ReserveN(ctx, 1, 1, time.Second)
		switch {
		case sms.IsDailyBudget(err):
		case err != nil || !ok:
			t.Fatalf("ReserveN = %v, %v", ok, err)
		default:
			granted++
		}
	}
	if granted != 25 {
		t.Errorf("segments granted = %d, want the whole budget of 25", granted)
	}
	if got := strings.Count(logs.String(), `"event":"daily_budget_80"`); got != 3 {
		t.Errorf("daily_budget_80 events = %d, want 3 (one per shard):\n%s", got, logs.String())
	}
	requests := api.n.Load()
	// Each shard's first request guesses the day's count is new and is
	// right; a shard found full costs the request that found it.
	if requests > int64(granted)+3 {
		t.Errorf("requests = %d for %d grants, want at most one per grant and one per shard found full", requests, granted)
	}
	api.n.Store(0)
	if _, _, err := l.ReserveN(ctx, 1, 1, time.Second); !sms.IsDailyBudget(err) {
		t.Fatalf("ReserveN once the budget is spent: err = %v", err)
	}
	if got := api.n.Load(); got != 0 {
		t.Errorf("a refusal the instance knows of cost %d requests, want 0", got)
	}
	for i := range 3 {
		item := getItem(t, table, "limiter#budget", "shard#"+string(rune('0'+i)))
		day, err := intAttr(item, "day")
		if err != nil || day != sms.UTCDay(clock.Now()) {
			t.Errorf("shard %d day = %d, %v; want %d", i, day, err, sms.UTCDay(clock.Now()))
		}
	}
	// Midnight UTC: a new budget. Another instance, which never saw the
	// old day, starts it too.
	clock.Set(time.Date(2026, 3, 2, 0, 0, 1, 0, time.UTC))
	other := mustLimiter(t, api, table, LimiterConfig{Name: "budget", Rate: 10, ShardRate: 4, Clock: clock, DailySegments: 25})
	for _, lim := range []*Limiter{l, other} {
		clock.Advance(time.Second)
		if _, ok, err := lim.ReserveN(ctx, 1, 5, time.Second); err != nil || !ok {
			t.Fatalf("the next day: ReserveN = %v, %v", ok, err)
		}
	}
}

// TestLimiterSegmentsTakeConsecutiveSlots checks the stored next slot
// after a take of several slots.
func TestLimiterSegmentsTakeConsecutiveSlots(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	l := mustLimiter(t, moto.DynamoDB(), table, LimiterConfig{Name: "segments", Rate: 10, Margin: sms.DefaultMargin, Clock: clock})
	if at, ok, err := l.ReserveN(context.Background(), 4, 4, 0); err != nil || !ok || !at.Equal(epoch) {
		t.Fatalf("ReserveN(4) = %v, %v, %v", at, ok, err)
	}
	next, err := intAttr(getItem(t, table, "limiter#segments", "shard#0"), "next")
	if want := epoch.Add(4 * 105 * time.Millisecond).UnixNano(); err != nil || next != want {
		t.Errorf("stored next = %v, %v; want four intervals on, %v", time.Unix(0, next).UTC(), err, time.Unix(0, want).UTC())
	}
}
