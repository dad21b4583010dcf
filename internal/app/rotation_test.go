package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// scriptedSecrets is a SecretLoader whose Refresh returns next.
type scriptedSecrets struct {
	cur, next config.Secrets
	reads     int
}

func (s *scriptedSecrets) Load(context.Context) (config.Secrets, error) { return s.cur, nil }

func (s *scriptedSecrets) Refresh(context.Context) (config.Secrets, bool, error) {
	s.reads++
	changed := s.next != s.cur
	s.cur = s.next
	return s.cur, changed, nil
}

const (
	oldJWTSecret = "old-jwt-secret-0123456789abcdef0123456789"
	newJWTSecret = "new-jwt-secret-0123456789abcdef0123456789"
)

// bearer returns an Authorization header with a token signed with secret.
func bearer(t *testing.T, secret string) string {
	t.Helper()
	tok, err := auth.Sign([]byte(secret), map[string]any{"sub": "c", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func TestCredentialsFollowJWTSecretRotation(t *testing.T) {
	tests := []struct {
		name      string
		next      string
		token     string
		wantOK    bool
		wantReads int
	}{
		{"current secret needs no read", oldJWTSecret, bearer(t, oldJWTSecret), true, 0},
		{"rotated secret is learned", newJWTSecret, bearer(t, newJWTSecret), true, 1},
		{"unknown secret stays refused", oldJWTSecret, bearer(t, "attacker-secret-0123456789abcdef01234567"), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &scriptedSecrets{cur: config.Secrets{JWTSecret: oldJWTSecret}, next: config.Secrets{JWTSecret: tt.next}}
			c, err := app.NewCredentials(context.Background(), config.Config{}, app.Sources{Provider: src}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			caller, err := c.Authenticate(context.Background(), tt.token)
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("accepted = %v (%v), want %v", got, err, tt.wantOK)
			}
			if !tt.wantOK && sms.KindOf(err) != sms.KindUnauthorized {
				t.Errorf("kind = %v, want unauthorized", sms.KindOf(err))
			}
			if tt.wantOK && caller.Subject != "c" {
				t.Errorf("subject = %q, want c", caller.Subject)
			}
			if src.reads != tt.wantReads {
				t.Errorf("secret reads = %d, want %d", src.reads, tt.wantReads)
			}
		})
	}
}

func TestCredentialsRebuildOnlyOnChanges(t *testing.T) {
	ctx := context.Background()
	src := &scriptedSecrets{cur: config.Secrets{JWTSecret: oldJWTSecret}, next: config.Secrets{JWTSecret: oldJWTSecret}}
	c, err := app.NewCredentials(ctx, config.Config{}, app.Sources{Provider: src}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := c.Refresh(ctx); changed || err != nil {
		t.Errorf("unchanged secret: Refresh = %v, %v; want false, nil", changed, err)
	}
	src.next = config.Secrets{JWTSecret: newJWTSecret}
	if changed, err := c.Refresh(ctx); !changed || err != nil {
		t.Errorf("changed secret: Refresh = %v, %v; want true, nil", changed, err)
	}
	reads := src.reads
	if _, err := c.Authenticate(ctx, bearer(t, newJWTSecret)); err != nil {
		t.Errorf("token signed with the new secret after Refresh: %v, want accepted", err)
	}
	if src.reads != reads {
		t.Errorf("secret reads = %d, want %d: the verifier was not rebuilt by Refresh", src.reads, reads)
	}
}

// TestCredentialsRotateTheProvider: a provider refusing the cached
// credentials is sent through again after a Refresh that read new ones.
func TestCredentialsRotateTheProvider(t *testing.T) {
	ctx := context.Background()
	fake := providertest.NewTwilio(t)
	cfg := config.Config{Provider: config.ProviderTwilio, From: providertest.TwilioFrom, TwilioAPIURL: fake.URL()}
	stale := config.Secrets{Twilio: config.TwilioCredentials{AccountSID: providertest.TwilioAccountSID, AuthToken: "0000000000000000000000000000dead"}, JWTSecret: oldJWTSecret}
	fresh := stale
	fresh.Twilio.AuthToken = providertest.TwilioAuthToken
	src := &scriptedSecrets{cur: stale, next: fresh}
	c, err := app.NewCredentials(ctx, cfg, app.Sources{Provider: src}, app.HTTPClient(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "rotation"}
	if _, err := c.Send(ctx, m); sms.KindOf(err) != sms.KindProviderAccount {
		t.Fatalf("send with the stale credentials: %v, want a provider account error", err)
	}
	if changed, err := c.Refresh(ctx); !changed || err != nil {
		t.Fatalf("Refresh = %v, %v; want true, nil", changed, err)
	}
	if _, err := c.Send(ctx, m); err != nil {
		t.Errorf("send after the rotation: %v, want accepted", err)
	}
	if got := len(fake.Accepted()); got != 1 {
		t.Errorf("provider accepted %d messages, want 1", got)
	}
}

// TestCredentialsKeepThePreviousOnAnUnusableSecret: a rotated secret that
// cannot be used is reported, and the previous credentials stay in use.
func TestCredentialsKeepThePreviousOnAnUnusableSecret(t *testing.T) {
	ctx := context.Background()
	logs := &logging.Buffer{}
	src := &scriptedSecrets{cur: config.Secrets{JWTSecret: oldJWTSecret}, next: config.Secrets{JWTSecret: "short"}}
	c, err := app.NewCredentials(ctx, config.Config{}, app.Sources{Provider: src}, nil, logging.New(logs, 0))
	if err != nil {
		t.Fatal(err)
	}
	// A token the current secret does not verify makes Authenticate read
	// the secret: the failure to use it is logged, and the token refused.
	if _, err := c.Authenticate(ctx, bearer(t, newJWTSecret)); sms.KindOf(err) != sms.KindUnauthorized {
		t.Errorf("token with an unknown secret: %v, want unauthorized", err)
	}
	if got := logs.String(); !strings.Contains(got, "credential refresh failed") || !strings.Contains(got, "token verifier") {
		t.Errorf("logs = %q, want the refresh failure with its reason", got)
	}
	if strings.Contains(logs.String(), "short") {
		t.Errorf("logs = %q, contain the secret", logs.String())
	}
	if _, err := c.Authenticate(ctx, bearer(t, oldJWTSecret)); err != nil {
		t.Errorf("token signed with the previous secret: %v, want accepted", err)
	}
	src.next, src.cur = config.Secrets{JWTSecret: "still-short"}, config.Secrets{}
	if changed, err := c.Refresh(ctx); changed || err == nil {
		t.Errorf("Refresh to an unusable secret = %v, %v; want false and the reason", changed, err)
	}
}
