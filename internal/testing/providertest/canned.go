package providertest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
)

// Canned is an http.RoundTripper that answers every request with one fixed
// response, as a provider (or a gateway in front of it) might: the fuzz
// tests of the provider clients feed arbitrary answers through it.
type Canned struct {
	Status      int
	ContentType string
	Body        []byte
}

// RoundTrip reads and discards the request and returns the canned answer.
func (c Canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{}
	if c.ContentType != "" {
		h.Set("Content-Type", c.ContentType)
	}
	return &http.Response{
		StatusCode: c.Status, Status: http.StatusText(c.Status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(c.Body)), ContentLength: int64(len(c.Body)), Request: r,
	}, nil
}

// FuzzStatus maps any int to an HTTP status from 200 to 599.
func FuzzStatus(n int) int {
	if n < 0 {
		n = -(n + 1)
	}
	return 200 + n%400
}

// CheckProviderError fails the test unless err is what every sms.Provider
// must return: an *sms.Error of a provider kind (transient, ambiguous,
// rejected, provider-account, partial), with no code (none narrows these
// kinds), a client-safe message, and marked FailoverSafe exactly when
// nothing was sent and the refusal is not about the message (transient
// and provider-account failures; docs/failover.md). It returns the error
// for further checks.
func CheckProviderError(tb testing.TB, err error) *sms.Error {
	tb.Helper()
	var e *sms.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not an *sms.Error", err, err)
	}
	switch e.Kind {
	case sms.KindTransient, sms.KindAmbiguous, sms.KindRejected, sms.KindProviderAccount, sms.KindPartial:
	default:
		tb.Errorf("kind = %v, want a provider kind", e.Kind)
	}
	if e.Code != "" {
		tb.Errorf("code = %q, want none for kind %v", e.Code, e.Kind)
	}
	if e.Message == "" || strings.Contains(e.Message, "{") {
		tb.Errorf("client message = %q, want a client-safe sentence", e.Message)
	}
	if want := e.Kind == sms.KindTransient || e.Kind == sms.KindProviderAccount; e.FailoverSafe != want {
		tb.Errorf("FailoverSafe = %v for kind %v, want %v", e.FailoverSafe, e.Kind, want)
	}
	return e
}
