package local

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/sms"
)

// DevSecret is the HS256 secret of local development tokens (`make token`).
// It is public on purpose: only the local server accepts it, and the local
// server listens on the loopback interface only. The deployed functions
// verify tokens with the secret in Secrets Manager (or a JWKS) and never
// with this one.
const DevSecret = config.LocalDevSecret

// Development token claims.
const (
	// DevSubject is the sub claim of development tokens: the caller that
	// idempotency keys are scoped to.
	DevSubject = "local-developer"
	// DevTokenTTL is how long a development token is valid.
	DevTokenTTL = 24 * time.Hour
)

// DevToken returns a development token valid from now for DevTokenTTL. It
// carries the issuer, audience and scope cfg requires (JWT_ISSUER,
// JWT_AUDIENCE, JWT_REQUIRED_SCOPE), so that the local server accepts it
// whatever those are set to, and JWT_ADMIN_SCOPE.
func DevToken(cfg config.Config, now time.Time) (string, error) {
	claims := map[string]any{
		"sub": DevSubject,
		"iat": now.Unix(),
		"exp": now.Add(DevTokenTTL).Unix(),
	}
	if cfg.JWTIssuer != "" {
		claims["iss"] = cfg.JWTIssuer
	}
	if cfg.JWTAudience != "" {
		claims["aud"] = cfg.JWTAudience
	}
	// The local developer is the operator too: the token may change the
	// suppression list (JWT_ADMIN_SCOPE).
	var scopes []string
	for _, sc := range []string{cfg.JWTRequiredScope, cfg.JWTAdminScope} {
		if sc != "" && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	tok, err := auth.Sign([]byte(DevSecret), claims)
	if err != nil {
		return "", fmt.Errorf("local: development token: %w", err)
	}
	return tok, nil
}

// devAuthenticator accepts development tokens and, failing that, whatever
// the configured authenticator accepts (JWT_SECRET, the secret's
// jwtSecret, or a JWKS).
type devAuthenticator struct {
	dev  *auth.Verifier
	next apigw.Authenticator // nil: development tokens only
}

// newDevAuthenticator returns an authenticator accepting development
// tokens that meet cfg's issuer, audience and scope rules, then next.
func newDevAuthenticator(cfg config.Config, next apigw.Authenticator) (*devAuthenticator, error) {
	v, err := auth.NewVerifier(auth.Config{
		Secrets:  [][]byte{[]byte(DevSecret)},
		Issuer:   cfg.JWTIssuer,
		Audience: cfg.JWTAudience, RequiredScope: cfg.JWTRequiredScope,
	})
	if err != nil {
		return nil, fmt.Errorf("local: development token verifier: %w", err)
	}
	return &devAuthenticator{dev: v, next: next}, nil
}

// Authenticate implements apigw.Authenticator. A token signed with
// DevSecret is judged by the development verifier alone (so that an
// expired development token says so rather than "signature invalid"); any
// other token goes to next.
func (a *devAuthenticator) Authenticate(ctx context.Context, authorization string) (auth.Caller, error) {
	c, err := a.dev.Verify(ctx, authorization)
	if err == nil {
		return c.Caller(), nil
	}
	if a.next == nil || sms.KindOf(err) != sms.KindUnauthorized || signedWithDevSecret(authorization) {
		return auth.Caller{}, err
	}
	return a.next.Authenticate(ctx, authorization)
}

// signedWithDevSecret reports whether the bearer token in authorization
// carries a valid HS256 signature made with DevSecret, whatever its claims.
func signedWithDevSecret(authorization string) bool {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	p := jwt.NewParser(jwt.WithoutClaimsValidation(), jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	_, err := p.Parse(strings.TrimSpace(raw), func(*jwt.Token) (any, error) { return []byte(DevSecret), nil })
	return err == nil
}
