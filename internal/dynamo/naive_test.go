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
)

// naiveLimiter is the fixed one-second window counter that DESIGN.md §7
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

// TestSlidingWindowNaiveVersusLimiter sends the same burst through the
// fixed-window counter and through Limiter: 1.5×rate requests in the
// 300 ms before a second boundary and as many in the 300 ms after it. The
// counter lets a full window's worth through on each side of the boundary
// (2×rate within 600 ms); the limiter never lets more than rate into any
// 1-second window.
func TestSlidingWindowNaiveVersusLimiter(t *testing.T) {
	const rate = 10
	table := newTable(t)
	naive := &naiveLimiter{api: newCountingAPI(), table: table, name: "burst", rate: rate}
	ours := mustLimiter(t, newCountingAPI(), table, LimiterConfig{Name: "burst", Rate: rate})

	boundary := time.Now().Add(700 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	var arrivals []time.Time
	for k := range 3 * rate / 2 {
		step := time.Duration(k) * 300 * time.Millisecond / (3 * rate / 2)
		arrivals = append(arrivals, boundary.Add(-300*time.Millisecond+step), boundary.Add(step))
	}

	var (
		mu                    sync.Mutex
		naiveCalls, ourCalls  []time.Time
		naiveDenied, ourRefus int
		wg                    sync.WaitGroup
	)
	for _, arrive := range arrivals {
		wg.Go(func() {
			time.Sleep(time.Until(arrive))
			ok, err := naive.take(context.Background(), time.Now())
			called := time.Now()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("naive take: %v", err)
			case ok:
				naiveCalls = append(naiveCalls, called)
			default:
				naiveDenied++
			}
		})
		wg.Go(func() {
			time.Sleep(time.Until(arrive))
			at, ok, err := ours.Reserve(context.Background(), 200*time.Millisecond)
			if err != nil {
				t.Errorf("Reserve: %v", err)
				return
			}
			if ok {
				time.Sleep(time.Until(at))
			}
			called := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if ok {
				ourCalls = append(ourCalls, called)
			} else {
				ourRefus++
			}
		})
	}
	wg.Wait()

	naivePeak, ourPeak := maxInWindow(naiveCalls, time.Second), maxInWindow(ourCalls, time.Second)
	t.Logf("rate %d, %d requests around a second boundary: fixed window let %d through (peak %d in 1 s), limiter %d (peak %d in 1 s)",
		rate, len(arrivals), len(naiveCalls), naivePeak, len(ourCalls), ourPeak)
	if ourPeak > rate {
		t.Errorf("limiter peak in a 1 s window = %d, want at most %d", ourPeak, rate)
	}
	if naivePeak <= rate {
		t.Errorf("fixed-window peak in a 1 s window = %d, want more than %d (the flaw this test shows)", naivePeak, rate)
	}
	if got := len(naiveCalls) + naiveDenied; got != len(arrivals) {
		t.Errorf("fixed-window answers = %d, want %d", got, len(arrivals))
	}
	if got := len(ourCalls) + ourRefus; got != len(arrivals) {
		t.Errorf("limiter answers = %d, want %d", got, len(arrivals))
	}
}
