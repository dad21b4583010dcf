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

	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// Deliverer delivers one decoded queue message and says what to do with
// its record (sms.Deliverer).
type Deliverer interface {
	Deliver(ctx context.Context, m sms.QueuedMessage, maxWait, lease time.Duration) sms.Disposition
}

// Queue is what the drain needs of its own queue (queue.SQS).
type Queue interface {
	// Requeue puts a fresh copy of m (same id) back on the queue.
	Requeue(ctx context.Context, m sms.QueuedMessage, delay time.Duration) error
	// Enqueue puts m back on the queue as it is (its attempt count
	// unchanged), held until it is due when it is scheduled.
	Enqueue(ctx context.Context, m sms.QueuedMessage) error
	// ChangeVisibility hides a received record for timeout.
	ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error
}

// DeadLetterer puts a poison record on the dead-letter queue (queue.DLQ).
type DeadLetterer interface {
	DeadLetter(ctx context.Context, rawBody, reason string) error
}

// StatusRecorder records in a message's status record that it was handed
// to the dead-letter queue for reason (sms.Deliverer). m may hold only its
// ids (ID, ServiceID); a record that names no usable id is not reported.
type StatusRecorder interface {
	DeadLettered(ctx context.Context, m sms.QueuedMessage, reason string)
}

// ReasonMaxReceives is the dead-letter reason recorded for a record that
// failed back to SQS on its last receive: SQS moves it to the dead-letter
// queue itself (the queue's redrive policy).
const ReasonMaxReceives = "max_receives"

// DefaultRequeueLimit is how many times a message may go on the queue (its
// first enqueue included) when Config.RequeueLimit is zero.
const DefaultRequeueLimit = 20

// ReasonRequeueLimit is the dead-letter reason of a record deferred once
// more after DefaultRequeueLimit (Config.RequeueLimit) copies.
const ReasonRequeueLimit = "requeue_limit"

// DefaultSendBudget is the time kept free for one provider call and the
// bookkeeping after it when Config.SendBudget is zero: the provider call's
// own timeout (5 s, app.ProviderTimeout) and 3 s to spare.
const DefaultSendBudget = 8 * time.Second

// Config tunes the drain. Zero fields take the defaults.
type Config struct {
	// Workers is how many records of a batch are in flight at once
	// (default 4). Each holds at most one limiter slot.
	Workers int
	// SendBudget is the time kept free before the invocation's deadline
	// for the provider call and the bookkeeping after it (default
	// DefaultSendBudget).
	SendBudget time.Duration
	// BackoffBase and BackoffMax shape the visibility timeout given to a
	// record that failed: BackoffBase * 2^(receives-1), at most BackoffMax
	// (defaults 5s and 15m). A deferred record's fresh copy is delayed the
	// same way by its attempt count, at most SQS's 15 minutes.
	BackoffBase, BackoffMax time.Duration
	// RequeueLimit is how many times a message may go on the queue, its
	// first enqueue included (default DefaultRequeueLimit); a record
	// deferred once more goes to the dead-letter queue with reason
	// ReasonRequeueLimit.
	RequeueLimit int
	// Clock is the time source of the budget when the context has no
	// deadline; nil means sms.SystemClock.
	Clock sms.Clock
	// Status records every hand-off to the dead-letter queue; nil records
	// nothing.
	Status StatusRecorder
	// MaxReceives is the queue's redrive limit (SMS_MAX_RECEIVES): a record
	// received that many times and failed back to SQS goes to the
	// dead-letter queue, which Status records. Zero means unknown.
	MaxReceives int
}

// Handler handles SQS events for the drain function.
type Handler struct {
	deliver Deliverer
	queue   Queue
	dlq     DeadLetterer
	log     *slog.Logger
	cfg     Config
}

