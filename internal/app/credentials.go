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

// Sources are the secrets Credentials is built from, and the program that
// reads them.
type Sources struct {
	// Provider reads the secret of SMS_SECRET_ID: the provider credentials
	// and, unless JWT is set, the HS256 keys (jwtSecret).
	Provider SecretLoader
	// JWT, when set, reads the secret of JWT_SECRET_ID, a secret of its own
	// holding the HS256 keys (config.Config.SplitJWTSecret); a jwtSecret
	// left in the provider secret then verifies nothing.
	JWT SecretLoader
	// Mode is the program. The drain (config.ModeDrain) verifies no tokens:
	// its Credentials read no JWT keys and have no verifier. The zero value
	// is config.ModeSend.
	Mode config.Mode
}

// Credentials is everything the process builds from the secrets: the
// provider client (when the configuration names a provider) and the
// verifier of HS256 tokens (unless tokens are verified with a JWKS, or the
// program verifies none). The HS256 keys come from the provider secret's
// jwtSecret, or from a secret of their own (Sources.JWT).
//
// Each secret is re-read when something says it may have been rotated: a
// provider refusal (Refresh) re-reads the provider secret, a token whose
// signature fails against the keys held (Authenticate) re-reads the secret
// holding the keys. With one combined secret a re-read rebuilds both the
// provider client and the verifier, so that a rotation reaches every part
// at once. Credentials implements sms.Provider (the first provider;
// For gives each), sms.Refresher and Authenticator, and is safe for
// concurrent use.
type Credentials struct {
	cfg    config.Config
	src    SecretLoader // the provider secret
	jwtSrc SecretLoader // the JWT secret when it is another one; nil otherwise
	hc     *http.Client
	log    *slog.Logger
	// tokensFromSecret: tokens are HS256, signed with a jwtSecret (no
	// JWT_JWKS_URL, and the program verifies tokens), so the verifier
	// follows rotations.
	tokensFromSecret bool

	// logKey is the provider secret's logKey as read at start-up: callers'
	// names in logs stay the same for the life of the process.
	logKey string

	mu sync.RWMutex
	// providers are the clients of the configured providers by name; none
	// when the configuration names no provider.
	providers map[string]sms.Provider
	verifier  *auth.Verifier // nil when there is nothing to verify tokens with
}

// NewCredentials loads the secrets of src (both at once when the JWT keys
// have a secret of their own) and builds the provider client (with hc) and
// the token verifier from them. log (nil: discard) receives the failures
// that Authenticate cannot return, and a warning when the provider secret
// still holds a jwtSecret that the JWT secret replaces. A provider secret
// without jwtSecret, which only local mode accepts (it verifies development
// tokens itself), leaves Credentials without a verifier.
func NewCredentials(ctx context.Context, cfg config.Config, src Sources, hc *http.Client, log *slog.Logger) (*Credentials, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tokens := src.Mode != config.ModeDrain
	c := &Credentials{cfg: cfg, src: src.Provider, hc: hc, log: log, tokensFromSecret: tokens && cfg.JWTJWKSURL == ""}
	if c.tokensFromSecret {
		c.jwtSrc = src.JWT
	}
	s, js, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	c.logKey = s.LogKey
	if tokens && !c.tokensFromSecret {
		// The keys come from the JWKS, never from a secret: built once.
		if c.verifier, err = auth.NewVerifier(c.authConfig(nil)); err != nil {
			return nil, fmt.Errorf("app: token verifier: %w", err)
		}
	}
	if err := c.use(s); err != nil {
		return nil, err
	}
	if c.jwtSrc != nil {
		if err := c.useJWT(js); err != nil {
			return nil, err
		}
		if s.JWTSecret != "" || s.JWTSecretPrevious != "" {
			log.LogAttrs(ctx, slog.LevelWarn, "the provider secret still holds jwtSecret, which every function that reads it can use to sign tokens: delete it (docs/deploy.md)",
				slog.String("secret", cfg.SecretID), slog.String("jwtSecretId", cfg.JWTSecretID))
		}
	}
	return c, nil
}

// load reads the provider secret and, when it is another one, the JWT
// secret, concurrently: the split costs the cold start no latency.
func (c *Credentials) load(ctx context.Context) (s, js config.Secrets, err error) {
	var jerr error
	var wg sync.WaitGroup
	if c.jwtSrc != nil {
		wg.Go(func() {
			if js, jerr = c.jwtSrc.Load(ctx); jerr != nil {
				jerr = fmt.Errorf("app: load JWT secret %s: %w", c.cfg.JWTSecretID, jerr)
			}
		})
	}
	s, err = c.src.Load(ctx)
	if err != nil {
		err = fmt.Errorf("app: load secret %s: %w", c.cfg.SecretID, err)
	}
	wg.Wait()
	return s, js, errors.Join(err, jerr)
}

