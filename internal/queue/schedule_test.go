package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

func TestEncodeScheduledGolden(t *testing.T) {
	id := "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f"
	m := sms.QueuedMessage{
		Message:    sms.Message{ID: id, ServiceID: id, To: "+14155552671", Body: "Your table is ready"},
		Attempt:    1,
		EnqueuedAt: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC),
		SendAt:     time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
	got, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode error = %v", err)
	}
	want := `{"version":1,"id":"` + id + `","to":"+14155552671","body":"Your table is ready","attempt":1,` +
		`"enqueuedAt":"2026-11-30T08:00:00Z","sendAt":"2026-12-01T08:00:00Z"}`
	if string(got) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	back, err := Decode(got, "other-sqs-id")
	if err != nil {
		t.Fatalf("Decode error = %v", err)
	}
	if !back.SendAt.Equal(m.SendAt) || back.ServiceID != id {
		t.Errorf("Decode(Encode(m)) = sendAt %v, service id %q; want %v, %q", back.SendAt, back.ServiceID, m.SendAt, id)
	}
}

// TestScheduledDerivedID: the drain's early copy of a producer's
// scheduled message keeps its derived id and its attempt; a producer's
// own message may not carry a derived id, with or without sendAt.
func TestScheduledDerivedID(t *testing.T) {
	early := sms.QueuedMessage{
		Message: sms.Message{ID: "sqs:m-0", To: "+14155552671", Body: "hi"},
		Attempt: 1, SendAt: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC),
	}
	body, err := Encode(early)
	if err != nil {
		t.Fatalf("Encode of an early scheduled copy with a derived id: %v", err)
	}
	if got, err := Decode(body, "m-1"); err != nil || got.ID != "sqs:m-0" || got.Attempt != 1 {
		t.Errorf("Decode = %q attempt %d, %v; want sqs:m-0, attempt 1", got.ID, got.Attempt, err)
	}
	for _, b := range []string{
		`{"id":"sqs:m-0","to":"+14155552671","body":"hi","sendAt":"2026-12-01T08:00:00Z"}`,
		`{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"version\":1,\"id\":\"sns:n\",\"to\":\"+14155552671\",\"body\":\"hi\",\"sendAt\":\"2026-12-01T08:00:00Z\"}"}`,
	} {
		if _, err := Decode([]byte(b), "m-1"); func() string { r, _ := PoisonReason(err); return r }() != ReasonReservedIDPrefix {
			t.Errorf("Decode(%s) error = %v, want poison %s", b, err, ReasonReservedIDPrefix)
		}
	}
	// Only a send function's scheduled message with a service-id-shaped id
	// names its status record by that id; a producer's never does by its
	// own id: its service id is derived from it.
	for _, tt := range []struct {
		body, want string
	}{
		{`{"version":1,"id":"3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f","to":"+14155552671","body":"hi","sendAt":"2026-12-01T08:00:00Z"}`, "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f"},
		{`{"id":"3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f","to":"+14155552671","body":"hi","sendAt":"2026-12-01T08:00:00Z"}`, sms.ServiceIDForProducer("3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f")},
		{`{"version":1,"id":"order-1","to":"+14155552671","body":"hi","sendAt":"2026-12-01T08:00:00Z"}`, sms.ServiceIDForProducer("order-1")},
	} {
		if got, err := Decode([]byte(tt.body), "m-1"); err != nil || got.ServiceID != tt.want {
			t.Errorf("Decode(%s) service id = %q, %v; want %q", tt.body, got.ServiceID, err, tt.want)
		}
	}
}

