package sms

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error so that the boundary (HTTP handler, drain) can
// decide what to answer or whether to retry, without looking at causes.
type Kind int

// The error kinds of the domain. The zero value is KindInternal so that an
// unclassified error is never mistaken for something benign.
const (
	KindInternal        Kind = iota // a bug or an unexpected state
	KindInvalid                     // the request is malformed or fails validation
	KindUnauthorized                // missing or bad credentials (JWT)
	KindForbidden                   // authenticated but not allowed
	KindConflict                    // the same idempotency key is in progress
	KindRateLimited                 // no rate slot and queueing is off
	KindTransient                   // retrying later may succeed; nothing was accepted
	KindAmbiguous                   // the outcome is unknown: the provider may have accepted it
	KindRejected                    // the provider refused this message for good
	KindProviderAccount             // the provider refused our account or configuration
	KindPartial                     // a multipart send failed part-way; parts may be delivered
	KindUnavailable                 // a dependency we need (queue, table) cannot be reached
	// Kinds are stored as numbers in idempotency records: append new
	// kinds here, never renumber.
	KindNotFound // what the request names does not exist (or is not the caller's to see)
	KindExpired  // the message's validity ended before it could be sent
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindUnauthorized:    "unauthorized",
	KindForbidden:       "forbidden",
	KindConflict:        "conflict",
	KindRateLimited:     "rate-limited",
	KindTransient:       "transient",
	KindAmbiguous:       "ambiguous",
	KindRejected:        "rejected",
	KindProviderAccount: "provider-account",
	KindPartial:         "partial",
	KindUnavailable:     "unavailable",
	KindNotFound:        "not-found",
	KindExpired:         "expired",
}

// String returns the kind's name as used in logs.
func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Codes that narrow KindInvalid for clients. Every other API error code
// follows from the kind alone and belongs to the HTTP boundary (package
// apigw), which maps kinds and these codes to statuses in one table.
const (
	CodeInvalidTo           = "invalid_to"
	CodeInvalidBody         = "invalid_body"
	CodeInvalidFrom         = "invalid_from"
	CodeIdempotencyMismatch = "idempotency_mismatch"
)

// fieldCodes are the codes of the request fields that have their own.
var fieldCodes = map[string]string{"to": CodeInvalidTo, "body": CodeInvalidBody, "from": CodeInvalidFrom}

// Error is the domain error; build it with E or InvalidField. Message is
// safe to show to a client; Err is the cause, kept for logs and
// errors.Is/As, and never shown to a client.
type Error struct {
	Kind Kind
	// Code narrows Kind for clients (CodeInvalidTo, …); empty means the
	// kind says it all.
	Code string
	// Field names the offending request field.
	Field string
	// Message is a client-safe description.
	Message string
	// ProviderCode is the provider's own error code or status, if any.
	ProviderCode string
	// ProviderMessage is the provider's own error text (may contain phone
	// numbers: mask before logging).
	ProviderMessage string
	// RetryAfter is how long a client should wait before retrying.
	RetryAfter time.Duration
	// OptedOut marks a provider's refusal because the recipient opted out
	// of messages (Twilio 21610): the recipient belongs on the suppression
	// list (OptOuts).
	OptedOut bool
	// FailoverSafe marks a provider failure after which another provider
	// may send the message: nothing can have been sent (no connection, the
	// request never written, an answered 429 or 503) and a refusal, if it
	// is one, is about this provider (the account, the sender, the route),
	// not about the recipient or the body. The provider clients set it
	// where they classify the failure; a Dispatcher with several providers
	// moves to the next one only on it (docs/failover.md).
	FailoverSafe bool
	// Err is the underlying cause.
	Err error
}

// An ErrorOption sets an optional part of an *Error built by E.
type ErrorOption func(*Error)

// E returns an *Error of kind k with the client-safe message msg, refined
// by opts (Cause, Code, Field, RetryAfter, ProviderDetail).
func E(k Kind, msg string, opts ...ErrorOption) *Error {
	e := &Error{Kind: k, Message: msg}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Cause sets the underlying cause, kept for logs and errors.Is/As.
func Cause(err error) ErrorOption { return func(e *Error) { e.Err = err } }

// Code sets the code that narrows the kind.
func Code(code string) ErrorOption { return func(e *Error) { e.Code = code } }

// Field names the offending request field.
func Field(name string) ErrorOption { return func(e *Error) { e.Field = name } }

// RetryAfter sets how long a client should wait before retrying.
func RetryAfter(d time.Duration) ErrorOption { return func(e *Error) { e.RetryAfter = d } }

// FailoverSafe marks a provider failure as one after which another
// provider may send the message (Error.FailoverSafe).
func FailoverSafe() ErrorOption { return func(e *Error) { e.FailoverSafe = true } }

// ProviderDetail records the provider's own error code and text.
func ProviderDetail(code, text string) ErrorOption {
	return func(e *Error) { e.ProviderCode, e.ProviderMessage = code, text }
}

// RecipientOptedOut marks a provider's refusal as the recipient's opt-out.
func RecipientOptedOut() ErrorOption { return func(e *Error) { e.OptedOut = true } }

// InvalidField returns the KindInvalid error of the request field field:
// its message is the field's name followed by reason, and its code the
// field's own (CodeInvalidTo, CodeInvalidBody, CodeInvalidFrom) when it
// has one.
func InvalidField(field, reason string) *Error {
	return &Error{Kind: KindInvalid, Code: fieldCodes[field], Field: field, Message: field + " " + reason}
}

// Error implements error.
func (e *Error) Error() string {
	s := e.Kind.String()
	if e.Field != "" {
		s += " " + e.Field
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.ProviderCode != "" {
		s += " (provider code " + e.ProviderCode + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf reports the kind of the first *Error in err's chain, or
// KindInternal when there is none. A nil error has no kind and returns -1.
func KindOf(err error) Kind {
	if err == nil {
		return -1
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// AsError returns the first *Error in err's chain, or a KindInternal *Error
// wrapping err when there is none.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return E(KindInternal, "internal error", Cause(err))
}
