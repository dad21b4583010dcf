package httpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// maxResponseBytes bounds how much of an answer Do reads; a longer answer
// is cut there (and will not parse).
const maxResponseBytes = 1 << 20

// Client-safe messages for transport failures.
const (
	msgUnreachable = "the SMS provider could not be reached"
	msgNoAnswer    = "the SMS provider did not answer; the message may have been sent"
	// msgFailedWhileHandling: a 5xx that may follow the processing.
	msgFailedWhileHandling = "the SMS provider failed while handling the message; it may have been sent"
)

// UserAgent is sent with every provider request.
const UserAgent = "fluxkit-sms"

// PostForm builds the POST of form to baseURL+path that the provider APIs
// take: a URL-encoded form, answered in JSON. An empty baseURL means
// defaultBaseURL, and trailing slashes of the base URL are dropped. A
// request that cannot be built (a malformed base URL) is a
// KindProviderAccount *sms.Error: the configuration is wrong, and retrying
// will not help.
func PostForm(ctx context.Context, op, baseURL, defaultBaseURL, path string, form url.Values) (*http.Request, error) {
	if baseURL == "" {
		baseURL = defaultBaseURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, sms.E(sms.KindProviderAccount, "the SMS provider endpoint is misconfigured", sms.FailoverSafe(),
			sms.Cause(fmt.Errorf("%s: build request: %w", op, err)))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	return req, nil
}

// Response is a provider's answer, read whole.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Success reports whether the status is 2xx.
func (r *Response) Success() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// Do sends req with hc and reads the answer (up to maxResponseBytes). op
// prefixes the cause of an error, e.g. "twilio: create message".
//
// Any HTTP answer, whatever its status, is returned with a nil error and
// left to the caller to interpret. A failure to get one is an *sms.Error:
//   - KindTransient when the request was never completely written (refused
//     connection, DNS or TLS failure, the caller's context done before the
//     request went out): the provider cannot have acted on it, so another
//     provider may send the message (FailoverSafe);
//   - KindAmbiguous when it was written and then the answer did not come
//     (timeout, the caller's deadline, connection reset or closed): the
//     provider may have acted on it;
//   - KindAmbiguous too when a 2xx answer's body could not be read whole.
//
// When req's context carries sms.ReadyBy, the request must have its
// connection by then: if it does not, Do abandons it before anything is
// written (closing a connection that arrives late rather than writing on
// it) and fails with KindTransient wrapping sms.ErrConnNotReady. A
// connection that is still being opened then goes on to the idle pool for
// the next call.
//
// A body read failure on a non-2xx answer returns what was read: the
// status alone says the provider did not accept the message.
//
// The cause kept in the error names the method and host but not the URL
// path, which carries account identifiers.
func Do(hc *http.Client, req *http.Request, op string) (*Response, error) {
	var written atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	}
	ctx := req.Context()
	var ready *readiness
	if by, ok := sms.ReadyBy(ctx); ok {
		ctx, ready = newReadiness(ctx, by)
		defer ready.stop()
		trace.GetConn, trace.GotConn = ready.getConn, ready.gotConn
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))

	resp, err := hc.Do(req)
	if err != nil {
		if ready != nil && ready.wasMissed() && !written.Load() {
			return nil, sms.E(sms.KindTransient, msgUnreachable, sms.FailoverSafe(),
				sms.Cause(fmt.Errorf("%s: %s %s: %w", op, req.Method, req.URL.Host, sms.ErrConnNotReady)))
		}
		return nil, transportError(op, req, err, written.Load())
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	r := &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
	if err != nil && r.Success() {
		return nil, sms.E(sms.KindAmbiguous, msgNoAnswer,
			sms.Cause(fmt.Errorf("%s: read %d answer from %s: %w", op, resp.StatusCode, req.URL.Host, err)))
	}
	return r, nil
}

// transportError classifies a failed round trip by whether the request had
// been written.
func transportError(op string, req *http.Request, err error, written bool) *sms.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the full URL
	}
	cause := fmt.Errorf("%s: %s %s: %w", op, req.Method, req.URL.Host, err)
	if written {
		return sms.E(sms.KindAmbiguous, msgNoAnswer, sms.Cause(cause))
	}
	return sms.E(sms.KindTransient, msgUnreachable, sms.FailoverSafe(), sms.Cause(cause))
}

