package providertest

import (
	"bytes"
	"io"
	"net/http"

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

// IsProviderKind reports whether k is a kind an sms.Provider may report.
func IsProviderKind(k sms.Kind) bool {
	switch k {
	case sms.KindTransient, sms.KindAmbiguous, sms.KindRejected, sms.KindProviderAccount, sms.KindPartial:
		return true
	}
	return false
}