// authConfig is the verifier's configuration with the HS256 secrets.
func (c *Credentials) authConfig(secrets [][]byte) auth.Config {
	return auth.Config{
		Secrets: secrets, JWKSURL: c.cfg.JWTJWKSURL,
		Issuer: c.cfg.JWTIssuer, Audience: c.cfg.JWTAudience, RequiredScope: c.cfg.JWTRequiredScope,
		MaxLifetime: c.cfg.JWTMaxLifetime,
	}
}

// use builds what depends on the provider secret s and installs it, all
// or nothing: when a part cannot be built, the previous ones stay and the
// error says why. The verifier is built from s's jwtSecret only when the
// keys have no secret of their own; a secret without jwtSecret leaves the
// verifier as it is.
func (c *Credentials) use(s config.Secrets) error {
	var ps map[string]sms.Provider
	for _, name := range c.cfg.ProviderList() {
		p, err := newProvider(name, c.cfg, s, c.hc)
		if err != nil {
			return err
		}
		if ps == nil {
			ps = map[string]sms.Provider{}
		}
		ps[name] = p
	}
	var v *auth.Verifier
	if c.jwtSrc == nil {
		var err error
		if v, err = c.newVerifier(s); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps != nil {
		c.providers = ps
	}
	if v != nil {
		c.verifier = v
	}
	return nil
}

// useJWT builds the verifier from the JWT secret s and installs it; when
// it cannot be built the previous one stays and the error says why.
func (c *Credentials) useJWT(s config.Secrets) error {
	v, err := c.newVerifier(s)
	if err != nil || v == nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verifier = v
	return nil
}

// newVerifier builds the HS256 verifier of s's keys; nil when tokens are
// not verified with a jwtSecret or s has none.
func (c *Credentials) newVerifier(s config.Secrets) (*auth.Verifier, error) {
	if !c.tokensFromSecret || len(s.JWTSecrets()) == 0 {
		return nil, nil
	}
	v, err := auth.NewVerifier(c.authConfig(s.JWTSecrets()))
	if err != nil {
		return nil, fmt.Errorf("app: token verifier: %w", err)
	}
	return v, nil
}

// Refresh re-reads the provider secret (the source spaces real reads out)
// and, when it changed, rebuilds the provider client (and, with one
// combined secret, the token verifier) with it. It reports whether they
// changed. When the new secret cannot be used the previous credentials
// stay in use and the error says why. A JWT secret of its own is not
// re-read: a provider refusal says nothing about it.
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

// refreshKeys re-reads the secret holding the HS256 keys and reports
// whether the verifier changed.
func (c *Credentials) refreshKeys(ctx context.Context) (bool, error) {
	if c.jwtSrc == nil {
		return c.Refresh(ctx)
	}
	s, changed, err := c.jwtSrc.Refresh(ctx)
	if err != nil || !changed {
		return false, err
	}
	if err := c.useJWT(s); err != nil {
		return false, fmt.Errorf("app: rotated JWT secret not used, the previous one stays: %w", err)
	}
	return true, nil
}

// Send sends m through the client of the first configured provider with
// the current secret.
func (c *Credentials) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	return c.send(ctx, c.cfg.Provider, m)
}

// For returns the provider named name (an entry of SMS_PROVIDER), sending
// through its client of the current secret: a rotation reaches every
// provider at once.
func (c *Credentials) For(name string) sms.Provider { return namedProvider{c, name} }

// namedProvider sends through one provider of Credentials.
type namedProvider struct {
	c    *Credentials
	name string
}

// Send implements sms.Provider.
func (p namedProvider) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	return p.c.send(ctx, p.name, m)
}

// send sends m through the client of the provider named name.
func (c *Credentials) send(ctx context.Context, name string, m sms.Message) (sms.Receipt, error) {
	c.mu.RLock()
	p := c.providers[name]
	c.mu.RUnlock()
	if p == nil {
		return sms.Receipt{}, fmt.Errorf("app: provider %q is not configured (SMS_PROVIDER)", name)
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

// Authenticate implements Authenticator: it returns the token's subject
// and the scopes it verified. An HS256 token whose signature
// fails against the keys held may be signed with a jwtSecret rotated since
// the secret was read: it makes Credentials re-read the secret holding the
// keys (at most once per the source's refresh interval) and try once
// more. No other failure does (auth.SignatureFailed): an expired,
// malformed or wrong-audience token says nothing about the keys, and
// letting it cost a read would let any caller drive the secret's reads.
func (c *Credentials) Authenticate(ctx context.Context, authorization string) (auth.Caller, error) {
	claims, err := c.verify(ctx, authorization)
	if err == nil {
		return claims.Caller(), nil
	}
	if !c.tokensFromSecret || !auth.SignatureFailed(err) {
		return auth.Caller{}, err
	}
	changed, rerr := c.refreshKeys(ctx)
	if rerr != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "credential refresh failed", slog.String("error", rerr.Error()))
	}
	if !changed {
		return auth.Caller{}, err
	}
	if claims, err = c.verify(ctx, authorization); err != nil {
		return auth.Caller{}, err
	}
	return claims.Caller(), nil
}
