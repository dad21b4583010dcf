package sms

import (
	"context"
	"log/slog"
	"time"
)

// Error codes of status records (Failure.Code) besides CodeDeadLettered.
// They are the API's codes for the same outcomes.
const (
	// CodeProviderRejected: the provider refused this message for good.
	CodeProviderRejected = "provider_rejected"
	// CodeProviderError: the provider refused the account or accepted a
	// multipart message only in part.
	CodeProviderError = "provider_error"
	// CodeProviderOutcomeUnknown: the provider call's answer was lost.
	CodeProviderOutcomeUnknown = "provider_outcome_unknown"
)

// EventStatusRecordFailed is the log event of a status write that failed
// after every try; an alarm watches it. The message itself is unaffected.
const EventStatusRecordFailed = "status_record_failed"

// Status writes: up to statusWriteAttempts tries of statusWriteTimeout
// each, on a context that outlives the request. The store's own client
// retries inside each try.
const (
	statusWriteAttempts = 2
	statusWriteTimeout  = time.Second
)

// Validity bounds of a message (SendRequest.ValidFor).
const (
	MinValidFor = 20 * time.Second
	MaxValidFor = 36000 * time.Second
)

// CheckValidFor reports a validity outside MinValidFor to MaxValidFor in
// whole seconds; zero means none and is fine.
func CheckValidFor(d time.Duration) error {
	if d == 0 {
		return nil
	}
	if d < MinValidFor || d > MaxValidFor || d%time.Second != 0 {
		return InvalidField("validFor", "must be a whole number of seconds from 20 to 36000")
	}
	return nil
}

// Expired reports whether m's validity has ended at now.
func (m Message) Expired(now time.Time) bool {
	return !m.ValidUntil.IsZero() && !now.Before(m.ValidUntil)
}

// errExpired is returned by dispatch when the message's validity ended
// before its provider call.
var errExpired = E(KindExpired, "the message expired before it could be sent")

// tracker writes the status records of the messages a Sender or a
// Deliverer handles. Without a store it writes nothing and costs nothing
// (SMS_STATUS_TRACKING=false). Writes come after the provider call and
// never fail the message: a write that fails after every try is logged as
// EventStatusRecordFailed.
type tracker struct {
	store StatusStore
	log   *slog.Logger
}

// on reports whether records are kept.
func (t tracker) on() bool { return t.store != nil }

// change is the change of m to status st now, with what m says about
// itself: its numbers, segments, expiry and when it was accepted.
func (t tracker) change(m Message, seg Segments, st Status, created time.Time) Change {
	return Change{
		Status: st, To: m.To, From: m.From, Segments: seg.Count, Encoding: seg.Encoding,
		CreatedAt: created, ExpiresAt: m.ValidUntil,
	}
}

// sent fills ch with the provider's answer: its id and the provider that
// gave it (with failover, the one that sent the message).
func (t tracker) sent(ch Change, rc Receipt) Change {
	ch.ProviderMessageID = rc.ID
	if rc.ID != "" {
		ch.Provider = rc.Provider
	}
	return ch
}

// failure is the record error of a provider failure err.
func failure(err error) *Failure {
	e := AsError(err)
	code := CodeProviderError
	switch e.Kind {
	case KindRejected:
		code = CodeProviderRejected
	case KindAmbiguous:
		code = CodeProviderOutcomeUnknown
	}
	return &Failure{Code: code, Message: e.Message, ProviderCode: e.ProviderCode}
}

// record merges ch into the record of serviceID. It never fails: a write
// that fails after every try is logged (with the masked number, never the
// body) and the message goes on.
func (t tracker) record(ctx context.Context, serviceID string, ch Change) {
	if t.store == nil || serviceID == "" {
		return
	}
	bg := context.WithoutCancel(ctx)
	var err error
	for try := 1; try <= statusWriteAttempts; try++ {
		tctx, cancel := context.WithTimeout(bg, statusWriteTimeout)
		_, err = t.store.Record(tctx, serviceID, ch)
		cancel()
		if err == nil || KindOf(err) == KindInternal {
			break
		}
	}
	if err != nil {
		t.log.LogAttrs(ctx, slog.LevelError, "could not record the message's status",
			slog.String("event", EventStatusRecordFailed), slog.String("serviceId", serviceID),
			slog.String("status", string(ch.Status)), slog.String("to", MaskNumber(ch.To)), slog.String("error", err.Error()))
	}
}

// callerOwner is the owner of the messages of an API caller; the zero
// Owner when the subject is unknown.
func callerOwner(sub string) Owner {
	if sub == "" {
		return Owner{}
	}
	return CallerOwner(sub)
}
