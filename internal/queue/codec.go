package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxkit/sms/internal/sms"
)

// envelopeVersion is the envelope version Encode writes and Decode understands.
const envelopeVersion = 1

// MaxBodyBytes is the largest message body Decode reads and Encode writes:
// the SQS limit of 256 KiB. Real messages are a few hundred bytes.
const MaxBodyBytes = 256 * 1024

// maxIDLen is the longest id accepted, in bytes. An id is 1 to maxIDLen
// printable ASCII characters without spaces (a UUID is 36).
const maxIDLen = 128

// Prefixes of the ids Decode derives for messages that carry no id of
// their own. They are reserved: a producer's id that starts with one is
// poison (ReasonReservedIDPrefix), so that it can never be taken for, or
// collide with, a derived id. The only message that may carry one is the
// drain's own copy of a message it puts back on the queue (see
// derivedIDAllowed).
const (
	sqsIDPrefix = "sqs:"
	snsIDPrefix = "sns:"
)

// hasReservedPrefix reports whether id starts with a prefix of the ids
// Decode derives.
func hasReservedPrefix(id string) bool {
	return strings.HasPrefix(id, sqsIDPrefix) || strings.HasPrefix(id, snsIDPrefix)
}

// derivedIDAllowed reports whether a message may carry a derived id: only
// the drain's own copies that Encode wrote, that is a v1 envelope whose
// attempt is at least 2 (a copy Requeued made) or that carries a send time
// (a scheduled message put back on the queue until it is due, with its
// attempt unchanged). A producer's message, a first enqueue by the send
// function and anything inside an SNS notification never qualify.
func derivedIDAllowed(versioned bool, attempt int, scheduled bool) bool {
	return versioned && (attempt >= 2 || scheduled)
}

// Poison reasons: the value of PoisonError.Reason and of the
// fluxkit-poison-reason attribute on a dead-lettered message. Field-specific
// reasons are built as "wrong_type:<field>", "missing_field:<field>" and
// "invalid_<field>", with the field named as in the JSON ("invalid_to",
// "wrong_type:attempt", "invalid_enqueuedAt").
const (
	ReasonTooLarge           = "too_large"
	ReasonInvalidJSON        = "invalid_json"
	ReasonNotObject          = "not_object"
	ReasonUnknownVersion     = "unknown_version"
	ReasonInvalidSNSEnvelope = "invalid_sns_envelope"
	ReasonSNSControlMessage  = "sns_control_message"
	ReasonInvalidMessage     = "invalid_message"
	// ReasonReservedIDPrefix: the id starts with "sqs:" or "sns:", the
	// prefixes of the ids the service derives itself.
	ReasonReservedIDPrefix = "reserved_id_prefix"
)

// Field names of the queue message, as they appear in the JSON.
const (
	fieldVersion    = "version"
	fieldID         = "id"
	fieldTo         = "to"
	fieldBody       = "body"
	fieldFrom       = "from"
	fieldAttempt    = "attempt"
	fieldEnqueuedAt = "enqueuedAt"
	// fieldExpiresAt ends the message's validity (producers and the send
	// function alike): past it the message is never sent.
	fieldExpiresAt = "expiresAt"
	// fieldServiceID is the service id of a producer's message that the
	// drain put back on the queue (a v1 envelope whose id is the
	// producer's). It is read only from v1 envelopes.
	fieldServiceID = "serviceId"
	// fieldSendAt is when a scheduled message is due (producers and the
	// send function alike): it is never sent before then.
	fieldSendAt = "sendAt"
	// fieldIdempotencyKey was written by earlier versions of the send
	// function. Decode still checks it and drops it; Encode no longer
	// writes it.
	fieldIdempotencyKey = "idempotencyKey"
)

// PoisonError reports a queue message that can never be delivered: it is
// not JSON, is not the queue message of the contract, or fails validation.
// Such a message goes to the dead-letter queue at once and is not retried.
// Neither Reason nor Detail ever contains the body or a phone number, so
// both are safe to log and to attach to the dead-lettered message.
type PoisonError struct {
	// Reason is short and machine-friendly, e.g. "invalid_json",
	// "wrong_type:to", "missing_field:body", "invalid_to",
	// "unknown_version".
	Reason string
	// Detail is a human-readable explanation written by this package.
	Detail string
}

// Error implements error.
func (e *PoisonError) Error() string {
	if e.Detail == "" {
		return "queue: poison message: " + e.Reason
	}
	return "queue: poison message: " + e.Reason + ": " + e.Detail
}

