package sms

import (
	"context"
	"log/slog"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
)

// sentKeep is how long the drain remembers that a queued message id was
// sent: as long as SQS can keep a message (14 days), so a redelivered or
// re-enqueued copy is always recognised.
const sentKeep = 14 * 24 * time.Hour

// Action is what the drain does with a queue record after Deliver.
type Action int

// The actions on a queue record.
const (
	// Delivered: the provider accepted it now. Acknowledge.
	Delivered Action = iota + 1
	// Duplicate: it was sent before (a redelivery). Acknowledge.
	Duplicate
	// Dropped: the provider refused it for good (rejected number, opted
	// out, partial multipart). Acknowledge; never retry.
	Dropped
	// Retry: the provider failed transiently, ambiguously or refused the
	// account. Leave it for SQS to redeliver with backoff.
	Retry
	// HeldElsewhere: another worker holds its id (a duplicate delivery, or a claim
	// whose worker died). Nothing is wrong with the message: re-enqueue a
	// fresh copy after a backoff so it does not burn receive counts.
	HeldElsewhere
	// Deferred: nothing was sent, for reasons that are not the message's:
	// no send slot in the time left, the limiter or the ledger unreachable
	// (or contended), too little time left for a call, or no ready
	// connection within the margin of a slot. Re-enqueue a fresh copy after
	// a backoff so it does not burn a receive count.
	Deferred
	// Poison: it can never be processed. Dead-letter it with the
	// disposition's PoisonReason.
	Poison
	// Canceled: a scheduled message canceled before it was due. It is
	// never sent. Acknowledge.
	Canceled
	// NotDue: a scheduled message that arrived before it is due; the drain
	// puts it back until it is (docs/scheduling.md).
	NotDue
	// Expired: its validity ended before it could be sent; it never will
	// be. Acknowledge.
	Expired
)

var actionNames = [...]string{"", "delivered", "duplicate", "dropped", "retry", "held", "deferred", "poison", "canceled", "not_due", "expired"}

