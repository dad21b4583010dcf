// Package auth verifies the bearer JWTs that callers present to the send API.
//
// Two modes exist, chosen by configuration. Without a JWKS URL tokens are
// HS256, signed with a shared secret (the current one, plus the previous one
// while a rotation is under way). With a JWKS URL tokens are RS256 or ES256,
// signed by a key published in that JWKS. Each key verifies exactly one
// algorithm (HMAC secret: HS256, RSA key: RS256, P-256 key: ES256), so "alg":
// "none", HS256 tokens signed with a public key, and similar algorithm
// confusions fail.
//
// JWKS mode requires an issuer and an audience: an identity provider signs
// the tokens of every application it serves with the same keys, so without
// them any of its tokens would be accepted. The JWKS is fetched without
// following redirects.
//
// Every token failure is an *sms.Error of kind KindUnauthorized with a short
// client-safe message; a valid token without the required scope is
// KindForbidden. Messages never contain the token. SignatureFailed tells the
// one failure that may mean the keys were rotated since they were loaded.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
)

// Limits and defaults of the verifier.
const (
	// MaxTokenSize is the largest token accepted, in bytes; longer tokens are
	// refused before any parsing.
	MaxTokenSize = 8 << 10
	// MaxLeeway is the largest clock skew tolerated on exp, nbf and iat.
	MaxLeeway = 60 * time.Second
	// DefaultLeeway applies when Config.Leeway is zero.
	DefaultLeeway = MaxLeeway
	// MinSecretSize is the shortest HS256 secret accepted, in bytes (RFC 7518
	// §3.2: a key at least as long as the hash output).
	MinSecretSize = 32
	// MaxSubjectSize bounds the sub claim, which becomes part of storage keys.
	MaxSubjectSize = 256
)

// Client-safe failure messages. They are the Message of the *sms.Error that
// Verify returns.
const (
	msgMissing        = "missing bearer token"
	msgScheme         = "authorization scheme must be Bearer"
	msgTooLarge       = "token too large"
	msgMalformed      = "malformed token"
	msgAlgorithm      = "token signing algorithm not accepted"
	msgSignature      = "token signature invalid"
	msgUnknownKey     = "token signing key unknown"
	msgNoKeyID        = "token has no key id"
	msgCrit           = "token has unsupported critical headers"
	msgNoExpiry       = "token has no expiry"
	msgExpired        = "token expired"
	msgNotYetValid    = "token not valid yet"
	msgIssuedFuture   = "token issued in the future"
	msgIssuer         = "token issuer not accepted"
	msgAudience       = "token audience not accepted"
	msgNoSubject      = "token has no subject"
	msgSubjectTooLong = "token subject too long"
	msgScope          = "token lacks the required scope"
	msgLifetime       = "token lifetime exceeds the maximum accepted"
	msgKeysDown       = "token signing keys unavailable"
)

// Config configures a Verifier.
type Config struct {
	// Secrets are the HS256 secrets, current first, then the previous one
	// while a rotation is under way. Used only when JWKSURL is empty. Each
	// must be at least MinSecretSize bytes.
	Secrets [][]byte
	// JWKSURL, when set, selects RS256/ES256 verification with the keys
	// published there. It must be https, or http on a loopback host.
	JWKSURL string
	// Issuer, when set, is the required iss claim. Required with JWKSURL.
	Issuer string
	// Audience, when set, must be one of the token's aud values. Required
	// with JWKSURL.
	Audience string
	// RequiredScope, when set, must be among the token's scopes.
	RequiredScope string
	// Leeway is the tolerated clock skew on exp, nbf and iat: zero means
	// DefaultLeeway; at most MaxLeeway.
	Leeway time.Duration
	// Clock is the time source; nil means the system clock.
	Clock sms.Clock
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	// Whatever the client, redirects are not followed.
	HTTPClient *http.Client
	// MaxLifetime, when positive, is the longest lifetime accepted: a token
	// whose exp - iat (or, without iat, exp - now) exceeds it is refused.
	// Zero means no limit.
	MaxLifetime time.Duration
}

// Claims are the verified facts a token carries.
type Claims struct {
	// Subject is the caller's identity (sub), never empty.
	Subject string
	// Scopes are the union of the scope and scp claims.
	Scopes []string
	// Issuer is the iss claim, possibly empty.
	Issuer string
	// Audience is the aud claim as a list, possibly empty.
	Audience []string
	// ID is the jti claim, possibly empty.
	ID string
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
	// IssuedAt and NotBefore are the iat and nbf claims; zero when absent.
	IssuedAt, NotBefore time.Time
}

