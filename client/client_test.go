package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxkit/sms/client"
)

// answer is one scripted answer of a fake API: HTTP status, headers
// ("Name: value") and body; hangUp closes the connection instead.
type answer struct {
	status  int
	headers []string
	body    string
	hangUp  bool
}

// seen is a request the fake API received.
type seen struct {
	method, path, key, auth, contentType string
	body                                 map[string]any
	at                                   time.Time
}

// script serves its answers in order (the last one again once they run
// out) and records the requests.
type script struct {
	answers []answer

	mu   sync.Mutex
	reqs []seen
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec := seen{method: r.Method, path: r.URL.EscapedPath(), key: r.Header.Get("Idempotency-Key"),
		auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), at: time.Now()}
	_ = json.Unmarshal(b, &rec.body)
	s.mu.Lock()
	a := s.answers[min(len(s.reqs), len(s.answers)-1)]
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	if a.hangUp {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for _, h := range a.headers {
		k, v, _ := strings.Cut(h, ":")
		w.Header().Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (s *script) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// fakeAPI starts a server answering as scripted.
func fakeAPI(t *testing.T, answers ...answer) (*script, *httptest.Server) {
	t.Helper()
	s := &script{answers: answers}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// fastClient is a client of url with short pauses.
func fastClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, client.StaticToken("tok"), append([]client.Option{client.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	sentBody    = `{"messageId":"SM123","status":"sent","channel":"sms","to":"+14155552671","segments":1,"encoding":"GSM-7","provider":"twilio"}`
	queuedBody  = `{"messageId":"0b6a6f1e-7c2c-4d8e-9d8a-0c4f4a1e2b3c","status":"queued","channel":"sms","to":"+14155552671","segments":1,"encoding":"GSM-7"}`
	limitedBody = `{"error":{"code":"rate_limited","message":"rate limit reached; retry later"}}`
)

func apiError(code, msg string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return string(b)
}

func TestSendRetries(t *testing.T) {
	tests := []struct {
		name         string
		answers      []answer
		wantAttempts int
		wantStatus   client.Status // of the result; "" when none
		wantErr      int           // HTTP status of the *client.Error; 0: none; -1: an error without answer
		wantCode     string
	}{
		{"sent at once", []answer{{status: 200, body: sentBody}}, 1, client.StatusSent, 0, ""},
		{"queued", []answer{{status: 202, body: queuedBody}}, 1, client.StatusQueued, 0, ""},
		{"rate limited, then sent", []answer{{status: 429, headers: []string{"Retry-After: 0"}, body: limitedBody}, {status: 200, body: sentBody}}, 2, client.StatusSent, 0, ""},
		{"API Gateway throttling, then sent", []answer{{status: 429, body: `{"message":"Too Many Requests"}`}, {status: 200, body: sentBody}}, 2, client.StatusSent, 0, ""},
		{"quota exceeded is never retried", []answer{{status: 429, headers: []string{"Retry-After: 600"}, body: apiError("quota_exceeded", "recipient limit reached")}}, 1, "", 429, client.CodeQuotaExceeded},
		{"unavailable twice, then sent", []answer{{status: 503, body: apiError("unavailable", "retry later")}, {status: 503, body: apiError("unavailable", "retry later")}, {status: 200, body: sentBody}}, 3, client.StatusSent, 0, ""},
		{"still in progress, then the replay", []answer{{status: 409, headers: []string{"Retry-After: 0"}, body: apiError("conflict", "in progress")}, {status: 200, body: sentBody}}, 2, client.StatusSent, 0, ""},
		{"connection lost, then the replay", []answer{{hangUp: true}, {status: 200, body: sentBody}}, 2, client.StatusSent, 0, ""},
		{"gateway timeout, then the replay", []answer{{status: 504, body: `{"message":"Service Unavailable"}`}, {status: 200, body: sentBody}}, 2, client.StatusSent, 0, ""},
		{"gateway internal error, then the replay", []answer{{status: 500, body: `{"message":"Internal Server Error"}`}, {status: 200, body: sentBody}}, 2, client.StatusSent, 0, ""},
		{"the service's internal error is not retried", []answer{{status: 500, body: apiError("internal", "Internal Server Error")}}, 1, "", 500, client.CodeInternal},
		{"provider rejected: the result and its error", []answer{{status: 422, body: `{"messageId":"6f1c","status":"failed","channel":"sms","to":"+14155552671","segments":1,"encoding":"GSM-7","error":{"code":"provider_rejected","message":"the recipient number is not a mobile number","providerCode":"21614"}}`}}, 1, client.StatusFailed, 422, client.CodeProviderRejected},
		{"outcome unknown: the result and its error, not retried", []answer{{status: 502, body: `{"messageId":"6f1d","status":"unknown","channel":"sms","to":"+14155552671","error":{"code":"provider_outcome_unknown","message":"the outcome is unknown"}}`}}, 1, client.StatusUnknown, 502, client.CodeProviderOutcomeUnknown},
		{"idempotency mismatch", []answer{{status: 422, body: apiError("idempotency_mismatch", "key reused")}}, 1, "", 422, client.CodeIdempotencyMismatch},
		{"forbidden destination", []answer{{status: 403, body: apiError("destination_not_allowed", "destination not allowed")}}, 1, "", 403, client.CodeDestinationNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := fakeAPI(t, tt.answers...)
			res, err := fastClient(t, srv.URL).Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
			reqs := s.requests()
			if len(reqs) != tt.wantAttempts || res.Attempts != tt.wantAttempts {
				t.Errorf("%d requests (Attempts %d), want %d", len(reqs), res.Attempts, tt.wantAttempts)
			}
			for _, r := range reqs {
				if r.key != reqs[0].key || r.key != res.IdempotencyKey || len(r.key) != 32 {
					t.Errorf("Idempotency-Key %q (first %q, result %q), want one 32-digit key for every try", r.key, reqs[0].key, res.IdempotencyKey)
				}
				if r.method != http.MethodPost || r.path != "/messaging/sms" || r.auth != "Bearer tok" || r.contentType != "application/json" {
					t.Errorf("request %+v, want POST /messaging/sms with the token and JSON", r)
				}
			}
			if res.Status != tt.wantStatus {
				t.Errorf("result status %q, want %q (%+v)", res.Status, tt.wantStatus, res)
			}
			var apiErr *client.Error
			switch {
			case tt.wantErr == 0 && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr > 0 && (!errors.As(err, &apiErr) || apiErr.HTTPStatus != tt.wantErr || apiErr.Code != tt.wantCode):
				t.Errorf("error %#v, want *client.Error %d %s", err, tt.wantErr, tt.wantCode)
			}
		})
	}
}

func TestSendHonoursRetryAfter(t *testing.T) {
	s, srv := fakeAPI(t, answer{status: 429, headers: []string{"Retry-After: 1"}, body: limitedBody}, answer{status: 200, body: sentBody})
	res, err := fastClient(t, srv.URL).Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
	if err != nil || res.Status != client.StatusSent {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	reqs := s.requests()
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retry %v after the 429, want at least its Retry-After of 1 s", gap)
	}
}

func TestSendGivesUpWithinMaxElapsed(t *testing.T) {
	s, srv := fakeAPI(t, answer{status: 503, headers: []string{"Retry-After: 1"}, body: apiError("unavailable", "retry later")})
	c := fastClient(t, srv.URL, client.WithMaxElapsed(2500*time.Millisecond))
	start := time.Now()
	res, err := c.Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
	took := time.Since(start)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 503 || apiErr.RetryAfter != time.Second {
		t.Fatalf("Send error %v, want the last 503 with its Retry-After", err)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("gave up after %v, want within the 2.5 s bound", took)
	}
	if n := len(s.requests()); n < 2 || n > 3 || res.Attempts != n {
		t.Errorf("%d tries (Attempts %d), want 2 or 3 within 2.5 s at 1 s apart", n, res.Attempts)
	}
	if res.IdempotencyKey == "" {
		t.Error("no Idempotency-Key in the result: the caller cannot retry later with it")
	}
}

func TestSendBoundsASlowTry(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); srv.Close() })
	c := fastClient(t, srv.URL, client.WithMaxElapsed(300*time.Millisecond), client.WithAttemptTimeout(time.Minute))
	start := time.Now()
	_, err := c.Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v, want about the 300 ms bound", took)
	}
}

