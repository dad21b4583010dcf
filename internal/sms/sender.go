package sms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"time"
)

// Defaults for the idempotency records of the send path
// (docs/architecture.md#idempotency).
const (
	IdempotencyLease = 30 * time.Second
	IdempotencyKeep  = 24 * time.Hour
)

// SendRequest is one request to send a message as the API received it.
type SendRequest struct {
	To   string
	Body string
	// From is the caller's sender override; empty means the default.
	From string
	// IdempotencyKey is the caller's Idempotency-Key header, if any.
	IdempotencyKey string
	// Caller is the authenticated subject; idempotency keys are scoped to it.
	Caller string
}

// SenderConfig holds the settings of the send path.
type SenderConfig struct {
	// DefaultFrom is the sender used when a request names none.
	DefaultFrom string
	// AllowedSenders, when not empty, lists the only From overrides allowed.
	AllowedSenders []string
	// QueueEnabled queues messages that find no slot; otherwise they get 429.
	QueueEnabled bool
	// MaxWait bounds how long a request waits for a near slot.
	MaxWait time.Duration
	// NewID assigns ids to queued messages; NewID (UUIDv4) when nil.
	NewID func() string
}

// Sender carries out send requests: validate, deduplicate, take a slot and
// send, or hand the message to the queue.
type Sender struct {
	d       *Dispatcher
	queue   Queue
	ledger  Ledger
	cfg     SenderConfig
	allowed map[string]bool
}

// NewSender returns a Sender. ledger may be nil, in which case requests
// with an Idempotency-Key are refused as unavailable.
func NewSender(d *Dispatcher, queue Queue, ledger Ledger, cfg SenderConfig) *Sender {
	if cfg.NewID == nil {
		cfg.NewID = NewID
	}
	s := &Sender{d: d, queue: queue, ledger: ledger, cfg: cfg}
	if len(cfg.AllowedSenders) > 0 {
		s.allowed = make(map[string]bool, len(cfg.AllowedSenders))
		for _, a := range cfg.AllowedSenders {
			s.allowed[a] = true
		}
	}
	return s
}

// Send carries out r. The Result is meaningful when err is nil (status sent
// or queued) and also when err is a provider failure about this message
// (status failed: kinds KindRejected, KindProviderAccount, KindPartial).
// Every other error has no Result.
func (s *Sender) Send(ctx context.Context, r SendRequest) (Result, error) {
	m := Message{To: r.To, Body: r.Body, From: r.From}
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	if r.From != "" && s.allowed != nil && !s.allowed[r.From] {
		return Result{}, &Error{Kind: KindForbidden, Code: CodeForbidden, Field: "from", Message: "sender is not allowed"}
	}
	if m.From == "" {
		m.From = s.cfg.DefaultFrom
	}
	if r.IdempotencyKey == "" {
		return s.send(ctx, m, "")
	}
	return s.sendOnce(ctx, m, r)
}

// sendOnce runs send under an idempotency record.
func (s *Sender) sendOnce(ctx context.Context, m Message, r SendRequest) (Result, error) {
	if s.ledger == nil {
		return Result{}, &Error{Kind: KindUnavailable, Message: "idempotency is not available", RetryAfter: 5 * time.Second}
	}
	key := IdempotencyRecordKey(r.Caller, r.IdempotencyKey)
	fp := Fingerprint(r.To, r.Body, r.From)
	c, err := s.ledger.Claim(ctx, key, fp, IdempotencyLease)
	if err != nil {
		// The table is unreachable: queue rather than fail
		// (docs/architecture.md#failure-semantics);
		// the queue can absorb the message without a table.
		s.d.Log.LogAttrs(ctx, slog.LevelWarn, "idempotency store unavailable; queueing", slog.String("error", err.Error()))
		return s.enqueue(ctx, m, r.IdempotencyKey, err)
	}
	switch c.State {
	case Held:
		return Result{}, &Error{Kind: KindConflict, Code: CodeConflict, Message: "a request with this Idempotency-Key is still in progress", RetryAfter: time.Second}
	case Mismatch:
		return Result{}, &Error{Kind: KindInvalid, Code: CodeIdempotencyMismatch, Message: "Idempotency-Key was already used with a different request"}
	case Done:
		return decodeOutcome(c.Outcome)
	}
	res, err := s.send(ctx, m, r.IdempotencyKey)
	if settled(res, err) {
		if cerr := s.ledger.Complete(ctx, key, fp, encodeOutcome(res, err), IdempotencyKeep); cerr != nil {
			s.d.Log.LogAttrs(ctx, slog.LevelWarn, "could not record idempotent result", slog.String("error", cerr.Error()))
		}
	} else if rerr := s.ledger.Release(context.WithoutCancel(ctx), key); rerr != nil {
		s.d.Log.LogAttrs(ctx, slog.LevelWarn, "could not release idempotency key", slog.String("error", rerr.Error()))
	}
	return res, err
}

// settled reports whether an outcome is final for its idempotency key:
// something was sent, queued or refused for good. Outcomes that accepted
// nothing (rate limited, unavailable, account problems) leave the key free
// for a retry.
func settled(res Result, err error) bool {
	if err == nil {
		return true
	}
	switch KindOf(err) {
	case KindRejected, KindPartial:
		return true
	}
	return false
}

