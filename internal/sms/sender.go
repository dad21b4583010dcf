package sms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
)

// Idempotency records of the send path: a claim lasts idempotencyLease, a
// completed record idempotencyKeep. Recording an outcome takes up to
// recordAttempts tries of recordTimeout each, recordBackoff apart at first
// and twice as long after each failure, on a context that outlives the
// request.
const (
	idempotencyLease = 30 * time.Second
	idempotencyKeep  = 24 * time.Hour
	recordAttempts   = 3
	recordTimeout    = time.Second
	recordBackoff    = 100 * time.Millisecond
)

// SendRequest is one request to send a message as the API received it.
type SendRequest struct {
	To   string
	Body string
	// From is the caller's sender override; empty means the default.
	From string
	// ValidFor, when not zero, is how long the message may still be sent
	// after it is accepted, or after its send time when it has one
	// (MinValidFor to MaxValidFor, whole seconds).
	ValidFor time.Duration
	// SendAt, when not zero, schedules the message for that time
	// (MinSendAhead to MaxSendAhead ahead; docs/scheduling.md).
	SendAt time.Time
	// IdempotencyKey is the caller's Idempotency-Key header, if any.
	IdempotencyKey string
	// Caller is the authenticated subject; idempotency keys are scoped to
	// it, and the caller owns the message's status record.
	Caller string
}

// SenderConfig holds the settings of the send path.
type SenderConfig struct {
	// DefaultFrom is the sender used when a request names none.
	DefaultFrom string
	// Guard holds the sender and destination rules and the smart encoding;
	// nil means a Guard of GuardConfig{DefaultFrom: DefaultFrom}: only
	// the default sender, every destination, bodies as written.
	Guard *Guard
	// QueueEnabled queues messages that find no slot; otherwise they get 429.
	QueueEnabled bool
	// MaxWait bounds how long a request waits for a near slot.
	MaxWait time.Duration
	// NewID assigns service ids; NewServiceID (UUIDv4) when nil.
	NewID func() string
	// Status keeps the messages' status records; nil keeps none.
	Status StatusStore
	// Scheduler holds messages scheduled more than MaxQueueDelay ahead;
	// nil refuses such send times (400 naming sendAt).
	Scheduler Scheduler
	// Quota counts messages against the recipient and caller limits and
	// keeps the suppression list; nil counts nothing.
	Quota QuotaStore
	// CountsCallers says that Quota counts API callers (SMS_CALLER_LIMIT):
	// a message it cannot count is then refused rather than queued, since
	// only the send path counts callers.
	CountsCallers bool
}

// Sender carries out send requests: validate, deduplicate, take a slot and
// send, or hand the message to the queue.
type Sender struct {
	d      *Dispatcher
	queue  Queue
	ledger Ledger
	cfg    SenderConfig
	track  tracker
}

// NewSender returns a Sender. ledger may be nil, in which case requests
// with an Idempotency-Key are refused as unavailable.
func NewSender(d *Dispatcher, queue Queue, ledger Ledger, cfg SenderConfig) *Sender {
	if cfg.NewID == nil {
		cfg.NewID = NewServiceID
	}
	if cfg.Guard == nil {
		cfg.Guard = NewGuard(GuardConfig{DefaultFrom: cfg.DefaultFrom}, d.log)
	}
	return &Sender{d: d, queue: queue, ledger: ledger, cfg: cfg, track: tracker{store: cfg.Status, log: d.log}}
}

// Send carries out r. The Result is meaningful when err is nil (status sent
// or queued), when err is a provider failure about this message (status
// failed: kinds KindRejected, KindProviderAccount, KindPartial), and when
// the provider's outcome is unknown and the message could not be queued
// for another try (status unknown: kind KindAmbiguous). Every other error
// has no Result.
func (s *Sender) Send(ctx context.Context, r SendRequest) (Result, error) {
	m := Message{To: r.To, Body: r.Body, From: r.From}
	// Validation and the guard's rules, before anything is claimed, taken
	// or queued.
	if err := s.cfg.Guard.Check(ctx, m); err != nil {
		return Result{}, err
	}
	if err := CheckValidFor(r.ValidFor); err != nil {
		return Result{}, err
	}
	if m.From == "" && !s.d.failsOver() {
		// With several providers each gives its own default sender as it
		// sends (Route.From).
		m.From = s.cfg.DefaultFrom
	}
	m = s.cfg.Guard.Encode(m)
	if r.IdempotencyKey == "" {
		return s.admit(ctx, m, r)
	}
	return s.sendOnce(ctx, m, r)
}

