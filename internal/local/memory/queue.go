package memory

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// DefaultVisibilityTimeout is how long a received message stays hidden
// when QueueConfig.VisibilityTimeout is zero (the SQS default).
const DefaultVisibilityTimeout = 30 * time.Second

// ErrStaleReceipt is returned by Ack and Nack for a receipt handle that is
// not the current one of a message in flight: the message was acked,
// nacked, or received again after its visibility timeout lapsed.
var ErrStaleReceipt = errors.New("memory: queue: receipt handle is not current")

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Capacity is the most messages the queue holds, in flight and
	// delayed ones included; it must be positive.
	Capacity int
	// VisibilityTimeout is how long a received message stays hidden
	// before it is delivered again unless acked (zero means
	// DefaultVisibilityTimeout).
	VisibilityTimeout time.Duration
	// Clock is the time source of enqueue times and visibility deadlines;
	// nil means sms.SystemClock. Receive waits on real timers.
	Clock sms.Clock
}

// Item is one message handed out by Receive, with what SQS would report
// for it.
type Item struct {
	// MessageID identifies the message for as long as it is on the queue
	// (the SQS message id): Decode derives the dedupe id from it when the
	// body carries none.
	MessageID string
	// ReceiptHandle identifies this receive; Ack and Nack take it.
	ReceiptHandle string
	// Body is the queue message as queue.Encode wrote it.
	Body string
	// ReceiveCount is how many times the message has been received, this
	// time included (SQS's ApproximateReceiveCount).
	ReceiveCount int
	// SentAt is when the message was put on the queue.
	SentAt time.Time
}

// Queue is a bounded in-process message queue for local runs, with SQS's
// delivery model: a received message is hidden for the visibility timeout
// and comes back unless acked; Nack hides it for a chosen delay instead.
// It implements sms.Queue; when it is full, Enqueue fails with
// KindUnavailable, as an unreachable SQS does, so that the send path
// answers 503 (docs/local.md). Bodies are encoded with queue.Encode so that
// consumers decode them with queue.Decode, as the drain does in AWS. It is
// safe for concurrent use.
type Queue struct {
	capacity   int
	visibility time.Duration
	clock      sms.Clock
	idPrefix   string

	mu       sync.Mutex
	ready    []*queued          // visible, in arrival order
	hidden   queuedHeap         // in flight or delayed, by visibleAt
	inFlight map[string]*queued // by current receipt handle
	changed  chan struct{}      // closed and replaced on every change
	seq      uint64
}

// queued is a message on the queue.
type queued struct {
	id        string
	body      string
	sentAt    time.Time
	receives  int
	visibleAt time.Time
	receipt   string // current receipt handle while in flight
	index     int    // position in hidden; -1 when not there
}

// NewQueue returns an empty queue configured by cfg. It fails when
// cfg.Capacity is not positive or cfg.VisibilityTimeout is negative.
func NewQueue(cfg QueueConfig) (*Queue, error) {
	if cfg.Capacity <= 0 {
		return nil, fmt.Errorf("memory: new queue: capacity %d is not positive", cfg.Capacity)
	}
	if cfg.VisibilityTimeout < 0 {
		return nil, fmt.Errorf("memory: new queue: visibility timeout %v is negative", cfg.VisibilityTimeout)
	}
	if cfg.VisibilityTimeout == 0 {
		cfg.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &Queue{
		capacity:   cfg.Capacity,
		visibility: cfg.VisibilityTimeout,
		clock:      cfg.Clock,
		idPrefix:   randomPrefix(),
		inFlight:   make(map[string]*queued),
		changed:    make(chan struct{}),
	}, nil
}

// Enqueue puts m on the queue, encoded with queue.Encode and stamped with
// queue.Stamp, as queue.SQS does; a scheduled message stays hidden until
// it is due, for at most queue.MaxDelay (queue.Hold). A full queue or a done ctx gives a
// KindUnavailable *sms.Error; a message that cannot be encoded gives
// Encode's error.
func (q *Queue) Enqueue(ctx context.Context, m sms.QueuedMessage) error {
	return q.put(ctx, "enqueue", queue.Stamp(m, q.clock.Now()), 0)
}

// Requeue puts a fresh copy of a received message back on the queue,
// visible after delay (at most queue.MaxDelay), with the semantics of
// queue.SQS.Requeue: the copy is queue.Requeued(m), with a new message id
// and receive count. m.ID must be set.
func (q *Queue) Requeue(ctx context.Context, m sms.QueuedMessage, delay time.Duration) error {
	m, err := queue.Requeued(m, q.clock.Now())
	if err != nil {
		return err
	}
	return q.put(ctx, "requeue", m, delay)
}

func (q *Queue) put(ctx context.Context, op string, m sms.QueuedMessage, delay time.Duration) error {
	if err := ctx.Err(); err != nil {
		return queueUnavailable(fmt.Errorf("memory: queue %s: %w", op, err))
	}
	body, err := queue.Encode(m)
	if err != nil {
		return err
	}
	now := q.clock.Now()
	delay = queue.Hold(m, now, delay)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lenLocked() >= q.capacity {
		return queueUnavailable(fmt.Errorf("memory: queue %s: the queue is full (capacity %d)", op, q.capacity))
	}
	q.seq++
	msg := &queued{id: q.idPrefix + strconv.FormatUint(q.seq, 10), body: string(body), sentAt: now, index: -1}
	if delay > 0 {
		msg.visibleAt = now.Add(delay)
		heap.Push(&q.hidden, msg)
	} else {
		q.ready = append(q.ready, msg)
	}
	q.notifyLocked()
	return nil
}

// Receive returns up to limit visible messages (at least 1), oldest
// first, hiding each for the visibility timeout. It blocks until at least
// one message is visible or ctx is done; then it returns nil.
func (q *Queue) Receive(ctx context.Context, limit int) []Item {
	limit = max(limit, 1)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		q.mu.Lock()
		now := q.clock.Now()
		q.promoteLocked(now)
		if len(q.ready) > 0 {
			items := q.takeLocked(now, limit)
			q.mu.Unlock()
			return items
		}
		var wake <-chan time.Time
		if len(q.hidden) > 0 {
			d := q.hidden[0].visibleAt.Sub(now)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			wake = timer.C
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-wake:
		}
	}
}

