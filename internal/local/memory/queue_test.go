package memory

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

var _ sms.Queue = (*Queue)(nil)

var queueEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newQueue returns a queue for cfg and fails the test on error.
func newQueue(t testing.TB, cfg QueueConfig) *Queue {
	t.Helper()
	q, err := NewQueue(cfg)
	if err != nil {
		t.Fatalf("NewQueue(%+v) error = %v", cfg, err)
	}
	return q
}

// msg returns a message with id.
func msg(id string) sms.QueuedMessage {
	return sms.QueuedMessage{Message: sms.Message{ID: id, To: "+14155552671", Body: "Your code is 482901"}}
}

// receiveNow receives what is visible at once (waiting at most 50 ms).
func receiveNow(t *testing.T, q *Queue, limit int) []Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	return q.Receive(ctx, limit)
}

// enqueue puts m on q and fails the test on error.
func enqueue(t *testing.T, q *Queue, m sms.QueuedMessage) {
	t.Helper()
	if err := q.Enqueue(context.Background(), m); err != nil {
		t.Fatalf("Enqueue(%s) error = %v", m.ID, err)
	}
}

func TestQueueRoundTripThroughCodec(t *testing.T) {
	clock := conformance.NewClock(queueEpoch)
	q := newQueue(t, QueueConfig{Capacity: 4, Clock: clock})
	in := sms.QueuedMessage{
		Message: sms.Message{ID: "a1", To: "+447911123456", Body: "Café 🚀 <#>", From: "MyApp"},
	}
	enqueue(t, q, in)
	items := receiveNow(t, q, 10)
	if len(items) != 1 {
		t.Fatalf("received %d items, want 1", len(items))
	}
	it := items[0]
	if it.ReceiveCount != 1 || !it.SentAt.Equal(queueEpoch) || it.MessageID == "" || it.ReceiptHandle == "" {
		t.Errorf("item = %+v, want ReceiveCount 1, SentAt %v and ids set", it, queueEpoch)
	}
	got, err := queue.Decode([]byte(it.Body), it.MessageID)
	if err != nil {
		t.Fatalf("Decode error = %v", err)
	}
	want := in
	want.Attempt, want.EnqueuedAt = 1, queueEpoch
	// Decode gives every message its service id; "a1" is not one, so it
	// is derived from it.
	want.ServiceID = sms.ServiceIDForProducer(want.ID)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode(body) = %+v, want %+v", got, want)
	}

	// Without an id, the dedupe id derives from the message id, which is
	// unique to this queue instance.
	enqueue(t, q, sms.QueuedMessage{Message: sms.Message{To: "+14155552671", Body: "hi"}})
	it = receiveNow(t, q, 1)[0]
	got, err = queue.Decode([]byte(it.Body), it.MessageID)
	if err != nil {
		t.Fatalf("Decode error = %v", err)
	}
	if want := "sqs:" + it.MessageID; got.ID != want {
		t.Errorf("derived ID = %q, want %q", got.ID, want)
	}
	other := newQueue(t, QueueConfig{Capacity: 1})
	enqueue(t, other, msg("x"))
	if o := receiveNow(t, other, 1)[0]; o.MessageID == it.MessageID {
		t.Errorf("two queues gave the same message id %q", o.MessageID)
	}
}

func TestQueueFullIsUnavailable(t *testing.T) {
	q := newQueue(t, QueueConfig{Capacity: 2})
	enqueue(t, q, msg("1"))
	enqueue(t, q, msg("2"))
	err := q.Enqueue(context.Background(), msg("3"))
	var e *sms.Error
	if !errors.As(err, &e) {
		t.Fatalf("Enqueue on a full queue error = %v, want an *sms.Error", err)
	}
	if e.Kind != sms.KindUnavailable {
		t.Errorf("Kind = %v, want %v", e.Kind, sms.KindUnavailable)
	}
	if e.Code != "" || e.Message == "" {
		t.Errorf("Code, Message = %q, %q, want no narrowing code and a message", e.Code, e.Message)
	}
	if got := q.Len(); got != 2 {
		t.Errorf("Len = %d, want 2", got)
	}
	// Messages in flight still count: receiving frees nothing, acking does.
	items := receiveNow(t, q, 1)
	if err := q.Enqueue(context.Background(), msg("3")); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Enqueue with one in flight: kind = %v, want %v", sms.KindOf(err), sms.KindUnavailable)
	}
	if err := q.Ack(items[0].ReceiptHandle); err != nil {
		t.Fatalf("Ack error = %v", err)
	}
	if err := q.Enqueue(context.Background(), msg("3")); err != nil {
		t.Errorf("Enqueue after Ack error = %v, want nil", err)
	}
	// Requeue counts too.
	if err := q.Requeue(context.Background(), msg("1"), 0); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Requeue on a full queue: kind = %v, want %v", sms.KindOf(err), sms.KindUnavailable)
	}
}

