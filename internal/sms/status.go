package sms

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The statuses of a message's status record besides StatusSent,
// StatusQueued, StatusFailed and StatusUnknown, which a Result carries too. The rules
// that move a record from one to another are Advance's; docs/status.md
// has the table.
const (
	// StatusScheduled: accepted for a later send time.
	StatusScheduled Status = "scheduled"
	// StatusDelivered: the handset has the message (a provider receipt).
	StatusDelivered Status = "delivered"
	// StatusUndelivered: the provider accepted the message but could not
	// deliver it.
	StatusUndelivered Status = "undelivered"
	// StatusExpired: the message's validity ended before it was sent (or
	// delivered, by a provider receipt).
	StatusExpired Status = "expired"
	// StatusCanceled: a scheduled message canceled before its send time.
	StatusCanceled Status = "canceled"
)

// CodeDeadLettered is the error code of a record whose message was handed
// to the dead-letter queue; its Failure.Message says why. Such a failed
// record moves on when the message is sent after a redrive.
const CodeDeadLettered = "dead_lettered"

// RecordStatuses lists every record status in rank order (see Rank).
var RecordStatuses = []Status{
	StatusScheduled, StatusQueued, StatusUnknown, StatusSent,
	StatusUndelivered, StatusFailed, StatusExpired, StatusCanceled,
	StatusDelivered,
}

// rankFinal is the rank of the final statuses other than delivered.
const rankFinal = 5

// Rank orders record statuses for "never backwards": scheduled 1,
// queued 2, unknown 3, sent 4, the final undelivered, failed, expired and
// canceled 5, delivered 6. A status that is not a record status ranks 0.
func (s Status) Rank() int {
	switch s {
	case StatusScheduled:
		return 1
	case StatusQueued:
		return 2
	case StatusUnknown:
		return 3
	case StatusSent:
		return 4
	case StatusUndelivered, StatusFailed, StatusExpired, StatusCanceled:
		return rankFinal
	case StatusDelivered:
		return 6
	}
	return 0
}

// IsRecordStatus reports whether s is one of RecordStatuses.
func (s Status) IsRecordStatus() bool { return s.Rank() > 0 }

// Final reports whether s ends a message's story: delivered, undelivered,
// failed, expired or canceled. (A final status may still give way to a
// delivery receipt or, for a dead-lettered failure, to a send after a
// redrive: see Advance.)
func (s Status) Final() bool { return s.Rank() >= rankFinal }

// Advance reports whether a record in status from, whose error code is
// fromCode, moves to status to. The empty from stands for no record yet.
// The rules, in order:
//
//   - no record yet: any status creates it;
//   - the same status again changes nothing (receipts repeat);
//   - delivered always wins: a handset has the message;
//   - canceled only cancels a scheduled message;
//   - failed with code dead_lettered moves to any status from sent up
//     (sent, undelivered, expired, delivered): the message was taken up
//     again after a redrive. Not to queued: a late write of the send path
//     must not bring a dead-lettered message back;
//   - otherwise a record only moves up in Rank, so the final statuses
//     (rank 5) never give way to one another.
//
// A from that is not a record status (rank 0) gives way to any status but
// canceled.
func Advance(from Status, fromCode string, to Status) bool {
	switch {
	case !to.IsRecordStatus():
		return false
	case from == "":
		return true
	case to == from:
		return false
	case to == StatusDelivered:
		return true
	case to == StatusCanceled:
		return from == StatusScheduled
	case from == StatusFailed && fromCode == CodeDeadLettered:
		return to.Rank() >= StatusSent.Rank()
	}
	return to.Rank() > from.Rank()
}

// Predecessors lists the existing statuses that Advance moves to to, for
// stores that check the rule in a conditional write instead of calling
// Advance: a record moves to to when it is absent, when its status is in
// from (whatever its error code), or, with deadLettered, when it is failed
// with code dead_lettered.
func Predecessors(to Status) (from []Status, deadLettered bool) {
	for _, s := range RecordStatuses {
		if Advance(s, "", to) {
			from = append(from, s)
		}
	}
	if !slices.Contains(from, StatusFailed) {
		deadLettered = Advance(StatusFailed, CodeDeadLettered, to)
	}
	return from, deadLettered
}

// OwnerKind says what kind of party owns a message.
type OwnerKind string

// The owners of messages.
const (
	// OwnerCaller: an API caller, identified by its token's subject.
	OwnerCaller OwnerKind = "caller"
	// OwnerProducer: a producer that wrote to the queue.
	OwnerProducer OwnerKind = "producer"
)

