package app_test

import (
	"context"
	"encoding/base64"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// countingSecrets is a SecretLoader that counts its reads: Load once, and
// every Refresh (a real SecretSource spaces those out; this one does not,
// so that every read a caller asks for shows).
type countingSecrets struct {
	cur, next config.Secrets
	loads     atomic.Int32
	refreshes atomic.Int32
}

func (s *countingSecrets) Load(context.Context) (config.Secrets, error) {
	s.loads.Add(1)
	return s.cur, nil
}

func (s *countingSecrets) Refresh(context.Context) (config.Secrets, bool, error) {
	s.refreshes.Add(1)
	changed := s.next != s.cur
	s.cur = s.next
	return s.cur, changed, nil
}

// signed returns an Authorization header with an HS256 token of claims
// (over valid defaults; a nil value removes the claim) signed with secret.
func signed(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": "c", "iss": "https://issuer.example", "aud": "sms-api",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := auth.Sign([]byte(secret), c)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestCredentialsReReadOnlySignatureFailures: a token whose signature does
// not verify against the keys held may be signed with a rotated key, so it
// makes Credentials re-read the secret; any other 401 (malformed, expired,
// wrong audience...) says nothing about the keys and must not cost a read.
func TestCredentialsReReadOnlySignatureFailures(t *testing.T) {
	cfg := config.Config{JWTIssuer: "https://issuer.example", JWTAudience: "sms-api"}
	unknown := "attacker-secret-0123456789abcdef01234567"
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "c", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(unknown))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "c", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	tests := []struct {
		name      string
		header    string
		wantReads int32
	}{
		{"signature fails: one read", signed(t, unknown, nil), 1},
		{"signature fails on an expired token: one read", signed(t, unknown, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), 1},
		{"valid", signed(t, oldJWTSecret, nil), 0},
		{"expired", signed(t, oldJWTSecret, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), 0},
		{"not valid yet", signed(t, oldJWTSecret, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), 0},
		{"wrong audience", signed(t, oldJWTSecret, map[string]any{"aud": "other-api"}), 0},
		{"wrong issuer", signed(t, oldJWTSecret, map[string]any{"iss": "https://evil.example"}), 0},
		{"no subject", signed(t, oldJWTSecret, map[string]any{"sub": nil}), 0},
		{"no expiry", signed(t, oldJWTSecret, map[string]any{"exp": nil}), 0},
		{"algorithm not accepted", "Bearer " + hs512, 0},
		{"alg none", "Bearer " + none, 0},
		{"malformed", "Bearer not.a.token", 0},
		{"claims not JSON", "Bearer " + header + ".bm90LWpzb24." + strings.Repeat("A", 43), 0},
		{"oversize", "Bearer " + strings.Repeat("a", auth.MaxTokenSize+1), 0},
		{"wrong scheme", "Basic dXNlcjpwYXNzd29yZA==", 0},
		{"no token", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingSecrets{cur: config.Secrets{JWTSecret: oldJWTSecret}, next: config.Secrets{JWTSecret: oldJWTSecret}}
			c, err := app.NewCredentials(context.Background(), cfg, app.Sources{Provider: src}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Authenticate(context.Background(), tt.header)
			if tt.name == "valid" {
				if err != nil {
					t.Fatalf("Authenticate = %v, want nil", err)
				}
			} else if sms.KindOf(err) != sms.KindUnauthorized {
				t.Fatalf("Authenticate = %v, want unauthorized", err)
			}
			if got := src.refreshes.Load(); got != tt.wantReads {
				t.Errorf("secret re-reads = %d, want %d", got, tt.wantReads)
			}
		})
	}
}

// TestCredentialsMaxLifetime: JWT_MAX_LIFETIME reaches the verifier, and a
// token refused for its lifetime costs no secret read.
func TestCredentialsMaxLifetime(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		limit  time.Duration
		claims map[string]any
		wantOK bool
	}{
		{"limit off, year-long token", 0, map[string]any{"iat": now.Unix(), "exp": now.Add(365 * 24 * time.Hour).Unix()}, true},
		{"within the limit", 24 * time.Hour, map[string]any{"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}, true},
		{"over the limit", 24 * time.Hour, map[string]any{"iat": now.Unix(), "exp": now.Add(25 * time.Hour).Unix()}, false},
		{"over the limit without iat", 24 * time.Hour, map[string]any{"iat": nil, "exp": now.Add(25 * time.Hour).Unix()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingSecrets{cur: config.Secrets{JWTSecret: oldJWTSecret}, next: config.Secrets{JWTSecret: oldJWTSecret}}
			c, err := app.NewCredentials(context.Background(), config.Config{JWTMaxLifetime: tt.limit}, app.Sources{Provider: src}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Authenticate(context.Background(), signed(t, oldJWTSecret, tt.claims))
			if got := err == nil; got != tt.wantOK {
				t.Errorf("accepted = %v (%v), want %v", got, err, tt.wantOK)
			}
			if !tt.wantOK && sms.KindOf(err) != sms.KindUnauthorized {
				t.Errorf("kind = %v, want unauthorized", sms.KindOf(err))
			}
			if got := src.refreshes.Load(); got != 0 {
				t.Errorf("secret re-reads = %d, want 0", got)
			}
		})
	}
}

// TestCredentialsSplitJWTSecret: with the JWT keys in a secret of their own
// the verifier uses that secret only (a jwtSecret left in the provider
// secret verifies nothing), both are read at the start, and each failure
// re-reads only the secret it concerns.
func TestCredentialsSplitJWTSecret(t *testing.T) {
	ctx := context.Background()
	fake := providertest.NewTwilio(t)
	cfg := config.Config{Provider: config.ProviderTwilio, From: providertest.TwilioFrom, TwilioAPIURL: fake.URL(),
		SecretID: "sms/provider", JWTSecretID: "sms/jwt"}
	stale := config.Secrets{
		Twilio:    config.TwilioCredentials{AccountSID: providertest.TwilioAccountSID, AuthToken: "0000000000000000000000000000dead"},
		JWTSecret: oldJWTSecret, // left over from before the split
	}
	fresh := stale
	fresh.Twilio.AuthToken = providertest.TwilioAuthToken
	provider := &countingSecrets{cur: stale, next: fresh}
	jwtKeys := &countingSecrets{cur: config.Secrets{JWTSecret: newJWTSecret}, next: config.Secrets{JWTSecret: newJWTSecret}}
	logs := &logging.Buffer{}
	c, err := app.NewCredentials(ctx, cfg, app.Sources{Provider: provider, JWT: jwtKeys}, app.HTTPClient(), logging.New(logs, 0))
	if err != nil {
		t.Fatal(err)
	}
	if provider.loads.Load() != 1 || jwtKeys.loads.Load() != 1 {
		t.Errorf("loads = provider %d, JWT %d; want 1 each", provider.loads.Load(), jwtKeys.loads.Load())
	}
	if got := logs.String(); !strings.Contains(got, "jwtSecret") || !strings.Contains(got, "delete") {
		t.Errorf("logs = %q, want a warning that the provider secret still holds jwtSecret", got)
	}
	if strings.Contains(logs.String(), oldJWTSecret) || strings.Contains(logs.String(), newJWTSecret) {
		t.Errorf("logs = %q, contain a key", logs.String())
	}

	if _, err := c.Authenticate(ctx, signed(t, newJWTSecret, nil)); err != nil {
		t.Errorf("token signed with the JWT secret's key: %v, want accepted", err)
	}
	if _, err := c.Authenticate(ctx, signed(t, oldJWTSecret, nil)); sms.KindOf(err) != sms.KindUnauthorized {
		t.Errorf("token signed with the provider secret's leftover jwtSecret: %v, want unauthorized", err)
	}
	if got := provider.refreshes.Load(); got != 0 {
		t.Errorf("a token failure re-read the provider secret %d times, want 0", got)
	}
	if got := jwtKeys.refreshes.Load(); got != 1 {
		t.Errorf("a signature failure re-read the JWT secret %d times, want 1", got)
	}

	// A rotation of the JWT secret is learned from the first token signed
	// with the new key.
	rotated := "rotated-jwt-secret-0123456789abcdef0123456"
	jwtKeys.next = config.Secrets{JWTSecret: rotated, JWTSecretPrevious: newJWTSecret}
	if _, err := c.Authenticate(ctx, signed(t, rotated, nil)); err != nil {
		t.Errorf("token signed with the rotated key: %v, want accepted", err)
	}
	if _, err := c.Authenticate(ctx, signed(t, newJWTSecret, nil)); err != nil {
		t.Errorf("token signed with the previous key during the rotation: %v, want accepted", err)
	}

	// A provider refusal re-reads the provider secret, not the JWT secret.
	m := sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "split"}
	if _, err := c.Send(ctx, m); sms.KindOf(err) != sms.KindProviderAccount {
		t.Fatalf("send with the stale credentials: %v, want a provider account error", err)
	}
	jwtReads := jwtKeys.refreshes.Load()
	if changed, err := c.Refresh(ctx); !changed || err != nil {
		t.Fatalf("Refresh = %v, %v; want true, nil", changed, err)
	}
	if _, err := c.Send(ctx, m); err != nil {
		t.Errorf("send after the provider rotation: %v, want accepted", err)
	}
	if got := jwtKeys.refreshes.Load(); got != jwtReads {
		t.Errorf("a provider refresh re-read the JWT secret (%d reads, want %d)", got, jwtReads)
	}
	// The provider secret's leftover jwtSecret still verifies nothing after
	// the provider secret was re-read.
	if _, err := c.Authenticate(ctx, signed(t, oldJWTSecret, nil)); sms.KindOf(err) != sms.KindUnauthorized {
		t.Errorf("after a provider refresh, token signed with the leftover jwtSecret: %v, want unauthorized", err)
	}
}

// TestCredentialsOfTheDrain: the drain verifies no tokens, so it starts
// with a provider secret that has no jwtSecret, and with a JWKS setting it
// would not check.
func TestCredentialsOfTheDrain(t *testing.T) {
	fake := providertest.NewTwilio(t)
	cfg := config.Config{Provider: config.ProviderTwilio, From: providertest.TwilioFrom, TwilioAPIURL: fake.URL(),
		SecretID: "sms/provider", JWTSecretID: "sms/jwt", JWTJWKSURL: "https://issuer.example/jwks"}
	provider := &countingSecrets{cur: config.Secrets{Twilio: config.TwilioCredentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken}}}
	provider.next = provider.cur
	jwtKeys := &countingSecrets{}
	c, err := app.NewCredentials(context.Background(), cfg, app.Sources{Provider: provider, JWT: jwtKeys, Mode: config.ModeDrain}, app.HTTPClient(), nil)
	if err != nil {
		t.Fatalf("NewCredentials(drain) = %v, want nil", err)
	}
	if got := jwtKeys.loads.Load(); got != 0 {
		t.Errorf("the drain read the JWT secret %d times, want 0", got)
	}
	if _, err := c.Authenticate(context.Background(), signed(t, oldJWTSecret, nil)); err == nil {
		t.Error("the drain's Credentials accepted a token, want no verifier")
	}
	if _, err := c.Send(context.Background(), sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "drain"}); err != nil {
		t.Errorf("send: %v, want accepted", err)
	}
}