func TestSendStopsWhenTheContextEnds(t *testing.T) {
	_, srv := fakeAPI(t, answer{status: 503, headers: []string{"Retry-After: 30"}, body: apiError("unavailable", "retry later")})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := fastClient(t, srv.URL, client.WithMaxElapsed(time.Minute)).Send(ctx, client.Message{To: "+14155552671", Body: "hi"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != 503 {
		t.Errorf("error %v, want the last answer too", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v, want to stop with the context", took)
	}
}

func TestSendOneTryWithoutMaxElapsed(t *testing.T) {
	s, srv := fakeAPI(t, answer{status: 503, body: apiError("unavailable", "retry later")})
	_, err := fastClient(t, srv.URL, client.WithMaxElapsed(0)).Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
	if err == nil || len(s.requests()) != 1 {
		t.Errorf("error %v after %d tries, want one try", err, len(s.requests()))
	}
}

func TestSendKeysAndBody(t *testing.T) {
	s, srv := fakeAPI(t, answer{status: 202, body: queuedBody})
	c := fastClient(t, srv.URL)
	ctx := context.Background()
	sendAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "a", From: "FluxKit", ValidFor: 90500 * time.Millisecond, SendAt: sendAt}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "c", IdempotencyKey: "order-42"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if reqs[0].key == reqs[1].key {
		t.Errorf("two Sends used the same key %q, want one per call", reqs[0].key)
	}
	if reqs[2].key != "order-42" || res.IdempotencyKey != "order-42" {
		t.Errorf("key %q (result %q), want the caller's order-42", reqs[2].key, res.IdempotencyKey)
	}
	want := map[string]any{"to": "+14155552671", "body": "a", "from": "FluxKit", "validFor": float64(91), "sendAt": "2030-01-02T03:04:05Z"}
	for k, v := range want {
		if reqs[0].body[k] != v {
			t.Errorf("body[%s] = %v, want %v", k, reqs[0].body[k], v)
		}
	}
	if len(reqs[1].body) != 2 {
		t.Errorf("body %v, want only to and body when nothing else is set (the API refuses unknown or empty fields)", reqs[1].body)
	}
}

func TestTokenIsAskedForEachTry(t *testing.T) {
	_, srv := fakeAPI(t, answer{status: 503, body: apiError("unavailable", "")}, answer{status: 200, body: sentBody})
	var calls atomic.Int32
	c, err := client.New(srv.URL, client.TokenFunc(func(context.Context) (string, error) {
		calls.Add(1)
		return "tok", nil
	}), client.WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("token asked %d times, want once per try (2)", calls.Load())
	}

	boom := errors.New("no token")
	s, srv2 := fakeAPI(t, answer{status: 200, body: sentBody})
	c, _ = client.New(srv2.URL, client.TokenFunc(func(context.Context) (string, error) { return "", boom }))
	if _, err := c.Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"}); !errors.Is(err, boom) || len(s.requests()) != 0 {
		t.Errorf("error %v after %d requests, want the token source's error and no request", err, len(s.requests()))
	}
}

func TestNewTakesTheBaseURL(t *testing.T) {
	s, srv := fakeAPI(t, answer{status: 200, body: sentBody})
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "/messaging/sms"} {
		if _, err := fastClient(t, base).Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"}); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
	}
	for _, r := range s.requests() {
		if r.path != "/messaging/sms" {
			t.Errorf("path %q, want /messaging/sms", r.path)
		}
	}
	for _, bad := range []string{"", "api.example.com", "ftp://api.example.com", "https://api.example.com/?x=1", "://"} {
		if _, err := client.New(bad, client.StaticToken("t")); err == nil {
			t.Errorf("New(%q) accepted, want an error", bad)
		}
	}
	if _, err := client.New(srv.URL, nil); err == nil {
		t.Error("New without a token source accepted")
	}
}

