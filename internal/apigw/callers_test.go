package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
)

// requestLine serves r with a handler logging to a buffer and returns the
// fields of its "request" log line.
func requestLine(t *testing.T, s *fakeSender, r Request, opts ...Option) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	h := NewHandler(fakeAuth{}, s, slog.New(slog.NewJSONHandler(&buf, nil)), opts...)
	h.Serve(context.Background(), r)
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "request" {
			if strings.Contains(line, "user-1") {
				t.Errorf("request line %s names the caller's subject", line)
			}
			return rec
		}
	}
	t.Fatalf("no request line in %q", buf.String())
	return nil
}

func TestRequestLogNamesCaller(t *testing.T) {
	keyed := logging.NewCallerHash("0123456789abcdef0123")
	refused := sms.E(sms.KindForbidden, "destination not allowed", sms.Code(sms.CodeDestinationNotAllowed), sms.Field("to"))
	tests := []struct {
		name       string
		sender     *fakeSender
		req        Request
		opts       []Option
		wantCaller string
		wantCode   string
	}{
		{"sent, unkeyed", &fakeSender{res: sms.Result{Status: sms.StatusSent}}, req(`{"to":"+14155552671","body":"hi"}`), nil, logging.CallerHash{}.Of("user-1"), ""},
		{"sent, keyed", &fakeSender{res: sms.Result{Status: sms.StatusSent}}, req(`{"to":"+14155552671","body":"hi"}`), []Option{LogCallers(keyed)}, keyed.Of("user-1"), ""},
		{"refused destination", &fakeSender{err: refused}, req(`{"to":"+449012345678","body":"hi"}`), []Option{LogCallers(keyed)}, keyed.Of("user-1"), sms.CodeDestinationNotAllowed},
		{"invalid request", &fakeSender{}, req(`{"to":1}`), []Option{LogCallers(keyed)}, keyed.Of("user-1"), codeInvalidRequest},
		{"no token: no caller", &fakeSender{}, req(`{}`, "Authorization", ""), []Option{LogCallers(keyed)}, "", codeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := requestLine(t, tt.sender, tt.req, tt.opts...)
			if got, _ := rec["caller"].(string); got != tt.wantCaller {
				t.Errorf("caller = %q, want %q", got, tt.wantCaller)
			}
			if got, _ := rec["code"].(string); got != tt.wantCode {
				t.Errorf("code = %q, want %q", got, tt.wantCode)
			}
		})
	}
	if keyed.Of("user-1") == (logging.CallerHash{}).Of("user-1") {
		t.Error("the keyed and unkeyed names of a caller are the same")
	}
}

func TestGuardRefusalAnswers(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"sender", sms.E(sms.KindForbidden, "sender is not allowed", sms.Code(sms.CodeSenderNotAllowed), sms.Field("from")), sms.CodeSenderNotAllowed},
		{"destination", sms.E(sms.KindForbidden, "destination not allowed: x", sms.Code(sms.CodeDestinationNotAllowed), sms.Field("to")), sms.CodeDestinationNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := newTestHandler(&fakeSender{err: tt.err}).Serve(context.Background(), req(`{"to":"+14155552671","body":"hi"}`))
			var body struct {
				Error errorBody `json:"error"`
			}
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				t.Fatal(err)
			}
			if resp.Status != 403 || body.Error.Code != tt.code {
				t.Errorf("answer %d %s, want 403 %s", resp.Status, resp.Body, tt.code)
			}
			if h := resp.Headers["WWW-Authenticate"]; h != "" {
				t.Errorf("WWW-Authenticate = %q, want none: the token is fine", h)
			}
		})
	}
}
