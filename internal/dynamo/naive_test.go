package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

// naiveLimiter is the fixed one-second window counter that
// docs/rate-limiting.md#why-not-a-counter-per-second
// rules out, kept here only to measure it against Limiter: each second
// has its own item, and a call is allowed while that item's count is
// below the rate.
type naiveLimiter struct {
	api   LimiterAPI
	table string
	name  string
	rate  int
}

// take counts one call in the current second's window; false means the
// window is full.
func (n *naiveLimiter) take(ctx context.Context, now time.Time) (bool, error) {
	_, err := n.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(n.table),
		Key: map[string]types.AttributeValue{
			"pk": str(fmt.Sprintf("naive#%s#%d", n.name, now.Unix())),
			"sk": str("window"),
		},
		UpdateExpression:          aws.String("ADD #c :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#c) OR #c < :rate"),
		ExpressionAttributeNames:  map[string]string{"#c": "count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": number(1), ":rate": number(int64(n.rate))},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return err == nil, err
}

// burstResult is what one limiter did with a boundary burst.
type burstResult struct {
	calls   []time.Time
	refused int
	errs    int
	// requests is how many DynamoDB requests it made.
	requests int64
}

// boundaryBurst sends the same burst through the fixed-window counter and
// through Limiter: 1.5×rate requests in the 300 ms before a second
// boundary and as many in the 300 ms after it.
func boundaryBurst(tb testing.TB, rate int) (naive, ours burstResult, sent int) {
	tb.Helper()
	table := newTable(tb)
	naiveAPI, ourAPI := newCountingAPI(), newCountingAPI()
	nl := &naiveLimiter{api: naiveAPI, table: table, name: "burst", rate: rate}
	ol := mustLimiter(tb, ourAPI, table, LimiterConfig{Name: "burst", Rate: float64(rate), Margin: sms.DefaultMargin})

	boundary := time.Now().Add(700 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	var arrivals []time.Time
	for k := range 3 * rate / 2 {
		step := time.Duration(k) * 300 * time.Millisecond / time.Duration(3*rate/2)
		arrivals = append(arrivals, boundary.Add(-300*time.Millisecond+step), boundary.Add(step))
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, arrive := range arrivals {
		wg.Go(func() {
			time.Sleep(time.Until(arrive))
			ok, err := nl.take(context.Background(), time.Now())
			called := time.Now()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				naive.errs++
			case ok:
				naive.calls = append(naive.calls, called)
			default:
				naive.refused++
			}
		})
		wg.Go(func() {
			time.Sleep(time.Until(arrive))
			at, ok, err := ol.Reserve(context.Background(), 200*time.Millisecond)
			if ok {
				time.Sleep(time.Until(at))
			}
			called := time.Now()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				ours.errs++
			case ok:
				ours.calls = append(ours.calls, called)
			default:
				ours.refused++
			}
		})
	}
	wg.Wait()
	naive.requests, ours.requests = naiveAPI.n.Load(), ourAPI.n.Load()
	return naive, ours, len(arrivals)
}

// TestSlidingWindowNaiveVersusLimiter shows the flaw docs/rate-limiting.md rules
// out: around a second boundary the counter lets a full window's worth
// through on each side (2×rate within 600 ms), while the limiter never
// lets more than rate into any 1-second window.
func TestSlidingWindowNaiveVersusLimiter(t *testing.T) {
	const rate = 10
	naive, ours, sent := boundaryBurst(t, rate)
	naivePeak, ourPeak := conformance.MaxInWindow(naive.calls, time.Second), conformance.MaxInWindow(ours.calls, time.Second)
	t.Logf("rate %d, %d requests around a second boundary: fixed window let %d through (peak %d in 1 s), limiter %d (peak %d in 1 s)",
		rate, sent, len(naive.calls), naivePeak, len(ours.calls), ourPeak)
	if ourPeak > rate {
		t.Errorf("limiter peak in a 1 s window = %d, want at most %d", ourPeak, rate)
	}
	if naivePeak <= rate {
		t.Errorf("fixed-window peak in a 1 s window = %d, want more than %d (the flaw this test shows)", naivePeak, rate)
	}
	for name, r := range map[string]burstResult{"fixed-window": naive, "limiter": ours} {
		if r.errs != 0 {
			t.Errorf("%s: %d errors", name, r.errs)
		}
		if got := len(r.calls) + r.refused + r.errs; got != sent {
			t.Errorf("%s answers = %d, want %d", name, got, sent)
		}
	}
}

// BenchmarkBoundaryBurst reports, side by side, what the fixed-window
// counter and Limiter let through around a second boundary at rate 10:
// the largest count in any 1-second window and the DynamoDB requests per
// call let through. One iteration is one burst (about 2 s).
func BenchmarkBoundaryBurst(b *testing.B) {
	const rate = 10
	for _, impl := range []string{"fixed-window", "limiter"} {
		b.Run(impl, func(b *testing.B) {
			peak, reqPerGrant := 0.0, 0.0
			runs := 0
			for b.Loop() {
				naive, ours, _ := boundaryBurst(b, rate)
				r := ours
				if impl == "fixed-window" {
					r = naive
				}
				peak += float64(conformance.MaxInWindow(r.calls, time.Second))
				reqPerGrant += float64(r.requests) / float64(max(len(r.calls), 1))
				runs++
			}
			b.ReportMetric(peak/float64(runs), "peak-1s")
			b.ReportMetric(reqPerGrant/float64(runs), "req/grant")
		})
	}
}