// String names the action for logs and metrics.
func (a Action) String() string {
	if int(a) > 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Dead-letter reasons of the records Deliver finds poison.
const (
	// PoisonDuplicateID: another message already used this id.
	PoisonDuplicateID = "duplicate_id"
	// PoisonSenderNotAllowed: the message names a sender outside
	// SMS_ALLOWED_SENDERS.
	PoisonSenderNotAllowed = "sender_not_allowed"
)

// Disposition is the outcome of Deliver: what the drain does with the
// record, and why.
type Disposition struct {
	Action Action
	// Kind is the kind of the failure behind a Dropped, Retry,
	// HeldElsewhere, Poison or Deferred action, for logs.
	Kind Kind
	// PoisonReason is the dead-letter reason of a Poison action
	// (PoisonDuplicateID, PoisonSenderNotAllowed,
	// PoisonDestinationNotAllowed, PoisonQuotaExceeded, PoisonDailyBudget,
	// or a validation code such as invalid_to).
	PoisonReason string
}

// Deliverer sends queued messages exactly once where the outcome is known:
// it claims the message id in the ledger, waits for a slot of the shared
// limiter, sends, and records the id as sent.
type Deliverer struct {
	d           *Dispatcher
	ledger      Ledger
	defaultFrom string
	guard       *Guard
	scheduled   Transitioner
	quota       QuotaStore
	track       tracker
}

// DelivererConfig holds the sender rules of the drain path.
type DelivererConfig struct {
	// DefaultFrom is the sender of messages that name none.
	DefaultFrom string
	// Guard holds the sender and destination rules (a message breaking one
	// is poison) and the smart encoding; nil means
	// a Guard of GuardConfig{DefaultFrom: DefaultFrom}.
	Guard *Guard
	// Scheduled hands scheduled messages over when they are due (their
	// status records move from scheduled to queued unless canceled); nil
	// when status records are off.
	Scheduled Transitioner
	// Quota counts every message against the recipient limit (once per
	// id) and keeps the suppression list; nil counts nothing.
	Quota QuotaStore
	// Status keeps the messages' status records; nil keeps none.
	Status StatusStore
}

// NewDeliverer returns a Deliverer sending through d and recording sent
// ids in ledger.
func NewDeliverer(d *Dispatcher, ledger Ledger, cfg DelivererConfig) *Deliverer {
	if cfg.Guard == nil {
		cfg.Guard = NewGuard(GuardConfig{DefaultFrom: cfg.DefaultFrom}, d.log)
	}
	return &Deliverer{d: d, ledger: ledger, defaultFrom: cfg.DefaultFrom, guard: cfg.Guard, scheduled: cfg.Scheduled, quota: cfg.Quota,
		track: tracker{store: cfg.Status, log: d.log}}
}

// Deliver processes one validated queued message. maxWait bounds the wait
// for a slot (the time the invocation has left); lease is how long the
// claim on the id lasts should this worker die mid-way. The message's
// status record (m.ServiceID) learns that it was sent, refused or expired.
func (dl *Deliverer) Deliver(ctx context.Context, m QueuedMessage, maxWait, lease time.Duration) Disposition {
	if !dl.track.on() {
		m.ServiceID = ""
	}
	// The guard's rules hold for every message, whatever envelope its
	// producer wrote.
	if err := dl.guard.Check(ctx, m.Message); err != nil {
		return refusedDisposition(err)
	}
	// A scheduled message that was canceled is never sent: its record is
	// checked before anything is claimed.
	counted, d, ok := dl.handOver(ctx, m)
	if !ok {
		return d
	}
	// The claim's fingerprint names the default sender as with one
	// provider, so that records stay valid when failover is turned on;
	// with several providers the message itself is sent with the default
	// of the provider that sends it (Route.From).
	from := m.From
	if from == "" {
		from = dl.defaultFrom
		if !dl.d.failsOver() {
			m.From = from
		}
	}
	key := "msg#" + m.ID
	fp := Fingerprint(m.To, m.Body, from)
	c, err := dl.ledger.Claim(ctx, key, fp, lease)
	if err != nil {
		// Not the message's fault: a fresh copy later, no receive burnt.
		return Disposition{Action: Deferred, Kind: KindOf(classifyDependency(err))}
	}
	switch c.State {
	case Done:
		return Disposition{Action: Duplicate}
	case Held:
		return Disposition{Action: HeldElsewhere, Kind: KindConflict}
	case Mismatch:
		return Disposition{Action: Poison, Kind: KindInvalid, PoisonReason: PoisonDuplicateID}
	}
	// Checked once the claim is held: a copy of a message that was sent
	// before it expired is a duplicate, not an expired message.
	if m.Expired(dl.d.clock.Now()) {
		return dl.expired(ctx, m, key, fp)
	}
	// A scheduled message the send path accepted was counted against the
	// quotas then, in the windows of its acceptance.
	if !counted {
		if disp, done := dl.admit(ctx, m, key, fp); done {
			return disp
		}
	}
	rc, err := dl.d.dispatch(ctx, dl.guard.Encode(m.Message), maxWait)
	// The bookkeeping below must happen even when the invocation's context
	// is about to end.
	bg := context.WithoutCancel(ctx)
	if err == nil {
		if cerr := dl.ledger.Complete(bg, key, fp, []byte(rc.ID), sentKeep); cerr != nil {
			// The message went out; acknowledging it is what prevents a
			// duplicate now. Only a later redelivery could repeat it.
			dl.d.log.LogAttrs(ctx, slog.LevelWarn, "sent, but could not record it", slog.String("messageId", m.ID), slog.String("error", cerr.Error()))
		}
		dl.d.log.LogAttrs(ctx, slog.LevelInfo, "sent", slog.String("messageId", m.ID), slog.String("providerId", rc.ID), slog.String("provider", rc.Provider),
			slog.String("to", MaskNumber(m.To)), slog.Int("attempt", m.Attempt))
		dl.recordStatus(ctx, m, StatusSent, rc, nil)
		return Disposition{Action: Delivered}
	}
	kind := KindOf(err)
	switch kind {
	case KindRejected, KindPartial:
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "provider refused queued message; dropping",
			slog.String("event", "provider_rejected"), slog.String("messageId", m.ID), slog.String("to", MaskNumber(m.To)), providerAttrs(err))
		if cerr := dl.ledger.Complete(bg, key, fp, []byte("failed"), sentKeep); cerr != nil {
			dl.d.log.LogAttrs(ctx, slog.LevelWarn, "could not record refusal", slog.String("messageId", m.ID), slog.String("error", cerr.Error()))
		}
		dl.recordStatus(ctx, m, StatusFailed, rc, failure(err))
		return Disposition{Action: Dropped, Kind: kind}
	case KindExpired:
		return dl.expired(ctx, m, key, fp)
	}
	if rerr := dl.ledger.Release(bg, key); rerr != nil {
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "could not release claim", slog.String("messageId", m.ID), slog.String("error", rerr.Error()))
	}
	switch {
	case IsDailyBudget(err):
		return dl.overBudget(ctx, m)
	case kind == KindRateLimited:
		return Disposition{Action: Deferred, Kind: kind}
	case kind == KindUnavailable || nothingSent(err):
		// The limiter is unreachable or contended, or no call was made in
		// time: nothing went out, and nothing is wrong with the message.
		dl.d.log.LogAttrs(ctx, slog.LevelInfo, "nothing sent; deferring", slog.String("messageId", m.ID), slog.String("error", err.Error()))
		return Disposition{Action: Deferred, Kind: kind}
	case kind == KindAmbiguous:
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "provider outcome unknown; will retry (at-least-once)",
			slog.String("event", "ambiguous_send"), slog.String("messageId", m.ID), providerAttrs(err))
	case kind == KindProviderAccount:
		// dispatch already logged it with event=provider_account_error.
	default:
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "send failed; will retry", slog.String("messageId", m.ID), slog.String("error", err.Error()))
	}
	return Disposition{Action: Retry, Kind: kind}
}