// Owner is who a message belongs to. The kind keeps callers and producers
// apart: a caller whose subject is "producer" owns nothing a producer
// sent. The zero Owner is unknown (a record only receipts have written)
// and owns nothing.
type Owner struct {
	Kind OwnerKind
	// Subject is the caller's token subject (sub), or what identifies a
	// producer (may be empty).
	Subject string
}

// CallerOwner is the owner of the messages the API caller with token
// subject sub sent.
func CallerOwner(sub string) Owner { return Owner{Kind: OwnerCaller, Subject: sub} }

// ProducerOwner is the owner of the messages the producer identified by
// subject (may be empty) sent through the queue.
func ProducerOwner(subject string) Owner { return Owner{Kind: OwnerProducer, Subject: subject} }

// IsZero reports whether o is the unknown owner.
func (o Owner) IsZero() bool { return o == Owner{} }

// valid reports whether o is the zero owner, a caller with a subject, or a
// producer.
func (o Owner) valid() bool {
	switch o.Kind {
	case "":
		return o.Subject == ""
	case OwnerCaller:
		return o.Subject != ""
	case OwnerProducer:
		return true
	}
	return false
}

// Failure says why a message was not delivered.
type Failure struct {
	// Code is the API error code (provider_rejected, dead_lettered, …).
	Code string `json:"code"`
	// Message is safe to show the message's owner.
	Message string `json:"message,omitempty"`
	// ProviderCode is the provider's own error code, if any.
	ProviderCode string `json:"providerCode,omitempty"`
}

// HistoryEntry is one status a message was reported in.
type HistoryEntry struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
	// ProviderCode is the provider's status or error code reported with
	// it, if any.
	ProviderCode string `json:"providerCode,omitempty"`
}

// MaxHistory bounds Record.History. Each status appears at most once, so
// a history holds at most len(RecordStatuses) entries.
const MaxHistory = 20

// Record is the status record of one message, keyed by its service id.
// The body is never stored. Times are UTC with millisecond precision; zero
// times and values are unknown.
type Record struct {
	// ServiceID is the id this service gave the message (NewServiceID or
	// ServiceIDForProducer).
	ServiceID string `json:"serviceId"`
	// MessageID is the id answered to the API caller: the provider's id
	// when the provider took the message at once, the service id otherwise.
	MessageID string `json:"messageId,omitempty"`
	// ProducerID is a producer's own id for the message (its dedupe id).
	ProducerID        string   `json:"producerId,omitempty"`
	ProviderMessageID string   `json:"providerMessageId,omitempty"`
	Provider          string   `json:"provider,omitempty"`
	Status            Status   `json:"status"`
	To                string   `json:"to,omitempty"`
	From              string   `json:"from,omitempty"`
	Segments          int      `json:"segments,omitempty"`
	Encoding          Encoding `json:"encoding,omitempty"`
	// CreatedAt is the earliest acceptance time a writer reported; zero
	// when only receipts have written the record.
	CreatedAt time.Time `json:"createdAt,omitzero"`
	// UpdatedAt is when the record last changed; it is kept for the
	// store's retention after that.
	UpdatedAt time.Time `json:"updatedAt"`
	// ExpiresAt is when the message's validity ends, if it has one.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Error says why the message was not delivered; it belongs to the
	// current status and is nil for statuses without one.
	Error *Failure `json:"error,omitempty"`
	// History has one entry per status the message was reported in, at the
	// earliest time it was, ordered by time (then Rank). A status reported
	// after the record had moved past it is listed without moving the
	// record, so the history does not depend on the order reports arrive
	// in; a refused cancel is not listed.
	History []HistoryEntry `json:"history"`
	// Owner is who may read the record; never shown to clients.
	Owner Owner `json:"-"`
}

// OwnedBy reports whether o owns r. The zero owner owns nothing, and a
// record of unknown owner belongs to nobody.
func (r Record) OwnedBy(o Owner) bool { return !o.IsZero() && r.Owner == o }