// PoisonReason reports the reason of the first *PoisonError in err's chain.
func PoisonReason(err error) (reason string, ok bool) {
	var p *PoisonError
	if errors.As(err, &p) {
		return p.Reason, true
	}
	return "", false
}

func poison(reason, detail string) *PoisonError {
	return &PoisonError{Reason: reason, Detail: detail}
}

// envelope is the v1 queue message as Encode writes it. Field order is the
// order of the JSON object.
type envelope struct {
	Version    int    `json:"version"`
	ID         string `json:"id,omitempty"`
	To         string `json:"to"`
	Body       string `json:"body"`
	From       string `json:"from,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	EnqueuedAt string `json:"enqueuedAt,omitempty"`
	ExpiresAt  string `json:"expiresAt,omitempty"`
	ServiceID  string `json:"serviceId,omitempty"`
	SendAt     string `json:"sendAt,omitempty"`
}

// Encode writes m as a v1 queue message:
//
//	{"version":1,"id":"…","to":"+1…","body":"…","from":"…","attempt":1,
//	 "enqueuedAt":"2006-01-02T15:04:05.999999999Z","sendAt":"2006-01-02T16:00:00Z",
//	 "expiresAt":"2006-01-02T16:00:20Z","serviceId":"…"}
//
// Empty optional fields (id, from), a zero Attempt, a zero EnqueuedAt, a
// zero SendAt and a zero ValidUntil are left out; Decode reads a missing
// attempt as 1. EnqueuedAt, SendAt and expiresAt (ValidUntil) are written
// in UTC. serviceId is written only when m.ServiceID is set and differs
// from m.ID: a producer's message that the drain puts back on the queue,
// whose id stays the producer's. Encode checks only what Decode would refuse
// for reasons of shape (empty to or body, a malformed id, a negative
// attempt, an oversized result); it does not validate the number or the
// sender, which the caller has done. A derived id ("sqs:…", "sns:…") is
// written only on a copy that Requeued made (attempt 2 or more), the one
// place Decode accepts it. Failures are KindInvalid *sms.Error values.
func Encode(m sms.QueuedMessage) ([]byte, error) {
	if err := checkEncodable(m); err != nil {
		return nil, err
	}
	env := envelope{
		Version: envelopeVersion,
		ID:      m.ID,
		To:      m.To,
		Body:    m.Body,
		From:    m.From,
		Attempt: m.Attempt,
	}
	if !m.EnqueuedAt.IsZero() {
		env.EnqueuedAt = m.EnqueuedAt.UTC().Format(time.RFC3339Nano)
	}
	if !m.SendAt.IsZero() {
		env.SendAt = m.SendAt.UTC().Format(time.RFC3339Nano)
	}
	if !m.ValidUntil.IsZero() {
		env.ExpiresAt = m.ValidUntil.UTC().Format(time.RFC3339Nano)
	}
	if m.ServiceID != "" && m.ServiceID != m.ID {
		env.ServiceID = m.ServiceID
	}
	var buf bytes.Buffer
	buf.Grow(128 + len(m.Body))
	enc := json.NewEncoder(&buf)
	// "<#> Your code" and "A & B" stay readable in the console and DLQ.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, sms.E(sms.KindInternal, "cannot encode the queue message", sms.Cause(err))
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(out) > MaxBodyBytes {
		return nil, sms.E(sms.KindInvalid, "the queue message is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
	}
	return out, nil
}

func checkEncodable(m sms.QueuedMessage) error {
	switch {
	case m.To == "":
		return sms.InvalidField(fieldTo, "is required")
	case m.Body == "":
		return sms.InvalidField(fieldBody, "is required")
	case m.ID != "" && !validID(m.ID):
		return sms.InvalidField(fieldID, "must be 1 to 128 printable ASCII characters without spaces")
	case m.Attempt < 0 || m.Attempt > math.MaxInt32:
		return sms.InvalidField(fieldAttempt, "must be between 1 and 2147483647")
	case hasReservedPrefix(m.ID) && !derivedIDAllowed(true, m.Attempt, !m.SendAt.IsZero()):
		return sms.InvalidField(fieldID, "may start with sqs: or sns: only on a requeued copy (attempt 2 or more) or a scheduled one")
	case m.ServiceID != "" && m.ServiceID != m.ID && !sms.IsServiceIDShaped(m.ServiceID):
		return sms.InvalidField(fieldServiceID, "must be a service id (a lower-case UUID)")
	case !m.SendAt.IsZero() && !fourDigitYear(m.SendAt):
		return sms.InvalidField(fieldSendAt, "must fall within the years 0000 to 9999 in UTC")
	case !m.ValidUntil.IsZero() && !fourDigitYear(m.ValidUntil):
		return sms.InvalidField(fieldExpiresAt, "must fall within the years 0000 to 9999 in UTC")
	}
	return nil
}

// Decode reads one queue message body. It accepts the producer form
// {"to","body","from"?,"id"?}, the v1 envelope that Encode writes, and
// either of them wrapped in an SNS notification (an SNS subscription
// without raw message delivery). Field names match exactly; unknown fields
// are ignored; null counts as the wrong type.
//
// The returned message has Attempt 1 when the body carries none, and a zero
// EnqueuedAt when it carries no enqueuedAt. Its ID is the body's id when
// given; otherwise it is derived for deduplication: "sns:" + the SNS
// MessageId for an SNS notification (SNS keeps that id when it retries a
// delivery, which gives the copy a new SQS message id), else "sqs:" +
// sqsMessageID, which must then be non-empty. A body's id that starts with
// one of these prefixes is poison (ReasonReservedIDPrefix) unless the body
// is the drain's own requeued copy: a v1 envelope with attempt 2 or more,
// not wrapped in SNS. ValidUntil is the body's expiresAt (zero without
// one); a message already past it is not poison: the drain records it as
// expired.
//
// ServiceID is the message's service id (docs/status.md): a v1 envelope's
// serviceId when it has one, else its id when that is a service id (the
// send function writes its service id as the id); for a producer's message
// (no version) it is derived from the id with sms.ServiceIDForProducer.
//
// A body that can never be delivered gives a *PoisonError, with a message
// that holds only ID and ServiceID, and those only when the body named its
// id, or none was needed (so that the poison message's status can be
// recorded); the only other error is a missing sqsMessageID when one is
// needed (a caller bug, KindInternal).
func Decode(body []byte, sqsMessageID string) (sms.QueuedMessage, error) {
	if len(body) > MaxBodyBytes {
		return sms.QueuedMessage{}, poison(ReasonTooLarge, "the body is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
	}
	fields, perr := object(body)
	if perr != nil {
		return sms.QueuedMessage{}, perr
	}
	derivedID := ""
	if sqsMessageID != "" {
		derivedID = sqsIDPrefix + sqsMessageID
	}
	wrapped := isSNS(fields)
	if wrapped {
		inner, snsID, perr := unwrapSNS(fields)
		if perr != nil {
			return sms.QueuedMessage{}, perr
		}
		if len(inner) > MaxBodyBytes {
			return sms.QueuedMessage{}, poison(ReasonTooLarge, "the SNS message is larger than "+strconv.Itoa(MaxBodyBytes)+" bytes")
		}
		if fields, perr = object(inner); perr != nil {
			return sms.QueuedMessage{}, perr
		}
		if snsID != "" {
			derivedID = snsIDPrefix + snsID
		}
	}
	m, versioned, perr := message(fields)
	if perr != nil {
		return poisonIDs(fields, versioned, derivedID), perr
	}
	if hasReservedPrefix(m.ID) && (wrapped || !derivedIDAllowed(versioned, m.Attempt, !m.SendAt.IsZero())) {
		return sms.QueuedMessage{}, poison(ReasonReservedIDPrefix, "ids starting with sqs: or sns: are reserved for the ids the service derives")
	}
	if m.ID == "" {
		if derivedID == "" {
			return sms.QueuedMessage{}, sms.E(sms.KindInternal, "internal error", sms.Cause(errors.New("queue: decode: a message without an id needs the SQS message id")))
		}
		m.ID = derivedID
	}
	m.ServiceID = serviceID(m.ID, m.ServiceID, versioned)
	return m, nil
}

// serviceID is the service id of a message whose id is id: the envelope's
// serviceId (given), the id itself when the send function wrote it, or
// the id derived from a producer's id.
func serviceID(id, given string, versioned bool) string {
	switch {
	case versioned && given != "":
		return given
	case versioned && sms.IsServiceIDShaped(id):
		return id
	}
	return sms.ServiceIDForProducer(id)
}

// poisonIDs returns the ids of a poison message when they can be told: a
// valid id that is not reserved, or none (the derived one). A body whose id
// cannot be read has none: its status cannot be recorded.
func poisonIDs(fields map[string]json.RawMessage, versioned bool, derivedID string) sms.QueuedMessage {
	var m sms.QueuedMessage
	raw, has := fields[fieldID]
	switch {
	case !has:
		m.ID = derivedID
	default:
		id, ok := rawString(raw)
		if !ok || !validID(id) || hasReservedPrefix(id) {
			return sms.QueuedMessage{}
		}
		m.ID = id
	}
	if m.ID == "" {
		return sms.QueuedMessage{}
	}
	given := ""
	if versioned {
		if g, ok := rawString(fields[fieldServiceID]); ok && sms.IsServiceIDShaped(g) {
			given = g
		}
	}
	m.ServiceID = serviceID(m.ID, given, versioned)
	return m
}

// object parses body as one JSON object, keeping each member's raw value.
func object(body []byte) (map[string]json.RawMessage, *PoisonError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, poison(ReasonNotObject, "the body is a JSON "+typeErr.Value+", not an object")
		}
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			return nil, poison(ReasonInvalidJSON, "syntax error at byte offset "+strconv.FormatInt(syntaxErr.Offset, 10))
		}
		return nil, poison(ReasonInvalidJSON, "the body is not JSON")
	}
	if fields == nil {
		return nil, poison(ReasonNotObject, "the body is JSON null, not an object")
	}
	return fields, nil
}

// isSNS reports whether fields look like an SNS message delivered to SQS
// without raw message delivery: a "Type" and a "TopicArn", and no "to".
func isSNS(fields map[string]json.RawMessage) bool {
	if _, ok := fields[fieldTo]; ok {
		return false
	}
	_, hasType := fields["Type"]
	_, hasTopic := fields["TopicArn"]
	return hasType && hasTopic
}

// unwrapSNS returns the notification's Message and MessageId.
func unwrapSNS(fields map[string]json.RawMessage) (inner []byte, messageID string, perr *PoisonError) {
	typ, ok := rawString(fields["Type"])
	if !ok {
		return nil, "", poison(ReasonInvalidSNSEnvelope, "Type is not a string")
	}
	if typ != "Notification" {
		// SubscriptionConfirmation and UnsubscribeConfirmation carry a
		// SubscribeURL for an operator, not a message to send.
		return nil, "", poison(ReasonSNSControlMessage, "an SNS "+snsTypeName(typ)+", not a Notification")
	}
	msg, ok := rawString(fields["Message"])
	if !ok {
		return nil, "", poison(ReasonInvalidSNSEnvelope, "Message is missing or not a string")
	}
	if raw, present := fields["MessageId"]; present {
		if messageID, ok = rawString(raw); !ok || !validID(snsIDPrefix+messageID) {
			return nil, "", poison(ReasonInvalidSNSEnvelope, "MessageId is not a valid id")
		}
	}
	return []byte(msg), messageID, nil
}

// snsTypeName returns typ when it is one of the SNS message types, so that
// nothing else from the body reaches a log line.
func snsTypeName(typ string) string {
	switch typ {
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return typ
	}
	return "message of another type"
}

// message reads the fields of the queue message, checks their types and
// shapes, and validates to, body and from. versioned reports whether the
// message names its version (the envelope form).
func message(fields map[string]json.RawMessage) (m sms.QueuedMessage, versioned bool, perr *PoisonError) {
	m, perr = messageFields(fields)
	_, versioned = fields[fieldVersion]
	return m, versioned, perr
}

func messageFields(fields map[string]json.RawMessage) (sms.QueuedMessage, *PoisonError) {
	var m sms.QueuedMessage
	if raw, ok := fields[fieldVersion]; ok {
		v, isInt := rawInt(raw)
		switch {
		case !isInt && !isNumber(raw):
			return m, wrongType(fieldVersion, "a number")
		case !isInt || v != envelopeVersion:
			return m, poison(ReasonUnknownVersion, "only version 1 is understood")
		}
	}
	var perr *PoisonError
	if m.To, perr = requiredString(fields, fieldTo); perr != nil {
		return m, perr
	}
	if m.Body, perr = requiredString(fields, fieldBody); perr != nil {
		return m, perr
	}
	if m.From, perr = optionalString(fields, fieldFrom); perr != nil {
		return m, perr
	}
	if m.ID, perr = optionalString(fields, fieldID); perr != nil {
		return m, perr
	}
	if m.ID != "" && !validID(m.ID) {
		return m, invalid(fieldID, "id must be 1 to 128 printable ASCII characters without spaces")
	}
	m.Attempt = 1
	if raw, ok := fields[fieldAttempt]; ok {
		n, isInt := rawInt(raw)
		switch {
		case !isInt && !isNumber(raw):
			return m, wrongType(fieldAttempt, "an integer")
		case !isInt || n < 1 || n > math.MaxInt32:
			return m, invalid(fieldAttempt, "attempt must be an integer from 1 to 2147483647")
		}
		m.Attempt = int(n)
	}
	at, perr := optionalString(fields, fieldEnqueuedAt)
	if perr != nil {
		return m, perr
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return m, invalid(fieldEnqueuedAt, "enqueuedAt must be an RFC 3339 date-time")
		}
		// Encode writes UTC; a time whose UTC year has no four-digit RFC
		// 3339 form could not be written back when the drain re-enqueues.
		if !fourDigitYear(t) {
			return m, invalid(fieldEnqueuedAt, "enqueuedAt must fall within the years 0000 to 9999 in UTC")
		}
		m.EnqueuedAt = t
	}
	if m.SendAt, perr = optionalTime(fields, fieldSendAt); perr != nil {
		return m, perr
	}
	m.SendAt = m.SendAt.UTC()
	if m.ValidUntil, perr = optionalTime(fields, fieldExpiresAt); perr != nil {
		return m, perr
	}
	if _, ok := fields[fieldVersion]; ok {
		if m.ServiceID, perr = optionalString(fields, fieldServiceID); perr != nil {
			return m, perr
		}
		if m.ServiceID != "" && !sms.IsServiceIDShaped(m.ServiceID) {
			return m, invalid(fieldServiceID, "serviceId must be a service id (a lower-case UUID)")
		}
	}
	if _, perr = optionalString(fields, fieldIdempotencyKey); perr != nil {
		return m, perr
	}
	if err := m.Validate(); err != nil {
		return m, validationPoison(err)
	}
	return m, nil
}

// validationPoison turns a validation error of package sms into a poison
// reason: its API code (invalid_to, invalid_body, invalid_from). The
// detail is the error's client message, which never repeats the input.
func validationPoison(err error) *PoisonError {
	var e *sms.Error
	if errors.As(err, &e) && e.Kind == sms.KindInvalid && e.Code != "" {
		return poison(e.Code, e.Message)
	}
	return poison(ReasonInvalidMessage, "the message failed validation")
}

func wrongType(field, want string) *PoisonError {
	return poison("wrong_type:"+field, field+" must be "+want)
}

func invalid(field, detail string) *PoisonError {
	return poison("invalid_"+field, detail)
}

// requiredString reads a string field that must be present. An empty
// string is left to validation.
func requiredString(fields map[string]json.RawMessage, name string) (string, *PoisonError) {
	raw, ok := fields[name]
	if !ok {
		return "", poison("missing_field:"+name, name+" is required")
	}
	s, ok := rawString(raw)
	if !ok {
		return "", wrongType(name, "a string")
	}
	return s, nil
}

// optionalString reads a string field that may be absent; when present it
// must be a non-empty string ("omit it rather than send it empty").
func optionalString(fields map[string]json.RawMessage, name string) (string, *PoisonError) {
	raw, ok := fields[name]
	if !ok {
		return "", nil
	}
	s, ok := rawString(raw)
	if !ok {
		return "", wrongType(name, "a string")
	}
	if s == "" {
		return "", invalid(name, name+" must not be empty when given: leave it out instead")
	}
	return s, nil
}

// rawString decodes a JSON string value. It reports false for any other
// JSON type, null included.
func rawString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// Fast path: no escapes and valid UTF-8 means the bytes between the
	// quotes are the string (the JSON was validated when it was parsed).
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// isNumber reports whether raw is a JSON number.
func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// rawInt decodes a JSON number with no fractional part ("1", "1.0",
// "1e0"), as JSON Schema's "integer" does.
func rawInt(raw json.RawMessage) (int64, bool) {
	if !isNumber(raw) {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// validID reports whether id is 1 to maxIDLen printable ASCII characters
// without spaces.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// optionalTime reads an optional RFC 3339 date-time field (a time zone is
// required); it must fall within the years 0000 to 9999 in UTC, so that
// Encode can write it back.
func optionalTime(fields map[string]json.RawMessage, name string) (time.Time, *PoisonError) {
	v, perr := optionalString(fields, name)
	if perr != nil || v == "" {
		return time.Time{}, perr
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	switch {
	case err != nil:
		return time.Time{}, invalid(name, name+" must be an RFC 3339 date-time with a time zone")
	case !fourDigitYear(t):
		return time.Time{}, invalid(name, name+" must fall within the years 0000 to 9999 in UTC")
	}
	return t, nil
}

// fourDigitYear reports whether t has a four-digit RFC 3339 form in UTC.
func fourDigitYear(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}
