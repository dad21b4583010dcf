package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/sms"
)

// SecretLoader reads the credentials secret: a config.SecretSource, or
// FixedSecrets.
type SecretLoader interface {
	Load(ctx context.Context) (config.Secrets, error)
	// Refresh re-reads the secret and reports whether it changed.
	Refresh(ctx context.Context) (config.Secrets, bool, error)
}

// FixedSecrets returns a SecretLoader of s, which never changes:
// credentials from the environment (local mode) or a test's.
func FixedSecrets(s config.Secrets) SecretLoader { return fixedSecrets{s} }

type fixedSecrets struct{ s config.Secrets }

func (f fixedSecrets) Load(context.Context) (config.Secrets, error) { return f.s, nil }

func (f fixedSecrets) Refresh(context.Context) (config.Secrets, bool, error) {
	return f.s, false, nil
}

// Credentials is everything the process builds from the secret: the
// provider client (when the configuration names a provider) and the
// verifier of HS256 tokens (unless tokens are verified with a JWKS).
// Refresh re-reads the secret and, when it changed, rebuilds both, so that
// a rotation reaches every part at once. Credentials implements
// sms.Provider, sms.Refresher and Authenticator, and is safe for
// concurrent use.
type Credentials struct {
	cfg config.Config
	src SecretLoader
	hc  *http.Client
	log *slog.Logger
	// tokensFromSecret: tokens are HS256, signed with the secret's
	// jwtSecret (no JWT_JWKS_URL), so the verifier follows rotations.
	tokensFromSecret bool

	mu       sync.RWMutex
	provider sms.Provider   // nil when the configuration names no provider
	verifier *auth.Verifier // nil when there is nothing to verify tokens with
}

// NewCredentials loads the secret from src and builds the provider client
// (with hc) and the token verifier from it. log (nil: discard) receives
// the failures that Authenticate cannot return. A secret without
// jwtSecret, which only local mode accepts (it verifies development tokens
// itself), leaves Credentials without a verifier.
func NewCredentials(ctx context.Context, cfg config.Config, src SecretLoader, hc *http.Client, log *slog.Logger) (*Credentials, error) {
	s, err := src.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("app: load secret %s: %w", cfg.SecretID, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Credentials{cfg: cfg, src: src, hc: hc, log: log, tokensFromSecret: cfg.JWTJWKSURL == ""}
	if !c.tokensFromSecret {
		// The keys come from the JWKS, never from the secret: built once.
		if c.verifier, err = auth.NewVerifier(c.authConfig(nil)); err != nil {
			return nil, fmt.Errorf("app: token verifier: %w", err)
		}
	}
	if err := c.use(s); err != nil {
		return nil, err
	}
	return c, nil
}

// authConfig is the verifier's configuration with the HS256 secrets.
func (c *Credentials) authConfig(secrets [][]byte) auth.Config {
	return auth.Config{
		Secrets: secrets, JWKSURL: c.cfg.JWTJWKSURL,
		Issuer: c.cfg.JWTIssuer, Audience: c.cfg.JWTAudience, RequiredScope: c.cfg.JWTRequiredScope,
	}
}

// use builds what depends on s and installs it, all or nothing: when a
// part cannot be built, the previous ones stay and the error says why. A
// secret without jwtSecret leaves the verifier as it is.
func (c *Credentials) use(s config.Secrets) error {
	var p sms.Provider
	if c.cfg.Provider != "" {
		var err error
		if p, err = NewProvider(c.cfg, s, c.hc); err != nil {
			return err
		}
	}
	var v *auth.Verifier
	if c.tokensFromSecret && len(s.JWTSecrets()) > 0 {
		var err error
		if v, err = auth.NewVerifier(c.authConfig(s.JWTSecrets())); err != nil {
			return fmt.Errorf("app: token verifier: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p != nil {
		c.provider = p
	}
	if v != nil {
		c.verifier = v
	}
	return nil
}

// Refresh re-reads the secret (the source spaces real reads out) and, when
// it changed, rebuilds the provider client and the token verifier with
// it. It reports whether they changed. When the new secret cannot be used
// the previous credentials stay in use and the error says why.
func (c *Credentials) Refresh(ctx context.Context) (bool, error) {
	s, changed, err := c.src.Refresh(ctx)
	if err != nil || !changed {
		return false, err
	}
	if err := c.use(s); err != nil {
		return false, fmt.Errorf("app: rotated secret not used, the previous one stays: %w", err)
	}
	return true, nil
}

// Send sends m through the provider client of the current secret.
func (c *Credentials) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	c.mu.RLock()
	p := c.provider
	c.mu.RUnlock()
	if p == nil {
		return sms.Receipt{}, errors.New("app: no provider configured (SMS_PROVIDER)")
	}
	return p.Send(ctx, m)
}

// verifiesTokens reports whether Credentials has a verifier.
func (c *Credentials) verifiesTokens() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.verifier != nil
}

// verify checks a token with the current verifier.
func (c *Credentials) verify(ctx context.Context, authorization string) (auth.Claims, error) {
	c.mu.RLock()
	v := c.verifier
	c.mu.RUnlock()
	if v == nil {
		return auth.Claims{}, errors.New("app: no token verifier (no jwtSecret and no JWT_JWKS_URL)")
	}
	return v.Verify(ctx, authorization)
}

// Authenticate implements Authenticator. An HS256 token that fails may be
// signed with a jwtSecret rotated since the secret was read: it makes
// Credentials re-read the secret (at most once per the source's refresh
// interval) and try once more.
func (c *Credentials) Authenticate(ctx context.Context, authorization string) (string, error) {
	claims, err := c.verify(ctx, authorization)
	if err == nil {
		return claims.Subject, nil
	}
	if !c.tokensFromSecret || sms.KindOf(err) != sms.KindUnauthorized || authorization == "" {
		return "", err
	}
	changed, rerr := c.Refresh(ctx)
	if rerr != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "credential refresh failed", slog.String("error", rerr.Error()))
	}
	if !changed {
		return "", err
	}
	if claims, err = c.verify(ctx, authorization); err != nil {
		return "", err
	}
	return claims.Subject, nil
}
