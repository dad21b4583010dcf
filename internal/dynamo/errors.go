package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

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
		return &sms.Error{Kind: sms.KindUnavailable, Message: "storage unavailable", RetryAfter: retryAfter, Err: wrapped}
	}
	return &sms.Error{Kind: sms.KindInternal, Message: "internal error", Err: wrapped}
}

func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		// No API answer: connection refused or reset, DNS, TLS, timeout.
		return true
	}
	if ae.ErrorFault() == smithy.FaultServer {
		return true
	}
	code := ae.ErrorCode()
	_, throttle := retry.DefaultThrottleErrorCodes[code]
	_, retryable := retry.DefaultRetryableErrorCodes[code]
	return throttle || retryable || code == "InternalServerError" || code == "ServiceUnavailable"
}

// internalf builds a KindInternal error for a state that should not occur.
func internalf(format string, args ...any) error {
	return &sms.Error{Kind: sms.KindInternal, Message: "internal error", Err: fmt.Errorf(format, args...)}
}