// Change is what a writer knows about a message at one point: the status
// it reached and the fields the writer can fill. StatusStore.Record merges it
// into the message's record.
type Change struct {
	// Status is the status reached; required (one of RecordStatuses).
	Status Status
	// At is when the status was reached; zero means now.
	At time.Time
	// ProviderCode is the provider's status or error code reported with the
	// status; it goes to the history entry.
	ProviderCode string
	// Error says why the message was not delivered. When the record moves
	// to Status, it replaces the record's error (nil clears it).
	Error *Failure
	// ForProviderMessageID, when set, limits the change to a record whose
	// ProviderMessageID is this id or not known yet; a record with another
	// provider id is left as it is. A receipt about one part of a multipart
	// message sets it to the part's id: the provider sends one receipt per
	// part, all carrying the same service id, and only the receipts of the
	// part the send path recorded (the first) decide the record. It does
	// not fill ProviderMessageID.
	ForProviderMessageID string

	// The fields below fill those the record does not have yet; a
	// field the record has is never changed, except CreatedAt, which keeps
	// the earliest time. Zero values are unknown.
	MessageID         string
	ProducerID        string
	ProviderMessageID string
	Provider          string
	To                string
	From              string
	Segments          int
	Encoding          Encoding
	CreatedAt         time.Time
	ExpiresAt         time.Time
	Owner             Owner
}

// Check reports a change no store may record: an unknown status or an
// owner that is neither unknown, a caller with a subject, nor a producer.
// The error is KindInternal: writers build changes, clients do not.
func (ch Change) Check() error {
	if !ch.Status.IsRecordStatus() {
		return E(KindInternal, "internal error", Cause(fmt.Errorf("sms: status change to %q: not a record status", ch.Status)))
	}
	if !ch.Owner.valid() {
		return E(KindInternal, "internal error", Cause(fmt.Errorf("sms: status change: invalid owner kind %q", ch.Owner.Kind)))
	}
	return nil
}

// CheckRecordArgs reports arguments of StatusStore.Record no store may
// accept: a service id that is not one (NewServiceID,
// ServiceIDForProducer) or a change that fails Check. The error is
// KindInternal.
func CheckRecordArgs(serviceID string, ch Change) error {
	if !IsServiceIDShaped(serviceID) {
		return E(KindInternal, "internal error", Cause(fmt.Errorf("sms: status record: %q is not a service id", serviceID)))
	}
	return ch.Check()
}

// DefaultStatusRetention is how long status records are kept after their
// last change unless configured otherwise (SMS_STATUS_RETENTION).
const DefaultStatusRetention = 720 * time.Hour

// StatusStore keeps the status records of messages (docs/status.md).
// Implementations: memory.StatusStore (local mode, tests) and
// dynamo.StatusStore; both pass the suite of internal/testing/conformance.
type StatusStore interface {
	// Record merges ch into the record of the message serviceID, creating
	// it from ch when there is none: the record moves to ch.Status when
	// Advance allows it (ch.Error then replaces its error); ch's fields
	// fill those the record lacks; the history gains ch.Status once. It
	// reports whether the status moved (a new record counts). Records are
	// kept the store's retention after their last change. It is safe for
	// concurrent use. A set of changes ends in the same record whatever
	// order they arrive in, provided that no two of them are rival final
	// statuses (undelivered and failed, say: the first wins) and that
	// writers filling the same field agree on its value (a change limited
	// to a provider id, Change.ForProviderMessageID, that arrives before
	// the record knows its provider id is merged, as it cannot be told
	// from the first part's).
	Record(ctx context.Context, serviceID string, ch Change) (changed bool, err error)
	// Get returns the record found by id: a service id, a producer's id
	// (through ServiceIDForProducer) or a provider's message id. A record
	// past its retention is gone. Not found is a KindNotFound error.
	Get(ctx context.Context, id string) (Record, error)
}

// RecordNotFound is the error StatusStore.Get returns when no record
// matches id: KindNotFound.
func RecordNotFound(id string) error {
	return E(KindNotFound, "no such message", Cause(fmt.Errorf("sms: no status record for %q", id)))
}

// Apply returns r with ch merged in at now, as StatusStore.Record does,
// and reports whether the status moved (moved) and whether anything
// changed at all (modified). The zero Record stands for no record yet;
// the result's ServiceID is r's. Times are truncated to milliseconds.
// It is the reference the stores implement: the memory store calls it,
// the DynamoDB store writes the same result in conditional updates. A
// change about another provider id than r's (ch.ForProviderMessageID)
// leaves r as it is.
func (r Record) Apply(ch Change, now time.Time) (next Record, moved, modified bool) {
	if !ch.AppliesTo(r) {
		return r.Clone(), false, false
	}
	now = msUTC(now)
	at := msUTC(ch.At)
	if at.IsZero() {
		at = now
	}
	next = r.Clone()
	if moved = Advance(r.Status, r.errorCode(), ch.Status); moved {
		next.Status = ch.Status
		next.Error = cloneFailure(ch.Error)
		modified = true
	}
	if moved || ch.Status != StatusCanceled {
		if next.addHistory(HistoryEntry{Status: ch.Status, At: at, ProviderCode: ch.ProviderCode}) {
			modified = true
		}
	}
	if next.fill(ch) {
		modified = true
	}
	if modified {
		next.UpdatedAt = now
	}
	return next, moved, modified
}