// NewHandler returns a Handler that delivers records through deliverer,
// requeues through queue, dead-letters poison to dlq and logs to log (nil
// discards).
func NewHandler(deliverer Deliverer, queue Queue, dlq DeadLetterer, log *slog.Logger, cfg Config) *Handler {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.SendBudget <= 0 {
		cfg.SendBudget = DefaultSendBudget
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 5 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 15 * time.Minute
	}
	if cfg.RequeueLimit <= 0 {
		cfg.RequeueLimit = DefaultRequeueLimit
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{deliver: deliverer, queue: queue, dlq: dlq, log: log, cfg: cfg}
}

// Handle processes a batch and reports the records SQS should redeliver.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		mu       sync.Mutex
		failures []events.SQSBatchItemFailure
		counts   = map[sms.Action]int{}
	)
	jobs := make(chan events.SQSMessage)
	var wg sync.WaitGroup
	workers := min(h.cfg.Workers, len(ev.Records))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				action, ok := h.record(ctx, rec)
				metrics.Inc(ctx, metrics.Records, metrics.Outcome(action.String()))
				mu.Lock()
				counts[action]++
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
	for a, n := range counts {
		attrs = append(attrs, slog.Int(a.String(), n))
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "batch", attrs...)
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// record handles one record and reports what was done with it and whether
// it is done with (false: report it as a batch item failure). A record that
// fails back to SQS on its last receive is moved to the dead-letter queue
// by SQS: its status record says so now.
func (h *Handler) record(ctx context.Context, rec events.SQSMessage) (sms.Action, bool) {
	m, action, ok := h.process(ctx, rec)
	if !ok && h.lastReceive(rec) {
		h.recordDeadLetter(ctx, m, ReasonMaxReceives)
	}
	return action, ok
}

// recordDeadLetter tells the status records that m went to the
// dead-letter queue for reason.
func (h *Handler) recordDeadLetter(ctx context.Context, m sms.QueuedMessage, reason string) {
	if h.cfg.Status != nil && m.ServiceID != "" {
		h.cfg.Status.DeadLettered(ctx, m, reason)
	}
}

// lastReceive reports whether rec has been received as often as the
// queue's redrive policy allows.
func (h *Handler) lastReceive(rec events.SQSMessage) bool {
	receives, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	return h.cfg.MaxReceives > 0 && receives >= h.cfg.MaxReceives
}

// process handles one record; it returns the message as far as it could be
// decoded, what was done with it, and whether it is done with.
func (h *Handler) process(ctx context.Context, rec events.SQSMessage) (sms.QueuedMessage, sms.Action, bool) {
	m, err := queue.Decode([]byte(rec.Body), rec.MessageId)
	if m.EnqueuedAt.IsZero() {
		// A producer's message (or a poison one): it entered the queue
		// when SQS took it.
		m.EnqueuedAt = sentTimestamp(rec)
	}
	if err != nil {
		reason, _ := queue.PoisonReason(err)
		if reason == "" {
			reason = "undecodable"
		}
		action, ok := h.deadLetter(ctx, rec, m, reason)
		return m, action, ok
	}
	action, ok := h.handOver(ctx, rec, m)
	return m, action, ok
}

// handOver hands a decoded message to the Deliverer (or holds it until it
// is due) and acts on its disposition.
func (h *Handler) handOver(ctx context.Context, rec events.SQSMessage, m sms.QueuedMessage) (sms.Action, bool) {
	if left := h.notDue(m); left > 0 {
		return h.holdUntilDue(ctx, rec, m, left)
	}
	maxWait, lease := h.budget(ctx)
	if maxWait < 0 {
		// Too little of the invocation left to wait for a slot.
		return h.deferRecord(ctx, rec, m, sms.Disposition{Action: sms.Deferred})
	}
	d := h.deliver.Deliver(ctx, m, maxWait, lease)
	queueAge(ctx, d.Action, m, rec)
	switch d.Action {
	case sms.Delivered, sms.Duplicate, sms.Dropped, sms.Canceled, sms.Expired:
		return d.Action, true
	case sms.Deferred, sms.HeldElsewhere:
		// Nothing is wrong with the message (no slot, the limiter or the
		// ledger unreachable, another worker's claim), so a fresh copy
		// waits instead of burning receive counts towards the DLQ. A held
		// copy is skipped as a duplicate if the other worker sends it, and
		// sent once its lease lapses if that worker died.
		return h.deferRecord(ctx, rec, m, d)
	case sms.Poison:
		return h.deadLetter(ctx, rec, m, d.PoisonReason)
	}
	// Retry: back off through the visibility timeout, then let SQS
	// redeliver (and dead-letter after the redrive limit).
	receives, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	wait := h.backoff(receives)
	if verr := h.queue.ChangeVisibility(context.WithoutCancel(ctx), rec.ReceiptHandle, wait); verr != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "could not set retry backoff", slog.String("messageId", m.ID), slog.String("error", verr.Error()))
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "record will be retried", slog.String("messageId", m.ID),
		slog.String("kind", d.Kind.String()), slog.Int("receives", receives), slog.Duration("backoff", wait))
	return sms.Retry, false
}

