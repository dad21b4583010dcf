package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

func TestCurlExample(t *testing.T) {
	console := &logging.Buffer{}
	s := startServer(t, nil, func(o *Options) { o.Console = console })

	r := send(t, s, devToken(t), curlBody)

	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	if got, want := r.header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if r.header.Get("Apigw-Requestid") == "" {
		t.Errorf("Apigw-Requestid header missing, want API Gateway's request id")
	}
	var got struct {
		MessageID string `json:"messageId"`
		Status    string `json:"status"`
		Channel   string `json:"channel"`
		To        string `json:"to"`
		Segments  int    `json:"segments"`
		Encoding  string `json:"encoding"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	msgs := s.Console().Messages()
	if len(msgs) != 1 {
		t.Fatalf("console kept %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	for _, c := range []struct{ name, got, want string }{
		{"status", got.Status, "sent"},
		{"channel", got.Channel, "sms"},
		{"to", got.To, "+14155551234"},
		{"encoding", got.Encoding, "GSM-7"},
		{"messageId", got.MessageID, m.ID},
		{"console body", m.Body, "Your verification code is 482901"},
		{"console from", m.From, DefaultFrom},
		{"console to", m.To, "+14155551234"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.Segments != 1 {
		t.Errorf("segments = %d, want 1", got.Segments)
	}
	if !strings.HasPrefix(got.MessageID, "console-") {
		t.Errorf("messageId = %q, want the console provider's id (console-...)", got.MessageID)
	}
	if line := console.String(); !strings.Contains(line, `"Your verification code is 482901"`) || !strings.Contains(line, "+14155551234") {
		t.Errorf("console output = %q, want the message printed with its body and recipient", line)
	}
}

func TestResponses(t *testing.T) {
	s := startServer(t, nil)
	tok := devToken(t)
	other, err := auth.Sign([]byte("another-secret-of-at-least-32-bytes!!"), map[string]any{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"to":"+14155551234","body":"` + strings.Repeat("a", 70<<10) + `"}`
	huge := `{"to":"+14155551234","body":"` + strings.Repeat("a", 2<<20) + `"}`
	json := "Content-Type: application/json"
	bearer := "Authorization: Bearer " + tok
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		headers     []string
		wantStatus  int
		wantCode    string // error.code, or "" for API Gateway's {"message": ...}
		wantMessage string // API Gateway's message
	}{
		{"no token", "POST", RoutePath, curlBody, []string{json}, 401, "unauthorized", ""},
		{"foreign token", "POST", RoutePath, curlBody, []string{json, "Authorization: Bearer " + other}, 401, "unauthorized", ""},
		{"not JSON", "POST", RoutePath, curlBody, []string{"Content-Type: text/plain", bearer}, 415, "unsupported_media_type", ""},
		{"invalid to", "POST", RoutePath, `{"to":"12","body":"x"}`, []string{json, bearer}, 400, "invalid_to", ""},
		{"unknown field", "POST", RoutePath, `{"to":"+14155551234","body":"x","cc":"y"}`, []string{json, bearer}, 400, "invalid_request", ""},
		{"over 64 KiB: the handler decides", "POST", RoutePath, big, []string{json, bearer}, 413, "payload_too_large", ""},
		{"over 1 MiB: the gateway decides", "POST", RoutePath, huge, []string{json, bearer}, 413, "", "Request Entity Too Large"},
		{"GET on the route", "GET", RoutePath, "", []string{bearer}, 404, "", "Not Found"},
		{"trailing slash", "POST", RoutePath + "/", curlBody, []string{json, bearer}, 404, "", "Not Found"},
		{"other path", "POST", "/messaging/email", curlBody, []string{json, bearer}, 404, "", "Not Found"},
		{"root", "GET", "/", "", nil, 404, "", "Not Found"},
		{"unknown local path", "GET", "/_local/nothing", "", nil, 404, "", "Not Found"},
		{"POST on a local path", "POST", "/_local/messages", "", nil, 405, "", "Method Not Allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, nil, tt.method, s.URL()+tt.path, tt.body, tt.headers...)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %.200s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantCode != "" {
				if got := r.errorCode(t); got != tt.wantCode {
					t.Errorf("error.code = %q, want %q", got, tt.wantCode)
				}
			} else if got := r.json(t)["message"]; got != tt.wantMessage {
				t.Errorf("message = %v, want %q", got, tt.wantMessage)
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q, want Bearer error=\"invalid_token\"", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := s.Console().Count(); n != 0 {
		t.Errorf("console sent %d messages for refused requests, want 0", n)
	}
}

// TestOverRateIsQueuedAndDrainedAtTheRate sends a burst above
// SMS_RATE_LIMIT: the excess answers 202 and the drain loop delivers all of
// it, with no 1-second window holding more sends than the limit.
func TestOverRateIsQueuedAndDrainedAtTheRate(t *testing.T) {
	const rate, n = 2, 8
	s := startServer(t, map[string]string{"SMS_RATE_LIMIT": strconv.Itoa(rate)})
	tok := devToken(t)

	queued := burst(t, s, tok, n, `{"to":"+14155551234","body":"code %d"}`)
	if queued == 0 {
		t.Errorf("no request was queued, want the burst above %d/s to answer 202", rate)
	}

	waitFor(t, 10*time.Second, "the drain to deliver every message", func() bool { return s.Console().Count() == n })
	msgs := s.Console().Messages()
	var bodies []string
	var times []time.Time
	for _, m := range msgs {
		bodies = append(bodies, m.Body)
		times = append(times, m.At)
	}
	slices.Sort(bodies)
	for i, b := range bodies {
		if want := fmt.Sprintf("code %d", i); b != want {
			t.Errorf("delivered bodies = %q, want each of code 0..%d once", bodies, n-1)
			break
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := rate; i < len(times); i++ {
		if d := times[i].Sub(times[i-rate]); d < time.Second {
			t.Errorf("sends %d and %d are %v apart: %d sends within 1 s, want at most %d", i-rate, i, d, rate+1, rate)
		}
	}
	waitFor(t, 2*time.Second, "the queue to empty", func() bool { return s.Queued() == 0 })
}

func TestFullQueueAnswers503(t *testing.T) {
	s := startServer(t, map[string]string{"SMS_RATE_LIMIT": "1", "SMS_MAX_WAIT": "0s"}, func(o *Options) { o.QueueCapacity = 1 })
	tok := devToken(t)
	var got []int
	var last response
	for range 3 {
		last = send(t, s, tok, curlBody)
		got = append(got, last.status)
	}
	if want := []int{200, 202, 503}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %v, want %v (send, queue, queue full)", got, want)
	}
	if code := last.errorCode(t); code != "unavailable" {
		t.Errorf("error.code = %q, want unavailable", code)
	}
	if ra := last.header.Get("Retry-After"); ra == "" {
		t.Errorf("Retry-After missing on 503")
	}
}

func TestQueueingOffAnswers429(t *testing.T) {
	s := startServer(t, map[string]string{"SMS_RATE_LIMIT": "1", "SMS_MAX_WAIT": "0s", "SMS_QUEUE_ENABLED": "false"})
	tok := devToken(t)
	first, second := send(t, s, tok, curlBody), send(t, s, tok, curlBody)
	if first.status != 200 || second.status != 429 {
		t.Fatalf("statuses = %d, %d, want 200, 429", first.status, second.status)
	}
	if code := second.errorCode(t); code != "rate_limited" {
		t.Errorf("error.code = %q, want rate_limited", code)
	}
	if second.header.Get("Retry-After") == "" {
		t.Errorf("Retry-After missing on 429")
	}
	if n := s.Queued(); n != 0 {
		t.Errorf("queue holds %d, want 0 with queueing off", n)
	}
}

func TestIdempotencyKeyWithMemoryLedger(t *testing.T) {
	s := startServer(t, nil)
	tok := devToken(t)
	first := send(t, s, tok, curlBody, "Idempotency-Key: order-42")
	again := send(t, s, tok, curlBody, "Idempotency-Key: order-42")
	other := send(t, s, tok, `{"to":"+14155551234","body":"different"}`, "Idempotency-Key: order-42")
	if first.status != 200 || again.status != 200 {
		t.Fatalf("statuses = %d, %d, want 200, 200", first.status, again.status)
	}
	if a, b := first.json(t)["messageId"], again.json(t)["messageId"]; a != b {
		t.Errorf("repeated request messageId = %v, want the first one %v", b, a)
	}
	if other.status != 422 || other.errorCode(t) != "idempotency_mismatch" {
		t.Errorf("reused key with another body: %d %s, want 422 idempotency_mismatch", other.status, other.body)
	}
	if n := s.Console().Count(); n != 1 {
		t.Errorf("console sent %d messages, want 1", n)
	}
}

func TestLocalEndpoints(t *testing.T) {
	s := startServer(t, nil)
	tok := devToken(t)
	for i := range 3 {
		if r := send(t, s, tok, fmt.Sprintf(`{"to":"+14155551234","body":"n%d"}`, i)); r.status != 200 {
			t.Fatalf("send %d: status %d", i, r.status)
		}
	}
	r := do(t, nil, "GET", s.URL()+"/_local/messages", "")
	var msgs struct {
		Count    int           `json:"count"`
		Messages []SentMessage `json:"messages"`
	}
	if err := json.Unmarshal(r.body, &msgs); err != nil || r.status != 200 {
		t.Fatalf("GET /_local/messages: %d %s (%v)", r.status, r.body, err)
	}
	var bodies []string
	for _, m := range msgs.Messages {
		bodies = append(bodies, m.Body)
	}
	if want := []string{"n0", "n1", "n2"}; !slices.Equal(bodies, want) || msgs.Count != 3 {
		t.Errorf("messages = %q (count %d), want %q, newest last (count 3)", bodies, msgs.Count, want)
	}

	r = do(t, nil, "GET", s.URL()+"/_local/status", "")
	var st Status
	if err := json.Unmarshal(r.body, &st); err != nil || r.status != 200 {
		t.Fatalf("GET /_local/status: %d %s (%v)", r.status, r.body, err)
	}
	if st.Mode != ModeMemory || st.Provider != "console" || st.RateLimit != 10 || st.Sent == nil || *st.Sent != 3 || st.Queued == nil || *st.Queued != 0 {
		t.Errorf("status = %s, want memory mode, console provider, rate 10, 3 sent, 0 queued", r.body)
	}

	if err := s.DeadLetters().DeadLetter(context.Background(), `{"to":1}`, "wrong_type"); err != nil {
		t.Fatal(err)
	}
	r = do(t, nil, "GET", s.URL()+"/_local/dead-letters", "")
	var dl struct {
		Count       int          `json:"count"`
		DeadLetters []DeadLetter `json:"deadLetters"`
	}
	if err := json.Unmarshal(r.body, &dl); err != nil || r.status != 200 {
		t.Fatalf("GET /_local/dead-letters: %d %s (%v)", r.status, r.body, err)
	}
	if dl.Count != 1 || len(dl.DeadLetters) != 1 || dl.DeadLetters[0].Reason != "wrong_type" || dl.DeadLetters[0].Body != `{"to":1}` {
		t.Errorf("dead letters = %s, want the one record with reason wrong_type", r.body)
	}
}

func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	_, err = New(context.Background(), Options{Getenv: envOf(map[string]string{"PORT": port})})
	if err == nil {
		t.Fatal("New on a busy port succeeded, want an error")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %v does not wrap EADDRINUSE", err)
	}
	for _, want := range []string{"127.0.0.1:" + port, "already in use", "PORT="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantSetting string
	}{
		{"rate limit", map[string]string{"SMS_RATE_LIMIT": "fast"}, "SMS_RATE_LIMIT"},
		{"port", map[string]string{"PORT": "http"}, "PORT"},
		{"port range", map[string]string{"PORT": "70000"}, "PORT"},
		{"provider name", map[string]string{"SMS_PROVIDER": "sinch"}, "SMS_PROVIDER"},
		{"real provider without a sender", map[string]string{"SMS_PROVIDER": "twilio"}, "SMS_FROM"},
		{"real provider without credentials", map[string]string{"SMS_PROVIDER": "twilio", "SMS_FROM": "+15005550006"}, "TWILIO_ACCOUNT_SID"},
		{"short JWT secret", map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET"},
		{"emulator without a table", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "SMS_QUEUE_URL": "http://127.0.0.1:4566/000000000000/q"}, "SMS_TABLE_NAME"},
		{"table without a queue", map[string]string{"SMS_TABLE_NAME": "sms"}, "SMS_QUEUE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Getenv: envOf(tt.env), Addr: "127.0.0.1:0"}
			if _, ok := tt.env["PORT"]; ok {
				opts.Addr = ""
			}
			_, err := New(context.Background(), opts)
			var se *config.SettingError
			if !errors.As(err, &se) {
				t.Fatalf("New error = %v, want a *config.SettingError", err)
			}
			if se.Setting != tt.wantSetting {
				t.Errorf("setting = %q (%v), want %q", se.Setting, err, tt.wantSetting)
			}
		})
	}
}

// TestProviderOnlyWhenNamed checks that provider credentials in the
// environment are not enough to send for real: SMS_PROVIDER must name the
// provider.
func TestProviderOnlyWhenNamed(t *testing.T) {
	fake := providertest.NewTwilio(t)
	env := map[string]string{
		"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID,
		"TWILIO_AUTH_TOKEN":  providertest.TwilioAuthToken,
		"TWILIO_API_URL":     fake.URL(),
		"SMS_FROM":           providertest.TwilioFrom,
	}
	t.Run("credentials alone", func(t *testing.T) {
		s := startServer(t, env)
		if r := send(t, s, devToken(t), curlBody); r.status != 200 {
			t.Fatalf("status = %d, want 200; %s", r.status, r.body)
		}
		if s.Console() == nil || s.Console().Count() != 1 {
			t.Errorf("console provider did not send the message")
		}
		if n := fake.Count(); n != 0 {
			t.Errorf("Twilio received %d requests, want 0", n)
		}
	})
	t.Run("SMS_PROVIDER=twilio", func(t *testing.T) {
		env := withEnv(env, "SMS_PROVIDER", "twilio")
		s := startServer(t, env)
		r := send(t, s, devToken(t), curlBody)
		if r.status != 200 {
			t.Fatalf("status = %d, want 200; %s", r.status, r.body)
		}
		acc := fake.Accepted()
		if len(acc) != 1 {
			t.Fatalf("Twilio accepted %d messages, want 1", len(acc))
		}
		if got, want := r.json(t)["messageId"], acc[0].ID; got != want {
			t.Errorf("messageId = %v, want Twilio's SID %v", got, want)
		}
		if acc[0].Body != "Your verification code is 482901" || acc[0].From != providertest.TwilioFrom {
			t.Errorf("Twilio got body %q from %q", acc[0].Body, acc[0].From)
		}
		if s.Console() != nil {
			t.Errorf("Console() = non-nil with a real provider, want nil")
		}
		if r := do(t, nil, "GET", s.URL()+"/_local/messages", ""); r.status != 404 {
			t.Errorf("GET /_local/messages with a real provider: %d, want 404", r.status)
		}
	})
}

// withEnv returns a copy of m with k set to v.
func withEnv(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func TestShutdown(t *testing.T) {
	burst := func(t *testing.T, s *Server, n int) int {
		t.Helper()
		tok := devToken(t)
		queued := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := send(t, s, tok, fmt.Sprintf(`{"to":"+14155551234","body":"m%d"}`, i))
				mu.Lock()
				defer mu.Unlock()
				if r.status == http.StatusAccepted {
					queued++
				}
			})
		}
		wg.Wait()
		return queued
	}
	t.Run("grace drains the queue", func(t *testing.T) {
		s, err := New(context.Background(), Options{Getenv: envOf(map[string]string{"SMS_RATE_LIMIT": "5"}), Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if q := burst(t, s, 6); q == 0 {
			t.Fatal("nothing was queued")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		rep := s.Shutdown(ctx, 10*time.Second)
		if rep.Queued != 0 || rep.Sent != 6 || !rep.DrainStopped {
			t.Errorf("report = %+v, want 0 queued, 6 sent, drain stopped", rep)
		}
		if !strings.Contains(rep.String(), "the in-memory queue is empty") {
			t.Errorf("report %q does not say the queue is empty", rep)
		}
		if _, err := http.Get(s.URL() + "/_local/status"); err == nil {
			t.Errorf("server still accepts connections after Shutdown")
		}
	})
	t.Run("no grace reports what is left", func(t *testing.T) {
		s, err := New(context.Background(), Options{Getenv: envOf(map[string]string{"SMS_RATE_LIMIT": "1"}), Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		queued := burst(t, s, 6)
		if queued < 4 {
			t.Fatalf("%d queued, want at least 4 at 1/s", queued)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		rep := s.Shutdown(ctx, 0)
		if rep.Queued < 1 || rep.Queued+rep.Sent != 6 || !rep.DrainStopped {
			t.Errorf("report = %+v, want some left queued, queued+sent = 6, drain stopped", rep)
		}
		if want := fmt.Sprintf("%d queued messages could not be delivered in time and are dropped", rep.Queued); !strings.Contains(rep.String(), want) {
			t.Errorf("report %q does not say %q", rep, want)
		}
	})
}

// TestStatusAfterSend is the README's first screen: a POST, then a GET of
// its messageId, for a message sent at once and for one queued and sent
// by the drain; another caller's token gets 404, and so does a server
// without status tracking.
func TestStatusAfterSend(t *testing.T) {
	s := startServer(t, map[string]string{"SMS_RATE_LIMIT": "1"})
	tok := devToken(t)
	get := func(id, token string) response {
		t.Helper()
		return do(t, nil, http.MethodGet, s.URL()+RoutePath+"/"+id, "", "Authorization: Bearer "+token)
	}

	first := send(t, s, tok, `{"to":"+14155551234","body":"first"}`).json(t)
	second := send(t, s, tok, `{"to":"+14155551234","body":"second","validFor":600}`)
	if second.status != http.StatusAccepted {
		t.Fatalf("second send = %d %s, want 202 (rate 1/s)", second.status, second.body)
	}
	queuedID, _ := second.json(t)["messageId"].(string)

	sent := get(first["messageId"].(string), tok)
	if sent.status != http.StatusOK {
		t.Fatalf("GET of the sent message = %d %s, want 200", sent.status, sent.body)
	}
	rec := sent.json(t)
	if rec["status"] != "sent" || rec["channel"] != "sms" || rec["messageId"] != first["messageId"] || rec["providerMessageId"] != first["messageId"] {
		t.Errorf("record %s: want status sent, channel sms, the answer's messageId as messageId and providerMessageId", sent.body)
	}
	if _, ok := rec["owner"]; ok || strings.Contains(string(sent.body), DevSubject) {
		t.Errorf("record %s shows its owner", sent.body)
	}

	waitFor(t, 5*time.Second, "the drain to send the queued message", func() bool {
		return get(queuedID, tok).json(t)["status"] == "sent"
	})
	rec = get(queuedID, tok).json(t)
	history, _ := rec["history"].([]any)
	if rec["serviceId"] != queuedID || rec["messageId"] != queuedID || len(history) != 2 || rec["expiresAt"] == nil {
		t.Errorf("record %v: want the service id as messageId, history queued then sent, and expiresAt", rec)
	}

	other, err := auth.Sign([]byte(DevSecret), map[string]any{"sub": "someone-else", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if r := get(queuedID, other); r.status != http.StatusNotFound || r.errorCode(t) != "not_found" {
		t.Errorf("GET by another caller = %d %s, want 404 not_found", r.status, r.body)
	}
	if r := get("no-such-message", tok); r.status != http.StatusNotFound {
		t.Errorf("GET of an unknown id = %d %s, want 404", r.status, r.body)
	}

	off := startServer(t, map[string]string{"SMS_STATUS_TRACKING": "false"})
	id, _ := send(t, off, tok, curlBody).json(t)["messageId"].(string)
	if r := do(t, nil, http.MethodGet, off.URL()+RoutePath+"/"+id, "", "Authorization: Bearer "+tok); r.status != http.StatusNotFound {
		t.Errorf("GET without status tracking = %d %s, want 404", r.status, r.body)
	}
}
