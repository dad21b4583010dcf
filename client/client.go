// Package client is the Go client of the FluxKit SMS HTTP API
// (docs/openapi.yaml in the repository).
//
// Send posts one message. It gives the request an Idempotency-Key of its
// own (random, one per call) and retries, always with that same key, what
// is safe to retry: a 429 rate_limited, a 503, a 409 (the first try is
// still running), and a request whose answer never arrived (a network
// error, or a gateway's 500, 502 or 504 without the API's error body). The
// key makes the service send the message at most once across the tries: a
// retry of a request that was carried out replays its answer. Retry-After
// is honoured; otherwise the pause grows exponentially with jitter, and
// every try and pause fits in a bounded total time (WithMaxElapsed). A 429
// quota_exceeded is never retried: the quota frees itself only after
// Retry-After, which is usually longer than a caller should wait.
//
// Status reads what became of a message (GET /messaging/sms/{messageId}):
// its Record says where the message is (queued, sent, delivered, …), why
// it was not delivered, and each status it reached with the time. Status
// retries what Send retries; reading twice changes nothing.
//
// Every answer that is not a success is an *Error carrying the API's code,
// the HTTP status and the Retry-After; use errors.As. A failure without an
// answer (network, timeout, a canceled context) is returned as it came,
// wrapped with the request. The package uses the standard library only.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Client.
const (
	// DefaultMaxElapsed bounds one Send or Status call, its tries and
	// pauses included.
	DefaultMaxElapsed = 30 * time.Second
	// DefaultAttemptTimeout bounds one try: longer than the send
	// function's 10 s and API Gateway's 12 s integration timeout.
	DefaultAttemptTimeout = 15 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the pause before a
	// retry when the answer names no Retry-After.
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// sendPath is the route of the API; the base URL comes before it.
const sendPath = "/messaging/sms"

// maxAnswerBytes bounds the body of an answer that is read.
const maxAnswerBytes = 1 << 20

// TokenSource gives the bearer token (a JWT) of each request. Token is
// called once per try, so a source may renew an expiring token.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always gives the same token.
type StaticToken string

// Token returns t.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// TokenFunc is a function used as a TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Client calls the FluxKit SMS API. It is safe for concurrent use.
type Client struct {
	base           *url.URL
	tokens         TokenSource
	hc             *http.Client
	maxElapsed     time.Duration
	attemptTimeout time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	userAgent      string
}

// Option sets an optional part of a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc (its
// Transport, proxies, TLS settings); the default is a client of its own
// over http.DefaultTransport. Each try is bounded by the attempt timeout
// whatever hc.Timeout says.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithMaxElapsed bounds the whole of one call, its tries and the pauses
// between them (DefaultMaxElapsed). A retry whose pause would end past it
// is not made: the call returns the last answer's error. Zero or less
// makes one try only.
func WithMaxElapsed(d time.Duration) Option { return func(c *Client) { c.maxElapsed = d } }

// WithAttemptTimeout bounds each try (DefaultAttemptTimeout).
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.attemptTimeout = d
		}
	}
}