func TestQueueEnqueueErrors(t *testing.T) {
	q := newQueue(t, QueueConfig{Capacity: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := sms.KindOf(q.Enqueue(ctx, msg("a"))); got != sms.KindUnavailable {
		t.Errorf("Enqueue with a canceled context: kind = %v, want %v", got, sms.KindUnavailable)
	}
	if got := sms.KindOf(q.Enqueue(context.Background(), sms.QueuedMessage{Message: sms.Message{To: "+14155552671"}})); got != sms.KindInvalid {
		t.Errorf("Enqueue without a body: kind = %v, want %v", got, sms.KindInvalid)
	}
	if got := q.Len(); got != 0 {
		t.Errorf("Len = %d, want 0", got)
	}
}

func TestQueueReceiveOrderAndLimit(t *testing.T) {
	q := newQueue(t, QueueConfig{Capacity: 10})
	for i := range 5 {
		enqueue(t, q, msg(fmt.Sprint(i)))
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{2, []string{"0", "1"}},
		{0, []string{"2"}}, // at least one
		{10, []string{"3", "4"}},
	}
	for _, tt := range tests {
		var got []string
		for _, it := range receiveNow(t, q, tt.limit) {
			m, err := queue.Decode([]byte(it.Body), it.MessageID)
			if err != nil {
				t.Fatalf("Decode error = %v", err)
			}
			got = append(got, m.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Receive(%d) ids = %v, want %v", tt.limit, got, tt.want)
		}
	}
	if got := receiveNow(t, q, 10); got != nil {
		t.Errorf("Receive on a queue with everything in flight = %v, want nil", got)
	}
}

func TestQueueVisibilityTimeout(t *testing.T) {
	clock := conformance.NewClock(queueEpoch)
	q := newQueue(t, QueueConfig{Capacity: 4, VisibilityTimeout: 10 * time.Second, Clock: clock})
	enqueue(t, q, msg("v"))
	first := receiveNow(t, q, 1)[0]

	clock.Advance(9 * time.Second)
	if got := receiveNow(t, q, 1); got != nil {
		t.Fatalf("Receive before the visibility timeout = %v, want nil", got)
	}
	clock.Advance(time.Second)
	again := receiveNow(t, q, 1)
	if len(again) != 1 {
		t.Fatalf("Receive after the visibility timeout got %d items, want 1", len(again))
	}
	if again[0].MessageID != first.MessageID || again[0].ReceiveCount != 2 {
		t.Errorf("redelivery = %+v, want message %s with ReceiveCount 2", again[0], first.MessageID)
	}
	if again[0].ReceiptHandle == first.ReceiptHandle {
		t.Errorf("redelivery reused receipt handle %q", first.ReceiptHandle)
	}
	// The first receipt is stale: it cannot delete the message the second
	// receiver holds.
	if err := q.Ack(first.ReceiptHandle); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("Ack(stale) error = %v, want ErrStaleReceipt", err)
	}
	if err := q.Nack(first.ReceiptHandle, 0); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("Nack(stale) error = %v, want ErrStaleReceipt", err)
	}
	if err := q.Ack(again[0].ReceiptHandle); err != nil {
		t.Errorf("Ack(current) error = %v", err)
	}
	if err := q.Ack(again[0].ReceiptHandle); !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("second Ack error = %v, want ErrStaleReceipt", err)
	}
	if got := q.Len(); got != 0 {
		t.Errorf("Len = %d, want 0", got)
	}
}

