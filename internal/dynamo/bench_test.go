package dynamo

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

// reportRates adds grants (or operations) per second and DynamoDB
// requests per grant to a benchmark's result.
func reportRates(b *testing.B, grants int64, requests int64) {
	b.Helper()
	if grants == 0 {
		b.Fatal("no grants")
	}
	b.ReportMetric(float64(grants)/b.Elapsed().Seconds(), "grants/s")
	b.ReportMetric(float64(requests)/float64(grants), "req/grant")
}

// BenchmarkDynamoLimiterReserve measures Reserve against the emulator.
// "idle" runs on the real clock at a rate no caller can reach, so every
// call finds the next slot in the past and restarts it (light load).
// The others run on a frozen clock, so every call queues behind the last
// slot (the advance form, as under sustained overload) and none waits:
// one caller, many goroutines of one instance, and two instances sharing
// the item.
func BenchmarkDynamoLimiterReserve(b *testing.B) {
	ctx := context.Background()
	frozen := conformance.NewClock(epoch)
	b.Run("idle", func(b *testing.B) {
		api := newCountingAPI()
		l := mustLimiter(b, api, newTable(b), LimiterConfig{Name: "bench", Rate: 1e6, Margin: sms.DefaultMargin, ShardRate: 1e6})
		b.ReportAllocs()
		var grants int64
		for b.Loop() {
			if _, ok, err := l.Reserve(ctx, 0); !ok || err != nil {
				b.Fatalf("Reserve = %v, %v", ok, err)
			}
			grants++
		}
		reportRates(b, grants, api.n.Load())
	})
	b.Run("busy", func(b *testing.B) {
		api := newCountingAPI()
		l := mustLimiter(b, api, newTable(b), LimiterConfig{Name: "bench", Rate: 1e6, Margin: sms.DefaultMargin, ShardRate: 1e6, Clock: frozen})
		b.ReportAllocs()
		var grants int64
		for b.Loop() {
			if _, ok, err := l.Reserve(ctx, time.Hour); !ok || err != nil {
				b.Fatalf("Reserve = %v, %v", ok, err)
			}
			grants++
		}
		reportRates(b, grants, api.n.Load())
	})
	for _, instances := range []int{1, 2} {
		b.Run(fmt.Sprintf("busy-parallel-%d-instances", instances), func(b *testing.B) {
			table := newTable(b)
			var (
				apis     []*countingAPI
				limiters []*Limiter
			)
			for range instances {
				api := newCountingAPI()
				apis = append(apis, api)
				limiters = append(limiters, mustLimiter(b, api, table, LimiterConfig{Name: "bench", Rate: 1e6, Margin: sms.DefaultMargin, ShardRate: 1e6, Clock: frozen}))
			}
			var grants, unavailable, worker atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				l := limiters[int(worker.Add(1))%instances]
				for pb.Next() {
					_, ok, err := l.Reserve(ctx, time.Hour)
					switch {
					case sms.KindOf(err) == sms.KindUnavailable:
						// moto, loaded by the parallel callers, sometimes
						// drops a connection mid-answer: the limiter says
						// unavailable, as it would of DynamoDB, and the
						// caller queues. Counted, not a failure.
						unavailable.Add(1)
						continue
					case !ok || err != nil:
						b.Errorf("Reserve = %v, %v", ok, err)
						return
					}
					grants.Add(1)
				}
			})
			var requests int64
			for _, api := range apis {
				requests += api.n.Load()
			}
			reportRates(b, grants.Load(), requests)
			b.ReportMetric(float64(unavailable.Load())/float64(max(grants.Load(), 1)), "unavail/grant")
		})
	}
}

// BenchmarkDynamoLedgerClaimComplete measures one idempotent send's
// bookkeeping against the emulator: claim a fresh key, then complete it.
func BenchmarkDynamoLedgerClaimComplete(b *testing.B) {
	ctx := context.Background()
	api := newCountingAPI()
	l := NewLedger(api, newTable(b), LedgerConfig{})
	outcome := []byte(`{"messageId":"SM0123456789abcdef0123456789abcdef","status":"sent"}`)
	b.ReportAllocs()
	var ops int64
	for b.Loop() {
		key := fmt.Sprintf("bench/%d", ops)
		c, err := l.Claim(ctx, key, "fp", 30*time.Second)
		if err != nil || c.State != sms.Claimed {
			b.Fatalf("Claim = %v, %v", c.State, err)
		}
		if err := l.Complete(ctx, key, "fp", outcome, 24*time.Hour); err != nil {
			b.Fatalf("Complete = %v", err)
		}
		ops++
	}
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(api.n.Load())/float64(ops), "req/op")
}

// BenchmarkNaiveFixedWindowTake measures the fixed-window counter of
// naive_test.go for comparison: also one request per call, but without
// the 1-second bound.
func BenchmarkNaiveFixedWindowTake(b *testing.B) {
	ctx := context.Background()
	api := newCountingAPI()
	n := &naiveLimiter{api: api, table: newTable(b), name: "bench", rate: 1 << 30}
	b.ReportAllocs()
	var grants int64
	for b.Loop() {
		if ok, err := n.take(ctx, time.Now()); !ok || err != nil {
			b.Fatalf("take = %v, %v", ok, err)
		}
		grants++
	}
	reportRates(b, grants, api.n.Load())
}
