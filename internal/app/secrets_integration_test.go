package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// splitJWTSecret signs tokens once the JWT keys have a secret of their own.
const splitJWTSecret = "split-jwt-secret-0123456789abcdef01234567"

// withoutJWTSecret replaces the stack's provider secret with one that holds
// only the provider credentials, as after the last step of the migration
// to a JWT secret of its own (docs/deploy.md).
func (s *stack) withoutJWTSecret(t *testing.T) {
	t.Helper()
	v, _ := json.Marshal(map[string]string{"accountSid": providertest.TwilioAccountSID, "authToken": providertest.TwilioAuthToken})
	if _, err := s.moto.SecretsManager().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(s.env["SMS_SECRET_ID"]), SecretString: aws.String(string(v)),
	}); err != nil {
		t.Fatal(err)
	}
}

// bearerOf returns an Authorization header with a token signed with secret.
func bearerOf(t *testing.T, secret string) string {
	t.Helper()
	tok, err := auth.Sign([]byte(secret), map[string]any{"sub": "client-1", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestSplitJWTSecret: with JWT_SECRET_ID naming a secret of its own, the
// send function verifies tokens with that secret's key, reading both
// secrets at its cold start, and the drain starts and delivers with a
// provider secret that no longer holds any jwtSecret.
func TestSplitJWTSecret(t *testing.T) {
	s := newStack(t)
	s.withoutJWTSecret(t)
	jwtARN := s.moto.CreateSecret(t, fmt.Sprintf("fluxkit-jwt-%d", stackSeq), `{"jwtSecret":"`+splitJWTSecret+`"}`)
	s.env["JWT_SECRET_ID"] = jwtARN

	s.proxy.Reset()
	h := s.sendHandler(t)
	if got := s.proxy.Counts()["secretsmanager.GetSecretValue"]; got != 2 {
		t.Errorf("send cold start: %d secret reads, want 2 (the provider secret and the JWT secret)", got)
	}
	if a := post(t, h, okReq, "Authorization", bearerOf(t, splitJWTSecret)); a.status != 200 {
		t.Errorf("token signed with the JWT secret: %d %s, want 200", a.status, a.raw)
	}
	if a := post(t, h, okReq, "Authorization", bearerOf(t, testJWTSecret)); a.status != 401 {
		t.Errorf("token signed with the former key of the provider secret: %d %s, want 401", a.status, a.raw)
	}

	s.proxy.Reset()
	s.enqueueRaw(t, producerMessage("split-1", "+14155552671", "queued after the split"))
	runUntil(t, 10*time.Second, func() bool { return acceptedBy(s.twilio)["queued after the split"] == 1 }, s.poller(t))
	if got := acceptedBy(s.twilio)["queued after the split"]; got != 1 {
		t.Errorf("the drain delivered the queued message %d times, want 1", got)
	}
	if got := s.proxy.Counts()["secretsmanager.GetSecretValue"]; got != 1 {
		t.Errorf("drain cold start: %d secret reads, want 1 (the provider secret only)", got)
	}
	s.assertLogsClean(t, splitJWTSecret)
}

// TestDrainStartsWithoutJWTSecret: the drain verifies no tokens, so a
// provider secret without jwtSecret (once the keys moved to a secret of
// their own) must not stop it; the send function, without JWT_SECRET_ID,
// still needs it and says so.
func TestDrainStartsWithoutJWTSecret(t *testing.T) {
	s := newStack(t)
	s.withoutJWTSecret(t)
	if _, err := loadSend(s); err == nil || !strings.Contains(err.Error(), "jwtSecret") {
		t.Errorf("send cold start = %v, want an error naming jwtSecret", err)
	}
	s.enqueueRaw(t, producerMessage("nojwt-1", "+14155552671", "drained without a jwtSecret"))
	runUntil(t, 10*time.Second, func() bool { return len(s.twilio.Accepted()) == 1 }, s.poller(t))
	if got := acceptedBy(s.twilio)["drained without a jwtSecret"]; got != 1 {
		t.Errorf("delivered %d times, want 1", got)
	}
}

// TestSplitJWTSecretColdStartFailures: a JWT secret that cannot be read or
// has no usable key fails the send function's cold start with a message
// naming it; the drain never reads it.
func TestSplitJWTSecretColdStartFailures(t *testing.T) {
	s := newStack(t)
	short := s.moto.CreateSecret(t, fmt.Sprintf("fluxkit-jwt-short-%d", stackSeq), `{"jwtSecret":"short"}`)
	tests := []struct {
		name   string
		id     string
		wantIn []string
	}{
		{"missing", "fluxkit-no-such-secret", []string{"fluxkit-no-such-secret"}},
		{"short key", short, []string{short, "secret key jwtSecret: must be at least 32 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.env["JWT_SECRET_ID"] = tt.id
			_, err := loadSend(s)
			for _, w := range tt.wantIn {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("send cold start = %v, want an error containing %q", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), "short\"") {
				t.Errorf("error %q contains the key", err)
			}
			s.function(t, config.ModeDrain) // fails the test if the drain does not start
		})
	}
}

// TestColdStartJWKSNeedsIssuerAndAudience: with a JWKS, a send function
// without JWT_ISSUER or JWT_AUDIENCE would accept the tokens of every
// application of the identity provider: its cold start fails naming the
// missing setting. The drain verifies no tokens and starts.
func TestColdStartJWKSNeedsIssuerAndAudience(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"neither", nil, []string{"JWT_ISSUER", "JWT_AUDIENCE"}},
		{"no audience", []string{"JWT_ISSUER", "https://issuer.example/"}, []string{"JWT_AUDIENCE"}},
		{"no issuer", []string{"JWT_AUDIENCE", "sms-api"}, []string{"JWT_ISSUER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, append([]string{"JWT_JWKS_URL", "https://issuer.example/.well-known/jwks.json"}, tt.env...)...)
			_, err := loadSend(s)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("send cold start = %v, want an error naming %s", err, w)
				}
			}
			s.function(t, config.ModeDrain) // fails the test if the drain does not start
		})
	}
	s := newStack(t, "JWT_JWKS_URL", "https://issuer.example/.well-known/jwks.json", "JWT_ISSUER", "https://issuer.example/", "JWT_AUDIENCE", "sms-api")
	if _, err := loadSend(s); err != nil {
		t.Errorf("send cold start with issuer and audience = %v, want nil", err)
	}
}