func TestQueueNackDelay(t *testing.T) {
	clock := conformance.NewClock(queueEpoch)
	q := newQueue(t, QueueConfig{Capacity: 4, Clock: clock})
	enqueue(t, q, msg("n"))
	enqueue(t, q, msg("m"))
	items := receiveNow(t, q, 2)

	if err := q.Nack(items[0].ReceiptHandle, 5*time.Second); err != nil {
		t.Fatalf("Nack error = %v", err)
	}
	if err := q.ChangeVisibility(context.Background(), items[1].ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility error = %v", err)
	}
	// The one given back at once comes first; the delayed one waits.
	got := receiveNow(t, q, 10)
	if len(got) != 1 || got[0].MessageID != items[1].MessageID || got[0].ReceiveCount != 2 {
		t.Fatalf("Receive after nacks = %+v, want only %s with ReceiveCount 2", got, items[1].MessageID)
	}
	clock.Advance(5 * time.Second)
	got = receiveNow(t, q, 10)
	if len(got) != 1 || got[0].MessageID != items[0].MessageID || got[0].ReceiveCount != 2 {
		t.Fatalf("Receive after the delay = %+v, want %s with ReceiveCount 2", got, items[0].MessageID)
	}
	if got := q.Len(); got != 2 {
		t.Errorf("Len = %d, want 2", got)
	}
	err := q.ChangeVisibility(context.Background(), "no-such-receipt", time.Second)
	if sms.KindOf(err) != sms.KindUnavailable || !errors.Is(err, ErrStaleReceipt) {
		t.Errorf("ChangeVisibility(unknown) = %v, want KindUnavailable wrapping ErrStaleReceipt", err)
	}
}

func TestQueueRequeue(t *testing.T) {
	clock := conformance.NewClock(queueEpoch)
	q := newQueue(t, QueueConfig{Capacity: 4, Clock: clock})
	first := queueEpoch.Add(-time.Minute)
	in := sms.QueuedMessage{Message: sms.Message{ID: "sqs:orig", To: "+14155552671", Body: "hi"}, Attempt: 1, EnqueuedAt: first}
	if err := q.Requeue(context.Background(), in, 3*time.Second); err != nil {
		t.Fatalf("Requeue error = %v", err)
	}
	if got := receiveNow(t, q, 1); got != nil {
		t.Fatalf("Receive before the delay = %v, want nil", got)
	}
	clock.Advance(3 * time.Second)
	items := receiveNow(t, q, 1)
	if len(items) != 1 {
		t.Fatalf("received %d items, want 1", len(items))
	}
	got, err := queue.Decode([]byte(items[0].Body), items[0].MessageID)
	if err != nil {
		t.Fatalf("Decode error = %v", err)
	}
	want := in
	want.Attempt = 2
	want.ServiceID = sms.ServiceIDForProducer(want.ID) // as Decode derives it
	if !got.EnqueuedAt.Equal(first) {
		t.Errorf("EnqueuedAt = %v, want %v", got.EnqueuedAt, first)
	}
	got.EnqueuedAt = want.EnqueuedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requeued = %+v, want %+v", got, want)
	}
	if err := q.Requeue(context.Background(), msg(""), 0); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Requeue without id: kind = %v, want %v", sms.KindOf(err), sms.KindInternal)
	}
}

func TestQueueReceiveBlocks(t *testing.T) {
	q := newQueue(t, QueueConfig{Capacity: 4, VisibilityTimeout: 80 * time.Millisecond})

	// Wakes on Enqueue.
	done := make(chan []Item)
	go func() { done <- q.Receive(context.Background(), 1) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case got := <-done:
		t.Fatalf("Receive returned %v before anything was enqueued", got)
	default:
	}
	enqueue(t, q, msg("b"))
	var it Item
	select {
	case got := <-done:
		it = got[0]
	case <-time.After(2 * time.Second):
		t.Fatal("Receive did not wake up on Enqueue")
	}

	// Wakes when the visibility timeout lapses, with no other event.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got := q.Receive(ctx, 1)
	if len(got) != 1 || got[0].MessageID != it.MessageID || got[0].ReceiveCount != 2 {
		t.Fatalf("Receive after the visibility timeout = %+v, want %s again", got, it.MessageID)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("redelivered after %v, want about the 80ms visibility timeout", waited)
	}

	// Returns nil when ctx ends.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if got := q.Receive(ctx, 1); got != nil {
		t.Errorf("Receive on an empty queue = %v, want nil when ctx ends", got)
	}
}

