package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/sms"
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

func TestAuthenticatorFollowsJWTSecretRotation(t *testing.T) {
	oldSecret := "old-jwt-secret-0123456789abcdef0123456789"
	newSecret := "new-jwt-secret-0123456789abcdef0123456789"
	sign := func(secret string) string {
		tok, err := auth.Sign([]byte(secret), map[string]any{"sub": "c", "exp": time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	tests := []struct {
		name      string
		next      string
		token     string
		wantOK    bool
		wantReads int
	}{
		{"current secret needs no read", oldSecret, sign(oldSecret), true, 0},
		{"rotated secret is learned", newSecret, sign(newSecret), true, 1},
		{"unknown secret stays refused", oldSecret, sign("attacker-secret-0123456789abcdef01234567"), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &scriptedSecrets{cur: config.Secrets{JWTSecret: oldSecret}, next: config.Secrets{JWTSecret: tt.next}}
			rot := app.NewRotation(src)
			a, err := app.NewAuthenticator(config.Config{}, [][]byte{[]byte(oldSecret)}, rot)
			if err != nil {
				t.Fatal(err)
			}
			rot.Follow(a.Follow)
			sub, err := a.Authenticate(context.Background(), tt.token)
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("accepted = %v (%v), want %v", got, err, tt.wantOK)
			}
			if !tt.wantOK && sms.KindOf(err) != sms.KindUnauthorized {
				t.Errorf("kind = %v, want unauthorized", sms.KindOf(err))
			}
			if tt.wantOK && sub != "c" {
				t.Errorf("subject = %q, want c", sub)
			}
			if src.reads != tt.wantReads {
				t.Errorf("secret reads = %d, want %d", src.reads, tt.wantReads)
			}
		})
	}
}

func TestRotationTellsFollowersOnlyOfChanges(t *testing.T) {
	src := &scriptedSecrets{cur: config.Secrets{JWTSecret: "a"}, next: config.Secrets{JWTSecret: "a"}}
	rot := app.NewRotation(src)
	var got []string
	rot.Follow(func(s config.Secrets) { got = append(got, s.JWTSecret) })
	if changed, _ := rot.Refresh(context.Background()); changed {
		t.Error("unchanged secret reported as changed")
	}
	src.next = config.Secrets{JWTSecret: "b"}
	if changed, _ := rot.Refresh(context.Background()); !changed {
		t.Error("changed secret reported as unchanged")
	}
	if len(got) != 1 || got[0] != "b" {
		t.Errorf("followers saw %v, want [b]", got)
	}
}