// expired settles a claimed message whose validity has ended: the id is
// recorded as done, so that no copy is ever sent, and the status record
// says expired.
func (dl *Deliverer) expired(ctx context.Context, m QueuedMessage, key, fp string) Disposition {
	if cerr := dl.ledger.Complete(context.WithoutCancel(ctx), key, fp, []byte("expired"), sentKeep); cerr != nil {
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "could not record expiry", slog.String("messageId", m.ID), slog.String("error", cerr.Error()))
	}
	dl.d.log.LogAttrs(ctx, slog.LevelInfo, "expired; not sent", slog.String("messageId", m.ID), slog.String("to", MaskNumber(m.To)),
		slog.Time("validUntil", m.ValidUntil))
	dl.recordStatus(ctx, m, StatusExpired, Receipt{}, nil)
	metrics.Inc(ctx, metrics.Expired)
	return Disposition{Action: Expired, Kind: KindExpired}
}

// DeadLettered records in m's status record that it was handed to the
// dead-letter queue for reason: failed, code dead_lettered, the reason as
// the error's message. m may hold only its ids (a record that could not
// be decoded). A duplicate_id message is not recorded: its id, and so its
// record, belong to another message.
func (dl *Deliverer) DeadLettered(ctx context.Context, m QueuedMessage, reason string) {
	if !dl.track.on() || m.ServiceID == "" || reason == PoisonDuplicateID {
		return
	}
	dl.recordStatus(ctx, m, StatusFailed, Receipt{}, &Failure{Code: CodeDeadLettered, Message: reason})
}

// recordStatus writes the status a queued message reached to its record.
// A message the send function queued carries its service id as its id
// (it answered that as messageId, and its own write names the caller);
// any other is a producer's, found by its producer id.
func (dl *Deliverer) recordStatus(ctx context.Context, m QueuedMessage, status Status, rc Receipt, f *Failure) {
	if !dl.track.on() || m.ServiceID == "" {
		return
	}
	var seg Segments
	if m.Body != "" {
		seg = CountSegments(m.Body)
	}
	ch := dl.track.sent(dl.track.change(m.Message, seg, status, m.EnqueuedAt), rc)
	ch.Error = f
	if f != nil {
		ch.ProviderCode = f.ProviderCode
	}
	if m.FromProducer() {
		ch.ProducerID, ch.Owner = m.ID, ProducerOwner("")
	} else {
		ch.MessageID = m.ServiceID
	}
	dl.track.record(ctx, m.ServiceID, ch)
}
