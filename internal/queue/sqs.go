package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/sms"
)

// PoisonReasonAttribute is the SQS message attribute (type String) that
// carries the PoisonError reason on a dead-lettered message.
const PoisonReasonAttribute = "fluxkit-poison-reason"

// Limits SQS puts on delays and visibility timeouts.
const (
	MaxDelay             = 15 * time.Minute
	MaxVisibilityTimeout = 12 * time.Hour
)

// Sender is the part of the SQS API that puts messages on a queue.
// *sqs.Client implements it.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// API is the part of the SQS API that SQS uses. *sqs.Client implements it.
type API interface {
	Sender
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQS is the message queue of the asynchronous path. It implements
// sms.Queue.
type SQS struct {
	api   API
	url   string
	clock sms.Clock
}

// Config holds the options of an SQS queue.
type Config struct {
	// Clock gives the enqueue time of messages without one; nil means
	// sms.SystemClock.
	Clock sms.Clock
}

// NewSQS returns the queue at queueURL, reached through api.
func NewSQS(api API, queueURL string, cfg Config) *SQS {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &SQS{api: api, url: queueURL, clock: cfg.Clock}
}

// Enqueue puts m on the queue as a v1 envelope, stamped as Stamp does; a
// scheduled message is delayed until it is due, for at most MaxDelay (see
// Hold). Failing to reach SQS is a KindUnavailable *sms.Error: the caller
// answers 503 and claims nothing.
func (q *SQS) Enqueue(ctx context.Context, m sms.QueuedMessage) error {
	return q.send(ctx, Stamp(m, q.clock.Now()), 0)
}

// Hold is how long a copy of m put on a queue at now stays invisible:
// delay, or until m is due when that is later (a scheduled message), at
// most MaxDelay. A scheduled message due later than that reaches the
// drain early, which puts it back until it is due.
func Hold(m sms.QueuedMessage, now time.Time, delay time.Duration) time.Duration {
	if until := m.SendAt.Sub(now); !m.SendAt.IsZero() && until > delay {
		delay = until
	}
	return min(max(delay, 0), MaxDelay)
}

// Stamp returns m as it first goes on a queue: a zero Attempt becomes 1 and
// a zero EnqueuedAt becomes now.
func Stamp(m sms.QueuedMessage, now time.Time) sms.QueuedMessage {
	if m.Attempt == 0 {
		m.Attempt = 1
	}
	if m.EnqueuedAt.IsZero() {
		m.EnqueuedAt = now
	}
	return m
}

// Requeued returns the fresh copy of a message taken from a queue that
// Requeue puts back: the same id and EnqueuedAt (now when it has none), and
// Attempt incremented (from 1 when it has none). The attempt count is the
// only thing that survives requeues, so a consumer can bound them. m.ID
// must be set: a KindInternal *sms.Error says it is not.
func Requeued(m sms.QueuedMessage, now time.Time) (sms.QueuedMessage, error) {
	if m.ID == "" {
		return m, sms.E(sms.KindInternal, "internal error", sms.Cause(errors.New("queue: requeue: the message has no id")))
	}
	m.Attempt = max(m.Attempt, 1) + 1
	if m.EnqueuedAt.IsZero() {
		m.EnqueuedAt = now
	}
	return m, nil
}

// Requeue puts a fresh copy of a message already taken from the queue
// back on it, visible after delay (rounded up to whole seconds, at most
// MaxDelay; a scheduled message not yet due stays hidden until it is, see
// Hold). The drain uses it when it runs out of time before a slot is
// free: the copy starts with a new SQS receive count, so the redrive
// policy does not count this as a failure. The copy is Requeued(m): it
// keeps the id (a derived "sqs:…" id included, so deduplication still
// holds). m.ID must be set.
func (q *SQS) Requeue(ctx context.Context, m sms.QueuedMessage, delay time.Duration) error {
	m, err := Requeued(m, q.clock.Now())
	if err != nil {
		return err
	}
	return q.send(ctx, m, delay)
}

// send puts m on the queue, visible after delay, or later when m is due
// later (Hold); the delay is rounded up to whole seconds, so that a
// scheduled message never arrives before it is due.
func (q *SQS) send(ctx context.Context, m sms.QueuedMessage, delay time.Duration) error {
	body, err := Encode(m)
	if err != nil {
		return err
	}
	_, err = q.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(q.url),
		MessageBody:  aws.String(string(body)),
		DelaySeconds: delaySeconds(Hold(m, q.clock.Now(), delay)),
	})
	if err != nil {
		return unavailable(fmt.Errorf("queue: send message: %w", err))
	}
	return nil
}

// ChangeVisibility hides the received message identified by receiptHandle
// for timeout (rounded up to whole seconds, at most MaxVisibilityTimeout;
// 0 makes it visible at once). The drain uses it to back off before SQS
// redelivers a message that failed transiently. Failures are
// KindUnavailable *sms.Error values.
func (q *SQS) ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error {
	_, err := q.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.url),
		ReceiptHandle:     aws.String(receiptHandle),
		VisibilityTimeout: ceilSeconds(timeout, MaxVisibilityTimeout),
	})
	if err != nil {
		return unavailable(fmt.Errorf("queue: change message visibility: %w", err))
	}
	return nil
}

// DLQ is the dead-letter queue that poison messages go to.
type DLQ struct {
	api Sender
	url string
}

// NewDLQ returns the dead-letter queue at dlqURL, reached through api.
func NewDLQ(api Sender, dlqURL string) *DLQ {
	return &DLQ{api: api, url: dlqURL}
}

// DeadLetter puts rawBody, the poison message's original body unchanged,
// on the dead-letter queue with the attribute PoisonReasonAttribute set to
// reason (a PoisonError reason). Failures are KindUnavailable *sms.Error
// values; the caller then leaves the message on its queue.
func (d *DLQ) DeadLetter(ctx context.Context, rawBody, reason string) error {
	if reason == "" {
		reason = ReasonInvalidMessage
	}
	_, err := d.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(d.url),
		MessageBody: aws.String(rawBody),
		MessageAttributes: map[string]types.MessageAttributeValue{
			PoisonReasonAttribute: {DataType: aws.String("String"), StringValue: aws.String(reason)},
		},
	})
	if err != nil {
		return unavailable(fmt.Errorf("queue: dead-letter message: %w", err))
	}
	return nil
}

func unavailable(err error) error {
	return sms.E(sms.KindUnavailable, "the message queue is unavailable", sms.Cause(err))
}

// delaySeconds converts d to an SQS DelaySeconds value.
func delaySeconds(d time.Duration) int32 { return ceilSeconds(d, MaxDelay) }

// ceilSeconds rounds d up to whole seconds within [0, limit].
func ceilSeconds(d, limit time.Duration) int32 {
	switch {
	case d <= 0:
		return 0
	case d >= limit:
		return int32(limit / time.Second)
	}
	return int32((d + time.Second - 1) / time.Second)
}