// sendOnce runs send under an idempotency record.
func (s *Sender) sendOnce(ctx context.Context, m Message, r SendRequest) (Result, error) {
	if s.ledger == nil {
		return Result{}, E(KindUnavailable, "idempotency is not available", RetryAfter(5*time.Second))
	}
	key := idempotencyRecordKey(r.Caller, r.IdempotencyKey)
	fp := requestFingerprint(r)
	c, err := s.ledger.Claim(ctx, key, fp, idempotencyLease)
	if err != nil {
		// Without a record, neither sending nor queueing is safe: the
		// client's retry, once the table is back, would find no record and
		// send a second copy. Accept nothing; the client retries.
		s.d.log.LogAttrs(ctx, slog.LevelWarn, "idempotency store unavailable; refusing the request", slog.String("error", err.Error()))
		return Result{}, E(KindUnavailable, "the message could not be accepted now; retry later", RetryAfter(5*time.Second), Cause(err))
	}
	switch c.State {
	case Held:
		return Result{}, E(KindConflict, "a request with this Idempotency-Key is still in progress", RetryAfter(time.Second))
	case Mismatch:
		return Result{}, E(KindInvalid, "Idempotency-Key was already used with a different request", Code(CodeIdempotencyMismatch))
	case Done:
		return decodeOutcome(c.Outcome)
	}
	res, err := s.admit(ctx, m, r)
	if settled(err) {
		s.record(ctx, key, fp, res, err)
	} else if rerr := s.ledger.Release(context.WithoutCancel(ctx), key); rerr != nil {
		s.d.log.LogAttrs(ctx, slog.LevelWarn, "could not release idempotency key", slog.String("error", rerr.Error()))
	}
	return res, err
}

// settled reports whether an outcome is final for its idempotency key:
// something was sent, queued or refused for good, or may have been sent
// (an unknown outcome: a retry must not send again). Outcomes that
// accepted nothing (rate limited, unavailable, account problems) leave the
// key free for a retry.
func settled(err error) bool {
	k := KindOf(err)
	return err == nil || k == KindRejected || k == KindPartial || k == KindAmbiguous
}

// record stores the outcome of a request under its idempotency key. The
// outcome is final whether or not the client is still there to read it, so
// it is recorded on a context that outlives the request, each try with its
// own timeout, and retried with a growing pause. When every try fails the
// record stays pending, and a retry of the request after the claim's lease
// could send the message again: that is logged as an error with the event
// idempotency_record_failed, which raises an alarm.
func (s *Sender) record(ctx context.Context, key, fp string, res Result, outcomeErr error) {
	bg := context.WithoutCancel(ctx)
	outcome := encodeOutcome(res, outcomeErr)
	pause := recordBackoff
	var err error
	for try := 1; try <= recordAttempts; try++ {
		tctx, cancel := context.WithTimeout(bg, recordTimeout)
		err = s.ledger.Complete(tctx, key, fp, outcome, idempotencyKeep)
		cancel()
		if err == nil {
			return
		}
		if try < recordAttempts {
			_ = s.d.clock.Sleep(bg, pause)
			pause *= 2
		}
	}
	s.d.log.LogAttrs(ctx, slog.LevelError, "could not record the outcome of an idempotent request; a retry after its lease may send again",
		slog.String("event", "idempotency_record_failed"), slog.String("messageId", res.MessageID),
		slog.String("status", string(res.Status)), slog.Int("attempts", recordAttempts), slog.String("error", err.Error()))
}