// Unexpected classifies an answer the caller could not make sense of (why
// says what was wrong with it):
//   - a 2xx is KindAmbiguous: the provider may have accepted the message;
//   - 429 and 503 are KindTransient: the provider turned the request away;
//   - every other 5xx (500, 502, 504, …) is KindAmbiguous: it may come
//     after the provider processed the message;
//   - anything else (a 3xx, a 4xx without the provider's own error format)
//     is KindProviderAccount: the endpoint or the account is not what this
//     service was configured for, and it takes a human to fix.
//
// The transient and provider-account answers are FailoverSafe: the
// provider did not take the message. ProviderMessage carries the HTTP
// status line, never the body.
func Unexpected(op string, r *Response, why error) *sms.Error {
	detail := sms.ProviderDetail("", fmt.Sprintf("HTTP %d %s", r.StatusCode, http.StatusText(r.StatusCode)))
	cause := sms.Cause(fmt.Errorf("%s: unexpected HTTP %d answer: %w", op, r.StatusCode, why))
	switch {
	case r.Success():
		return sms.E(sms.KindAmbiguous, "the SMS provider's answer could not be read; the message may have been sent", detail, cause)
	case IsTransientStatus(r.StatusCode):
		return sms.E(sms.KindTransient, "the SMS provider is temporarily unavailable", detail, cause, sms.RetryAfter(RetryAfter(r.Header)), sms.FailoverSafe())
	case IsAmbiguousStatus(r.StatusCode):
		return sms.E(sms.KindAmbiguous, msgFailedWhileHandling, detail, cause)
	}
	return sms.E(sms.KindProviderAccount, "the SMS provider gave an unexpected answer", detail, cause, sms.FailoverSafe())
}

// IsTransientStatus reports whether an HTTP status says the provider
// turned the request away without processing it, so that trying again
// later is safe: 429 Too Many Requests and 503 Service Unavailable.
func IsTransientStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// IsAmbiguousStatus reports whether an HTTP status may come after the
// provider processed the request: every 5xx but 503. A 500, or a 502 or 504
// from a gateway in front of the provider, can be answered after the
// message was accepted, so the message may have been sent.
func IsAmbiguousStatus(status int) bool {
	return status >= 500 && status <= 599 && status != http.StatusServiceUnavailable
}

// maxRetryAfter caps what RetryAfter reports, so that a confused provider
// cannot park work for hours.
const maxRetryAfter = 10 * time.Minute

// RetryAfter reads a Retry-After header given in seconds (the form
// providers use on 429 and 503), capped at ten minutes; 0 when absent or
// not a non-negative integer.
func RetryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0:
		return 0
	case n > int(maxRetryAfter/time.Second):
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}

// readiness enforces a request's readiness bound: the connection must be
// there by a given time, or the request is abandoned with nothing written.
// The transport asks for a connection (GetConn) and gets one (GotConn)
// before it writes anything; a timer cancels the request at the bound
// while it is still waiting, and a connection that arrives after the
// bound is closed before the transport can write on it (with HTTP/1.1 a
// connection carries one request at a time, so no other call is hurt).
type readiness struct {
	by     time.Time
	cancel context.CancelCauseFunc
	timer  *time.Timer

	mu      sync.Mutex
	waiting bool // between GetConn and GotConn
	missed  bool
}

func newReadiness(ctx context.Context, by time.Time) (context.Context, *readiness) {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &readiness{by: by, cancel: cancel}
	r.timer = time.AfterFunc(time.Until(by), r.expire)
	return ctx, r
}

// getConn: the transport starts looking for a connection (again, when it
// retries on another one).
func (r *readiness) getConn(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.missed:
	case time.Now().After(r.by):
		r.miss()
	default:
		r.waiting = true
	}
}

// gotConn: the transport has a connection and is about to write on it.
func (r *readiness) gotConn(info httptrace.GotConnInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.missed && !time.Now().After(r.by) {
		r.waiting = false
		return
	}
	if !r.missed {
		r.miss()
	}
	// Too late: make sure nothing is written on it.
	info.Conn.Close()
}

// expire runs at the bound.
func (r *readiness) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting && !r.missed {
		r.miss()
	}
}

func (r *readiness) miss() {
	r.missed = true
	r.cancel(sms.ErrConnNotReady)
}

func (r *readiness) wasMissed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.missed
}

// stop ends the bound once the request is done with.
func (r *readiness) stop() {
	r.timer.Stop()
	r.cancel(nil)
}
