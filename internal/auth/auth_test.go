package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/sms"
)

var (
	testNow      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	secretNow    = []byte("current-hs256-secret-for-tests-0123456789")
	secretBefore = []byte("previous-hs256-secret-for-tests-987654321")
)

// stoppedClock is an sms.Clock that always reads the same time.
type stoppedClock time.Time

func (c stoppedClock) Now() time.Time { return time.Time(c) }

func (stoppedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

const (
	testIssuer   = "https://issuer.example"
	testAudience = "sms-api"
	testScope    = "sms:send"
)

// claimsWith returns valid claims for testNow with the given changes; a nil
// value removes the claim.
func claimsWith(changes map[string]any) map[string]any {
	c := map[string]any{
		"sub":   "client-1",
		"iss":   testIssuer,
		"aud":   testAudience,
		"scope": "sms:read " + testScope,
		"iat":   testNow.Unix(),
		"exp":   testNow.Add(5 * time.Minute).Unix(),
	}
	for k, v := range maps.All(changes) {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// mustSign signs claims with secret.
func mustSign(t testing.TB, secret []byte, claims map[string]any) string {
	t.Helper()
	tok, err := Sign(secret, claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// signWith signs claims with any method and key, adding the given headers.
func signWith(t testing.TB, m jwt.SigningMethod, key any, headers map[string]any, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	maps.Copy(tok.Header, headers)
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// unsignedToken builds an "alg": "none" token.
func unsignedToken(claims map[string]any) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims))
	s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

// newHSVerifier is the HS256 verifier most tests use.
func newHSVerifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{
		Secrets:       [][]byte{secretNow, secretBefore},
		Issuer:        testIssuer,
		Audience:      testAudience,
		RequiredScope: testScope,
		Clock:         stoppedClock(testNow),
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// wantErr describes an expected failure; the zero value means success.
type wantErr struct {
	kind sms.Kind
	code string // the code narrowing the kind; auth errors have none
	msg  string
}

// ok expects success.
var ok = wantErr{}

func unauth(msg string) wantErr {
	return wantErr{kind: sms.KindUnauthorized, code: "", msg: msg}
}

// checkErr compares err with want and makes sure the token is not echoed.
func checkErr(t *testing.T, err error, want wantErr, token string) {
	t.Helper()
	if want == ok {
		if err != nil {
			t.Fatalf("Verify error = %v, want nil", err)
		}
		return
	}
	var e *sms.Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify error = %v (%T), want *sms.Error", err, err)
	}
	if e.Kind != want.kind || e.Code != want.code || e.Message != want.msg {
		t.Errorf("Verify error = {%v %q %q}, want {%v %q %q}", e.Kind, e.Code, e.Message, want.kind, want.code, want.msg)
	}
	if len(token) > 16 && strings.Contains(err.Error(), token) {
		t.Errorf("Verify error %q contains the token", err)
	}
	if i := strings.LastIndexByte(token, '.'); i > 0 && len(token)-i > 16 && strings.Contains(err.Error(), token[i+1:]) {
		t.Errorf("Verify error %q contains the token's signature", err)
	}
}

func TestVerifyHS256(t *testing.T) {
	v := newHSVerifier(t)
	sign := func(c map[string]any) string { return mustSign(t, secretNow, claimsWith(c)) }
	valid := sign(nil)
	oversize := mustSign(t, secretNow, claimsWith(map[string]any{"pad": strings.Repeat("x", MaxTokenSize)}))
	hs512 := signWith(t, jwt.SigningMethodHS512, secretNow, nil, claimsWith(nil))
	critical := signWith(t, jwt.SigningMethodHS256, secretNow, map[string]any{"crit": []string{"exp"}}, claimsWith(nil))
	// A token whose signature is the right one for a different payload.
	parts := strings.Split(valid, ".")
	otherParts := strings.Split(sign(map[string]any{"sub": "client-2"}), ".")
	spliced := parts[0] + "." + otherParts[1] + "." + parts[2]

	tests := []struct {
		name   string
		header string
		want   wantErr
	}{
		{"valid", "Bearer " + valid, ok},
		{"scheme is case-insensitive", "bEARER " + valid, ok},
		{"surrounding spaces", "  Bearer   " + valid + " ", ok},
		{"previous secret", "Bearer " + mustSign(t, secretBefore, claimsWith(nil)), ok},
		{"wrong secret", "Bearer " + mustSign(t, []byte("some-other-secret-of-enough-length!!"), claimsWith(nil)), unauth(msgSignature)},
		{"payload swapped", "Bearer " + spliced, unauth(msgSignature)},
		{"alg none", "Bearer " + unsignedToken(claimsWith(nil)), unauth(msgAlgorithm)},
		{"alg HS512", "Bearer " + hs512, unauth(msgAlgorithm)},
		{"crit header", "Bearer " + critical, unauth(msgCrit)},
		{"expired beyond leeway", "Bearer " + sign(map[string]any{"exp": testNow.Add(-61 * time.Second).Unix()}), unauth(msgExpired)},
		{"expired within leeway", "Bearer " + sign(map[string]any{"exp": testNow.Add(-59 * time.Second).Unix()}), ok},
		{"exp missing", "Bearer " + sign(map[string]any{"exp": nil}), unauth(msgNoExpiry)},
		{"exp not a number", "Bearer " + sign(map[string]any{"exp": "tomorrow"}), unauth(msgMalformed)},
		{"nbf beyond leeway", "Bearer " + sign(map[string]any{"nbf": testNow.Add(61 * time.Second).Unix()}), unauth(msgNotYetValid)},
		{"nbf within leeway", "Bearer " + sign(map[string]any{"nbf": testNow.Add(59 * time.Second).Unix()}), ok},
		{"iat far future", "Bearer " + sign(map[string]any{"iat": testNow.Add(time.Hour).Unix()}), unauth(msgIssuedFuture)},
		{"iat within leeway", "Bearer " + sign(map[string]any{"iat": testNow.Add(30 * time.Second).Unix()}), ok},
		{"wrong iss", "Bearer " + sign(map[string]any{"iss": "https://evil.example"}), unauth(msgIssuer)},
		{"iss missing", "Bearer " + sign(map[string]any{"iss": nil}), unauth(msgIssuer)},
		{"wrong aud", "Bearer " + sign(map[string]any{"aud": "other-api"}), unauth(msgAudience)},
		{"aud missing", "Bearer " + sign(map[string]any{"aud": nil}), unauth(msgAudience)},
		{"aud array", "Bearer " + sign(map[string]any{"aud": []string{"other-api", testAudience}}), ok},
		{"aud array without ours", "Bearer " + sign(map[string]any{"aud": []string{"a", "b"}}), unauth(msgAudience)},
		{"sub missing", "Bearer " + sign(map[string]any{"sub": nil}), unauth(msgNoSubject)},
		{"sub blank", "Bearer " + sign(map[string]any{"sub": "  "}), unauth(msgNoSubject)},
		{"sub too long", "Bearer " + sign(map[string]any{"sub": strings.Repeat("s", MaxSubjectSize+1)}), unauth(msgSubjectTooLong)},
		{"scope missing", "Bearer " + sign(map[string]any{"scope": nil}), wantErr{sms.KindForbidden, "", msgScope}},
		{"scope prefix only", "Bearer " + sign(map[string]any{"scope": "sms:sendx sms"}), wantErr{sms.KindForbidden, "", msgScope}},
		{"scp array", "Bearer " + sign(map[string]any{"scope": nil, "scp": []string{"a", testScope}}), ok},
		{"scp string", "Bearer " + sign(map[string]any{"scope": nil, "scp": "a " + testScope}), ok},
		{"scope wrong type", "Bearer " + sign(map[string]any{"scope": 7}), unauth(msgMalformed)},
		{"oversize token", "Bearer " + oversize, unauth(msgTooLarge)},
		{"garbage", "Bearer not-a-token", unauth(msgMalformed)},
		{"garbage three parts", "Bearer a.b.c", unauth(msgMalformed)},
		{"bad base64 signature", "Bearer " + valid + "!", unauth(msgMalformed)},
		{"space inside token", "Bearer " + parts[0] + " " + parts[1], unauth(msgMalformed)},
		{"missing Bearer", valid, unauth(msgScheme)},
		{"Basic scheme", "Basic dXNlcjpwYXNzd29yZA==", unauth(msgScheme)},
		{"Bearer without token", "Bearer", unauth(msgMissing)},
		{"Bearer and spaces", "Bearer   ", unauth(msgMissing)},
		{"empty header", "", unauth(msgMissing)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.header)
			checkErr(t, err, tt.want, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(tt.header), "Bearer ")))
			if tt.want == ok && c.Subject != "client-1" {
				t.Errorf("Subject = %q, want %q", c.Subject, "client-1")
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	v := newHSVerifier(t)
	tok := mustSign(t, secretNow, claimsWith(map[string]any{
		"jti":   "id-7",
		"nbf":   testNow.Add(-time.Minute).Unix(),
		"aud":   []string{testAudience, "other"},
		"scope": "a sms:send a",
		"scp":   []string{"b", testScope},
	}))
	got, err := v.Verify(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := Claims{
		Subject:   "client-1",
		Scopes:    []string{"a", testScope, "b"},
		Issuer:    testIssuer,
		Audience:  []string{testAudience, "other"},
		ID:        "id-7",
		ExpiresAt: testNow.Add(5 * time.Minute),
		IssuedAt:  testNow,
		NotBefore: testNow.Add(-time.Minute),
	}
	if got.Subject != want.Subject || got.Issuer != want.Issuer || got.ID != want.ID ||
		!slices.Equal(got.Scopes, want.Scopes) || !slices.Equal(got.Audience, want.Audience) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) || !got.NotBefore.Equal(want.NotBefore) {
		t.Errorf("Verify = %+v, want %+v", got, want)
	}
	if !got.HasScope(testScope) || got.HasScope("sms") {
		t.Errorf("HasScope(%q), HasScope(%q) = %v, %v, want true, false", testScope, "sms", got.HasScope(testScope), got.HasScope("sms"))
	}
	c := got.Caller()
	if c.Subject != "client-1" || !slices.Equal(c.Scopes, want.Scopes) || !c.HasScope("b") || c.HasScope("sms") {
		t.Errorf("Caller() = %+v, want subject client-1 and scopes %v", c, want.Scopes)
	}
	c.Scopes[0] = "changed"
	if got.Scopes[0] != "a" {
		t.Error("Caller() shares its scopes with the claims")
	}
}

func TestVerifyOptionalChecksOff(t *testing.T) {
	// Without issuer, audience and scope configured, none is required.
	v, err := NewVerifier(Config{Secrets: [][]byte{secretNow}, Clock: stoppedClock(testNow)})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	tok := mustSign(t, secretNow, claimsWith(map[string]any{"iss": nil, "aud": nil, "scope": nil}))
	c, err := v.Verify(context.Background(), "Bearer "+tok)
	if err != nil {
		t.Fatalf("Verify = %v, want nil", err)
	}
	if len(c.Scopes) != 0 {
		t.Errorf("Scopes = %v, want none", c.Scopes)
	}
	// The previous secret is not accepted when only one secret is configured.
	_, err = v.Verify(context.Background(), "Bearer "+mustSign(t, secretBefore, claimsWith(nil)))
	checkErr(t, err, unauth(msgSignature), "")
}

func TestVerifyLeeway(t *testing.T) {
	tests := []struct {
		leeway time.Duration
		expAgo time.Duration
		want   wantErr
	}{
		{0, 59 * time.Second, ok}, // zero means the 60 s default
		{0, 61 * time.Second, unauth(msgExpired)},
		{10 * time.Second, 9 * time.Second, ok},
		{10 * time.Second, 11 * time.Second, unauth(msgExpired)},
		{time.Second, time.Second, unauth(msgExpired)}, // exp + leeway == now: expired
	}
	for _, tt := range tests {
		v, err := NewVerifier(Config{Secrets: [][]byte{secretNow}, Leeway: tt.leeway, Clock: stoppedClock(testNow)})
		if err != nil {
			t.Fatalf("NewVerifier: %v", err)
		}
		tok := mustSign(t, secretNow, claimsWith(map[string]any{"exp": testNow.Add(-tt.expAgo).Unix()}))
		_, err = v.Verify(context.Background(), "Bearer "+tok)
		t.Run(tt.leeway.String()+"/"+tt.expAgo.String(), func(t *testing.T) { checkErr(t, err, tt.want, tok) })
	}
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing to verify with", Config{}, "no HS256 secret"},
		{"short secret", Config{Secrets: [][]byte{[]byte("short")}}, "secret 0 is 5 bytes"},
		{"short previous secret", Config{Secrets: [][]byte{secretNow, []byte("short")}}, "secret 1 is 5 bytes"},
		{"leeway too large", Config{Secrets: [][]byte{secretNow}, Leeway: 61 * time.Second}, "leeway"},
		{"negative leeway", Config{Secrets: [][]byte{secretNow}, Leeway: -time.Second}, "leeway"},
		{"JWKS over plain http", Config{JWKSURL: "http://issuer.example/jwks.json"}, "JWKS URL"},
		{"JWKS relative", Config{JWKSURL: "/jwks.json"}, "JWKS URL"},
		{"JWKS bad scheme", Config{JWKSURL: "ftp://issuer.example/jwks.json"}, "JWKS URL"},
		{"JWKS without issuer", Config{JWKSURL: "https://issuer.example/jwks.json", Audience: testAudience}, "issuer"},
		{"JWKS without audience", Config{JWKSURL: "https://issuer.example/jwks.json", Issuer: testIssuer}, "audience"},
		{"negative max lifetime", Config{Secrets: [][]byte{secretNow}, MaxLifetime: -time.Hour}, "max lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewVerifier error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	for _, u := range []string{"https://issuer.example/.well-known/jwks.json", "http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks"} {
		if _, err := NewVerifier(Config{JWKSURL: u, Issuer: testIssuer, Audience: testAudience}); err != nil {
			t.Errorf("NewVerifier(JWKSURL: %q) = %v, want nil", u, err)
		}
	}
}

func TestVerifyMaxLifetime(t *testing.T) {
	const limit = 24 * time.Hour
	tests := []struct {
		name   string
		limit  time.Duration
		claims map[string]any
		want   wantErr
	}{
		{"exp - iat at the limit", limit, map[string]any{"iat": testNow.Add(-time.Hour).Unix(), "exp": testNow.Add(limit - time.Hour).Unix()}, ok},
		{"exp - iat over the limit", limit, map[string]any{"iat": testNow.Add(-time.Hour).Unix(), "exp": testNow.Add(limit - time.Hour + time.Second).Unix()}, unauth(msgLifetime)},
		// An old iat counts: the token was minted for longer than the limit
		// even if little of it is left.
		{"issued long ago, exp near", limit, map[string]any{"iat": testNow.Add(-limit).Unix(), "exp": testNow.Add(time.Minute).Unix()}, unauth(msgLifetime)},
		{"no iat, exp - now within the limit", limit, map[string]any{"iat": nil, "exp": testNow.Add(limit).Unix()}, ok},
		{"no iat, exp - now over the limit", limit, map[string]any{"iat": nil, "exp": testNow.Add(limit + MaxLeeway + time.Second).Unix()}, unauth(msgLifetime)},
		{"ten-year token with the limit off", 0, map[string]any{"exp": testNow.Add(10 * 365 * 24 * time.Hour).Unix()}, ok},
		{"ten-year token without iat, limit off", 0, map[string]any{"iat": nil, "exp": testNow.Add(10 * 365 * 24 * time.Hour).Unix()}, ok},
		// Expiry is still judged first: an expired long-lived token says so.
		{"expired and too long", limit, map[string]any{"iat": testNow.Add(-3 * limit).Unix(), "exp": testNow.Add(-time.Hour).Unix()}, unauth(msgExpired)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Config{Secrets: [][]byte{secretNow}, MaxLifetime: tt.limit, Clock: stoppedClock(testNow)})
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			tok := mustSign(t, secretNow, claimsWith(tt.claims))
			_, err = v.Verify(context.Background(), "Bearer "+tok)
			checkErr(t, err, tt.want, tok)
		})
	}
}

// TestSignatureFailed: only a well-formed token of an accepted algorithm
// whose signature does not verify against the keys held is a signature
// failure (the one failure that may mean the keys were rotated).
func TestSignatureFailed(t *testing.T) {
	v := newHSVerifier(t)
	sign := func(c map[string]any) string { return mustSign(t, secretNow, claimsWith(c)) }
	other := []byte("some-other-secret-of-enough-length!!")
	tests := []struct {
		name   string
		header string
		want   bool
	}{
		{"unknown secret", "Bearer " + mustSign(t, other, claimsWith(nil)), true},
		{"unknown secret, expired too", "Bearer " + mustSign(t, other, claimsWith(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), true},
		{"valid", "Bearer " + sign(nil), false},
		{"expired", "Bearer " + sign(map[string]any{"exp": testNow.Add(-time.Hour).Unix()}), false},
		{"wrong aud", "Bearer " + sign(map[string]any{"aud": "other-api"}), false},
		{"wrong iss", "Bearer " + sign(map[string]any{"iss": "https://evil.example"}), false},
		{"no sub", "Bearer " + sign(map[string]any{"sub": nil}), false},
		{"missing scope", "Bearer " + sign(map[string]any{"scope": nil}), false},
		{"alg none", "Bearer " + unsignedToken(claimsWith(nil)), false},
		{"alg HS512 with an unknown secret", "Bearer " + signWith(t, jwt.SigningMethodHS512, other, nil, claimsWith(nil)), false},
		{"malformed", "Bearer a.b.c", false},
		{"claims not JSON", "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + ".bm90LWpzb24." + strings.Repeat("A", 43), false},
		{"no token", "", false},
		{"wrong scheme", "Basic dXNlcjpwYXNzd29yZA==", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.header)
			if got := SignatureFailed(err); got != tt.want {
				t.Errorf("SignatureFailed(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
	if SignatureFailed(nil) || SignatureFailed(errors.New("other")) {
		t.Error("SignatureFailed of nil or a foreign error = true, want false")
	}
}

func TestSign(t *testing.T) {
	if _, err := Sign([]byte("too-short"), claimsWith(nil)); err == nil {
		t.Errorf("Sign with a 9-byte secret: error = nil, want one")
	}
	tok := mustSign(t, secretNow, map[string]any{"sub": "x"})
	header, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("decode header: %v", err)
	}
	if got, want := string(raw), `{"alg":"HS256","typ":"JWT"}`; got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	v := newHSVerifier(b)
	header := "Bearer " + mustSign(b, secretNow, claimsWith(nil))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, header); err != nil {
			b.Fatal(err)
		}
	}
}