func TestQueueConcurrent(t *testing.T) {
	const producers, perProducer, consumers = 4, 250, 3
	q := newQueue(t, QueueConfig{Capacity: 64}) // smaller than the total: producers retry when full
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var prod sync.WaitGroup
	var fullErrors sync.Map
	for p := range producers {
		prod.Add(1)
		go func() {
			defer prod.Done()
			for i := range perProducer {
				m := msg(fmt.Sprintf("p%d-%d", p, i))
				for {
					err := q.Enqueue(ctx, m)
					if err == nil {
						break
					}
					if sms.KindOf(err) != sms.KindUnavailable || ctx.Err() != nil {
						t.Errorf("Enqueue error = %v", err)
						return
					}
					fullErrors.Store(p, true)
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}

	var mu sync.Mutex
	seen := map[string]int{}
	var cons sync.WaitGroup
	for range consumers {
		cons.Add(1)
		go func() {
			defer cons.Done()
			for {
				items := q.Receive(ctx, 5)
				if items == nil {
					return
				}
				for _, it := range items {
					m, err := queue.Decode([]byte(it.Body), it.MessageID)
					if err != nil {
						t.Errorf("Decode error = %v", err)
					}
					mu.Lock()
					seen[m.ID]++
					n := len(seen)
					mu.Unlock()
					if err := q.Ack(it.ReceiptHandle); err != nil {
						t.Errorf("Ack error = %v", err)
					}
					if n == producers*perProducer {
						cancel()
					}
				}
			}
		}()
	}
	prod.Wait()
	cons.Wait()

	if got, want := len(seen), producers*perProducer; got != want {
		t.Errorf("distinct messages received = %d, want %d", got, want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %s received %d times, want 1", id, n)
		}
	}
	if got := q.Len(); got != 0 {
		t.Errorf("Len = %d, want 0", got)
	}
	full := 0
	fullErrors.Range(func(any, any) bool { full++; return true })
	if full == 0 {
		t.Errorf("no producer ever saw a full queue; the test did not exercise the bound")
	}
}

func TestNewQueueRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  QueueConfig
	}{
		{"zero capacity", QueueConfig{}},
		{"negative capacity", QueueConfig{Capacity: -1}},
		{"negative visibility", QueueConfig{Capacity: 1, VisibilityTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if q, err := NewQueue(tt.cfg); err == nil || q != nil {
				t.Errorf("NewQueue(%+v) = %v, %v; want an error", tt.cfg, q, err)
			}
		})
	}
}

func BenchmarkMemoryQueueEnqueueReceiveAck(b *testing.B) {
	q := newQueue(b, QueueConfig{Capacity: 1024})
	ctx := context.Background()
	m := msg("5d41402a-bc4b-4a76-b971-9d911017c592")
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Enqueue(ctx, m); err != nil {
			b.Fatal(err)
		}
		items := q.Receive(ctx, 1)
		if err := q.Ack(items[0].ReceiptHandle); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQueueScheduledHeldUntilDue: a scheduled message stays hidden until
// it is due, as queue.SQS delays it, for at most queue.MaxDelay.
func TestQueueScheduledHeldUntilDue(t *testing.T) {
	clock := conformance.NewClock(queueEpoch)
	q := newQueue(t, QueueConfig{Capacity: 4, Clock: clock})
	soon := sms.QueuedMessage{Message: sms.Message{ID: "soon", To: "+14155552671", Body: "hi"}, SendAt: queueEpoch.Add(90 * time.Second)}
	later := sms.QueuedMessage{Message: sms.Message{ID: "later", To: "+14155552671", Body: "hi"}, SendAt: queueEpoch.Add(time.Hour)}
	enqueue(t, q, soon)
	enqueue(t, q, later)
	clock.Advance(90*time.Second - time.Millisecond)
	if got := receiveNow(t, q, 2); got != nil {
		t.Fatalf("Receive before either is due = %v, want nil", got)
	}
	clock.Advance(time.Millisecond)
	got := receiveNow(t, q, 2)
	if len(got) != 1 || !strings.Contains(got[0].Body, `"id":"soon"`) {
		t.Fatalf("Receive when the first is due = %v, want it alone", got)
	}
	if err := q.Ack(got[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	// The one due in an hour comes back after the queue's longest delay,
	// early: the drain puts it back until it is due.
	clock.Advance(queue.MaxDelay - 90*time.Second)
	if got := receiveNow(t, q, 2); len(got) != 1 || !strings.Contains(got[0].Body, `"id":"later"`) {
		t.Fatalf("Receive after queue.MaxDelay = %v, want the later one", got)
	}
}