// barrierSecrets is a SecretLoader whose Load waits until every loader of
// its barrier has entered Load: reading the secrets one after the other
// never gets past it.
type barrierSecrets struct {
	s       config.Secrets
	entered chan struct{}
	all     []*barrierSecrets
}

func (b *barrierSecrets) Load(ctx context.Context) (config.Secrets, error) {
	close(b.entered)
	for _, o := range b.all {
		select {
		case <-o.entered:
		case <-time.After(5 * time.Second):
			return config.Secrets{}, context.DeadlineExceeded
		}
	}
	return b.s, nil
}

func (b *barrierSecrets) Refresh(context.Context) (config.Secrets, bool, error) {
	return b.s, false, nil
}

// TestCredentialsReadBothSecretsAtOnce: the cold start reads the provider
// secret and the JWT secret concurrently, so the split costs no latency.
func TestCredentialsReadBothSecretsAtOnce(t *testing.T) {
	provider := &barrierSecrets{s: config.Secrets{}, entered: make(chan struct{})}
	jwtKeys := &barrierSecrets{s: config.Secrets{JWTSecret: newJWTSecret}, entered: make(chan struct{})}
	provider.all = []*barrierSecrets{provider, jwtKeys}
	jwtKeys.all = provider.all
	cfg := config.Config{SecretID: "sms/provider", JWTSecretID: "sms/jwt"}
	c, err := app.NewCredentials(context.Background(), cfg, app.Sources{Provider: provider, JWT: jwtKeys}, nil, nil)
	if err != nil {
		t.Fatalf("NewCredentials = %v, want nil (the secrets were read one after the other?)", err)
	}
	if _, err := c.Authenticate(context.Background(), signed(t, newJWTSecret, nil)); err != nil {
		t.Errorf("token signed with the JWT secret's key: %v, want accepted", err)
	}
}
