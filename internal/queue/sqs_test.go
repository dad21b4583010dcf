package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

var _ sms.Queue = (*SQS)(nil)

// One moto server serves every test of the package that needs it; it is
// started on first use and stopped by TestMain.
var (
	motoOnce   sync.Once
	motoServer *mototest.Server
	motoErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if motoServer != nil {
		motoServer.Stop()
	}
	os.Exit(code)
}

// moto returns the package's moto server, starting it if needed.
func moto(t *testing.T) *mototest.Server {
	t.Helper()
	motoOnce.Do(func() { motoServer, motoErr = mototest.Launch() })
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	return motoServer
}

// newQueue creates a fresh queue named after the test and returns its URL.
func newQueue(t *testing.T, s *mototest.Server, suffix string) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-", "_", "-").Replace(t.Name())
	if len(name) > 70 {
		name = name[:70]
	}
	name += suffix
	return s.CreateQueue(t, name, nil)
}

// receiveOne waits for one message on url and returns it with its
// attributes.
func receiveOne(t *testing.T, api *sqs.Client, url string) types.Message {
	t.Helper()
	out, err := api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             1,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(out.Messages))
	}
	return out.Messages[0]
}

func TestSQSEnqueueRoundTrip(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	now := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	tests := []struct {
		name string
		in   sms.QueuedMessage
		want sms.QueuedMessage
	}{
		{
			name: "defaults attempt and enqueue time",
			in: sms.QueuedMessage{Message: sms.Message{ID: "5d41402a-bc4b-4a76-b971-9d911017c592",
				To: "+14155552671", Body: "Your code is 482901 <#> & ünïcode 🚀"}},
			want: sms.QueuedMessage{Message: sms.Message{ID: "5d41402a-bc4b-4a76-b971-9d911017c592",
				To: "+14155552671", Body: "Your code is 482901 <#> & ünïcode 🚀", ServiceID: "5d41402a-bc4b-4a76-b971-9d911017c592"},
				Attempt: 1, EnqueuedAt: now},
		},
		{
			name: "keeps given fields",
			in: sms.QueuedMessage{Message: sms.Message{ID: "0b6f7c4e", To: "+447911123456", Body: "hi", From: "MyApp",
				ServiceID: sms.ServiceIDForProducer("0b6f7c4e"), ValidUntil: now.Add(time.Minute)},
				Attempt: 3, EnqueuedAt: now.Add(-time.Hour)},
			want: sms.QueuedMessage{Message: sms.Message{ID: "0b6f7c4e", To: "+447911123456", Body: "hi", From: "MyApp",
				ServiceID: sms.ServiceIDForProducer("0b6f7c4e"), ValidUntil: now.Add(time.Minute)},
				Attempt: 3, EnqueuedAt: now.Add(-time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := newQueue(t, s, "")
			q := NewSQS(api, url, Config{Clock: conformance.NewClock(now)})
			if err := q.Enqueue(context.Background(), tt.in); err != nil {
				t.Fatalf("Enqueue error = %v", err)
			}
			msg := receiveOne(t, api, url)
			got, err := Decode([]byte(aws.ToString(msg.Body)), aws.ToString(msg.MessageId))
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			if !got.EnqueuedAt.Equal(tt.want.EnqueuedAt) {
				t.Errorf("EnqueuedAt = %v, want %v", got.EnqueuedAt, tt.want.EnqueuedAt)
			}
			if !got.ValidUntil.Equal(tt.want.ValidUntil) {
				t.Errorf("ValidUntil = %v, want %v", got.ValidUntil, tt.want.ValidUntil)
			}
			got.EnqueuedAt, tt.want.EnqueuedAt = time.Time{}, time.Time{}
			got.ValidUntil, tt.want.ValidUntil = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("round trip = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSQSRequeue(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	url := newQueue(t, s, "")
	first := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	q := NewSQS(api, url, Config{Clock: conformance.NewClock(first.Add(time.Minute))})

	// A producer message without an id, as the drain decoded it.
	m := sms.QueuedMessage{Message: sms.Message{ID: "sqs:orig-1", To: "+14155552671", Body: "hi"}, Attempt: 1, EnqueuedAt: first}
	if err := q.Requeue(context.Background(), m, 0); err != nil {
		t.Fatalf("Requeue error = %v", err)
	}
	msg := receiveOne(t, api, url)
	got, err := Decode([]byte(aws.ToString(msg.Body)), aws.ToString(msg.MessageId))
	if err != nil {
		t.Fatalf("Decode error = %v", err)
	}
	if got.ID != "sqs:orig-1" {
		t.Errorf("ID = %q, want %q (the original id, not the copy's SQS id)", got.ID, "sqs:orig-1")
	}
	if got.Attempt != 2 {
		t.Errorf("Attempt = %d, want 2", got.Attempt)
	}
	if !got.EnqueuedAt.Equal(first) {
		t.Errorf("EnqueuedAt = %v, want %v (first enqueue)", got.EnqueuedAt, first)
	}
	if err := q.Requeue(context.Background(), sms.QueuedMessage{Message: sms.Message{To: "+14155552671", Body: "hi"}}, 0); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Requeue without id: kind = %v, want %v", sms.KindOf(err), sms.KindInternal)
	}
}

func TestSQSRequeueDelay(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	url := newQueue(t, s, "")
	q := NewSQS(api, url, Config{})
	m := sms.QueuedMessage{Message: sms.Message{ID: "d-1", To: "+14155552671", Body: "hi"}, Attempt: 1}
	if err := q.Requeue(context.Background(), m, time.Millisecond); err != nil {
		t.Fatalf("Requeue error = %v", err)
	}
	// Rounded up to 1 s: not visible at once.
	out, err := api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	if len(out.Messages) != 0 {
		t.Errorf("received %d messages at once, want 0 (delayed)", len(out.Messages))
	}
	time.Sleep(1100 * time.Millisecond)
	if got := receiveOne(t, api, url); !strings.Contains(aws.ToString(got.Body), `"id":"d-1"`) {
		t.Errorf("delayed body = %s, want the requeued message", aws.ToString(got.Body))
	}
}

func TestSQSChangeVisibility(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	url := s.CreateQueue(t, "change-visibility", map[string]string{"VisibilityTimeout": "30"})
	q := NewSQS(api, url, Config{})
	if err := q.Enqueue(context.Background(), sms.QueuedMessage{Message: sms.Message{ID: "v-1", To: "+14155552671", Body: "hi"}}); err != nil {
		t.Fatalf("Enqueue error = %v", err)
	}
	msg := receiveOne(t, api, url)
	// Back to visible at once: the next receive sees it again.
	if err := q.ChangeVisibility(context.Background(), aws.ToString(msg.ReceiptHandle), 0); err != nil {
		t.Fatalf("ChangeVisibility error = %v", err)
	}
	again := receiveOne(t, api, url)
	if got, want := again.Attributes["ApproximateReceiveCount"], "2"; got != want {
		t.Errorf("ApproximateReceiveCount = %q, want %q", got, want)
	}
	err := q.ChangeVisibility(context.Background(), "not-a-receipt-handle", time.Minute)
	if got := sms.KindOf(err); got != sms.KindUnavailable {
		t.Errorf("ChangeVisibility(bad handle) kind = %v, want %v (err %v)", got, sms.KindUnavailable, err)
	}
}

func TestDLQDeadLetter(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	dlqURL := newQueue(t, s, "-dlq")
	dlq := NewDLQ(api, dlqURL)
	for _, name := range []string{"poison_invalid_json.json", "poison_wrong_type_to.json", "poison_sns_subscription_confirmation.json"} {
		t.Run(name, func(t *testing.T) {
			raw := string(readFixture(t, name))
			_, decodeErr := Decode([]byte(raw), "m-1")
			reason, ok := PoisonReason(decodeErr)
			if !ok {
				t.Fatalf("Decode error = %v, want poison", decodeErr)
			}
			if err := dlq.DeadLetter(context.Background(), raw, reason); err != nil {
				t.Fatalf("DeadLetter error = %v", err)
			}
			msg := receiveOne(t, api, dlqURL)
			if got := aws.ToString(msg.Body); got != raw {
				t.Errorf("dead-lettered body = %q, want the original %q", got, raw)
			}
			attr, ok := msg.MessageAttributes[PoisonReasonAttribute]
			if !ok {
				t.Fatalf("attribute %s missing; have %v", PoisonReasonAttribute, msg.MessageAttributes)
			}
			if got := aws.ToString(attr.DataType); got != "String" {
				t.Errorf("attribute DataType = %q, want String", got)
			}
			if got := aws.ToString(attr.StringValue); got != reason {
				t.Errorf("attribute value = %q, want %q", got, reason)
			}
			if _, err := api.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(dlqURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				t.Fatalf("DeleteMessage: %v", err)
			}
		})
	}
}

func TestSQSErrorsAreUnavailable(t *testing.T) {
	s := moto(t)
	api := s.SQS()
	missing := s.URL + "/123456789012/no-such-queue"
	m := sms.QueuedMessage{Message: sms.Message{ID: "e-1", To: "+14155552671", Body: "Your code is 482901"}}
	tests := []struct {
		name   string
		call   func() error
		prefix string
	}{
		{"Enqueue", func() error { return NewSQS(api, missing, Config{}).Enqueue(context.Background(), m) }, "queue: send message: "},
		{"Requeue", func() error { return NewSQS(api, missing, Config{}).Requeue(context.Background(), m, time.Second) }, "queue: send message: "},
		{"DeadLetter", func() error { return NewDLQ(api, missing).DeadLetter(context.Background(), "{}", "invalid_to") }, "queue: dead-letter message: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want an *sms.Error", err)
			}
			if e.Kind != sms.KindUnavailable {
				t.Errorf("Kind = %v, want %v", e.Kind, sms.KindUnavailable)
			}
			if e.Code != "" || e.Message == "" {
				t.Errorf("Code, Message = %q, %q, want no narrowing code and a message", e.Code, e.Message)
			}
			if !strings.HasPrefix(e.Err.Error(), tt.prefix) {
				t.Errorf("cause = %q, want prefix %q", e.Err.Error(), tt.prefix)
			}
			var notFound *types.QueueDoesNotExist
			if !errors.As(err, &notFound) {
				t.Errorf("error chain lacks *types.QueueDoesNotExist: %v", err)
			}
			if strings.Contains(e.Message, "no-such-queue") || strings.Contains(err.Error(), "482901") {
				t.Errorf("client message %q or error leaks details", e.Message)
			}
		})
	}
}

func TestSQSEncodeErrorIsNotUnavailable(t *testing.T) {
	// An unencodable message never reaches SQS; the API is not called.
	q := NewSQS(failingAPI{t}, "unused", Config{})
	err := q.Enqueue(context.Background(), sms.QueuedMessage{Message: sms.Message{To: "+14155552671"}})
	if got := sms.KindOf(err); got != sms.KindInvalid {
		t.Errorf("kind = %v, want %v", got, sms.KindInvalid)
	}
}

// failingAPI fails the test when it is called.
type failingAPI struct{ t *testing.T }

func (f failingAPI) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.t.Error("SendMessage called")
	return nil, fmt.Errorf("unexpected call")
}

