package local

import (
	"context"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/sms"
)

// userSecret is a JWT_SECRET a developer might configure.
const userSecret = "a-developer-configured-secret-of-32+bytes"

func TestDevTokenClaims(t *testing.T) {
	now := time.Now()
	cfg := config.Config{JWTIssuer: "https://issuer.example", JWTAudience: "sms-api", JWTRequiredScope: "sms:send", JWTAdminScope: "sms:admin"}
	tok, err := DevToken(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{[]byte(DevSecret)}, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, RequiredScope: cfg.JWTRequiredScope})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Subject != DevSubject || c.Issuer != cfg.JWTIssuer || !c.HasScope("sms:send") || !c.HasScope("sms:admin") {
		t.Errorf("claims = %+v, want sub %s, iss %s, scopes sms:send and sms:admin", c, DevSubject, cfg.JWTIssuer)
	}
	if got, want := c.ExpiresAt.Unix(), now.Add(DevTokenTTL).Unix(); got != want {
		t.Errorf("exp = %d, want %d (now + %v)", got, want, DevTokenTTL)
	}
}

func TestDevAuthenticator(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	cfg := config.Config{}
	next, err := app.NewCredentials(ctx, cfg, app.Sources{Provider: app.FixedSecrets(config.Secrets{JWTSecret: userSecret})}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newDevAuthenticator(cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(secret string, claims map[string]any) string {
		t.Helper()
		tok, err := auth.Sign([]byte(secret), claims)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	dev, err := DevToken(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		header      string
		wantSubject string
		wantKind    sms.Kind
		wantMessage string
	}{
		{"development token", "Bearer " + dev, DevSubject, 0, ""},
		{"token signed with JWT_SECRET", sign(userSecret, map[string]any{"sub": "svc", "exp": now.Add(time.Hour).Unix()}), "svc", 0, ""},
		{"expired development token says so", sign(DevSecret, map[string]any{"sub": "x", "exp": now.Add(-time.Hour).Unix()}), "", sms.KindUnauthorized, "token expired"},
		{"unknown secret", sign("some-other-secret-that-is-32-bytes-long", map[string]any{"sub": "x", "exp": now.Add(time.Hour).Unix()}), "", sms.KindUnauthorized, "token signature invalid"},
		{"no token", "", "", sms.KindUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller, err := a.Authenticate(ctx, tt.header)
			if tt.wantKind == 0 {
				if err != nil || caller.Subject != tt.wantSubject {
					t.Fatalf("Authenticate = %q, %v; want %q", caller.Subject, err, tt.wantSubject)
				}
				return
			}
			if got := sms.KindOf(err); got != tt.wantKind {
				t.Fatalf("kind = %v (%v), want %v", got, err, tt.wantKind)
			}
			if tt.wantMessage != "" && sms.AsError(err).Message != tt.wantMessage {
				t.Errorf("message = %q, want %q", sms.AsError(err).Message, tt.wantMessage)
			}
		})
	}
}

// TestDeployedAuthenticatorRefusesDevTokens: the functions build their
// authenticator from the deployment's secret only, so a development token
// is worthless against them.
func TestDeployedAuthenticatorRefusesDevTokens(t *testing.T) {
	tok, err := DevToken(config.Config{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	deployed, err := app.NewCredentials(context.Background(), config.Config{}, app.Sources{Provider: app.FixedSecrets(config.Secrets{JWTSecret: userSecret})}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deployed.Authenticate(context.Background(), "Bearer "+tok); sms.KindOf(err) != sms.KindUnauthorized {
		t.Errorf("deployed authenticator on a development token: %v, want unauthorized", err)
	}
}

func TestScopeRequiredForDevTokens(t *testing.T) {
	cfg := config.Config{JWTRequiredScope: "sms:send"}
	a, err := newDevAuthenticator(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	noScope, err := DevToken(config.Config{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), "Bearer "+noScope); sms.KindOf(err) != sms.KindForbidden {
		t.Errorf("token without the required scope: %v, want forbidden", err)
	}
	withScope, err := DevToken(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caller, err := a.Authenticate(context.Background(), "Bearer "+withScope)
	if err != nil || caller.Subject != DevSubject || !caller.HasScope("sms:send") {
		t.Errorf("token with the scope: %+v, %v; want %q with the scope sms:send", caller, err, DevSubject)
	}
}
