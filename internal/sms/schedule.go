package sms

import (
	"context"
	"fmt"
	"time"
)

// Scheduled send (docs/scheduling.md): a message with a send time is
// accepted now and sent at that time, never before.
const (
	// MinSendAhead and MaxSendAhead bound how far ahead of its acceptance a
	// message may be scheduled.
	MinSendAhead = 60 * time.Second
	MaxSendAhead = 35 * 24 * time.Hour
	// MaxQueueDelay is the longest the queue itself holds a message back
	// (SQS's DelaySeconds). A message due later is held by a Scheduler
	// until it is due; a copy of it that reaches the drain early goes back
	// on the queue for at most this long each time.
	MaxQueueDelay = 15 * time.Minute
)

// fieldSendAt is the request field of the send time.
const fieldSendAt = "sendAt"

// CheckSendAt reports a send time that is not MinSendAhead to
// MaxSendAhead after now: a KindInvalid *Error naming sendAt.
func CheckSendAt(sendAt, now time.Time) error {
	ahead := sendAt.Sub(now)
	if ahead < MinSendAhead || ahead > MaxSendAhead {
		return InvalidField(fieldSendAt, "must be from 60 seconds to 35 days ahead")
	}
	return nil
}

// Scheduler holds messages due more than MaxQueueDelay ahead and puts each
// on the queue when it is due (EventBridge Scheduler in AWS, an in-memory
// one in local mode). Schedules are named after the message's service id
// (QueuedMessage.ID), so that the message can be unscheduled by it.
type Scheduler interface {
	// Schedule arranges for m to go on the queue at m.SendAt. Scheduling
	// the same message again is not an error. A failure means nothing was
	// scheduled.
	Schedule(ctx context.Context, m QueuedMessage) error
	// Unschedule removes the schedule of the message whose service id is
	// id. A schedule that does not exist (it fired, or the message was
	// held by the queue's own delay) is not an error.
	Unschedule(ctx context.Context, id string) error
}

// Transitioner is the conditional write that settles the race between a
// cancel and the hand-over of a scheduled message to the drain: a record
// moves from one status to another only if it is in the first, so of the
// two writes that leave StatusScheduled exactly one wins (docs/status.md).
// The status stores implement it.
type Transitioner interface {
	// Transition moves the record of serviceID from status from to status
	// to, if it is in from and Advance allows it: its error is cleared and
	// to enters its history at at (zero: now). It returns the record as it
	// is after the attempt, and whether it moved. A record that does not
	// exist (or is past its retention) is not created: the zero Record
	// comes back, unmoved.
	Transition(ctx context.Context, serviceID string, from, to Status, at time.Time) (Record, bool, error)
}

// QuotaReturner gives back the quota places (recipient and caller limits)
// a message took when it was accepted, once it is canceled. It is the
// hook of the quota counters: counting is idempotent per message, so
// giving back is keyed by the message's record.
type QuotaReturner interface {
	ReturnPlaces(ctx context.Context, rec Record) error
}

// CheckTransitionArgs reports arguments of Transitioner.Transition no
// store may accept: a service id that is not one, or a move Advance does
// not allow. The error is KindInternal.
func CheckTransitionArgs(serviceID string, from, to Status) error {
	if !IsServiceIDShaped(serviceID) {
		return E(KindInternal, "internal error", Cause(fmt.Errorf("sms: status transition: %q is not a service id", serviceID)))
	}
	if !from.IsRecordStatus() || !Advance(from, "", to) {
		return E(KindInternal, "internal error", Cause(fmt.Errorf("sms: status transition: %q may not move to %q", from, to)))
	}
	return nil
}