// send gives m its service id, takes a slot and calls the provider, or
// queues, and records the outcome in the message's status record once the
// provider call is over.
func (s *Sender) send(ctx context.Context, m Message, r SendRequest) (Result, error) {
	m, st := s.identify(m, r)
	rc, err := s.d.dispatch(ctx, m, s.cfg.MaxWait)
	if err == nil {
		s.d.log.LogAttrs(ctx, slog.LevelInfo, "sent", slog.String("providerId", rc.ID), slog.String("serviceId", st.id), slog.String("provider", rc.Provider),
			slog.String("to", MaskNumber(m.To)), slog.Int("segments", st.seg.Count))
		s.recordStatus(ctx, m, st, StatusSent, rc, nil)
		return Result{MessageID: rc.ID, Status: StatusSent, Channel: Channel, To: m.To, Segments: st.seg.Count, Encoding: st.seg.Encoding, Provider: rc.Provider}, nil
	}
	switch KindOf(err) {
	case KindRejected, KindProviderAccount, KindPartial:
		s.d.log.LogAttrs(ctx, slog.LevelWarn, "provider refused the message", slog.String("to", MaskNumber(m.To)), providerAttrs(err))
		s.recordStatus(ctx, m, st, StatusFailed, rc, failure(err))
		// A partial send's receipt names the parts that went out; a
		// refusal has no provider id, and answers the service id.
		msgID := rc.ID
		if msgID == "" {
			msgID = st.id
		}
		return Result{MessageID: msgID, Status: StatusFailed, Channel: Channel, To: m.To, Segments: st.seg.Count, Encoding: st.seg.Encoding, Provider: rc.Provider}, err
	case KindRateLimited:
		if quotaRefusal(err) {
			// The daily budget: nothing is sent or queued.
			logQuota(ctx, s.d.log, PoisonDailyBudget, LimitDailyBudget, m)
			return Result{}, err
		}
		// No slot: queue without a warning, this is the normal overflow.
	case KindAmbiguous:
		s.d.log.LogAttrs(ctx, slog.LevelWarn, "provider outcome unknown",
			slog.String("event", "ambiguous_send"), slog.String("to", MaskNumber(m.To)), providerAttrs(err))
		if !s.cfg.QueueEnabled {
			return s.unknown(ctx, m, st, err)
		}
		// Queued, it is sent again: at-least-once, since a lost one-time
		// code is worse than a duplicate.
		res, qerr := s.enqueue(ctx, m, st, err)
		if qerr != nil {
			return s.unknown(ctx, m, st, err)
		}
		return res, nil
	case KindTransient:
		s.d.log.LogAttrs(ctx, slog.LevelWarn, "provider failed transiently; queueing", providerAttrs(err))
	case KindUnavailable:
		s.d.log.LogAttrs(ctx, slog.LevelWarn, "rate limiter unavailable; queueing", slog.String("error", err.Error()))
	case KindExpired:
		// The validity (at least 20 s) ended during a wait for a slot of at
		// most SMS_MAX_WAIT (at most 5 s): only a clock that jumped gets
		// here. Nothing was sent or accepted.
		return Result{}, E(KindUnavailable, "the message could not be sent within its validity; retry later", RetryAfter(time.Second), Cause(err))
	default:
		return Result{}, err
	}
	return s.enqueue(ctx, m, st, err)
}

// identify gives m its service id — the one the quotas counted it under
// (admit), or a new one — and its expiry, and returns what the send path
// knows of it besides the message.
func (s *Sender) identify(m Message, r SendRequest) (Message, sendState) {
	if m.ID == "" {
		m.ID = s.cfg.NewID()
	}
	if s.track.on() {
		m.ServiceID = m.ID
	}
	accepted := s.d.clock.Now()
	if r.ValidFor > 0 {
		m.ValidUntil = accepted.Add(r.ValidFor)
	}
	return m, sendState{id: m.ID, seg: CountSegments(m.Body), accepted: accepted, owner: callerOwner(r.Caller)}
}

// sendState is what the send path knows of a message besides the message:
// its service id, segments, when it was accepted and who owns it.
type sendState struct {
	id       string
	seg      Segments
	accepted time.Time
	owner    Owner
}

// recordStatus writes the status the message reached to its record: the answer's
// messageId (the provider's id once sent, the service id otherwise), the
// provider's id and the error, if any.
func (s *Sender) recordStatus(ctx context.Context, m Message, st sendState, status Status, rc Receipt, f *Failure) {
	if !s.track.on() {
		return
	}
	ch := s.track.sent(s.track.change(m, st.seg, status, st.accepted), rc)
	ch.Owner, ch.Error = st.owner, f
	ch.MessageID = rc.ID
	if ch.MessageID == "" {
		ch.MessageID = st.id
	}
	if ch.ProviderCode == "" && f != nil {
		ch.ProviderCode = f.ProviderCode
	}
	s.track.record(ctx, st.id, ch)
}