// send takes a slot and calls the provider, or queues.
func (s *Sender) send(ctx context.Context, m Message, idemKey string) (Result, error) {
	seg := CountSegments(m.Body)
	rc, err := s.d.dispatch(ctx, m, s.cfg.MaxWait)
	if err == nil {
		s.d.Log.LogAttrs(ctx, slog.LevelInfo, "sent", slog.String("providerId", rc.ID), slog.String("to", MaskNumber(m.To)), slog.Int("segments", seg.Count))
		return Result{MessageID: rc.ID, Status: StatusSent, Channel: Channel, To: m.To, Segments: seg.Count, Encoding: seg.Encoding}, nil
	}
	e := AsError(err)
	switch e.Kind {
	case KindRejected, KindProviderAccount, KindPartial:
		s.d.Log.LogAttrs(ctx, slog.LevelWarn, "provider refused the message", slog.String("to", MaskNumber(m.To)), providerAttrs(err))
		code := CodeProviderError
		if e.Kind == KindRejected {
			code = CodeProviderRejected
		}
		res := Result{MessageID: e.MessageID, Status: StatusFailed, Channel: Channel, To: m.To, Segments: seg.Count, Encoding: seg.Encoding,
			Error: &ErrorBody{Code: code, Message: e.Message, ProviderCode: e.ProviderCode}}
		return res, err
	case KindAmbiguous:
		s.d.Log.LogAttrs(ctx, slog.LevelWarn, "provider outcome unknown; queueing for retry (at-least-once)",
			slog.String("event", "ambiguous_send"), slog.String("to", MaskNumber(m.To)), providerAttrs(err))
	case KindTransient:
		s.d.Log.LogAttrs(ctx, slog.LevelWarn, "provider failed transiently; queueing", providerAttrs(err))
	case KindUnavailable:
		s.d.Log.LogAttrs(ctx, slog.LevelWarn, "rate limiter unavailable; queueing", slog.String("error", err.Error()))
	case KindRateLimited:
	default:
		return Result{}, err
	}
	return s.enqueue(ctx, m, idemKey, err)
}

// enqueue hands m to the queue, or explains why it cannot when queueing is
// off. cause is why the message could not be sent now.
func (s *Sender) enqueue(ctx context.Context, m Message, idemKey string, cause error) (Result, error) {
	if !s.cfg.QueueEnabled {
		if KindOf(cause) == KindRateLimited {
			return Result{}, &Error{Kind: KindRateLimited, Code: CodeRateLimited, Message: "rate limit reached; retry later", RetryAfter: time.Second}
		}
		return Result{}, &Error{Kind: KindUnavailable, Code: CodeUnavailable, Message: "the message could not be sent now; retry later", RetryAfter: 5 * time.Second, Err: cause}
	}
	m.ID = s.cfg.NewID()
	qm := QueuedMessage{Message: m, Attempt: 1, EnqueuedAt: s.d.Clock.Now(), IdempotencyKey: idemKey}
	if err := s.queue.Enqueue(ctx, qm); err != nil {
		s.d.Log.LogAttrs(ctx, slog.LevelError, "queue unavailable", slog.String("error", err.Error()))
		return Result{}, &Error{Kind: KindUnavailable, Code: CodeUnavailable, Message: "the message could not be accepted now; retry later", RetryAfter: 5 * time.Second, Err: err}
	}
	s.d.Log.LogAttrs(ctx, slog.LevelInfo, "queued", slog.String("messageId", m.ID), slog.String("to", MaskNumber(m.To)))
	return Result{MessageID: m.ID, Status: StatusQueued, Channel: Channel, To: m.To}, nil
}

// IdempotencyRecordKey is the ledger key of an Idempotency-Key scoped to a
// caller. It is a hash, so neither the subject nor the key is stored.
func IdempotencyRecordKey(caller, key string) string {
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
	h := sha256.New()
	for _, s := range []string{to, body, from} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// storedOutcome is what an idempotency record keeps.
type storedOutcome struct {
	Result *Result    `json:"result,omitempty"`
	Kind   Kind       `json:"kind,omitempty"`
	Err    *ErrorBody `json:"error,omitempty"`
}

func encodeOutcome(res Result, err error) []byte {
	o := storedOutcome{Result: &res}
	if err != nil {
		e := AsError(err)
		o.Kind = e.Kind
		o.Err = &ErrorBody{Code: e.ErrorCode(), Message: e.Message, ProviderCode: e.ProviderCode}
	}
	b, _ := json.Marshal(o)
	return b
}

func decodeOutcome(b []byte) (Result, error) {
	var o storedOutcome
	if err := json.Unmarshal(b, &o); err != nil || o.Result == nil {
		return Result{}, &Error{Kind: KindInternal, Message: "stored idempotent result is unreadable", Err: err}
	}
	if o.Err == nil {
		return *o.Result, nil
	}
	return *o.Result, &Error{Kind: o.Kind, Code: o.Err.Code, Message: o.Err.Message, ProviderCode: o.Err.ProviderCode, MessageID: o.Result.MessageID}
}