// Ack removes the message received with receiptHandle. It returns
// ErrStaleReceipt when that receive is no longer current.
func (q *Queue) Ack(receiptHandle string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	msg, ok := q.inFlight[receiptHandle]
	if !ok {
		return fmt.Errorf("memory: queue ack: %w", ErrStaleReceipt)
	}
	delete(q.inFlight, receiptHandle)
	heap.Remove(&q.hidden, msg.index)
	q.notifyLocked()
	return nil
}

// Nack gives back the message received with receiptHandle: it becomes
// visible again after delay (at once when delay <= 0) and keeps its
// receive count. It returns ErrStaleReceipt when that receive is no longer
// current.
func (q *Queue) Nack(receiptHandle string, delay time.Duration) error {
	now := q.clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	msg, ok := q.inFlight[receiptHandle]
	if !ok {
		return fmt.Errorf("memory: queue nack: %w", ErrStaleReceipt)
	}
	delete(q.inFlight, receiptHandle)
	msg.receipt = ""
	msg.visibleAt = now.Add(max(delay, 0))
	heap.Fix(&q.hidden, msg.index)
	q.notifyLocked()
	return nil
}

// ChangeVisibility is Nack with the signature of queue.SQS.ChangeVisibility
// (the drain's backoff): timeout is capped at queue.MaxVisibilityTimeout,
// and failures are KindUnavailable *sms.Error values.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return queueUnavailable(fmt.Errorf("memory: queue change visibility: %w", err))
	}
	if err := q.Nack(receiptHandle, min(timeout, queue.MaxVisibilityTimeout)); err != nil {
		return queueUnavailable(err)
	}
	return nil
}

// Len reports how many messages the queue holds: visible, in flight and
// delayed. Enqueue fails once it reaches the capacity.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked()
}

func (q *Queue) lenLocked() int { return len(q.ready) + len(q.hidden) }

// promoteLocked moves every hidden message whose time has come to the
// ready list; an expired receive's handle stops being current.
func (q *Queue) promoteLocked(now time.Time) {
	for len(q.hidden) > 0 && !q.hidden[0].visibleAt.After(now) {
		msg := heap.Pop(&q.hidden).(*queued)
		if msg.receipt != "" {
			delete(q.inFlight, msg.receipt)
			msg.receipt = ""
		}
		q.ready = append(q.ready, msg)
	}
}

// takeLocked hands out up to limit ready messages.
func (q *Queue) takeLocked(now time.Time, limit int) []Item {
	n := min(limit, len(q.ready))
	items := make([]Item, n)
	for i, msg := range q.ready[:n] {
		q.seq++
		msg.receives++
		msg.receipt = msg.id + "#" + strconv.FormatUint(q.seq, 10)
		msg.visibleAt = now.Add(q.visibility)
		q.inFlight[msg.receipt] = msg
		heap.Push(&q.hidden, msg)
		items[i] = Item{MessageID: msg.id, ReceiptHandle: msg.receipt, Body: msg.body, ReceiveCount: msg.receives, SentAt: msg.sentAt}
	}
	clear(q.ready[:n])
	q.ready = q.ready[n:]
	if len(q.ready) == 0 {
		q.ready = nil // let the backing array go
	}
	return items
}

// notifyLocked wakes every blocked Receive.
func (q *Queue) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func queueUnavailable(err error) error {
	return sms.E(sms.KindUnavailable, "the message queue is unavailable", sms.Cause(err))
}

// randomPrefix makes message ids unique across processes, like SQS's, so
// that ids derived from them for deduplication ("sqs:" + message id) never
// repeat when the ledger outlives the process.
func randomPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "local-" + hex.EncodeToString(b[:]) + "-"
}

// queuedHeap orders hidden messages by the time they become visible.
type queuedHeap []*queued

func (h queuedHeap) Len() int           { return len(h) }
func (h queuedHeap) Less(i, j int) bool { return h[i].visibleAt.Before(h[j].visibleAt) }
func (h queuedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

// Push implements heap.Interface.
func (h *queuedHeap) Push(x any) {
	msg := x.(*queued)
	msg.index = len(*h)
	*h = append(*h, msg)
}

// Pop implements heap.Interface.
func (h *queuedHeap) Pop() any {
	old := *h
	msg := old[len(old)-1]
	old[len(old)-1] = nil
	msg.index = -1
	*h = old[:len(old)-1]
	return msg
}