// enqueue hands m to the queue under its service id, or explains why it
// cannot when queueing is off. cause is why the message could not be sent
// now.
func (s *Sender) enqueue(ctx context.Context, m Message, st sendState, cause error) (Result, error) {
	if !s.cfg.QueueEnabled {
		if KindOf(cause) == KindRateLimited {
			return Result{}, E(KindRateLimited, "rate limit reached; retry later", RetryAfter(time.Second))
		}
		return Result{}, E(KindUnavailable, "the message could not be sent now; retry later", RetryAfter(5*time.Second), Cause(cause))
	}
	m.ID = st.id
	qm := QueuedMessage{Message: m, Attempt: 1, EnqueuedAt: s.d.clock.Now()}
	if err := s.queue.Enqueue(ctx, qm); err != nil {
		s.d.log.LogAttrs(ctx, slog.LevelError, "queue unavailable", slog.String("error", err.Error()))
		return Result{}, E(KindUnavailable, "the message could not be accepted now; retry later", RetryAfter(5*time.Second), Cause(err))
	}
	s.d.log.LogAttrs(ctx, slog.LevelInfo, "queued", slog.String("messageId", m.ID), slog.String("to", MaskNumber(m.To)))
	metrics.Inc(ctx, metrics.Queued)
	s.recordStatus(ctx, m, st, StatusQueued, Receipt{}, nil)
	return Result{MessageID: m.ID, Status: StatusQueued, Channel: Channel, To: m.To}, nil
}

// unknown answers a message whose provider call has no known outcome and
// that is not queued for another try: it may have been sent, so nothing
// may say it was not. The Result carries the service id, under which the
// answer is kept, and the error keeps the provider's detail.
func (s *Sender) unknown(ctx context.Context, m Message, st sendState, cause error) (Result, error) {
	e := AsError(cause)
	s.d.log.LogAttrs(ctx, slog.LevelWarn, "answered that the outcome is unknown", slog.String("messageId", st.id), slog.String("to", MaskNumber(m.To)))
	s.recordStatus(ctx, m, st, StatusUnknown, Receipt{}, failure(cause))
	return Result{MessageID: st.id, Status: StatusUnknown, Channel: Channel, To: m.To, Segments: st.seg.Count, Encoding: st.seg.Encoding},
		E(KindAmbiguous, "the SMS provider's outcome is unknown: the message may have been sent", ProviderDetail(e.ProviderCode, e.ProviderMessage), Cause(cause))
}

// idempotencyRecordKey is the ledger key of an Idempotency-Key scoped to a
// caller. It is a hash, so neither the subject nor the key is stored.
func idempotencyRecordKey(caller, key string) string {
	h := sha256.New()
	h.Write([]byte(caller))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return "idem#" + hex.EncodeToString(h.Sum(nil))
}

// Fingerprint identifies a message's content (to, body, from) without
// storing it; ledger records compare it to tell a repeat from a different
// message under the same key.
func Fingerprint(to, body, from string) string {
	return fingerprint(to, body, from)
}

func fingerprint(fields ...string) string {
	h := sha256.New()
	for _, s := range fields {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// storedOutcome is what an idempotency record keeps.
type storedOutcome struct {
	Result *Result      `json:"result,omitempty"`
	Kind   Kind         `json:"kind,omitempty"`
	Err    *storedError `json:"error,omitempty"`
}

// storedError is the client-facing part of a stored error. Records written
// before codes narrowed kinds only carry the kind's code, which the
// boundary maps back to the same answer.
type storedError struct {
	Code         string `json:"code,omitempty"`
	Message      string `json:"message"`
	ProviderCode string `json:"providerCode,omitempty"`
}

func encodeOutcome(res Result, err error) []byte {
	o := storedOutcome{Result: &res}
	if err != nil {
		e := AsError(err)
		o.Kind = e.Kind
		o.Err = &storedError{Code: e.Code, Message: e.Message, ProviderCode: e.ProviderCode}
	}
	b, _ := json.Marshal(o)
	return b
}

func decodeOutcome(b []byte) (Result, error) {
	var o storedOutcome
	if err := json.Unmarshal(b, &o); err != nil || o.Result == nil {
		return Result{}, E(KindInternal, "stored idempotent result is unreadable", Cause(err))
	}
	if o.Err == nil {
		return *o.Result, nil
	}
	return *o.Result, E(o.Kind, o.Err.Message, Code(o.Err.Code), ProviderDetail(o.Err.ProviderCode, ""))
}
