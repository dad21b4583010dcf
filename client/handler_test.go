package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/client"
)

// These tests run the client against the real send handler behind the
// local server (helpers_test.go).

// TestSendWhoseAnswerWasLostIsSentOnce: the first answer is lost after the
// handler sent the message; the client's retry carries the same
// Idempotency-Key, the handler replays the answer, and the provider is
// given the message exactly once.
func TestSendWhoseAnswerWasLostIsSentOnce(t *testing.T) {
	api := newLocal(t, nil)
	tr := &recordingTransport{drop: 1}
	c, err := client.New(api.URL, client.StaticToken(api.Token),
		client.WithHTTPClient(&http.Client{Transport: tr}), client.WithBackoff(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(context.Background(), client.Message{To: "+14155552671", Body: "Your verification code is 482901"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := api.sentCount(); got != 1 {
		t.Errorf("the provider was given %d messages, want exactly 1", got)
	}
	ex := tr.exchanges()
	if len(ex) != 2 || !ex[0].dropped || ex[1].dropped {
		t.Fatalf("exchanges = %+v, want a dropped answer and one retry", ex)
	}
	if ex[0].status != http.StatusOK || ex[1].status != http.StatusOK {
		t.Errorf("handler answered %d then %d, want 200 twice (the second a replay)", ex[0].status, ex[1].status)
	}
	if ex[0].key == "" || ex[0].key != ex[1].key || ex[0].key != res.IdempotencyKey {
		t.Errorf("Idempotency-Keys %q, %q (result %q), want one key for both tries", ex[0].key, ex[1].key, res.IdempotencyKey)
	}
	var first client.Result
	if err := json.Unmarshal([]byte(ex[0].body), &first); err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusSent || res.MessageID != first.MessageID || res.Attempts != 2 {
		t.Errorf("result = %+v, want the lost answer's sent %s after 2 tries", res, first.MessageID)
	}
}

// TestSendRetriesRateLimitedUntilASlotIsFree: with queueing off the handler
// answers 429 rate_limited with Retry-After; the client waits and retries
// until it sends.
func TestSendRetriesRateLimitedUntilASlotIsFree(t *testing.T) {
	api := newLocal(t, map[string]string{"SMS_QUEUE_ENABLED": "false", "SMS_RATE_LIMIT": "1"})
	tr := &recordingTransport{}
	c, err := client.New(api.URL, client.StaticToken(api.Token), client.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	results := make([]client.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = c.Send(context.Background(), client.Message{To: "+14155552671", Body: "code " + string(rune('a'+i))})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].Status != client.StatusSent {
			t.Errorf("send %d = %+v, %v; want sent", i, results[i], errs[i])
		}
	}
	if got := api.sentCount(); got != n {
		t.Errorf("provider given %d messages, want %d", got, n)
	}
	limited := 0
	for _, ex := range tr.exchanges() {
		if ex.status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("no 429 among %d exchanges: the test did not exercise the retry", len(tr.exchanges()))
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("%d sends at 1/s took %v, want at least 1 s (Retry-After honoured)", n, took)
	}
}

func TestSendErrorsOfTheHandlerAreTyped(t *testing.T) {
	api := newLocal(t, nil)
	tests := []struct {
		name       string
		token      string
		msg        client.Message
		wantStatus int
		wantCode   string
	}{
		{"invalid number", api.Token, client.Message{To: "+1234", Body: "hi"}, 400, client.CodeInvalidTo},
		{"empty body", api.Token, client.Message{To: "+14155552671"}, 400, client.CodeInvalidBody},
		{"validity out of range", api.Token, client.Message{To: "+14155552671", Body: "hi", ValidFor: 5 * time.Second}, 400, ""},
		{"bad token", "not-a-jwt", client.Message{To: "+14155552671", Body: "hi"}, 401, client.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &recordingTransport{}
			c, err := client.New(api.URL, client.StaticToken(tt.token), client.WithHTTPClient(&http.Client{Transport: tr}))
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Send(context.Background(), tt.msg)
			var apiErr *client.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("Send = %+v, %v; want a *client.Error", res, err)
			}
			if apiErr.HTTPStatus != tt.wantStatus || (tt.wantCode != "" && apiErr.Code != tt.wantCode) {
				t.Errorf("error = %d %q, want %d %q", apiErr.HTTPStatus, apiErr.Code, tt.wantStatus, tt.wantCode)
			}
			if apiErr.Retryable() || len(tr.exchanges()) != 1 || res.Attempts != 1 {
				t.Errorf("%d tries (retryable %v), want 1", len(tr.exchanges()), apiErr.Retryable())
			}
			if res.MessageID != "" || res.IdempotencyKey == "" {
				t.Errorf("result = %+v, want no message and the key used", res)
			}
		})
	}
	if got := api.sentCount(); got != 0 {
		t.Errorf("provider given %d messages, want none", got)
	}
}
