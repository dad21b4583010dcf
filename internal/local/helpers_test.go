package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/config"
)

// curlBody is the documented example's request body.
const curlBody = `{"to":"+14155551234","body":"Your verification code is 482901"}`

// stoppedClock is an sms.Clock that always reads the same time.
type stoppedClock time.Time

func (c stoppedClock) Now() time.Time { return time.Time(c) }

func (stoppedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// envOf turns a map into a getenv function.
func envOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// startServer starts a server on a free loopback port with env as its
// environment and stops it when the test ends.
func startServer(t testing.TB, env map[string]string, tweak ...func(*Options)) *Server {
	t.Helper()
	opts := Options{Getenv: envOf(env), Addr: "127.0.0.1:0"}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s.Shutdown(ctx, 0)
	})
	return s
}

// devToken returns a development token for the default configuration.
func devToken(t testing.TB) string {
	t.Helper()
	tok, err := DevToken(config.Config{}, time.Now())
	if err != nil {
		t.Fatalf("DevToken: %v", err)
	}
	return tok
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// errorCode returns error.code of an error body.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// do sends one request with the given headers ("Name: value").
func do(t testing.TB, c *http.Client, method, url, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// send posts a message with a token, as the documented curl does.
func send(t testing.TB, s *Server, token, body string, headers ...string) response {
	t.Helper()
	h := append([]string{"Content-Type: application/json", "Authorization: Bearer " + token}, headers...)
	return do(t, nil, http.MethodPost, s.URL()+RoutePath, body, h...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// burst sends n requests at once with bodies made from format and i, and
// returns how many were queued (202), failing the test on any answer other
// than 200 or 202.
func burst(t *testing.T, s *Server, tok string, n int, format string) (queued int) {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = send(t, s, tok, fmt.Sprintf(format, i)).status
		})
	}
	wg.Wait()
	for i, st := range statuses {
		switch st {
		case http.StatusOK:
		case http.StatusAccepted:
			queued++
		default:
			t.Errorf("request %d: status %d, want 200 or 202", i, st)
		}
	}
	return queued
}
