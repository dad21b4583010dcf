package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/fluxkit/sms/internal/metrics"
)

// Codes of the quota refusals (docs/architecture.md#quotas-and-the-suppression-list).
const (
	// CodeQuotaExceeded narrows KindRateLimited: a recipient or caller
	// limit, or the daily segment budget, is used up (HTTP 429). Unlike a
	// plain rate limit, the message is neither sent nor queued.
	CodeQuotaExceeded = "quota_exceeded"
	// CodeRecipientOptedOut narrows KindRejected: the recipient is on the
	// suppression list, and nothing was sent (HTTP 422).
	CodeRecipientOptedOut = "recipient_opted_out"
)

// Dead-letter reasons of queued messages a quota refuses; a redrive
// checks and counts them again.
const (
	// PoisonQuotaExceeded: a recipient limit was used up when the drain
	// took the message.
	PoisonQuotaExceeded = CodeQuotaExceeded
	// PoisonDailyBudget: the daily segment budget was used up.
	PoisonDailyBudget = "daily_budget"
)

// Names of the limits in refusals and logs.
const (
	// LimitRecipient is SMS_RECIPIENT_LIMIT: messages to one number.
	LimitRecipient = "recipient"
	// LimitCaller is SMS_CALLER_LIMIT: messages of one API caller.
	LimitCaller = "caller"
	// LimitDailyBudget is SMS_DAILY_SEGMENT_LIMIT: segments of the whole
	// deployment per UTC day.
	LimitDailyBudget = "daily_budget"
)

// Limit is a most number of messages per fixed window; the zero Limit is
// off.
type Limit struct {
	Count  int
	Window time.Duration
}

// On reports whether the limit applies.
func (l Limit) On() bool { return l.Count > 0 && l.Window > 0 }

// WindowOf returns the window holding t. Windows are fixed, Window long and
// aligned to the Unix epoch, so that a window of a day starts at midnight
// UTC and one of ten minutes at a multiple of ten minutes past the hour.
func (l Limit) WindowOf(t time.Time) (start, end time.Time) {
	w := int64(l.Window)
	n := t.UnixNano()
	s := n - n%w
	if n%w < 0 {
		s -= w
	}
	return time.Unix(0, s).UTC(), time.Unix(0, s+w).UTC()
}

// String writes the limit as the settings do: "5/10m", "10000/24h", or
// "off".
func (l Limit) String() string {
	if !l.On() {
		return "off"
	}
	w := l.Window
	var d string
	switch {
	case w%time.Hour == 0:
		d = strconv.FormatInt(int64(w/time.Hour), 10) + "h"
	case w%time.Minute == 0:
		d = strconv.FormatInt(int64(w/time.Minute), 10) + "m"
	default:
		d = w.String()
	}
	return strconv.Itoa(l.Count) + "/" + d
}

// QuotaLimits are the limits a QuotaStore counts messages against.
type QuotaLimits struct {
	// Recipient bounds the messages to one number per window
	// (SMS_RECIPIENT_LIMIT).
	Recipient Limit
	// Caller bounds the messages of one API caller (token subject) per
	// window (SMS_CALLER_LIMIT); producers' messages have no caller.
	Caller Limit
}

// Usage is one message as the quotas count it.
type Usage struct {
	// MessageID identifies the message: the id the send path queues it
	// under, or the queue message's id on the drain. Counting is idempotent
	// per MessageID.
	MessageID string
	// To is the recipient (E.164).
	To string
	// Caller is the API caller's subject; empty for producers' messages,
	// which count against no caller limit.
	Caller string
}

// QuotaOutcome is what QuotaStore.Count decided.
type QuotaOutcome int

// The outcomes of QuotaStore.Count.
const (
	// QuotaAccepted: the message is counted (now, or by an earlier Count
	// with the same id) and may be sent.
	QuotaAccepted QuotaOutcome = iota + 1
	// QuotaExceeded: a limit is used up; nothing was counted.
	QuotaExceeded
	// QuotaOptedOut: the recipient is on the suppression list; nothing was
	// counted.
	QuotaOptedOut
)

// QuotaVerdict is the answer of QuotaStore.Count.
type QuotaVerdict struct {
	Outcome QuotaOutcome
	// Limit names the limit that refused (LimitRecipient, LimitCaller).
	Limit string
	// RetryAt is when the refusing limit's window ends and frees a place.
	RetryAt time.Time
	// At is the store's time of the count: GiveBack takes it to find the
	// windows the message was counted in.
	At time.Time
}

