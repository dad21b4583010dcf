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
}

// String returns the kind's name as used in logs.
func (k Kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Stable error codes reported in error.code.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidTo            = "invalid_to"
	CodeInvalidBody          = "invalid_body"
	CodeInvalidFrom          = "invalid_from"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden"
	CodeConflict             = "conflict"
	CodeIdempotencyMismatch  = "idempotency_mismatch"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeProviderRejected     = "provider_rejected"
	CodeProviderError        = "provider_error"
	CodeRateLimited          = "rate_limited"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// Error is the domain error. Message is safe to show to a client; Err is the
// cause, kept for logs and errors.Is/As, and never shown to a client.
type Error struct {
	Kind Kind
	// Code is the stable API error code; when empty, DefaultCode(Kind) applies.
	Code string
	// Field names the offending request field for validation errors.
	Field string
	// Message is a client-safe description.
	Message string
	// ProviderCode is the provider's own error code or status, if any.
	ProviderCode string
	// ProviderMessage is the provider's own error text (may contain phone
	// numbers: mask before logging).
	ProviderMessage string
	// MessageID is the provider's id when part of the message was accepted
	// (a partial multipart send).
	MessageID string
	// RetryAfter is how long a client should wait before retrying
	// (rate-limited and unavailable answers).
	RetryAfter time.Duration
	// Err is the underlying cause.
	Err error
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

// ErrorCode returns the stable API code of e.
func (e *Error) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	return DefaultCode(e.Kind)
}

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
	return &Error{Kind: KindInternal, Message: "internal error", Err: err}
}

// DefaultCode is the API error code for a kind when no specific code is set.
func DefaultCode(k Kind) string {
	switch k {
	case KindInvalid:
		return CodeInvalidRequest
	case KindUnauthorized:
		return CodeUnauthorized
	case KindForbidden:
		return CodeForbidden
	case KindConflict:
		return CodeConflict
	case KindRateLimited:
		return CodeRateLimited
	case KindRejected:
		return CodeProviderRejected
	case KindProviderAccount, KindPartial:
		return CodeProviderError
	case KindTransient, KindAmbiguous, KindUnavailable:
		return CodeUnavailable
	default:
		return CodeInternal
	}
}