// AppliesTo reports whether ch may change r: always, unless ch is limited
// to a provider id (ForProviderMessageID) and r has another one.
func (ch Change) AppliesTo(r Record) bool {
	return ch.ForProviderMessageID == "" || r.ProviderMessageID == "" || r.ProviderMessageID == ch.ForProviderMessageID
}

// errorCode is the code of r's error, or "".
func (r Record) errorCode() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

// addHistory enters e unless its status is there already at the same
// time or earlier, keeping the history ordered; it reports whether the
// history changed.
func (r *Record) addHistory(e HistoryEntry) bool {
	i := slices.IndexFunc(r.History, func(h HistoryEntry) bool { return h.Status == e.Status })
	if i >= 0 {
		if !e.At.Before(r.History[i].At) {
			return false
		}
		r.History = slices.Delete(r.History, i, i+1)
	}
	r.History = append(r.History, e)
	SortHistory(r.History)
	return true
}

// SortHistory orders entries by time, then Rank.
func SortHistory(h []HistoryEntry) {
	slices.SortStableFunc(h, func(a, b HistoryEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return a.Status.Rank() - b.Status.Rank()
	})
}

// fill sets the fields of r that ch knows and r does not, and moves
// CreatedAt earlier; it reports whether anything changed.
func (r *Record) fill(ch Change) bool {
	changed := false
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&r.MessageID, ch.MessageID}, {&r.ProducerID, ch.ProducerID},
		{&r.ProviderMessageID, ch.ProviderMessageID}, {&r.Provider, ch.Provider},
		{&r.To, ch.To}, {&r.From, ch.From}, {(*string)(&r.Encoding), string(ch.Encoding)},
	} {
		if *f.dst == "" && f.v != "" {
			*f.dst, changed = f.v, true
		}
	}
	if r.Segments == 0 && ch.Segments > 0 {
		r.Segments, changed = ch.Segments, true
	}
	if created := msUTC(ch.CreatedAt); !created.IsZero() && (r.CreatedAt.IsZero() || created.Before(r.CreatedAt)) {
		r.CreatedAt, changed = created, true
	}
	if expires := msUTC(ch.ExpiresAt); r.ExpiresAt.IsZero() && !expires.IsZero() {
		r.ExpiresAt, changed = expires, true
	}
	if r.Owner.IsZero() && !ch.Owner.IsZero() {
		r.Owner, changed = ch.Owner, true
	}
	return changed
}

// Clone returns a copy of r that shares nothing with it.
func (r Record) Clone() Record {
	r.History = slices.Clone(r.History)
	r.Error = cloneFailure(r.Error)
	return r
}

func cloneFailure(f *Failure) *Failure {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}

// msUTC truncates t to milliseconds in UTC; the zero time stays zero.
func msUTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// NewServiceID returns a new service id (a random UUID, version 4) for a
// message the API accepted.
func NewServiceID() string { return NewID() }

// producerNamespace is the UUID namespace of ServiceIDForProducer. It must
// never change: the records of producers' messages are found through it.
var producerNamespace = [16]byte{0x5d, 0xc5, 0x2c, 0x9e, 0x3c, 0x85, 0x42, 0xd9, 0x81, 0x51, 0x61, 0xb2, 0x5f, 0x51, 0xfe, 0x76}

// ServiceIDForProducer returns the service id of a message a producer put
// on the queue, derived from its dedupe id (the producer's id, or the
// sqs:/sns: id the drain derives): a name-based UUID (version 5, SHA-1) in
// a fixed namespace. The same dedupe id always gives the same service id,
// so that every receive of the message, and a GET by the producer's id,
// finds its record without an index. Messages the send function enqueued
// carry their service id as the queue message's id instead.
func ServiceIDForProducer(dedupeID string) string {
	h := sha1.New()
	h.Write(producerNamespace[:])
	h.Write([]byte(dedupeID))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// IsServiceIDShaped reports whether id has the shape of a service id (a
// UUID in lower-case hex), which a store may use to skip a lookup.
func IsServiceIDShaped(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// formatUUID writes b in the canonical 8-4-4-4-12 form.
func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