func (f failingAPI) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.t.Error("ChangeMessageVisibility called")
	return nil, fmt.Errorf("unexpected call")
}

func TestCeilSeconds(t *testing.T) {
	tests := []struct {
		d, limit time.Duration
		want     int32
	}{
		{-time.Second, MaxDelay, 0},
		{0, MaxDelay, 0},
		{time.Nanosecond, MaxDelay, 1},
		{time.Second, MaxDelay, 1},
		{1001 * time.Millisecond, MaxDelay, 2},
		{MaxDelay, MaxDelay, 900},
		{time.Hour, MaxDelay, 900},
		{24 * time.Hour, MaxVisibilityTimeout, 43200},
	}
	for _, tt := range tests {
		if got := ceilSeconds(tt.d, tt.limit); got != tt.want {
			t.Errorf("ceilSeconds(%v, %v) = %d, want %d", tt.d, tt.limit, got, tt.want)
		}
	}
}

func TestStampAndRequeued(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := now.Add(-time.Hour)
	msg := sms.Message{ID: "m-1", To: "+14155552671", Body: "hi"}
	tests := []struct {
		name        string
		in          sms.QueuedMessage
		wantStamp   sms.QueuedMessage
		wantRequeue sms.QueuedMessage
	}{
		{"fresh", sms.QueuedMessage{Message: msg},
			sms.QueuedMessage{Message: msg, Attempt: 1, EnqueuedAt: now},
			sms.QueuedMessage{Message: msg, Attempt: 2, EnqueuedAt: now}},
		{"stamped before", sms.QueuedMessage{Message: msg, Attempt: 3, EnqueuedAt: first},
			sms.QueuedMessage{Message: msg, Attempt: 3, EnqueuedAt: first},
			sms.QueuedMessage{Message: msg, Attempt: 4, EnqueuedAt: first}},
		{"negative attempt", sms.QueuedMessage{Message: msg, Attempt: -2, EnqueuedAt: first},
			sms.QueuedMessage{Message: msg, Attempt: -2, EnqueuedAt: first},
			sms.QueuedMessage{Message: msg, Attempt: 2, EnqueuedAt: first}},
	}
	for _, tt := range tests {
		if got := Stamp(tt.in, now); got != tt.wantStamp {
			t.Errorf("%s: Stamp = %+v, want %+v", tt.name, got, tt.wantStamp)
		}
		got, err := Requeued(tt.in, now)
		if err != nil || got != tt.wantRequeue {
			t.Errorf("%s: Requeued = %+v, %v; want %+v", tt.name, got, err, tt.wantRequeue)
		}
	}
	if _, err := Requeued(sms.QueuedMessage{Message: sms.Message{To: "+14155552671", Body: "hi"}}, now); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Requeued without an id: error %v, want a KindInternal error", err)
	}
}