// HasScope reports whether c carries scope.
func (c Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Caller is who a verified token speaks for: its subject and the scopes it
// carries. Handlers decide from it what the caller may see (a scope that
// reads every message's status, for example).
type Caller struct {
	// Subject is the token's sub, never empty.
	Subject string
	// Scopes are the token's scopes (scope and scp claims).
	Scopes []string
}

// HasScope reports whether c carries scope.
func (c Caller) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Caller returns the caller the claims speak for.
func (c Claims) Caller() Caller { return Caller{Subject: c.Subject, Scopes: slices.Clone(c.Scopes)} }

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	keyfunc  jwt.Keyfunc // HS256 mode
	jwks     *jwksCache  // JWKS mode
	issuer   string
	audience string
	scope    string
	leeway   time.Duration
	lifetime time.Duration // 0: no limit
	clock    sms.Clock
}

// NewVerifier checks cfg and returns a Verifier. In JWKS mode the key set is
// fetched lazily, on the first token that needs it, so that a cold start does
// not depend on the JWKS endpoint.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		scope:    cfg.RequiredScope,
		leeway:   cfg.Leeway,
		lifetime: cfg.MaxLifetime,
		clock:    cfg.Clock,
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0 || v.leeway > MaxLeeway:
		return nil, fmt.Errorf("auth: leeway %v outside (0, %v]", cfg.Leeway, MaxLeeway)
	}
	if v.lifetime < 0 {
		return nil, fmt.Errorf("auth: max lifetime %v is negative (0 means no limit)", cfg.MaxLifetime)
	}
	if v.clock == nil {
		v.clock = sms.SystemClock{}
	}
	if cfg.JWKSURL != "" {
		switch {
		case cfg.Issuer == "":
			return nil, errors.New("auth: a JWKS URL needs an issuer: the identity provider's keys sign other applications' tokens too")
		case cfg.Audience == "":
			return nil, errors.New("auth: a JWKS URL needs an audience: the identity provider's keys sign other applications' tokens too")
		}
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && httpclient.IsLoopback(u.Hostname())) {
			return nil, errors.New("auth: JWKS URL must be an absolute https URL (http only on a loopback host)")
		}
		v.jwks = newJWKSCache(u.String(), cfg.HTTPClient, v.clock)
	} else {
		if len(cfg.Secrets) == 0 {
			return nil, errors.New("auth: no HS256 secret and no JWKS URL")
		}
		set := jwt.VerificationKeySet{}
		for i, s := range cfg.Secrets {
			if len(s) < MinSecretSize {
				return nil, fmt.Errorf("auth: HS256 secret %d is %d bytes, need at least %d", i, len(s), MinSecretSize)
			}
			set.Keys = append(set.Keys, slices.Clone(s))
		}
		v.keyfunc = func(t *jwt.Token) (any, error) {
			// The algorithm is pinned to the key type: secrets only verify HS256.
			if t.Method != jwt.SigningMethodHS256 {
				return nil, unauthorized(msgAlgorithm, nil)
			}
			return set, nil
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithoutClaimsValidation(), // done by check, with precise messages
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// tokenClaims is the JSON shape of the claims Verify reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scope scopeList `json:"scope"`
	Scp   scopeList `json:"scp"`
}

// Verify checks the raw Authorization header value ("Bearer <jwt>", scheme
// case-insensitive) and returns the token's claims. Token failures are
// KindUnauthorized, a missing required scope KindForbidden, and an
// unreachable JWKS endpoint (with no usable cached key) KindUnavailable.
func (v *Verifier) Verify(ctx context.Context, authorization string) (Claims, error) {
	raw, err := bearer(authorization)
	if err != nil {
		return Claims{}, err
	}
	var tc tokenClaims
	keyfunc := v.keyfunc
	if v.jwks != nil {
		keyfunc = func(t *jwt.Token) (any, error) { return v.jwks.key(ctx, t) }
	}
	tok, err := v.parser.ParseWithClaims(raw, &tc, keyfunc)
	if err != nil {
		return Claims{}, classify(err)
	}
	if _, ok := tok.Header["crit"]; ok {
		return Claims{}, unauthorized(msgCrit, nil)
	}
	return v.check(&tc)
}

// check validates the registered claims and the scope.
func (v *Verifier) check(tc *tokenClaims) (Claims, error) {
	now := v.clock.Now()
	if tc.ExpiresAt == nil {
		return Claims{}, unauthorized(msgNoExpiry, nil)
	}
	if !now.Before(tc.ExpiresAt.Add(v.leeway)) {
		return Claims{}, unauthorized(msgExpired, nil)
	}
	if tc.NotBefore != nil && now.Before(tc.NotBefore.Add(-v.leeway)) {
		return Claims{}, unauthorized(msgNotYetValid, nil)
	}
	if tc.IssuedAt != nil && now.Before(tc.IssuedAt.Add(-v.leeway)) {
		return Claims{}, unauthorized(msgIssuedFuture, nil)
	}
	if v.lifetime > 0 && tooLong(tc, now, v.lifetime, v.leeway) {
		return Claims{}, unauthorized(msgLifetime, nil)
	}
	if v.issuer != "" && tc.Issuer != v.issuer {
		return Claims{}, unauthorized(msgIssuer, nil)
	}
	if v.audience != "" && !slices.Contains([]string(tc.Audience), v.audience) {
		return Claims{}, unauthorized(msgAudience, nil)
	}
	switch {
	case strings.TrimSpace(tc.Subject) == "":
		return Claims{}, unauthorized(msgNoSubject, nil)
	case len(tc.Subject) > MaxSubjectSize:
		return Claims{}, unauthorized(msgSubjectTooLong, nil)
	}
	c := Claims{
		Subject:   tc.Subject,
		Scopes:    mergeScopes(tc.Scope, tc.Scp),
		Issuer:    tc.Issuer,
		Audience:  []string(tc.Audience),
		ID:        tc.ID,
		ExpiresAt: tc.ExpiresAt.Time,
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	if tc.NotBefore != nil {
		c.NotBefore = tc.NotBefore.Time
	}
	if v.scope != "" && !c.HasScope(v.scope) {
		return Claims{}, sms.E(sms.KindForbidden, msgScope)
	}
	return c, nil
}

// tooLong reports whether the token was minted for longer than limit:
// exp - iat, or without iat exp - now (with leeway for the issuer's clock
// running ahead).
func tooLong(tc *tokenClaims, now time.Time, limit, leeway time.Duration) bool {
	if tc.IssuedAt != nil {
		return tc.ExpiresAt.Sub(tc.IssuedAt.Time) > limit
	}
	return tc.ExpiresAt.Sub(now) > limit+leeway
}

// bearer extracts the token from an Authorization header value.
func bearer(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", unauthorized(msgMissing, nil)
	}
	if strings.EqualFold(h, "Bearer") {
		return "", unauthorized(msgMissing, nil)
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized(msgScheme, nil)
	}
	tok = strings.TrimLeft(tok, " ")
	switch {
	case tok == "":
		return "", unauthorized(msgMissing, nil)
	case len(tok) > MaxTokenSize:
		return "", unauthorized(msgTooLarge, nil)
	case strings.ContainsAny(tok, " \t"):
		return "", unauthorized(msgMalformed, nil)
	}
	return tok, nil
}

// classify turns a parse or signature error into the client-facing error.
func classify(err error) error {
	var own *sms.Error
	if errors.As(err, &own) {
		return own // from the keyfunc: already classified
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized(msgMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized(msgSignature, fmt.Errorf("%w: %w", errSignature, err))
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthorized(msgAlgorithm, err)
	}
	return unauthorized(msgMalformed, err)
}

// errSignature marks the cause of a signature failure (SignatureFailed).
var errSignature = errors.New("auth: signature does not verify against the keys held")

// SignatureFailed reports whether err, from Verify, says that the token is
// well-formed, names an accepted algorithm, and its signature does not
// verify against the keys the verifier holds. It is the one failure that
// may mean the keys were rotated since they were loaded: an expired,
// malformed or wrong-audience token (any other failure) says nothing about
// the keys, so it must not make a caller re-read them.
func SignatureFailed(err error) bool {
	return sms.KindOf(err) == sms.KindUnauthorized && errors.Is(err, errSignature)
}

// unauthorized builds the 401 error with a client-safe message.
func unauthorized(msg string, cause error) *sms.Error {
	return sms.E(sms.KindUnauthorized, msg, sms.Cause(cause))
}
