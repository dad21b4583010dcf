package sms

import (
	"context"
	"log/slog"
	"time"
)

// handOver moves the status record of a scheduled message that is due
// from scheduled to queued, before its id is claimed or a slot is taken:
// the conditional write that a cancel races (Transitioner). It reports
// ok false with the disposition when the message must not go on: it was
// canceled (never sent), or its record could not be read or written now
// (deferred: the cancel may yet win, so nothing is sent blind). A message
// without a record (accepted while status records were off, or whose
// record could not be written) and one whose record has moved on already
// (an earlier copy handed it over) go on. counted reports that the send
// path accepted the message, and so counted it against the quotas: its
// record belongs to an API caller, which only the send path writes (a
// producer's message, or a forged envelope, is counted by the drain).
func (dl *Deliverer) handOver(ctx context.Context, m QueuedMessage) (counted bool, d Disposition, ok bool) {
	if m.SendAt.IsZero() || m.ServiceID == "" || dl.scheduled == nil {
		return false, Disposition{}, true
	}
	rec, moved, err := dl.scheduled.Transition(ctx, m.ServiceID, StatusScheduled, StatusQueued, time.Time{})
	switch {
	case err != nil:
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "could not hand a scheduled message over; deferring",
			slog.String("messageId", m.ID), slog.String("error", err.Error()))
		return false, Disposition{Action: Deferred, Kind: KindOf(classifyDependency(err))}, false
	case !moved && rec.Status == StatusCanceled:
		dl.d.log.LogAttrs(ctx, slog.LevelInfo, "canceled before it was due; not sent", slog.String("messageId", m.ID),
			slog.String("to", MaskNumber(m.To)))
		return false, Disposition{Action: Canceled}, false
	}
	return rec.Owner.Kind == OwnerCaller, Disposition{}, true
}
