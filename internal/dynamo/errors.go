package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/fluxkit/sms/internal/sms"
)

// retryAfter is the Retry-After hint carried by unavailable errors.
const retryAfter = time.Second

// classify wraps a DynamoDB failure of operation op into an *sms.Error.
// Throttling, server faults, timeouts, cancellations and connection
// failures are KindUnavailable (the send path queues instead); any other
// API error (validation, missing table, access denied) is a deployment or
// programming error: KindInternal.
func classify(op string, err error) error {
	wrapped := fmt.Errorf("dynamo: %s: %w", op, err)
	if unavailable(err) {
		return sms.E(sms.KindUnavailable, "storage unavailable", sms.RetryAfter(retryAfter), sms.Cause(wrapped))
	}
	return sms.E(sms.KindInternal, "internal error", sms.Cause(wrapped))
}

// retryables is the SDK's own judgement of which failures are worth a
// retry: throttling, retryable codes, HTTP 5xx, connection failures.
var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// serverCodes are server-side error codes DynamoDB answers with.
var serverCodes = map[string]bool{"InternalServerError": true, "InternalFailure": true, "ServiceUnavailable": true}

func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch retryables.IsErrorRetryable(err) {
	case aws.TrueTernary:
		return true
	case aws.FalseTernary:
		return false
	}
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return serverCodes[api.ErrorCode()]
	}
	// No answer from the service at all.
	return true
}

// internalf builds a KindInternal error for a state that should not occur.
func internalf(format string, args ...any) error {
	return sms.E(sms.KindInternal, "internal error", sms.Cause(fmt.Errorf(format, args...)))
}
