package local

import (
	"net/http"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/config"
)

// TestLocalRules: local mode sends from any sender to any destination
// unless the environment sets the rules, which then apply as deployed.
func TestLocalRules(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"any sender", nil, `{"to":"+14155551234","body":"x","from":"MyBank"}`, 200, ""},
		{"premium rate", nil, `{"to":"+449012345678","body":"x"}`, 200, ""},
		{"satellite", nil, `{"to":"+881612345678","body":"x"}`, 200, ""},
		{"rules set: premium rate refused", map[string]string{"SMS_BLOCKED_NUMBER_TYPES": "PREMIUM_RATE"}, `{"to":"+449012345678","body":"x"}`, 403, "destination_not_allowed"},
		{"rules set: sender refused", map[string]string{"SMS_ALLOWED_SENDERS": "Alerts"}, `{"to":"+14155551234","body":"x","from":"MyBank"}`, 403, "sender_not_allowed"},
		{"rules set: country refused", map[string]string{"SMS_ALLOWED_COUNTRIES": "DE"}, `{"to":"+14155551234","body":"x"}`, 403, "destination_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.env)
			r := send(t, s, devToken(t), tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %.200s", r.status, tt.wantStatus, r.body)
			}
			if tt.wantCode != "" {
				if got := r.errorCode(t); got != tt.wantCode {
					t.Errorf("error.code = %q, want %q", got, tt.wantCode)
				}
			}
		})
	}
}

// TestLocalQuotas: local mode has no recipient limit and no daily budget
// unless the environment sets them; set, they apply as deployed, and the
// development token may take a number off the suppression list.
func TestLocalQuotas(t *testing.T) {
	const to = "+14155551234"
	body := `{"to":"+14155551234","body":"x"}`
	t.Run("off by default", func(t *testing.T) {
		s := startServer(t, nil)
		for i := range 8 {
			if r := send(t, s, devToken(t), body); r.status != 200 {
				t.Fatalf("message %d: status %d %.200s, want 200", i+1, r.status, r.body)
			}
		}
	})
	t.Run("recipient limit set", func(t *testing.T) {
		s := startServer(t, map[string]string{"SMS_RECIPIENT_LIMIT": "2/1h"})
		for i, want := range []int{200, 200, 429} {
			r := send(t, s, devToken(t), body)
			if r.status != want {
				t.Fatalf("message %d: status %d %.200s, want %d", i+1, r.status, r.body, want)
			}
			if want == 429 && r.errorCode(t) != "quota_exceeded" {
				t.Errorf("error.code = %q, want quota_exceeded", r.errorCode(t))
			}
		}
	})
	t.Run("budget set", func(t *testing.T) {
		s := startServer(t, map[string]string{"SMS_DAILY_SEGMENT_LIMIT": "1"})
		if r := send(t, s, devToken(t), body); r.status != 200 {
			t.Fatalf("first: status %d %.200s, want 200", r.status, r.body)
		}
		if r := send(t, s, devToken(t), `{"to":"+14155551235","body":"y"}`); r.status != 429 || r.errorCode(t) != "quota_exceeded" {
			t.Fatalf("second: status %d %.200s, want 429 quota_exceeded", r.status, r.body)
		}
	})
	t.Run("suppression list", func(t *testing.T) {
		s := startServer(t, map[string]string{"SMS_RECIPIENT_LIMIT": "5/10m"})
		if err := s.st.svc.Parts.Quota.Suppress(t.Context(), to); err != nil {
			t.Fatal(err)
		}
		if r := send(t, s, devToken(t), body); r.status != 422 || r.errorCode(t) != "recipient_opted_out" {
			t.Fatalf("to a suppressed number: status %d %.200s, want 422 recipient_opted_out", r.status, r.body)
		}
		url := s.URL() + SuppressionsPath + "/%2B14155551234"
		if r := do(t, nil, http.MethodDelete, url, "", "Authorization: Bearer "+devToken(t)); r.status != 403 {
			t.Fatalf("DELETE with a token without the admin scope: status %d %.200s, want 403", r.status, r.body)
		}
		// The token `make token` prints carries the deployment's admin scope.
		admin, err := DevToken(config.Config{JWTAdminScope: config.DefaultJWTAdminScope}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r := do(t, nil, http.MethodDelete, url, "", "Authorization: Bearer "+admin); r.status != 204 {
			t.Fatalf("DELETE: status %d %.200s, want 204", r.status, r.body)
		}
		if r := do(t, nil, http.MethodDelete, url, "", "Authorization: Bearer "+admin); r.status != 404 {
			t.Fatalf("DELETE again: status %d %.200s, want 404", r.status, r.body)
		}
		if r := send(t, s, devToken(t), body); r.status != 200 {
			t.Fatalf("after the DELETE: status %d %.200s, want 200", r.status, r.body)
		}
	})
}
