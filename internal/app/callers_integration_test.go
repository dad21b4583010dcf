package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// logLines returns the JSON log lines of s whose msg is msg.
func (s *stack) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestCallerNamesInLogs: the send function names each request's caller by
// a hash of the token's subject, keyed with the secret's logKey when it
// has one and warning at its cold start when it has not; the subject
// itself is never logged.
func TestCallerNamesInLogs(t *testing.T) {
	const logKey = "log-key-7f3a9c2e5b1d4680"
	tests := []struct {
		name     string
		logKey   string
		wantName string
		wantWarn bool
	}{
		{"without logKey", "", logging.NewCallerHash("").Of("client-1"), true},
		{"with logKey", logKey, logging.NewCallerHash(logKey).Of("client-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			secret := map[string]string{"accountSid": providertest.TwilioAccountSID, "authToken": providertest.TwilioAuthToken, "jwtSecret": testJWTSecret}
			if tt.logKey != "" {
				secret["logKey"] = tt.logKey
			}
			v, _ := json.Marshal(secret)
			if _, err := s.moto.SecretsManager().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(s.env["SMS_SECRET_ID"]), SecretString: aws.String(string(v)),
			}); err != nil {
				t.Fatal(err)
			}
			h := s.sendHandler(t)
			s.function(t, config.ModeDrain) // the drain logs no callers and never warns
			if a := post(t, h, okReq); a.status != 200 {
				t.Fatalf("status = %d %s, want 200", a.status, a.raw)
			}
			warnings := 0
			for _, line := range strings.Split(s.logs.String(), "\n") {
				if strings.Contains(line, `"event":"log_key_missing"`) {
					warnings++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantWarn]; warnings != want {
				t.Errorf("log_key_missing warnings = %d, want %d (send only)", warnings, want)
			}
			reqs := s.logLines(t, "request")
			if len(reqs) != 1 || reqs[0]["caller"] != tt.wantName {
				t.Errorf("request lines %v, want one with caller %s", reqs, tt.wantName)
			}
			if logs := s.logs.String(); strings.Contains(logs, "client-1") || (tt.logKey != "" && strings.Contains(logs, tt.logKey)) {
				t.Error("the logs hold the token's subject or the log key")
			}
		})
	}
}
