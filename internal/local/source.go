package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/local/memory"
)

// DefaultMaxReceives is the redrive limit of the in-memory queue: the
// template's MaxReceiveCount default.
const DefaultMaxReceives = 10

// memoryQueueARN names the in-memory queue in the records the drain sees.
const memoryQueueARN = "arn:aws:sqs:local:000000000000:fluxkit-local"

// MemorySource lets the event source mapping poller (package esm) read a
// memory.Queue as it reads SQS: it turns queue items into SQS records with
// the attributes Lambda passes on, and applies the redrive policy SQS
// would apply: a message received more than maxReceives times goes to the
// dead-letter list instead of the handler.
type MemorySource struct {
	q           *memory.Queue
	dlq         *DeadLetters
	maxReceives int
}

// NewMemorySource returns a source over q that dead-letters to dlq after
// maxReceives receives (DefaultMaxReceives when not positive).
func NewMemorySource(q *memory.Queue, dlq *DeadLetters, maxReceives int) *MemorySource {
	if maxReceives <= 0 {
		maxReceives = DefaultMaxReceives
	}
	return &MemorySource{q: q, dlq: dlq, maxReceives: maxReceives}
}

// Receive waits until messages are visible or ctx is done and returns up
// to max of them as SQS records. It returns no records, and no error, when
// every message it received went to the dead-letter list.
func (s *MemorySource) Receive(ctx context.Context, max int) ([]events.SQSMessage, error) {
	items := s.q.Receive(ctx, max)
	if items == nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("local: receive: %w", err)
		}
		return nil, nil
	}
	recs := make([]events.SQSMessage, 0, len(items))
	for _, it := range items {
		if it.ReceiveCount > s.maxReceives {
			if err := s.dlq.DeadLetter(context.WithoutCancel(ctx), it.Body, ReasonMaxReceives); err != nil {
				return recs, err
			}
			if err := s.q.Ack(it.ReceiptHandle); err != nil {
				return recs, fmt.Errorf("local: redrive: %w", err)
			}
			continue
		}
		sum := md5.Sum([]byte(it.Body))
		recs = append(recs, events.SQSMessage{
			MessageId:     it.MessageID,
			ReceiptHandle: it.ReceiptHandle,
			Body:          it.Body,
			Md5OfBody:     hex.EncodeToString(sum[:]),
			Attributes: map[string]string{
				"ApproximateReceiveCount": strconv.Itoa(it.ReceiveCount),
				"SentTimestamp":           strconv.FormatInt(it.SentAt.UnixMilli(), 10),
				"SenderId":                "local",
			},
			EventSource:    "aws:sqs",
			EventSourceARN: memoryQueueARN,
			AWSRegion:      "local",
		})
	}
	return recs, nil
}

// Delete acknowledges processed records. A receipt handle that is no longer
// current (its visibility timeout lapsed and the message went out again)
// is ignored, as SQS ignores it.
func (s *MemorySource) Delete(_ context.Context, recs []events.SQSMessage) error {
	var errs []error
	for _, r := range recs {
		if err := s.q.Ack(r.ReceiptHandle); err != nil && !errors.Is(err, memory.ErrStaleReceipt) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("local: delete: %w", err)
	}
	return nil
}