// QuotaStore counts messages against the recipient and caller limits and
// keeps the suppression list, shared by every instance of the service.
// Each number has one item holding both its count and whether it is
// suppressed, so checking the list costs nothing more than counting; with
// the recipient limit off, the list is not consulted (opt-outs are still
// recorded, and the provider refuses such numbers itself).
type QuotaStore interface {
	// Count checks u's recipient against the suppression list (with the
	// recipient limit on) and counts u against the limits that are on.
	// Counting is idempotent per
	// u.MessageID: a message counted before (in the current window or in
	// the one before it) is accepted without taking another place. When
	// the caller limit refuses, the recipient place just taken is given
	// back.
	Count(ctx context.Context, u Usage) (QuotaVerdict, error)
	// GiveBack returns the places of a message counted at at that ends
	// with nothing accepted.
	GiveBack(ctx context.Context, u Usage, at time.Time) error
}

// Suppressor puts a number on the suppression list: later messages to it
// are refused without a provider call.
type Suppressor interface {
	Suppress(ctx context.Context, number string) error
}

// ErrDailyBudget is the cause of the error a Limiter returns when the
// deployment's daily segment budget is used up.
var ErrDailyBudget = errors.New("daily segment budget used up")

// DailyBudgetError is the error of a message refused at now because the
// daily segment budget (SMS_DAILY_SEGMENT_LIMIT) is used up: KindRateLimited
// with CodeQuotaExceeded, to be retried at the next midnight UTC.
func DailyBudgetError(now time.Time) *Error {
	return E(KindRateLimited, "the daily segment budget (SMS_DAILY_SEGMENT_LIMIT) is used up; retry after midnight UTC",
		Code(CodeQuotaExceeded), RetryAfter(max(NextUTCDay(now).Sub(now), time.Second)), Cause(ErrDailyBudget))
}

// IsDailyBudget reports whether err says the daily segment budget is used
// up.
func IsDailyBudget(err error) bool { return errors.Is(err, ErrDailyBudget) }

// UTCDay is the number of the UTC day holding t, counted from the Unix
// epoch: the budget's day.
func UTCDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// NextUTCDay is the midnight UTC that ends t's day.
func NextUTCDay(t time.Time) time.Time { return time.Unix((UTCDay(t)+1)*86400, 0).UTC() }

// quotaRefusal reports whether err refuses a message for a quota (the
// recipient or caller limit, or the daily budget): such a message is
// neither sent nor queued.
func quotaRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeQuotaExceeded
}

// quotaTimeout bounds giving places back and recording opt-outs, which run
// on a context that outlives the request.
const quotaTimeout = time.Second

// admit counts a claimed message against the quotas, then sends or
// schedules it (accept): the send path's step between the idempotency
// claim and the limiter, so a scheduled message is counted when it is
// accepted. The
// message gets its id here, so that the queue carries the id it was counted
// under and the drain does not count it again. A refusal sends and queues
// nothing; a message that ends with nothing accepted gives its places back.
func (s *Sender) admit(ctx context.Context, m Message, r SendRequest) (Result, error) {
	q := s.cfg.Quota
	if q == nil {
		return s.accept(ctx, m, r)
	}
	m.ID = s.cfg.NewID()
	u := Usage{MessageID: m.ID, To: m.To, Caller: r.Caller}
	v, err := q.Count(ctx, u)
	if err != nil {
		return s.uncounted(ctx, m, r, err)
	}
	switch v.Outcome {
	case QuotaExceeded:
		return Result{}, s.overQuota(ctx, m, v)
	case QuotaOptedOut:
		return s.optedOut(ctx, m, r)
	}
	res, err := s.accept(ctx, m, r)
	if !settled(err) {
		giveBack(ctx, q, u, v.At, s.d.log)
	}
	return res, err
}

// uncounted handles a message the quota store could not count. Queued, it
// is counted by the drain against the recipient limit like any message the
// drain takes; the caller limit is counted only here, so with it on (or
// queueing off) nothing is accepted.
func (s *Sender) uncounted(ctx context.Context, m Message, r SendRequest, cause error) (Result, error) {
	s.d.log.LogAttrs(ctx, slog.LevelWarn, "quota store unavailable", slog.String("error", cause.Error()))
	// A scheduled message is counted only at acceptance (the drain does
	// not count it again when it is due, docs/scheduling.md), so it is not
	// accepted uncounted; queued now, it would also lose its send time.
	if !s.cfg.QueueEnabled || s.cfg.CountsCallers || !r.SendAt.IsZero() {
		return Result{}, E(KindUnavailable, "the message could not be accepted now; retry later", RetryAfter(5*time.Second), Cause(cause))
	}
	m, st := s.identify(m, r)
	return s.enqueue(ctx, m, st, classifyDependency(cause))
}

