package config

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fluxkit/sms/internal/sms"
)

// DefaultMinRefreshInterval is the least time between two reads that
// Refresh forces: a burst of credential failures costs one re-read.
const DefaultMinRefreshInterval = 10 * time.Second

// SecretsGetter reads a secret; *secretsmanager.Client implements it.
type SecretsGetter interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretSourceConfig tunes a SecretSource; the zero value is valid.
type SecretSourceConfig struct {
	// Check, when set, validates every value read (typically
	// Config.CheckSecrets); a value that fails is reported and not cached.
	Check func(Secrets) error
	// MinRefreshInterval is the least time between two reads forced by
	// Refresh; zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// Clock is the time source; nil means the system clock.
	Clock sms.Clock
}

// SecretSource reads the credentials secret once and caches it; Refresh
// re-reads it when the provider refuses the cached credentials (rotation).
// It is safe for concurrent use.
type SecretSource struct {
	cfg      SecretSourceConfig
	client   SecretsGetter
	secretID string
	sem      chan struct{} // one read at a time; waiters reuse its result

	mu       sync.Mutex
	cur      Secrets
	loaded   bool
	gen      uint64    // incremented whenever cur changes
	lastRead time.Time // last read attempt
}

// NewSecretSource returns a source reading secretID through client.
func NewSecretSource(client SecretsGetter, secretID string, cfg SecretSourceConfig) *SecretSource {
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &SecretSource{cfg: cfg, client: client, secretID: secretID, sem: make(chan struct{}, 1)}
}

// Load returns the secret, reading it on the first call only.
func (s *SecretSource) Load(ctx context.Context) (Secrets, error) {
	s.mu.Lock()
	if s.loaded {
		defer s.mu.Unlock()
		return s.cur, nil
	}
	s.mu.Unlock()

	if err := s.acquire(ctx); err != nil {
		return Secrets{}, err
	}
	defer s.release()
	s.mu.Lock()
	loaded, cur := s.loaded, s.cur
	s.mu.Unlock()
	if loaded { // another caller read it while we waited
		return cur, nil
	}
	v, err := s.read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastRead = s.cfg.Clock.Now()
	if err != nil {
		return Secrets{}, err
	}
	s.cur, s.loaded = v, true
	s.gen++
	return v, nil
}

// Refresh re-reads the secret, for use when the provider rejected the cached
// credentials. Concurrent calls share one read, and reads are at least
// MinRefreshInterval apart: within it the cached value is returned without
// a read. changed reports whether the returned value differs from the one
// cached when Refresh was called. When the read fails the cached value (if
// any) is returned with the error and stays cached.
func (s *SecretSource) Refresh(ctx context.Context) (secrets Secrets, changed bool, err error) {
	s.mu.Lock()
	startGen := s.gen
	s.mu.Unlock()

	if err := s.acquire(ctx); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cur, false, err
	}
	defer s.release()

	s.mu.Lock()
	if s.gen != startGen {
		// A read that finished while we waited already changed the value.
		defer s.mu.Unlock()
		return s.cur, true, nil
	}
	if s.loaded && s.cfg.Clock.Now().Sub(s.lastRead) < s.cfg.MinRefreshInterval {
		defer s.mu.Unlock()
		return s.cur, false, nil
	}
	s.mu.Unlock()

	v, err := s.read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastRead = s.cfg.Clock.Now()
	if err != nil {
		return s.cur, false, err
	}
	if s.loaded && v == s.cur {
		return s.cur, false, nil
	}
	s.cur, s.loaded = v, true
	s.gen++
	return v, true, nil
}

// read fetches, parses and checks the secret.
func (s *SecretSource) read(ctx context.Context) (Secrets, error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID)})
	if err != nil {
		return Secrets{}, fmt.Errorf("config: read secret: %w", err)
	}
	if out.SecretString == nil {
		return Secrets{}, errors.New("config: read secret: the secret has no string value (store the JSON as SecretString)")
	}
	v, err := ParseSecret([]byte(*out.SecretString))
	if err != nil {
		return Secrets{}, err
	}
	if s.cfg.Check != nil {
		if err := s.cfg.Check(v); err != nil {
			return Secrets{}, err
		}
	}
	return v, nil
}

func (s *SecretSource) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("config: read secret: %w", ctx.Err())
	}
}

func (s *SecretSource) release() { <-s.sem }
