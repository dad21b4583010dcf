// Package app wires the service together: configuration and secrets, the
// provider, the limiter, ledger and queue, and the handlers of both
// functions. The functions' main packages and the local runner call it once
// per cold start; nothing here runs per request.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

// ProviderTimeout bounds one provider call. The send function's timeout
// (10 s) and the drain's send budget leave room for it.
const ProviderTimeout = 5 * time.Second

// SecretLoader reads the credentials (config.SecretSource).
type SecretLoader interface {
	Load(ctx context.Context) (config.Secrets, error)
	Refresh(ctx context.Context) (config.Secrets, bool, error)
}

// Parts are the adapters the domain services run on: AWS ones in Lambda,
// in-memory ones in local mode.
type Parts struct {
	Provider  sms.Provider
	Refresher sms.Refresher // may be nil
	Limiter   sms.Limiter
	Ledger    sms.Ledger
	Queue     sms.Queue
	Log       *slog.Logger
}

// NewSender builds the send path's domain service.
func NewSender(cfg config.Config, p Parts) *sms.Sender {
	return sms.NewSender(dispatcher(p), p.Queue, p.Ledger, sms.SenderConfig{
		DefaultFrom:    cfg.From,
		AllowedSenders: cfg.AllowedSenders,
		QueueEnabled:   cfg.QueueEnabled,
		MaxWait:        cfg.MaxWait,
	})
}

// NewDrainHandler builds the drain function's handler over queue and dlq;
// zero fields of dc take the drain package's defaults.
func NewDrainHandler(cfg config.Config, p Parts, q drain.Queue, dlq drain.DeadLetterer, dc drain.Config) *drain.Handler {
	d := sms.NewDeliverer(dispatcher(p), p.Ledger, sms.DelivererConfig{DefaultFrom: cfg.From, AllowedSenders: cfg.AllowedSenders})
	return drain.NewHandler(d, q, dlq, p.Log, dc)
}

func dispatcher(p Parts) *sms.Dispatcher {
	return sms.NewDispatcher(p.Provider, p.Limiter, p.Log, sms.DispatcherConfig{Refresher: p.Refresher})
}

// NewProvider returns the configured provider's client built with s.
func NewProvider(cfg config.Config, s config.Secrets, hc *http.Client) (sms.Provider, error) {
	switch cfg.Provider {
	case config.ProviderTwilio:
		return twilio.New(twilio.Credentials{
			AccountSID: s.Twilio.AccountSID, AuthToken: s.Twilio.AuthToken,
			APIKeySID: s.Twilio.APIKeySID, APIKeySecret: s.Twilio.APIKeySecret,
		}, twilio.Config{BaseURL: cfg.TwilioAPIURL, HTTPClient: hc}), nil
	case config.ProviderVonage:
		return vonage.New(vonage.Credentials{APIKey: s.Vonage.APIKey, APISecret: s.Vonage.APISecret},
			vonage.Config{BaseURL: cfg.VonageAPIURL, HTTPClient: hc}), nil
	}
	return nil, fmt.Errorf("app: SMS_PROVIDER %q has no client", cfg.Provider)
}

// Rotation re-reads the secret on demand and hands a changed value to
// everything built from it (the provider client, the token verifier). It
// implements sms.Refresher.
type Rotation struct {
	src       SecretLoader
	mu        sync.Mutex
	followers []func(config.Secrets)
}

// NewRotation returns a Rotation over src.
func NewRotation(src SecretLoader) *Rotation { return &Rotation{src: src} }

// Follow registers f to receive every changed secret.
func (r *Rotation) Follow(f func(config.Secrets)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.followers = append(r.followers, f)
}

// Refresh re-reads the secret (the source rate-limits real reads) and
// reports whether it changed.
func (r *Rotation) Refresh(ctx context.Context) (bool, error) {
	s, changed, err := r.src.Refresh(ctx)
	if err != nil || !changed {
		return false, err
	}
	r.mu.Lock()
	fs := append([]func(config.Secrets){}, r.followers...)
	r.mu.Unlock()
	for _, f := range fs {
		f(s)
	}
	return true, nil
}

// RotatingProvider sends through a provider client built from the current
// secret; Use swaps in a client built from a new one.
type RotatingProvider struct {
	cfg config.Config
	hc  *http.Client
	mu  sync.RWMutex
	cur sms.Provider
}

// NewRotatingProvider builds the provider from s.
func NewRotatingProvider(cfg config.Config, s config.Secrets, hc *http.Client) (*RotatingProvider, error) {
	p, err := NewProvider(cfg, s, hc)
	if err != nil {
		return nil, err
	}
	return &RotatingProvider{cfg: cfg, hc: hc, cur: p}, nil
}

// Send sends through the current client.
func (r *RotatingProvider) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	r.mu.RLock()
	p := r.cur
	r.mu.RUnlock()
	return p.Send(ctx, m)
}

// Use rebuilds the client with s.
func (r *RotatingProvider) Use(s config.Secrets) {
	p, err := NewProvider(r.cfg, s, r.hc)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.cur = p
	r.mu.Unlock()
}

// Authenticator verifies bearer tokens for the API handler. With HS256 it
// follows JWT secret rotations: a token that fails against the cached
// secrets makes it re-read the secret (at most once per the source's
// refresh interval) and try once more.
type Authenticator struct {
	base   auth.Config
	rot    sms.Refresher // nil: no rotation (JWKS mode, local mode)
	mu     sync.RWMutex
	v      *auth.Verifier
	hmacNo bool
}

// NewAuthenticator returns an Authenticator for cfg. secrets provides the
// HS256 secrets when no JWKS URL is configured; rot may be nil. Register
// Follow with the Rotation so that the authenticator learns new secrets.
func NewAuthenticator(cfg config.Config, secrets [][]byte, rot sms.Refresher) (*Authenticator, error) {
	base := auth.Config{
		JWKSURL: cfg.JWTJWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		RequiredScope: cfg.JWTRequiredScope,
	}
	a := &Authenticator{base: base, rot: rot, hmacNo: cfg.JWTJWKSURL != ""}
	if err := a.rebuild(secrets); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Authenticator) rebuild(secrets [][]byte) error {
	c := a.base
	if !a.hmacNo {
		c.Secrets = secrets
	}
	v, err := auth.NewVerifier(c)
	if err != nil {
		return fmt.Errorf("app: token verifier: %w", err)
	}
	a.mu.Lock()
	a.v = v
	a.mu.Unlock()
	return nil
}

// Follow installs the JWT secrets of a newly read secret.
func (a *Authenticator) Follow(s config.Secrets) {
	if a.hmacNo || len(s.JWTSecrets()) == 0 {
		return
	}
	_ = a.rebuild(s.JWTSecrets())
}

// Authenticate implements apigw.Authenticator.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (string, error) {
	a.mu.RLock()
	v := a.v
	a.mu.RUnlock()
	c, err := v.Verify(ctx, authorization)
	if err == nil {
		return c.Subject, nil
	}
	if a.hmacNo || a.rot == nil || sms.KindOf(err) != sms.KindUnauthorized || authorization == "" {
		return "", err
	}
	if changed, rerr := a.rot.Refresh(ctx); rerr != nil || !changed {
		return "", err
	}
	a.mu.RLock()
	v = a.v
	a.mu.RUnlock()
	c, err = v.Verify(ctx, authorization)
	if err != nil {
		return "", err
	}
	return c.Subject, nil
}

// HTTPClient is the one provider HTTP client of a process.
func HTTPClient() *http.Client { return httpclient.New(ProviderTimeout) }
