package memory

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// recordingQueue records when each message reached it; fails makes the
// first calls fail.
type recordingQueue struct {
	mu    sync.Mutex
	fails int
	got   []sms.QueuedMessage
	at    []time.Time
}

func (q *recordingQueue) Enqueue(_ context.Context, m sms.QueuedMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fails > 0 {
		q.fails--
		return errors.New("queue full")
	}
	q.got = append(q.got, m)
	q.at = append(q.at, time.Now())
	return nil
}

func (q *recordingQueue) snapshot() ([]sms.QueuedMessage, []time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]sms.QueuedMessage(nil), q.got...), append([]time.Time(nil), q.at...)
}

func scheduledAt(id string, at time.Time) sms.QueuedMessage {
	return sms.QueuedMessage{Message: sms.Message{ID: id, To: "+14155552671", Body: "hi"}, Attempt: 1, SendAt: at}
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func TestSchedulerFiresAtTheSecond(t *testing.T) {
	q := &recordingQueue{}
	s := NewScheduler(q, SchedulerConfig{})
	t.Cleanup(s.Close)
	ctx := context.Background()
	sendAt := time.Now().Add(1200 * time.Millisecond)
	m := scheduledAt("a", sendAt)
	if err := s.Schedule(ctx, m); err != nil {
		t.Fatal(err)
	}
	// Scheduling it again (a retried request) holds it once.
	if err := s.Schedule(ctx, m); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
	if !waitFor(4*time.Second, func() bool { got, _ := q.snapshot(); return len(got) > 0 }) {
		t.Fatal("the message never reached the queue")
	}
	time.Sleep(200 * time.Millisecond)
	got, at := q.snapshot()
	if len(got) != 1 || got[0].ID != "a" || !got[0].SendAt.Equal(sendAt) {
		t.Fatalf("queue got %+v, want message a once, due %v", got, sendAt)
	}
	// At the send time rounded up to the second, never before it.
	due := sendAt.Truncate(time.Second).Add(time.Second)
	if at[0].Before(due) {
		t.Errorf("fired at %v, before %v (the send time rounded up to the second)", at[0], due)
	}
	if s.Len() != 0 {
		t.Errorf("Len after firing = %d, want 0 (deleted once fired)", s.Len())
	}
}

func TestSchedulerUnschedule(t *testing.T) {
	q := &recordingQueue{}
	s := NewScheduler(q, SchedulerConfig{})
	t.Cleanup(s.Close)
	ctx := context.Background()
	if err := s.Schedule(ctx, scheduledAt("a", time.Now().Add(300*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	if err := s.Unschedule(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unschedule(ctx, "never-held"); err != nil {
		t.Errorf("Unschedule of a message never held: error = %v, want none", err)
	}
	time.Sleep(1500 * time.Millisecond)
	if got, _ := q.snapshot(); len(got) != 0 {
		t.Errorf("queue got %d messages after Unschedule, want none", len(got))
	}
}

func TestSchedulerRetriesTheQueue(t *testing.T) {
	q := &recordingQueue{fails: 2}
	logs := &lockedBuffer{}
	s := NewScheduler(q, SchedulerConfig{Retry: 10 * time.Millisecond, Tries: 3, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	t.Cleanup(s.Close)
	if err := s.Schedule(context.Background(), scheduledAt("a", time.Now())); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { got, _ := q.snapshot(); return len(got) == 1 }) {
		t.Fatal("the message did not reach the queue on its third try")
	}
	lost := &recordingQueue{fails: 5}
	s2 := NewScheduler(lost, SchedulerConfig{Retry: 10 * time.Millisecond, Tries: 3, Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err := s2.Schedule(context.Background(), scheduledAt("b", time.Now())); err != nil {
		t.Fatal(err)
	}
	if !waitFor(3*time.Second, func() bool { return strings.Contains(logs.String(), "it is lost") }) {
		t.Errorf("no log line for a message the queue refused three times; log:\n%s", logs.String())
	}
	s2.Close()
}

func TestSchedulerRefuses(t *testing.T) {
	s := NewScheduler(&recordingQueue{}, SchedulerConfig{})
	if err := s.Schedule(context.Background(), sms.QueuedMessage{Message: sms.Message{ID: "a"}}); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Schedule without a send time: error = %v, want kind internal", err)
	}
	s.Close()
	if err := s.Schedule(context.Background(), scheduledAt("a", time.Now().Add(time.Hour))); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Schedule after Close: error = %v, want kind unavailable", err)
	}
}

// lockedBuffer is a log destination safe to read while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
