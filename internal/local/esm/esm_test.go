package esm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/testing/mototest"
)

func TestPollerAgainstSQS(t *testing.T) {
	srv := mototest.Start(t)
	client := srv.SQS()
	url := srv.CreateQueue(t, "esm-test", map[string]string{"VisibilityTimeout": "1"})
	ctx := context.Background()
	const n = 25
	for i := range n {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu          sync.Mutex
		seen        = map[string]int{}
		maxBatch    int
		inFlight    atomic.Int32
		maxInFlight atomic.Int32
		failedOnce  = map[string]bool{}
	)
	handler := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := maxInFlight.Load()
			if cur <= old || maxInFlight.CompareAndSwap(old, cur) {
				break
			}
		}
		if _, ok := ctx.Deadline(); !ok {
			t.Error("invocation has no deadline")
		}
		if lc, ok := lambdacontext.FromContext(ctx); !ok || lc.AwsRequestID == "" {
			t.Error("invocation has no request id")
		}
		time.Sleep(20 * time.Millisecond)
		var resp events.SQSEventResponse
		mu.Lock()
		defer mu.Unlock()
		maxBatch = max(maxBatch, len(ev.Records))
		for _, r := range ev.Records {
			if r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:us-east-1:123456789012:esm-test" || r.Attributes["ApproximateReceiveCount"] == "" {
				t.Errorf("record %+v lacks Lambda's fields", r)
			}
			seen[r.Body]++
			// Fail every multiple of 5 once: it must come back.
			if b, _ := strconv.Atoi(r.Body); b%5 == 0 && !failedOnce[r.Body] {
				failedOnce[r.Body] = true
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
	p := New(NewSQSSource(client, url, SQSSourceConfig{ARN: "arn:aws:sqs:us-east-1:123456789012:esm-test", Region: mototest.Region, WaitSeconds: 1}), handler,
		Config{BatchSize: 4, MaxConcurrency: 2, Timeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		complete := len(seen) == n && len(failedOnce) == 5 && seen["0"] >= 2 && seen["5"] >= 2 && seen["10"] >= 2 && seen["15"] >= 2 && seen["20"] >= 2
		mu.Unlock()
		if complete || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // anything not deleted would reappear
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		want := 1
		if i%5 == 0 {
			want = 2
		}
		if got := seen[strconv.Itoa(i)]; got != want {
			t.Errorf("record %d seen %d times, want %d", i, got, want)
		}
	}
	if maxBatch > 4 {
		t.Errorf("largest batch = %d, want at most 4", maxBatch)
	}
	if got := maxInFlight.Load(); got > 2 {
		t.Errorf("concurrent invocations = %d, want at most 2", got)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range attrs.Attributes {
		if v != "0" {
			t.Errorf("%s = %s, want 0", k, v)
		}
	}
}

type fakeSource struct {
	recs    []events.SQSMessage
	deleted []string
}

func (f *fakeSource) Receive(context.Context, int) ([]events.SQSMessage, error) {
	r := f.recs
	f.recs = nil
	return r, nil
}

func (f *fakeSource) Delete(_ context.Context, recs []events.SQSMessage) error {
	for _, r := range recs {
		f.deleted = append(f.deleted, r.MessageId)
	}
	return nil
}

func TestPollDeletes(t *testing.T) {
	recs := []events.SQSMessage{{MessageId: "a"}, {MessageId: "b"}, {MessageId: "c"}}
	tests := []struct {
		name    string
		resp    events.SQSEventResponse
		err     error
		deleted string
	}{
		{"all succeed", events.SQSEventResponse{}, nil, "[a b c]"},
		{"partial", events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "b"}}}, nil, "[a c]"},
		{"function error", events.SQSEventResponse{}, fmt.Errorf("crash"), "[]"},
		{"unknown identifier fails the batch", events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "zz"}}}, nil, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{recs: recs}
			p := New(src, func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) { return tt.resp, tt.err }, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			n, err := p.Poll(context.Background())
			if err != nil || n != 3 {
				t.Fatalf("Poll = %d, %v; want 3, nil", n, err)
			}
			if got := fmt.Sprint(src.deleted); got != tt.deleted && !(tt.deleted == "[]" && len(src.deleted) == 0) {
				t.Errorf("deleted = %s, want %s", got, tt.deleted)
			}
		})
	}
}
