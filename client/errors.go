package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// The API's error codes (error.code), to compare with Error.Code.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidTo              = "invalid_to"
	CodeInvalidBody            = "invalid_body"
	CodeInvalidFrom            = "invalid_from"
	CodeUnauthorized           = "unauthorized"
	CodeForbidden              = "forbidden"
	CodeSenderNotAllowed       = "sender_not_allowed"
	CodeDestinationNotAllowed  = "destination_not_allowed"
	CodeNotFound               = "not_found"
	CodeConflict               = "conflict"
	CodeIdempotencyMismatch    = "idempotency_mismatch"
	CodePayloadTooLarge        = "payload_too_large"
	CodeUnsupportedMediaType   = "unsupported_media_type"
	CodeProviderRejected       = "provider_rejected"
	CodeRecipientOptedOut      = "recipient_opted_out"
	CodeProviderError          = "provider_error"
	CodeProviderOutcomeUnknown = "provider_outcome_unknown"
	CodeRateLimited            = "rate_limited"
	CodeQuotaExceeded          = "quota_exceeded"
	CodeUnavailable            = "unavailable"
	CodeInternal               = "internal"
)

// Error is an answer of the API that is not a success. Code is the API's
// error.code; it is empty when the answer did not come from the service
// (API Gateway's own throttling or gateway errors, whose body has no
// code). Use errors.As to get it from an error of Send or Status.
type Error struct {
	// HTTPStatus is the answer's HTTP status code.
	HTTPStatus int
	// Code is the API's error code (CodeRateLimited, …), or empty.
	Code string
	// Message describes the error for people; branch on Code.
	Message string
	// ProviderCode is the provider's own code, for provider_rejected,
	// provider_error and provider_outcome_unknown.
	ProviderCode string
	// RetryAfter is the answer's Retry-After, or zero.
	RetryAfter time.Duration
}

// Error describes the answer.
func (e *Error) Error() string {
	s := fmt.Sprintf("fluxkit sms: %d", e.HTTPStatus)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.ProviderCode != "" {
		s += " (provider code " + e.ProviderCode + ")"
	}
	return s
}

// Retryable reports whether a retry with the same Idempotency-Key may
// succeed, as Send and Status retry: a 409 (the first try still runs), a
// 429 that is not a quota (the rate limit, or API Gateway's throttling),
// a 503, and a gateway's 500, 502 or 504 that carries no code of the API
// (its answer to the request was lost). A quota_exceeded is not: the
// quota frees itself only at Retry-After.
func (e *Error) Retryable() bool {
	switch e.HTTPStatus {
	case http.StatusConflict, http.StatusServiceUnavailable:
		return true
	case http.StatusTooManyRequests:
		return e.Code == "" || e.Code == CodeRateLimited
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return e.Code == ""
	}
	return false
}

// answerError builds the *Error of a non-2xx answer from its body: the
// API's {"error": {...}} (also inside a failed result), or API Gateway's
// {"message": "..."}.
func answerError(resp *http.Response, raw []byte) *Error {
	e := &Error{HTTPStatus: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var body struct {
		Error *struct {
			Code         string `json:"code"`
			Message      string `json:"message"`
			ProviderCode string `json:"providerCode"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		if body.Error != nil {
			e.Code, e.Message, e.ProviderCode = body.Error.Code, body.Error.Message, body.Error.ProviderCode
		} else {
			e.Message = body.Message
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}
