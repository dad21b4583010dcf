package sms

import (
	"context"
	"log/slog"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
)

// CancelRequest asks to cancel a scheduled message.
type CancelRequest struct {
	// ID names the message: the messageId the API answered (its service
	// id), or any id GET accepts.
	ID string
	// Caller is the authenticated subject; it must own the message unless
	// Admin is set.
	Caller string
	// Admin: the caller's token carries the admin scope, which may cancel
	// any message.
	Admin bool
}

// CancelStore finds status records and moves them conditionally (the
// status stores).
type CancelStore interface {
	Get(ctx context.Context, id string) (Record, error)
	Transitioner
}

// CancelerConfig holds the optional parts of a Canceler.
type CancelerConfig struct {
	// Scheduler deletes the schedule of a canceled message; nil when the
	// deployment schedules nothing beyond the queue's own delay.
	Scheduler Scheduler
	// Quotas gives back the quota places of a canceled message; nil when
	// no quota counts them.
	Quotas QuotaReturner
}

// Canceler cancels scheduled messages (DELETE /messaging/sms/{messageId},
// docs/scheduling.md). A cancel wins only by moving the message's record
// from scheduled to canceled in one conditional write, which the drain's
// hand-over of the due message races: of the two, exactly one moves the
// record, so a canceled message is never sent and a message handed over
// is never reported canceled.
type Canceler struct {
	store CancelStore
	log   *slog.Logger
	cfg   CancelerConfig
}

// NewCanceler returns a Canceler over the status records in store; a nil
// store (status records off) finds no message.
func NewCanceler(store CancelStore, log *slog.Logger, cfg CancelerConfig) *Canceler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Canceler{store: store, log: log, cfg: cfg}
}

// Cancel cancels the message r names and returns its record, canceled:
// its schedule is deleted and its quota places are given back. A message
// canceled before is answered the same way. A message already handed over
// for sending (queued, sent or beyond) is a KindConflict error; one that
// does not exist, or that the caller may not cancel, is KindNotFound (the
// same answer, so that ids cannot be probed).
func (c *Canceler) Cancel(ctx context.Context, r CancelRequest) (Record, error) {
	notFound := E(KindNotFound, "no such message")
	if c.store == nil {
		return Record{}, notFound
	}
	rec, err := c.store.Get(ctx, r.ID)
	switch {
	case KindOf(err) == KindNotFound:
		return Record{}, notFound
	case err != nil:
		return Record{}, err
	case !r.Admin && !rec.OwnedBy(CallerOwner(r.Caller)):
		return Record{}, notFound
	}
	if rec.Status == StatusScheduled {
		next, moved, err := c.store.Transition(ctx, rec.ServiceID, StatusScheduled, StatusCanceled, time.Time{})
		if err != nil {
			return Record{}, err
		}
		if moved {
			c.settle(ctx, next)
			return next, nil
		}
		if next.ServiceID == "" {
			// Gone in between: past its retention.
			return Record{}, notFound
		}
		// The drain handed it over first, or another cancel won.
		rec = next
	}
	if rec.Status == StatusCanceled {
		return rec, nil
	}
	return Record{}, E(KindConflict, "the message is "+string(rec.Status)+": it can no longer be canceled")
}

// settle deletes a canceled message's schedule and gives its quota places
// back. Neither failure undoes the cancel: a schedule that still fires
// puts a message on the queue that the drain finds canceled and drops,
// and places not given back free up when their window ends. Both are
// logged.
func (c *Canceler) settle(ctx context.Context, rec Record) {
	bg := context.WithoutCancel(ctx)
	if c.cfg.Scheduler != nil {
		if err := c.cfg.Scheduler.Unschedule(bg, rec.ServiceID); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "canceled, but could not delete the schedule; the drain will drop it when it fires",
				slog.String("messageId", rec.ServiceID), slog.String("error", err.Error()))
		}
	}
	if c.cfg.Quotas != nil {
		if err := c.cfg.Quotas.ReturnPlaces(bg, rec); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "canceled, but could not give the quota places back",
				slog.String("messageId", rec.ServiceID), slog.String("error", err.Error()))
		}
	}
	metrics.Inc(ctx, metrics.Canceled)
	c.log.LogAttrs(ctx, slog.LevelInfo, "canceled", slog.String("messageId", rec.ServiceID), slog.String("to", MaskNumber(rec.To)))
}
