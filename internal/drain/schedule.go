package drain

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// ReasonInvalidSendAt is the dead-letter reason of a producer's message
// due more than sms.MaxSendAhead ahead.
const ReasonInvalidSendAt = "invalid_sendAt"

// notDue reports how long m has left until it is due; zero or less when it
// is due, or not scheduled.
func (h *Handler) notDue(m sms.QueuedMessage) time.Duration {
	if m.SendAt.IsZero() {
		return 0
	}
	return m.SendAt.Sub(h.cfg.Clock.Now())
}

// holdUntilDue deals with a scheduled message that reached the drain
// before it is due (the queue holds a message back for at most 15
// minutes, a schedule may fire a little early, a copy may be redelivered):
// a fresh copy goes back on the queue, delayed until it is due (at most
// queue.MaxDelay at a time), with its attempt count unchanged, and the
// record is acknowledged. Waiting for its time is not a failure, so it
// burns no receive count and counts towards no requeue limit; the loop
// ends when the message is due. A message due more than sms.MaxSendAhead
// ahead (only a producer can write one) is dead-lettered.
func (h *Handler) holdUntilDue(ctx context.Context, rec events.SQSMessage, m sms.QueuedMessage, left time.Duration) (sms.Action, bool) {
	if left > sms.MaxSendAhead {
		return h.deadLetter(ctx, rec, m, ReasonInvalidSendAt)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "record not due yet; put back until it is", slog.String("messageId", m.ID),
		slog.Time("sendAt", m.SendAt), slog.Duration("delay", min(left, queue.MaxDelay)))
	if err := h.queue.Enqueue(context.WithoutCancel(ctx), m); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "could not put back a record not due yet", slog.String("messageId", m.ID),
			slog.String("error", err.Error()))
		// SQS redelivers the original after its visibility timeout; the
		// drain looks again then.
		return sms.NotDue, false
	}
	return sms.NotDue, true
}