func TestEncodeRejectsSendAtYear(t *testing.T) {
	m := sms.QueuedMessage{Message: sms.Message{ID: "a", To: "+14155552671", Body: "hi"}, Attempt: 1,
		SendAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := Encode(m); sms.KindOf(err) != sms.KindInvalid || sms.AsError(err).Field != "sendAt" {
		t.Errorf("Encode of a sendAt in year 10000: error = %v, want invalid sendAt", err)
	}
}

func TestHold(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) sms.QueuedMessage { return sms.QueuedMessage{SendAt: now.Add(d)} }
	tests := []struct {
		name  string
		m     sms.QueuedMessage
		delay time.Duration
		want  time.Duration
	}{
		{"not scheduled", sms.QueuedMessage{}, 0, 0},
		{"not scheduled, delayed", sms.QueuedMessage{}, 5 * time.Second, 5 * time.Second},
		{"due in 90.2 s", at(90200 * time.Millisecond), 0, 90200 * time.Millisecond},
		{"due in 15 minutes", at(MaxDelay), 0, MaxDelay},
		{"due later than SQS can delay", at(3 * time.Hour), 0, MaxDelay},
		{"due, deferral longer", at(2 * time.Second), 10 * time.Second, 10 * time.Second},
		{"due in the past", at(-time.Hour), 0, 0},
		{"due in the past, deferred", at(-time.Hour), 20 * time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		if got := Hold(tt.m, now, tt.delay); got != tt.want {
			t.Errorf("%s: Hold = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// delayRecorder is an SQS API that records each SendMessage's delay.
type delayRecorder struct {
	mu     sync.Mutex
	delays []int32
}

func (r *delayRecorder) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delays = append(r.delays, in.DelaySeconds)
	return &sqs.SendMessageOutput{}, nil
}

func (r *delayRecorder) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// TestSQSScheduledDelay: a scheduled message goes on the queue delayed
// until it is due, rounded up to the second so that it never arrives
// early, at most SQS's 15 minutes.
func TestSQSScheduledDelay(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	rec := &delayRecorder{}
	q := NewSQS(rec, "url", Config{Clock: conformance.NewClock(now)})
	m := func(d time.Duration) sms.QueuedMessage {
		return sms.QueuedMessage{Message: sms.Message{ID: "s-1", To: "+14155552671", Body: "hi"}, Attempt: 1, SendAt: now.Add(d)}
	}
	ctx := context.Background()
	calls := []func() error{
		func() error { return q.Enqueue(ctx, m(90200*time.Millisecond)) },
		func() error { return q.Enqueue(ctx, m(MaxDelay)) },
		func() error { return q.Enqueue(ctx, m(40*time.Minute)) },
		func() error { return q.Enqueue(ctx, m(-time.Second)) },
		func() error { return q.Requeue(ctx, m(time.Minute), 5*time.Second) },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	want := []int32{91, 900, 900, 0, 60}
	if len(rec.delays) != len(want) {
		t.Fatalf("delays = %v, want %v", rec.delays, want)
	}
	for i := range want {
		if rec.delays[i] != want[i] {
			t.Errorf("delays = %v, want %v", rec.delays, want)
			break
		}
	}
}

// TestSQSScheduledNotVisibleEarly sends a message due in 2 s to moto:
// it is not received before then.
func TestSQSScheduledNotVisibleEarly(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	url := newQueue(t, s, "")
	q := NewSQS(api, url, Config{})
	due := time.Now().Add(2 * time.Second)
	m := sms.QueuedMessage{Message: sms.Message{ID: "s-2", To: "+14155552671", Body: "hi"}, Attempt: 1, SendAt: due}
	if err := q.Enqueue(context.Background(), m); err != nil {
		t.Fatalf("Enqueue error = %v", err)
	}
	for time.Until(due) > 300*time.Millisecond {
		out, err := api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) != 0 {
			t.Fatalf("received the message %v before it is due", time.Until(due))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Until(due))
	// Due now: it arrives within a few seconds (SQS's delay is whole
	// seconds from when it took the message).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) == 1 {
			if !strings.Contains(aws.ToString(out.Messages[0].Body), `"sendAt":"`) {
				t.Errorf("received %s, want the scheduled message", aws.ToString(out.Messages[0].Body))
			}
			return
		}
	}
	t.Errorf("the message did not arrive within 5 s of its send time")
}