const recordBody = `{"channel":"sms","serviceId":"0b6a6f1e-7c2c-4d8e-9d8a-0c4f4a1e2b3c","messageId":"SM123","providerMessageId":"SM123","provider":"twilio","status":"delivered","to":"+14155552671","from":"FluxKit","segments":1,"encoding":"GSM-7","createdAt":"2026-11-30T10:00:00.000Z","updatedAt":"2026-11-30T10:00:02.500Z","history":[{"status":"sent","at":"2026-11-30T10:00:00.300Z"},{"status":"delivered","at":"2026-11-30T10:00:02.500Z"}]}`

// TestStatus runs Status against a server answering as
// GET /messaging/sms/{messageId} is specified (docs/openapi.yaml).
func TestStatus(t *testing.T) {
	s, srv := fakeAPI(t, answer{status: 503, body: apiError("unavailable", "")}, answer{status: 200, body: recordBody})
	rec, err := fastClient(t, srv.URL).Status(context.Background(), "SM123")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != client.StatusDelivered || rec.ServiceID == "" || rec.Provider != "twilio" || len(rec.History) != 2 ||
		rec.History[1].Status != client.StatusDelivered || !rec.UpdatedAt.Equal(time.Date(2026, 11, 30, 10, 0, 2, 500e6, time.UTC)) {
		t.Errorf("record = %+v", rec)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[1].method != http.MethodGet || reqs[1].path != "/messaging/sms/SM123" || reqs[1].key != "" {
		t.Errorf("requests %+v, want GET /messaging/sms/SM123 twice (503 retried), without a key", reqs)
	}

	s, srv = fakeAPI(t, answer{status: 404, body: apiError("not_found", "no such message")})
	_, err = fastClient(t, srv.URL).Status(context.Background(), "producer/7:x")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeNotFound || apiErr.HTTPStatus != 404 {
		t.Errorf("error %v, want 404 not_found", err)
	}
	if got := s.requests()[0].path; got != "/messaging/sms/producer%2F7:x" {
		t.Errorf("path %q, want the id as one escaped segment", got)
	}
	if _, err := fastClient(t, srv.URL).Status(context.Background(), ""); err == nil {
		t.Error("Status of an empty id accepted")
	}
}

func TestErrorRetryable(t *testing.T) {
	for _, tc := range []struct {
		e    client.Error
		want bool
	}{
		{client.Error{HTTPStatus: 429, Code: client.CodeRateLimited}, true},
		{client.Error{HTTPStatus: 429}, true},
		{client.Error{HTTPStatus: 429, Code: client.CodeQuotaExceeded}, false},
		{client.Error{HTTPStatus: 503, Code: client.CodeUnavailable}, true},
		{client.Error{HTTPStatus: 409, Code: client.CodeConflict}, true},
		{client.Error{HTTPStatus: 502}, true},
		{client.Error{HTTPStatus: 502, Code: client.CodeProviderError}, false},
		{client.Error{HTTPStatus: 400, Code: client.CodeInvalidTo}, false},
		{client.Error{HTTPStatus: 401, Code: client.CodeUnauthorized}, false},
	} {
		if got := tc.e.Retryable(); got != tc.want {
			t.Errorf("%v Retryable = %v, want %v", &tc.e, got, tc.want)
		}
	}
	e := &client.Error{HTTPStatus: 422, Code: client.CodeProviderRejected, Message: "not a mobile number", ProviderCode: "21614"}
	if got, want := e.Error(), "fluxkit sms: 422 provider_rejected: not a mobile number (provider code 21614)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRetryAfterAsADate(t *testing.T) {
	at := time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
	_, srv := fakeAPI(t, answer{status: 429, headers: []string{"Retry-After: " + at}, body: apiError("quota_exceeded", "")})
	_, err := fastClient(t, srv.URL).Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.RetryAfter <= 0 || apiErr.RetryAfter > 3*time.Second {
		t.Errorf("error %v, want RetryAfter of about 2 s read from an HTTP date", err)
	}
}

// TestStandardLibraryOnly: the package imports nothing outside the
// standard library, so that using it adds no dependency.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != "github.com/fluxkit/sms/client" {
		t.Errorf("non-standard packages in the build: %v, want only the client itself", got)
	}
}

// TestSendRetriesARefusedConnectionWithinBounds: a refused connection is a
// failure without an answer, retried until the call's bound.
func TestSendRetriesARefusedConnectionWithinBounds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := fastClient(t, "http://"+addr, client.WithMaxElapsed(200*time.Millisecond))
	res, err := c.Send(context.Background(), client.Message{To: "+14155552671", Body: "hi"})
	var apiErr *client.Error
	if err == nil || errors.As(err, &apiErr) {
		t.Fatalf("error %v, want the connection's", err)
	}
	if res.Attempts < 2 {
		t.Errorf("%d tries, want retries of a refused connection", res.Attempts)
	}
}
