package apigw

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/sms"
)

func TestSuppressionRoute(t *testing.T) {
	const on, off = "+14155550123", "+14155550124"
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		scope      string
		noList     bool
		wantStatus int
		wantCode   string
		wantOff    bool // the number on the list is taken off it
	}{
		{name: "taken off", path: "/messaging/sms/suppressions/" + on, wantStatus: 204, wantOff: true},
		{name: "percent-encoded plus", path: "/messaging/sms/suppressions/%2B14155550123", wantStatus: 204, wantOff: true},
		{name: "under a REST stage", path: "/prod/messaging/sms/suppressions/" + on, wantStatus: 204, wantOff: true},
		{name: "not on the list", path: "/messaging/sms/suppressions/" + off, wantStatus: 404, wantCode: "not_found"},
		{name: "not a number", path: "/messaging/sms/suppressions/hello", wantStatus: 404, wantCode: "not_found"},
		{name: "a number without its plus", path: "/messaging/sms/suppressions/14155550123", wantStatus: 404, wantCode: "not_found"},
		{name: "without the admin scope", token: "good", path: "/messaging/sms/suppressions/" + on, wantStatus: 403, wantCode: "forbidden"},
		{name: "without a token", token: "-", path: "/messaging/sms/suppressions/" + on, wantStatus: 401, wantCode: "unauthorized"},
		{name: "no admin scope configured", scope: "-", path: "/messaging/sms/suppressions/" + on, wantStatus: 403, wantCode: "forbidden"},
		{name: "a token the authenticator refuses for its scope", token: "noscope", path: "/messaging/sms/suppressions/" + on, wantStatus: 403, wantCode: "forbidden"},
		{name: "no list", noList: true, path: "/messaging/sms/suppressions/" + on, wantStatus: 404, wantCode: "not_found"},
		{name: "GET", method: http.MethodGet, path: "/messaging/sms/suppressions/" + on, wantStatus: 405, wantCode: "invalid_request"},
		{name: "POST", method: http.MethodPost, path: "/messaging/sms/suppressions/" + on, wantStatus: 405, wantCode: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := memory.NewQuotaStore(memory.QuotaConfig{Limits: sms.QuotaLimits{Recipient: sms.Limit{Count: 5, Window: 10 * time.Minute}}})
			if err := list.Suppress(context.Background(), on); err != nil {
				t.Fatal(err)
			}
			scope := "sms:admin"
			if tt.scope == "-" {
				scope = ""
			}
			var opts []Option
			if !tt.noList {
				opts = append(opts, Suppressions(list, scope))
			}
			h := NewHandler(fakeAuth{}, &fakeSender{}, slog.New(slog.DiscardHandler), opts...)
			r := Request{Method: http.MethodDelete, Path: tt.path, Headers: http.Header{}}
			if tt.method != "" {
				r.Method = tt.method
			}
			switch tt.token {
			case "":
				r.Headers.Set("Authorization", "Bearer admin")
			case "-":
			default:
				r.Headers.Set("Authorization", "Bearer "+tt.token)
			}
			resp := h.Serve(context.Background(), r)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", resp.Status, resp.Body, tt.wantStatus)
			}
			if tt.wantCode != "" {
				if got := errorCode(t, resp.Body); got != tt.wantCode {
					t.Errorf("code = %q, want %q", got, tt.wantCode)
				}
			} else if len(resp.Body) != 0 {
				t.Errorf("204 with a body: %s", resp.Body)
			}
			if tt.wantStatus == 405 && resp.Headers["Allow"] != http.MethodDelete {
				t.Errorf("Allow = %q, want DELETE", resp.Headers["Allow"])
			}
			// Whether the number is still on the list: a count of a message
			// to it says.
			v, err := list.Count(context.Background(), sms.Usage{MessageID: "probe", To: on})
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Outcome != sms.QuotaOptedOut; got != tt.wantOff {
				t.Errorf("number off the list = %v, want %v", got, tt.wantOff)
			}
		})
	}
}

// TestSuppressionRouteDoesNotReachTheSender: the list's route never
// sends, and the send route's paths are not the list's.
func TestSuppressionRouteDoesNotReachTheSender(t *testing.T) {
	s := &fakeSender{}
	h := NewHandler(fakeAuth{}, s, slog.New(slog.DiscardHandler), Suppressions(memory.NewQuotaStore(memory.QuotaConfig{}), "sms:admin"))
	for _, p := range []string{"/messaging/sms/suppressions/+14155550123", "/messaging/sms/suppressions/+14155550123/x"} {
		r := Request{Method: http.MethodDelete, Path: p, Headers: http.Header{"Authorization": {"Bearer admin"}}}
		h.Serve(context.Background(), r)
	}
	if len(s.got) != 0 {
		t.Errorf("the sender got %d requests, want none", len(s.got))
	}
	if _, ok := suppressionNumber("/messaging/sms"); ok {
		t.Error("the send route's path matched the suppression list's route")
	}
	if n, ok := suppressionNumber("/messaging/sms/suppressions/%2B447400123456"); !ok || n != "+447400123456" || strings.Contains(n, "%") {
		t.Errorf("suppressionNumber = %q, %v; want the decoded number", n, ok)
	}
}
