// Package drain is the drain function's handler: it turns a batch of SQS
// records into deliveries through the shared limiter and reports partial
// batch failures, so one bad record never fails the whole batch. It is
// shared by functions/drain, the local runner and the tests.
package drain

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// Deliverer delivers one decoded queue message (sms.Deliverer).
type Deliverer interface {
	Deliver(ctx context.Context, m sms.QueuedMessage, maxWait, lease time.Duration) (sms.Disposition, error)
}

// Queue is what the drain needs of its own queue (queue.SQS).
type Queue interface {
	// Requeue puts a fresh copy of m (same id) back on the queue.
	Requeue(ctx context.Context, m sms.QueuedMessage, delay time.Duration) error
	// ChangeVisibility hides a received record for timeout.
	ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error
}

// DeadLetterer puts a poison record on the dead-letter queue (queue.DLQ).
type DeadLetterer interface {
	DeadLetter(ctx context.Context, rawBody, reason string) error
}

// Config tunes the drain.
type Config struct {
	// Workers is how many records of a batch are in flight at once
	// (default 4). Each holds at most one limiter slot.
	Workers int
	// SendBudget is the time kept free before the invocation's deadline
	// for the provider call and the bookkeeping after it (default 8s).
	SendBudget time.Duration
	// BackoffBase and BackoffMax shape the visibility timeout given to a
	// record that failed: BackoffBase * 2^(receives-1), at most BackoffMax
	// (defaults 5s and 15m).
	BackoffBase, BackoffMax time.Duration
}

// Handler handles SQS events for the drain function.
type Handler struct {
	deliver Deliverer
	queue   Queue
	dlq     DeadLetterer
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
}

// NewHandler returns a Handler. now may be nil (time.Now).
func NewHandler(d Deliverer, q Queue, dlq DeadLetterer, cfg Config, log *slog.Logger, now func() time.Time) *Handler {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.SendBudget <= 0 {
		cfg.SendBudget = 8 * time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 5 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 15 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Handler{deliver: d, queue: q, dlq: dlq, cfg: cfg, log: log, now: now}
}

// Handle processes a batch and reports the records SQS should redeliver.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		mu       sync.Mutex
		failures []events.SQSBatchItemFailure
		counts   = map[string]int{}
	)
	jobs := make(chan events.SQSMessage)
	var wg sync.WaitGroup
	workers := min(h.cfg.Workers, len(ev.Records))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				outcome, ok := h.record(ctx, rec)
				mu.Lock()
				counts[outcome]++
				if !ok {
					failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				}
				mu.Unlock()
			}
		}()
	}
	for _, rec := range ev.Records {
		jobs <- rec
	}
	close(jobs)
	wg.Wait()
	attrs := []slog.Attr{slog.Int("records", len(ev.Records)), slog.Int("failures", len(failures))}
	for k, v := range counts {
		attrs = append(attrs, slog.Int(k, v))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "batch", attrs...)
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// record handles one record and reports its outcome name and whether it
// is done with (false: report it as a batch item failure).
func (h *Handler) record(ctx context.Context, rec events.SQSMessage) (string, bool) {
	m, err := queue.Decode([]byte(rec.Body), rec.MessageId)
	if err != nil {
		reason, _ := queue.PoisonReason(err)
		if reason == "" {
			reason = "undecodable"
		}
		return h.deadLetter(ctx, rec, reason)
	}
	maxWait, lease := h.budget(ctx)
	if maxWait < 0 {
		return h.requeue(ctx, m)
	}
	disp, err := h.deliver.Deliver(ctx, m, maxWait, lease)
	switch disp {
	case sms.Delivered, sms.Duplicate, sms.Dropped:
		return disp.String(), true
	case sms.Deferred:
		return h.requeue(ctx, m)
	case sms.Poison:
		reason := "duplicate_id" // another message already used this id
		if sms.KindOf(err) == sms.KindForbidden {
			reason = "sender_not_allowed"
		}
		return h.deadLetter(ctx, rec, reason)
	}
	if sms.KindOf(err) == sms.KindConflict {
		// Another worker holds the id (a duplicate delivery, or a claim
		// whose worker died): nothing is wrong with the message, so a fresh
		// copy waits for that claim instead of burning receive counts
		// towards the DLQ. If the other worker sends it, the copy is
		// skipped as a duplicate; if it died, the copy is sent once its
		// lease lapses.
		return h.requeueAfter(ctx, m, h.backoff(m.Attempt), "held")
	}
	// Retry: back off through the visibility timeout, then let SQS
	// redeliver (and dead-letter after the redrive limit).
	receives, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	wait := h.backoff(receives)
	if verr := h.queue.ChangeVisibility(context.WithoutCancel(ctx), rec.ReceiptHandle, wait); verr != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "could not set retry backoff", slog.String("messageId", m.ID), slog.String("error", verr.Error()))
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "record will be retried", slog.String("messageId", m.ID),
		slog.String("kind", sms.KindOf(err).String()), slog.Int("receives", receives), slog.Duration("backoff", wait))
	return "retry", false
}

// budget is how long a record may wait for a slot, and the claim lease
// covering that wait plus the send.
func (h *Handler) budget(ctx context.Context) (maxWait, lease time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = h.now().Add(time.Minute)
	}
	left := deadline.Sub(h.now())
	return left - h.cfg.SendBudget, left + h.cfg.SendBudget
}

// requeue re-enqueues a record that could not get a slot in time as a fresh
// copy, so that a healthy message never burns receive counts towards the
// DLQ while the drain is merely busy.
func (h *Handler) requeue(ctx context.Context, m sms.QueuedMessage) (string, bool) {
	return h.requeueAfter(ctx, m, 0, "deferred")
}

// requeueAfter puts a fresh copy of m back on the queue, visible after
// delay, and reports the outcome name and whether the record is done with
// (false when the copy could not be sent: SQS redelivers the original).
func (h *Handler) requeueAfter(ctx context.Context, m sms.QueuedMessage, delay time.Duration, outcome string) (string, bool) {
	if err := h.queue.Requeue(context.WithoutCancel(ctx), m, delay); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "could not requeue record", slog.String("messageId", m.ID),
			slog.String("outcome", outcome), slog.String("error", err.Error()))
		return outcome, false
	}
	return outcome, true
}

func (h *Handler) deadLetter(ctx context.Context, rec events.SQSMessage, reason string) (string, bool) {
	if err := h.dlq.DeadLetter(context.WithoutCancel(ctx), rec.Body, reason); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "could not dead-letter poison record", slog.String("sqsMessageId", rec.MessageId), slog.String("error", err.Error()))
		return "poison", false
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "poison record dead-lettered", slog.String("event", "poison"),
		slog.String("sqsMessageId", rec.MessageId), slog.String("reason", reason))
	return "poison", true
}

// backoff is the visibility timeout before the next try of a record
// received `receives` times.
func (h *Handler) backoff(receives int) time.Duration {
	d := h.cfg.BackoffBase
	for i := 1; i < receives && d < h.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, h.cfg.BackoffMax)
}
