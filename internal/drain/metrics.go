package drain

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/sms"
)

// queueAge records, for a message the provider accepted now, how long ago
// it first entered the queue: the enqueuedAt the send function wrote, or
// else SQS's SentTimestamp of this record (a producer's message).
func queueAge(ctx context.Context, a sms.Action, m sms.QueuedMessage, rec events.SQSMessage) {
	if a != sms.Delivered {
		return
	}
	metrics.Since(ctx, metrics.QueueAge, enqueuedAt(m, rec))
}

// enqueuedAt is when m first entered the queue, as far as is known; zero
// when nothing says.
func enqueuedAt(m sms.QueuedMessage, rec events.SQSMessage) time.Time {
	if !m.EnqueuedAt.IsZero() {
		return m.EnqueuedAt
	}
	ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