// WithBackoff sets the pause before the first retry that no Retry-After
// decides, and the longest pause; each pause is drawn at random up to
// min·2^(n-1), at most max (full jitter).
func WithBackoff(min, max time.Duration) Option {
	return func(c *Client) {
		if min > 0 {
			c.minBackoff = min
		}
		if max >= c.minBackoff {
			c.maxBackoff = max
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client of the API at baseURL (the stack's ApiEndpoint
// output, or the local server's http://127.0.0.1:3000; a URL that ends in
// /messaging/sms, such as the ApiUrl output, is taken as well), sending
// the tokens of tokens.
func New(baseURL string, tokens TokenSource, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want an absolute http or https URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: want no query or fragment", baseURL)
	}
	if tokens == nil {
		return nil, errors.New("client: no token source")
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), sendPath)
	u.RawPath = ""
	c := &Client{
		base: u, tokens: tokens, hc: &http.Client{},
		maxElapsed: DefaultMaxElapsed, attemptTimeout: DefaultAttemptTimeout,
		minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff,
		userAgent: "fluxkit-sms-go-client",
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Message is a message to send.
type Message struct {
	// To is the recipient in E.164 (+14155552671).
	To string
	// Body is the text, 1 to 1600 characters.
	Body string
	// From overrides the deployment's default sender, when the deployment
	// allows it; empty means the default.
	From string
	// ValidFor, when not zero, is how long from now the message may still
	// be sent (whole seconds, 20 s to 10 h); past it the service never
	// sends it.
	ValidFor time.Duration
	// SendAt, when not zero, schedules the message (60 s to 35 days
	// ahead), on a deployment with scheduled sends.
	SendAt time.Time
	// IdempotencyKey is the request's Idempotency-Key; empty means a new
	// random one (NewIdempotencyKey). Set it to retry a message later
	// with the same key once Send has given up, for example after a
	// restart.
	IdempotencyKey string
}

// Status is the status of a message.
type Status string

// The statuses of answers and status records.
const (
	StatusSent        Status = "sent"
	StatusQueued      Status = "queued"
	StatusScheduled   Status = "scheduled"
	StatusFailed      Status = "failed"
	StatusUnknown     Status = "unknown"
	StatusDelivered   Status = "delivered"
	StatusUndelivered Status = "undelivered"
	StatusExpired     Status = "expired"
	StatusCanceled    Status = "canceled"
)

// Result is the API's answer to a send.
type Result struct {
	// MessageID is the provider's id of a sent message, and the service's
	// id otherwise (queued, scheduled, unknown); Status takes either.
	MessageID string `json:"messageId"`
	Status    Status `json:"status"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Segments  int    `json:"segments,omitempty"`
	// Encoding is GSM-7 or UCS-2.
	Encoding string `json:"encoding,omitempty"`
	// Provider names the provider that sent it, when the service says.
	Provider string    `json:"provider,omitempty"`
	SendAt   time.Time `json:"sendAt,omitzero"`
	// IdempotencyKey is the key the request was sent with.
	IdempotencyKey string `json:"-"`
	// Attempts is how many tries the call made.
	Attempts int `json:"-"`
}

// Record is a message's status record (GET /messaging/sms/{messageId}).
type Record struct {
	Channel           string `json:"channel"`
	ServiceID         string `json:"serviceId"`
	MessageID         string `json:"messageId,omitempty"`
	ProducerID        string `json:"producerId,omitempty"`
	ProviderMessageID string `json:"providerMessageId,omitempty"`
	Provider          string `json:"provider,omitempty"`
	Status            Status `json:"status"`
	To                string `json:"to,omitempty"`
	From              string `json:"from,omitempty"`
	Segments          int    `json:"segments,omitempty"`
	Encoding          string `json:"encoding,omitempty"`
	// CreatedAt, UpdatedAt and ExpiresAt are zero when the record has
	// none.
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Error says why the message was not delivered, for its current
	// status; nil otherwise.
	Error *Problem `json:"error,omitempty"`
	// History lists each status the message reached, in time order.
	History []Change `json:"history,omitempty"`
}

// Problem is why a message was not delivered.
type Problem struct {
	Code         string `json:"code"`
	Message      string `json:"message,omitempty"`
	ProviderCode string `json:"providerCode,omitempty"`
}

// Change is one entry of a record's history.
type Change struct {
	Status       Status    `json:"status"`
	At           time.Time `json:"at"`
	ProviderCode string    `json:"providerCode,omitempty"`
}

// NewIdempotencyKey returns a random Idempotency-Key: 32 hexadecimal
// digits (128 bits).
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sendBody is the JSON body of a send.
type sendBody struct {
	To       string    `json:"to"`
	Body     string    `json:"body"`
	From     string    `json:"from,omitempty"`
	ValidFor int64     `json:"validFor,omitempty"`
	SendAt   time.Time `json:"sendAt,omitzero"`
}

// Send sends m (POST /messaging/sms) and returns the API's answer: status
// sent (200), or queued or scheduled (202). When the provider refused the
// message (422 provider_rejected), failed on its side (502
// provider_error) or its outcome is unknown (502
// provider_outcome_unknown), Send returns that answer's Result along with
// an *Error. Every other failure has no Result.
func (c *Client) Send(ctx context.Context, m Message) (Result, error) {
	key := m.IdempotencyKey
	if key == "" {
		key = NewIdempotencyKey()
	}
	b := sendBody{To: m.To, Body: m.Body, From: m.From, SendAt: m.SendAt}
	if m.ValidFor > 0 {
		b.ValidFor = int64((m.ValidFor + time.Second - 1) / time.Second)
	}
	payload, err := json.Marshal(b)
	if err != nil {
		return Result{}, fmt.Errorf("client: encode message: %w", err)
	}
	var res Result
	attempts, raw, err := c.do(ctx, http.MethodPost, c.endpoint(""), payload, key)
	if raw != nil {
		if derr := json.Unmarshal(raw, &res); derr != nil && err == nil {
			err = fmt.Errorf("client: read answer: %w", derr)
		}
	}
	res.IdempotencyKey, res.Attempts = key, attempts
	var apiErr *Error
	if err != nil && !(errors.As(err, &apiErr) && res.Status != "" && res.MessageID != "") {
		// Only failed and unknown sends answer a result with their error.
		return Result{IdempotencyKey: key, Attempts: attempts}, err
	}
	return res, err
}

// Status returns the status record of the message whose id is id: the
// messageId Send returned, the service id, the provider's id, or a
// producer's id (GET /messaging/sms/{messageId}). A message that does not
// exist, or is not the caller's (unless the token carries the read-all
// scope), is an *Error with Code CodeNotFound (404).
func (c *Client) Status(ctx context.Context, id string) (Record, error) {
	if id == "" {
		return Record{}, errors.New("client: status: empty message id")
	}
	_, raw, err := c.do(ctx, http.MethodGet, c.endpoint(id), nil, "")
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Record{}, fmt.Errorf("client: read status record: %w", err)
	}
	return rec, nil
}

// endpoint is the URL of the route, with the message id as its last path
// segment when not empty (escaped as a segment: a '/' in a producer's id
// is %2F, a ':' stays).
func (c *Client) endpoint(id string) *url.URL {
	u := *c.base
	u.Path = c.base.Path + sendPath
	u.RawPath = ""
	if id != "" {
		u.Path += "/" + id
		u.RawPath = c.base.EscapedPath() + sendPath + "/" + url.PathEscape(id)
	}
	return &u
}

// do makes the request, retrying what is safe to retry within the Client's
// bounds, and returns how many tries it made and the body of the last
// answer. The error is nil for a 2xx answer, an *Error for any other
// answer, or the failure of the last try that got no answer.
func (c *Client) do(ctx context.Context, method string, u *url.URL, payload []byte, key string) (int, []byte, error) {
	once := c.maxElapsed <= 0
	var deadline time.Time // zero: one try, bounded by the attempt timeout only
	if !once {
		deadline = time.Now().Add(c.maxElapsed)
	}
	for attempt := 1; ; attempt++ {
		raw, err := c.try(ctx, method, u, payload, key, deadline)
		if err == nil {
			return attempt, raw, nil
		}
		wait, retry := c.retryable(err, attempt)
		if once || !retry || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return attempt, raw, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, raw, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// try makes one request, within the attempt timeout and before deadline
// (unless zero). It returns the answer's body, and an *Error when the
// answer is not a 2xx.
func (c *Client) try(ctx context.Context, method string, u *url.URL, payload []byte, key string, deadline time.Time) ([]byte, error) {
	until := time.Now().Add(c.attemptTimeout)
	if !deadline.IsZero() && deadline.Before(until) {
		until = deadline
	}
	tctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	tok, err := c.tokens.Token(tctx)
	if err != nil {
		return nil, &tokenError{err}
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(tctx, method, u.String(), body)
	if err != nil {
		return nil, &permanentError{fmt.Errorf("client: %s %s: %w", method, u.Redacted(), err)}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		// The answer was cut: as good as lost.
		return nil, fmt.Errorf("client: %s %s: read answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, nil
	}
	return raw, answerError(resp, raw)
}

// tokenError is a failure of the TokenSource: never retried.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "client: token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// permanentError is a failure no retry can change.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryable reports whether err (of try number attempt) may be retried
// with the same Idempotency-Key, and after how long.
func (c *Client) retryable(err error, attempt int) (time.Duration, bool) {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		if !apiErr.Retryable() {
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			return apiErr.RetryAfter + c.jitter(c.minBackoff), true
		}
		return c.backoff(attempt), true
	case errors.As(err, new(*tokenError)), errors.As(err, new(*permanentError)):
		return 0, false
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return 0, false
	case errors.Is(err, context.Canceled):
		return 0, false
	}
	// No answer: the request may or may not have been carried out; the
	// key makes a retry safe either way.
	return c.backoff(attempt), true
}

// backoff is the pause before retry number attempt: full jitter up to
// minBackoff·2^(attempt-1), at most maxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.minBackoff
	for i := 1; i < attempt && ceiling < c.maxBackoff; i++ {
		ceiling *= 2
	}
	return c.jitter(min(ceiling, c.maxBackoff))
}

// jitter returns a random duration in [0, d).
func (c *Client) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)))
	if err != nil {
		return d / 2
	}
	return time.Duration(n.Int64())
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date; zero when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