// budget is how long a record may wait for a slot, and the claim lease
// covering that wait plus the send.
func (h *Handler) budget(ctx context.Context) (maxWait, lease time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = h.cfg.Clock.Now().Add(time.Minute)
	}
	left := deadline.Sub(h.cfg.Clock.Now())
	return left - h.cfg.SendBudget, left + h.cfg.SendBudget
}

// deferRecord puts a fresh copy of m back on the queue, visible after a
// delay that grows with its attempt count, or dead-letters the record with
// ReasonRequeueLimit once it has gone on the queue RequeueLimit times. The
// attempt count only grows from copy to copy, so this bounds the loop
// through the drain's own queue.
func (h *Handler) deferRecord(ctx context.Context, rec events.SQSMessage, m sms.QueuedMessage, d sms.Disposition) (sms.Action, bool) {
	if m.Attempt >= h.cfg.RequeueLimit {
		h.log.LogAttrs(ctx, slog.LevelError, "record deferred too many times; dead-lettering",
			slog.String("event", ReasonRequeueLimit), slog.String("messageId", m.ID), slog.String("outcome", d.Action.String()),
			slog.String("kind", d.Kind.String()), slog.Int("attempt", m.Attempt))
		return h.deadLetter(ctx, rec, m, ReasonRequeueLimit)
	}
	delay := min(h.backoff(m.Attempt), queue.MaxDelay)
	h.log.LogAttrs(ctx, slog.LevelInfo, "record deferred", slog.String("messageId", m.ID), slog.String("outcome", d.Action.String()),
		slog.String("kind", d.Kind.String()), slog.Int("attempt", m.Attempt), slog.Duration("delay", delay))
	return h.requeue(ctx, m, delay, d.Action)
}

// requeue puts a fresh copy of m back on the queue, visible after delay,
// and reports action and whether the record is done with (false when the
// copy could not be sent: SQS redelivers the original).
func (h *Handler) requeue(ctx context.Context, m sms.QueuedMessage, delay time.Duration, action sms.Action) (sms.Action, bool) {
	if err := h.queue.Requeue(context.WithoutCancel(ctx), m, delay); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "could not requeue record", slog.String("messageId", m.ID),
			slog.String("outcome", action.String()), slog.String("error", err.Error()))
		return action, false
	}
	return action, true
}

// deadLetter puts a record that cannot or may no longer be processed on the
// dead-letter queue with reason, and records that in the status record of
// m (as far as it was decoded).
func (h *Handler) deadLetter(ctx context.Context, rec events.SQSMessage, m sms.QueuedMessage, reason string) (sms.Action, bool) {
	if err := h.dlq.DeadLetter(context.WithoutCancel(ctx), rec.Body, reason); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "could not dead-letter record", slog.String("sqsMessageId", rec.MessageId),
			slog.String("reason", reason), slog.String("error", err.Error()))
		return sms.Poison, false
	}
	event := "poison"
	if reason == ReasonRequeueLimit {
		event = "dead_lettered"
	}
	metrics.Inc(ctx, metrics.DeadLettered, metrics.Outcome(reason))
	h.log.LogAttrs(ctx, slog.LevelWarn, "record dead-lettered", slog.String("event", event),
		slog.String("sqsMessageId", rec.MessageId), slog.String("reason", reason))
	h.recordDeadLetter(ctx, m, reason)
	return sms.Poison, true
}

// sentTimestamp is when SQS took rec (its SentTimestamp attribute, epoch
// milliseconds); zero when unknown.
func sentTimestamp(rec events.SQSMessage) time.Time {
	ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// backoff is the visibility timeout before the next try of a record
// received `receives` times, and the delay of a deferred record's copy
// number `receives`.
func (h *Handler) backoff(receives int) time.Duration {
	d := h.cfg.BackoffBase
	for i := 1; i < receives && d < h.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, h.cfg.BackoffMax)
}