// overQuota logs a refusal by a recipient or caller limit and returns its
// error, whose Retry-After is when the window frees a place.
func (s *Sender) overQuota(ctx context.Context, m Message, v QuotaVerdict) error {
	logQuota(ctx, s.d.log, CodeQuotaExceeded, v.Limit, m)
	msg := "too many messages to this recipient (SMS_RECIPIENT_LIMIT); retry later"
	if v.Limit == LimitCaller {
		msg = "too many messages from this caller (SMS_CALLER_LIMIT); retry later"
	}
	return E(KindRateLimited, msg, Code(CodeQuotaExceeded), RetryAfter(max(v.RetryAt.Sub(s.d.clock.Now()), time.Second)))
}

// optedOut answers a message to a number on the suppression list: failed,
// with nothing sent, and so is its status record. The answer names the
// message by the id it was given.
func (s *Sender) optedOut(ctx context.Context, m Message, r SendRequest) (Result, error) {
	logQuota(ctx, s.d.log, CodeRecipientOptedOut, "suppression_list", m)
	m, st := s.identify(m, r)
	err := optedOutError()
	s.recordStatus(ctx, m, st, StatusFailed, Receipt{}, &Failure{Code: CodeRecipientOptedOut, Message: err.Message})
	return Result{MessageID: m.ID, Status: StatusFailed, Channel: Channel, To: m.To, Segments: st.seg.Count, Encoding: st.seg.Encoding}, err
}

// optedOutError is the refusal of a message to a suppressed number.
func optedOutError() *Error {
	return E(KindRejected, "the recipient has opted out of messages from this service; nothing was sent", Code(CodeRecipientOptedOut))
}

// admit counts a claimed queued message against the recipient limit and
// checks the suppression list: every message, whatever envelope its
// producer wrote, since counting is idempotent per id (a message the send
// path counted, or a redelivery, takes no second place). It reports
// whether Deliver is done with the message, and how.
func (dl *Deliverer) admit(ctx context.Context, m QueuedMessage, key, fp string) (Disposition, bool) {
	if dl.quota == nil {
		return Disposition{}, false
	}
	v, err := dl.quota.Count(ctx, Usage{MessageID: m.ID, To: m.To})
	bg := context.WithoutCancel(ctx)
	switch {
	case err != nil:
		dl.release(ctx, bg, m, key)
		dl.d.log.LogAttrs(ctx, slog.LevelInfo, "quota store unavailable; deferring", slog.String("messageId", m.ID), slog.String("error", err.Error()))
		return Disposition{Action: Deferred, Kind: KindOf(classifyDependency(err))}, true
	case v.Outcome == QuotaExceeded:
		// Not counted: a redrive counts it again.
		dl.release(ctx, bg, m, key)
		logQuota(ctx, dl.d.log, CodeQuotaExceeded, v.Limit, m.Message, slog.String("messageId", m.ID))
		return Disposition{Action: Poison, Kind: KindRateLimited, PoisonReason: PoisonQuotaExceeded}, true
	case v.Outcome == QuotaOptedOut:
		// Settled for good, as a provider's refusal would be: copies of it
		// are duplicates.
		if cerr := dl.ledger.Complete(bg, key, fp, []byte("failed"), sentKeep); cerr != nil {
			dl.d.log.LogAttrs(ctx, slog.LevelWarn, "could not record refusal", slog.String("messageId", m.ID), slog.String("error", cerr.Error()))
		}
		logQuota(ctx, dl.d.log, CodeRecipientOptedOut, "suppression_list", m.Message, slog.String("messageId", m.ID))
		dl.recordStatus(ctx, m, StatusFailed, Receipt{}, &Failure{Code: CodeRecipientOptedOut, Message: optedOutError().Message})
		return Disposition{Action: Dropped, Kind: KindRejected}, true
	}
	return Disposition{}, false
}

// overBudget dead-letters a queued message the daily budget refused: its
// recipient place is given back, so that a redrive counts it again.
func (dl *Deliverer) overBudget(ctx context.Context, m QueuedMessage) Disposition {
	if dl.quota != nil {
		giveBack(ctx, dl.quota, Usage{MessageID: m.ID, To: m.To}, dl.d.clock.Now(), dl.d.log)
	}
	logQuota(ctx, dl.d.log, PoisonDailyBudget, LimitDailyBudget, m.Message, slog.String("messageId", m.ID))
	return Disposition{Action: Poison, Kind: KindRateLimited, PoisonReason: PoisonDailyBudget}
}

