package local

import "testing"

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
