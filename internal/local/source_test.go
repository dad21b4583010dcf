package local

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// newMemoryQueue returns an in-memory queue of the given capacity.
func newMemoryQueue(t *testing.T, capacity int) *memory.Queue {
	t.Helper()
	q, err := memory.NewQueue(memory.QueueConfig{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func enqueue(t *testing.T, q *memory.Queue, id string) {
	t.Helper()
	m := sms.QueuedMessage{Message: sms.Message{ID: id, To: "+14155551234", Body: "hi"}}
	if err := q.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func TestMemorySourceRecords(t *testing.T) {
	q := newMemoryQueue(t, 10)
	enqueue(t, q, "11111111-1111-4111-8111-111111111111")
	src := NewMemorySource(q, NewDeadLetters(nil, ListConfig{}), 3)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := src.Receive(ctx, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Receive = %d records, %v; want 1", len(recs), err)
	}
	r := recs[0]
	m, err := queue.Decode([]byte(r.Body), r.MessageId)
	if err != nil {
		t.Fatalf("record body does not decode: %v", err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"message id in body", m.ID, "11111111-1111-4111-8111-111111111111"},
		{"ApproximateReceiveCount", r.Attributes["ApproximateReceiveCount"], "1"},
		{"eventSource", r.EventSource, "aws:sqs"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.ReceiptHandle == "" || r.MessageId == "" || r.Md5OfBody == "" || r.Attributes["SentTimestamp"] == "" {
		t.Errorf("record %+v lacks a receipt handle, message id, MD5 or SentTimestamp", r)
	}
	if err := src.Delete(ctx, recs); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if q.Len() != 0 {
		t.Errorf("queue holds %d after Delete, want 0", q.Len())
	}
	if err := src.Delete(ctx, recs); err != nil {
		t.Errorf("Delete with a stale receipt handle: %v, want it ignored as SQS does", err)
	}
}

// TestMemorySourceRedrive checks the redrive policy: a message received
// more than maxReceives times goes to the dead-letter list.
func TestMemorySourceRedrive(t *testing.T) {
	const maxReceives = 3
	q := newMemoryQueue(t, 10)
	enqueue(t, q, "22222222-2222-4222-8222-222222222222")
	dlq := NewDeadLetters(nil, ListConfig{})
	src := NewMemorySource(q, dlq, maxReceives)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for i := 1; i <= maxReceives; i++ {
		recs, err := src.Receive(ctx, 10)
		if err != nil || len(recs) != 1 {
			t.Fatalf("receive %d: %d records, %v; want 1", i, len(recs), err)
		}
		if got, want := recs[0].Attributes["ApproximateReceiveCount"], strconv.Itoa(i); got != want {
			t.Errorf("receive %d: ApproximateReceiveCount = %s, want %s", i, got, want)
		}
		if err := q.Nack(recs[0].ReceiptHandle, 0); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := src.Receive(ctx, 10)
	if err != nil || len(recs) != 0 {
		t.Fatalf("receive %d: %d records, %v; want none (dead-lettered)", maxReceives+1, len(recs), err)
	}
	dl := dlq.List()
	if len(dl) != 1 || dl[0].Reason != ReasonMaxReceives {
		t.Fatalf("dead letters = %+v, want one with reason %s", dl, ReasonMaxReceives)
	}
	if q.Len() != 0 {
		t.Errorf("queue holds %d after the redrive, want 0", q.Len())
	}
}

func TestMemorySourceReceiveEndsWithContext(t *testing.T) {
	src := NewMemorySource(newMemoryQueue(t, 1), NewDeadLetters(nil, ListConfig{}), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	recs, err := src.Receive(ctx, 10)
	if err == nil || len(recs) != 0 {
		t.Errorf("Receive on an empty queue = %d records, %v; want none and the context's error", len(recs), err)
	}
}

func TestDeadLettersKeepTheLatest(t *testing.T) {
	d := NewDeadLetters(nil, ListConfig{Keep: 2})
	for _, reason := range []string{"a", "b", "c"} {
		if err := d.DeadLetter(context.Background(), "{}", reason); err != nil {
			t.Fatal(err)
		}
	}
	var got string
	for _, x := range d.List() {
		got += x.Reason
	}
	if got != "bc" || d.Count() != 3 {
		t.Errorf("kept reasons %q, count %d; want \"bc\", 3", got, d.Count())
	}
}
