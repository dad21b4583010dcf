package config

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fluxkit/sms/internal/testing/mototest"
)

// countingGetter counts the reads that reach Secrets Manager.
type countingGetter struct {
	next  SecretsGetter
	calls atomic.Int64
}

func (c *countingGetter) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.calls.Add(1)
	return c.next.GetSecretValue(ctx, in, opts...)
}

// fakeClock is a settable time source (an sms.Clock).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep advances the clock by d at once.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(max(d, 0))
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func twilioSecretJSON(authToken string) string {
	return `{"accountSid":"` + testAccountSID + `","authToken":"` + authToken + `","jwtSecret":"` + testJWTSecret + `"}`
}

// putSecret stores a new current version of the secret (a rotation).
func putSecret(t *testing.T, sm *secretsmanager.Client, id, value string) {
	t.Helper()
	if _, err := sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
}

func TestSecretSourceMoto(t *testing.T) {
	srv := mototest.Start(t)
	sm := srv.SecretsManager()
	cfg := Config{Provider: ProviderTwilio, SecretID: "set"}

	t.Run("load caches, refresh sees a rotation", func(t *testing.T) {
		arn := srv.CreateSecret(t, "sms/rotate", twilioSecretJSON("token-one"))
		getter := &countingGetter{next: sm}
		clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		src := NewSecretSource(getter, arn, SecretSourceConfig{Check: cfg.CheckSecrets, Clock: clk})
		ctx := context.Background()

		for i := range 3 {
			s, err := src.Load(ctx)
			if err != nil {
				t.Fatalf("Load #%d: %v", i+1, err)
			}
			if got, want := s.Twilio.AuthToken, "token-one"; got != want {
				t.Errorf("Load #%d AuthToken = %q, want %q", i+1, got, want)
			}
		}
		if got, want := getter.calls.Load(), int64(1); got != want {
			t.Errorf("GetSecretValue calls after 3 Loads = %d, want %d", got, want)
		}

		putSecret(t, sm, arn, twilioSecretJSON("token-two"))
		steps := []struct {
			name        string
			advance     time.Duration
			wantToken   string
			wantChanged bool
			wantCalls   int64
		}{
			{"within the interval of the first read: no read", time.Second, "token-one", false, 1},
			{"after the interval: re-read sees the rotation", 10 * time.Second, "token-two", true, 2},
			{"right after: rate-limited", time.Second, "token-two", false, 2},
			{"later, same value: read, unchanged", 10 * time.Second, "token-two", false, 3},
		}
		for _, st := range steps {
			clk.Advance(st.advance)
			s, changed, err := src.Refresh(ctx)
			if err != nil {
				t.Fatalf("%s: Refresh: %v", st.name, err)
			}
			if s.Twilio.AuthToken != st.wantToken || changed != st.wantChanged {
				t.Errorf("%s: Refresh = (AuthToken %q, changed %v), want (%q, %v)", st.name, s.Twilio.AuthToken, changed, st.wantToken, st.wantChanged)
			}
			if got := getter.calls.Load(); got != st.wantCalls {
				t.Errorf("%s: GetSecretValue calls = %d, want %d", st.name, got, st.wantCalls)
			}
		}
		if s, err := src.Load(ctx); err != nil || s.Twilio.AuthToken != "token-two" {
			t.Errorf("Load after Refresh = (AuthToken %q, %v), want (%q, nil)", s.Twilio.AuthToken, err, "token-two")
		}
	})

	t.Run("concurrent refreshes share one read", func(t *testing.T) {
		arn := srv.CreateSecret(t, "sms/concurrent", twilioSecretJSON("token-a"))
		getter := &countingGetter{next: sm}
		clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		src := NewSecretSource(getter, arn, SecretSourceConfig{Clock: clk})
		ctx := context.Background()

		// Concurrent cold-start Loads read once.
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := src.Load(ctx); err != nil {
					t.Errorf("Load: %v", err)
				}
			})
		}
		wg.Wait()
		if got, want := getter.calls.Load(), int64(1); got != want {
			t.Errorf("GetSecretValue calls after 10 concurrent Loads = %d, want %d", got, want)
		}

		putSecret(t, sm, arn, twilioSecretJSON("token-b"))
		clk.Advance(time.Minute)
		var anyChanged atomic.Bool
		for range 10 {
			wg.Go(func() {
				s, changed, err := src.Refresh(ctx)
				if err != nil || s.Twilio.AuthToken != "token-b" {
					t.Errorf("Refresh = (AuthToken %q, %v), want (%q, nil)", s.Twilio.AuthToken, err, "token-b")
				}
				if changed {
					anyChanged.Store(true)
				}
			})
		}
		wg.Wait()
		if got, want := getter.calls.Load(), int64(2); got != want {
			t.Errorf("GetSecretValue calls after 10 concurrent Refreshes = %d, want %d", got, want)
		}
		if !anyChanged.Load() {
			t.Errorf("no concurrent Refresh reported changed, want at least one")
		}
	})

	t.Run("errors", func(t *testing.T) {
		binARN := func() string {
			out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("sms/binary"), SecretBinary: []byte("hidden-value-1")})
			if err != nil {
				t.Fatalf("CreateSecret(binary): %v", err)
			}
			return aws.ToString(out.ARN)
		}()
		tests := []struct {
			name     string
			secretID string
			check    func(Secrets) error
			wantErr  string
		}{
			{"missing secret", "sms/does-not-exist", nil, "config: read secret: "},
			{"binary secret", binARN, nil, "no string value"},
			{"not JSON", srv.CreateSecret(t, "sms/not-json", "authToken=hidden-value-1"), nil, "config: secret: not valid JSON"},
			{"wrong type", srv.CreateSecret(t, "sms/wrong-type", `{"authToken":["hidden-value-1"]}`), nil, "config: secret key authToken: must be a string"},
			{"fails the check", srv.CreateSecret(t, "sms/incomplete", `{"accountSid":"hidden-value-1"}`), cfg.CheckSecrets, "config: secret key accountSid: must be"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				getter := &countingGetter{next: sm}
				src := NewSecretSource(getter, tt.secretID, SecretSourceConfig{Check: tt.check})
				_, err := src.Load(context.Background())
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hidden-value-1") {
					t.Errorf("Load error = %q, contains the secret value", err)
				}
				// A failed read is not cached: the next Load reads again.
				_, err2 := src.Load(context.Background())
				if err2 == nil {
					t.Errorf("second Load error = nil, want the error again")
				}
				if got, want := getter.calls.Load(), int64(2); got != want {
					t.Errorf("GetSecretValue calls = %d, want %d", got, want)
				}
			})
		}
	})

	t.Run("refresh failure keeps the cached value", func(t *testing.T) {
		arn := srv.CreateSecret(t, "sms/keep", twilioSecretJSON("token-keep"))
		clk := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		src := NewSecretSource(sm, arn, SecretSourceConfig{Check: cfg.CheckSecrets, Clock: clk})
		if _, err := src.Load(context.Background()); err != nil {
			t.Fatalf("Load: %v", err)
		}
		putSecret(t, sm, arn, `{"accountSid":"`+testAccountSID+`"}`) // a half-done rotation
		clk.Advance(time.Minute)
		s, changed, err := src.Refresh(context.Background())
		if err == nil || !strings.Contains(err.Error(), "authToken") {
			t.Errorf("Refresh error = %v, want one naming authToken", err)
		}
		if s.Twilio.AuthToken != "token-keep" || changed {
			t.Errorf("Refresh = (AuthToken %q, changed %v), want (%q, false)", s.Twilio.AuthToken, changed, "token-keep")
		}
		if s, _ := src.Load(context.Background()); s.Twilio.AuthToken != "token-keep" {
			t.Errorf("Load after failed Refresh AuthToken = %q, want %q", s.Twilio.AuthToken, "token-keep")
		}
	})
}

// blockingGetter blocks until its context ends.
type blockingGetter struct{}

func (blockingGetter) GetSecretValue(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestSecretSourceHonoursContext(t *testing.T) {
	src := NewSecretSource(blockingGetter{}, "sms/slow", SecretSourceConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := src.Load(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "config: read secret: ") {
		t.Errorf("Load error = %v, want a wrapped context.DeadlineExceeded", err)
	}
}
