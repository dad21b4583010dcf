package sms

import (
	"context"
	"log/slog"
	"time"
)

// SentKeep is how long the drain remembers that a queued message id was
// sent: as long as SQS can keep a message (14 days), so a redelivered or
// re-enqueued copy is always recognised.
const SentKeep = 14 * 24 * time.Hour

// Disposition is what the drain should do with a queue record after
// Deliver.
type Disposition int

// The dispositions of a queue record.
const (
	// Delivered: the provider accepted it now. Acknowledge.
	Delivered Disposition = iota + 1
	// Duplicate: it was sent before (a redelivery). Acknowledge.
	Duplicate
	// Dropped: the provider refused it for good (rejected number, opted
	// out, partial multipart). Acknowledge; never retry.
	Dropped
	// Retry: a transient, ambiguous or account failure, or another worker
	// holds it. Leave it for SQS to redeliver with backoff.
	Retry
	// Deferred: no send slot was free in the time left. Re-enqueue a fresh
	// copy so it does not burn a receive count.
	Deferred
	// Poison: it can never be processed (a different message reusing the
	// id: KindInvalid; a sender not allowed: KindForbidden). Dead-letter it.
	Poison
)

var dispositionNames = [...]string{"", "delivered", "duplicate", "dropped", "retry", "deferred", "poison"}

// String names the disposition for logs and metrics.
func (d Disposition) String() string {
	if int(d) > 0 && int(d) < len(dispositionNames) {
		return dispositionNames[d]
	}
	return "unknown"
}

// Deliverer sends queued messages exactly once where the outcome is known:
// it claims the message id in the ledger, waits for a slot of the shared
// limiter, sends, and records the id as sent.
type Deliverer struct {
	d           *Dispatcher
	ledger      Ledger
	defaultFrom string
	allowed     map[string]bool
}

// NewDeliverer returns a Deliverer. Messages without a sender get
// defaultFrom; when allowedSenders is not empty, a message naming another
// sender (other than the default) is poison.
func NewDeliverer(d *Dispatcher, ledger Ledger, defaultFrom string, allowedSenders []string) *Deliverer {
	dl := &Deliverer{d: d, ledger: ledger, defaultFrom: defaultFrom}
	if len(allowedSenders) > 0 {
		dl.allowed = map[string]bool{defaultFrom: true}
		for _, a := range allowedSenders {
			dl.allowed[a] = true
		}
	}
	return dl
}

// Deliver processes one validated queued message. maxWait bounds the wait
// for a slot (the time the invocation has left); lease is how long the
// claim on the id lasts should this worker die mid-way. The error, if any,
// explains a Retry, Dropped or Poison disposition.
func (dl *Deliverer) Deliver(ctx context.Context, m QueuedMessage, maxWait, lease time.Duration) (Disposition, error) {
	if m.From == "" {
		m.From = dl.defaultFrom
	} else if dl.allowed != nil && !dl.allowed[m.From] {
		return Poison, &Error{Kind: KindForbidden, Code: CodeForbidden, Field: "from", Message: "sender is not in SMS_ALLOWED_SENDERS"}
	}
	key := "msg#" + m.ID
	fp := Fingerprint(m.To, m.Body, m.From)
	c, err := dl.ledger.Claim(ctx, key, fp, lease)
	if err != nil {
		return Retry, classifyDependency(err)
	}
	switch c.State {
	case Done:
		return Duplicate, nil
	case Held:
		return Retry, &Error{Kind: KindConflict, Message: "message is being sent by another worker"}
	case Mismatch:
		return Poison, &Error{Kind: KindInvalid, Code: CodeInvalidRequest, Message: "another message already used this id"}
	}
	rc, err := dl.d.dispatch(ctx, m.Message, maxWait)
	// The bookkeeping below must happen even when the invocation's context
	// is about to end.
	bg := context.WithoutCancel(ctx)
	if err == nil {
		if cerr := dl.ledger.Complete(bg, key, fp, []byte(rc.ID), SentKeep); cerr != nil {
			// The message went out; acknowledging it is what prevents a
			// duplicate now. Only a later redelivery could repeat it.
			dl.d.Log.LogAttrs(ctx, slog.LevelWarn, "sent, but could not record it", slog.String("messageId", m.ID), slog.String("error", cerr.Error()))
		}
		dl.d.Log.LogAttrs(ctx, slog.LevelInfo, "sent", slog.String("messageId", m.ID), slog.String("providerId", rc.ID),
			slog.String("to", MaskNumber(m.To)), slog.Int("attempt", m.Attempt))
		return Delivered, nil
	}
	switch KindOf(err) {
	case KindRejected, KindPartial:
		dl.d.Log.LogAttrs(ctx, slog.LevelWarn, "provider refused queued message; dropping",
			slog.String("event", "provider_rejected"), slog.String("messageId", m.ID), slog.String("to", MaskNumber(m.To)), providerAttrs(err))
		if cerr := dl.ledger.Complete(bg, key, fp, []byte("failed"), SentKeep); cerr != nil {
			dl.d.Log.LogAttrs(ctx, slog.LevelWarn, "could not record refusal", slog.String("messageId", m.ID), slog.String("error", cerr.Error()))
		}
		return Dropped, err
	}
	if rerr := dl.ledger.Release(bg, key); rerr != nil {
		dl.d.Log.LogAttrs(ctx, slog.LevelWarn, "could not release claim", slog.String("messageId", m.ID), slog.String("error", rerr.Error()))
	}
	switch KindOf(err) {
	case KindRateLimited:
		return Deferred, nil
	case KindAmbiguous:
		dl.d.Log.LogAttrs(ctx, slog.LevelWarn, "provider outcome unknown; will retry (at-least-once)",
			slog.String("event", "ambiguous_send"), slog.String("messageId", m.ID), providerAttrs(err))
	case KindProviderAccount:
		// dispatch already logged it with event=provider_account_error.
	default:
		dl.d.Log.LogAttrs(ctx, slog.LevelWarn, "send failed; will retry", slog.String("messageId", m.ID), slog.String("error", err.Error()))
	}
	return Retry, err
}
