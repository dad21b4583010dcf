package sms

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
)

// accept carries out a message that passed validation and the guard:
// scheduled for its send time when the request has one, sent (or queued)
// now otherwise.
func (s *Sender) accept(ctx context.Context, m Message, r SendRequest) (Result, error) {
	if r.SendAt.IsZero() {
		return s.send(ctx, m, r)
	}
	return s.schedule(ctx, m, r)
}

// schedule accepts m for r.SendAt (docs/scheduling.md): it gets a service
// id, goes on the queue delayed until it is due when that is at most
// MaxQueueDelay ahead, or to the Scheduler otherwise, and its status
// record says scheduled. Nothing is sent now, and no slot is taken. The
// send time is checked here, after an idempotency key was claimed, so that
// a retry with the key replays the first answer however late it comes.
func (s *Sender) schedule(ctx context.Context, m Message, r SendRequest) (Result, error) {
	now := s.d.clock.Now()
	if err := CheckSendAt(r.SendAt, now); err != nil {
		return Result{}, err
	}
	ahead := r.SendAt.Sub(now)
	switch {
	case s.queue == nil:
		return Result{}, InvalidField(fieldSendAt, "cannot be used: this deployment has no queue to hold scheduled messages")
	case ahead > MaxQueueDelay && s.cfg.Scheduler == nil:
		return Result{}, InvalidField(fieldSendAt, "must be at most 15 minutes ahead: this deployment has no scheduler for later send times")
	}
	// The id the quotas counted the message under, if they did.
	id := m.ID
	if id == "" {
		id = s.cfg.NewID()
	}
	m.ID = id
	if s.cfg.Status != nil {
		m.ServiceID = id
	}
	if r.ValidFor > 0 {
		// The validity counts from the send time.
		m.ValidUntil = r.SendAt.Add(r.ValidFor)
	}
	qm := QueuedMessage{Message: m, Attempt: 1, EnqueuedAt: now, SendAt: r.SendAt.UTC()}
	via := "queue"
	var err error
	if ahead <= MaxQueueDelay {
		err = s.queue.Enqueue(ctx, qm)
	} else {
		via = "scheduler"
		err = s.cfg.Scheduler.Schedule(ctx, qm)
	}
	if err != nil {
		if KindOf(err) == KindInvalid {
			return Result{}, err
		}
		s.d.log.LogAttrs(ctx, slog.LevelError, "could not schedule the message", slog.String("via", via), slog.String("error", err.Error()))
		return Result{}, E(KindUnavailable, "the message could not be accepted now; retry later", RetryAfter(5*time.Second), Cause(err))
	}
	metrics.Inc(ctx, metrics.Scheduled, metrics.Outcome(via))
	seg := CountSegments(m.Body)
	s.d.log.LogAttrs(ctx, slog.LevelInfo, "scheduled", slog.String("messageId", id), slog.String("to", MaskNumber(m.To)),
		slog.Time("sendAt", qm.SendAt), slog.String("via", via))
	s.recordScheduled(ctx, qm, seg, r.Caller, now)
	return Result{MessageID: id, Status: StatusScheduled, Channel: Channel, To: m.To, SendAt: qm.SendAt,
		Segments: seg.Count, Encoding: seg.Encoding}, nil
}

// recordScheduled writes the status record of a scheduled message, which
// a cancel and the drain's hand-over both need. The message is already
// held (queue or schedule) when it is written, so a failed write does not
// fail the request: the message is sent when due, and only a cancel of it
// (404) misses the record; the failure is logged as
// EventStatusRecordFailed.
func (s *Sender) recordScheduled(ctx context.Context, qm QueuedMessage, seg Segments, caller string, now time.Time) {
	if !s.track.on() {
		return
	}
	ch := s.track.change(qm.Message, seg, StatusScheduled, now)
	ch.MessageID, ch.Owner = qm.ID, callerOwner(caller)
	s.track.record(ctx, qm.ID, ch)
}

// requestFingerprint is the Fingerprint of r, with its send time and its
// validity when it has them: a repeat with another sendAt or validFor is
// another request. Without either it is Fingerprint's, as it was before
// they existed.
func requestFingerprint(r SendRequest) string {
	fields := []string{r.To, r.Body, r.From}
	if !r.SendAt.IsZero() {
		fields = append(fields, "sendAt="+strconv.FormatInt(r.SendAt.UnixNano(), 10))
	}
	if r.ValidFor > 0 {
		fields = append(fields, "validFor="+strconv.FormatInt(int64(r.ValidFor/time.Second), 10))
	}
	return fingerprint(fields...)
}