// release gives up the claim on a queued message's id.
func (dl *Deliverer) release(ctx, bg context.Context, m QueuedMessage, key string) {
	if rerr := dl.ledger.Release(bg, key); rerr != nil {
		dl.d.log.LogAttrs(ctx, slog.LevelWarn, "could not release claim", slog.String("messageId", m.ID), slog.String("error", rerr.Error()))
	}
}

// giveBack returns a message's places on a context that outlives the
// request. A failure costs a place until the window ends, never a place
// too many, so it is only logged.
func giveBack(ctx context.Context, q QuotaStore, u Usage, at time.Time, log *slog.Logger) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), quotaTimeout)
	defer cancel()
	if err := q.GiveBack(gctx, u, at); err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "could not give a quota place back", slog.String("to", MaskNumber(u.To)), slog.String("error", err.Error()))
	}
}

// logQuota logs a refusal by a quota or the suppression list with the
// destination's region, never the number.
func logQuota(ctx context.Context, log *slog.Logger, event, limit string, m Message, attrs ...slog.Attr) {
	attrs = append(attrs, slog.String("event", event), slog.String("limit", limit),
		slog.String("region", regionOfNumber(m.To)), slog.String("to", MaskNumber(m.To)))
	log.LogAttrs(ctx, slog.LevelInfo, "message refused", attrs...)
	metrics.Inc(ctx, metrics.Refusals, metrics.Outcome(event))
}

// regionOfNumber returns the region libphonenumber assigns to an E.164
// number, or "" when it cannot tell.
func regionOfNumber(to string) string {
	num, err := phonenumbers.Parse(to, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

// OptOuts wraps a Provider so that the opt-outs it reports feed the
// suppression list: a message refused because its recipient opted out (an
// *Error with RecipientOptedOut set, such as Twilio's 21610) puts the
// recipient on list, and later messages to it are refused without a
// provider call. The refusal itself is returned unchanged.
func OptOuts(p Provider, list Suppressor, log *slog.Logger) Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return optOuts{p: p, list: list, log: log}
}

type optOuts struct {
	p    Provider
	list Suppressor
	log  *slog.Logger
}

// Send calls the provider and records an opt-out it reports.
func (o optOuts) Send(ctx context.Context, m Message) (Receipt, error) {
	rc, err := o.p.Send(ctx, m)
	var e *Error
	if err == nil || !errors.As(err, &e) || !e.OptedOut {
		return rc, err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), quotaTimeout)
	defer cancel()
	attrs := []slog.Attr{slog.String("event", "recipient_suppressed"), slog.String("region", regionOfNumber(m.To)),
		slog.String("to", MaskNumber(m.To)), slog.String("providerCode", e.ProviderCode)}
	if serr := o.list.Suppress(sctx, m.To); serr != nil {
		o.log.LogAttrs(ctx, slog.LevelWarn, "could not add an opted-out recipient to the suppression list", append(attrs, slog.String("error", serr.Error()))...)
		return rc, err
	}
	o.log.LogAttrs(ctx, slog.LevelInfo, "recipient opted out; added to the suppression list", attrs...)
	return rc, err
}

// CheckUsage reports a Usage that no QuotaStore can count (no message id
// or no recipient) as a KindInternal error.
func CheckUsage(u Usage) error {
	if u.MessageID == "" || u.To == "" {
		return E(KindInternal, "internal error", Cause(errors.New("quota: usage without a message id or a recipient")))
	}
	return nil
}

// QuotaGiveBack returns the QuotaReturner that gives a canceled message's
// places back to q, keyed by the id and time it was accepted (and
// counted) under; nil when q is nil.
func QuotaGiveBack(q QuotaStore) QuotaReturner {
	if q == nil {
		return nil
	}
	return quotaReturner{q: q}
}

type quotaReturner struct{ q QuotaStore }

// ReturnPlaces gives back the places rec's message took at acceptance.
func (r quotaReturner) ReturnPlaces(ctx context.Context, rec Record) error {
	u := Usage{MessageID: rec.ServiceID, To: rec.To}
	if rec.Owner.Kind == OwnerCaller {
		u.Caller = rec.Owner.Subject
	}
	if err := r.q.GiveBack(ctx, u, rec.CreatedAt); err != nil {
		return fmt.Errorf("sms: give quota places back: %w", err)
	}
	return nil
}
