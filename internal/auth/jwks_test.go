package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/sms"
)

// Keys are generated once: RSA generation is slow.
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaOtherKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC(elliptic.P256()) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK is the public JWK of k.
func rsaJWK(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

// ecJWK is the public JWK of k.
func ecJWK(kid string, k *ecdsa.PublicKey) map[string]any {
	raw, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	size := (len(raw) - 1) / 2
	return map[string]any{"kty": "EC", "kid": kid, "crv": k.Curve.Params().Name,
		"x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
}

// jwksServer serves a replaceable key set and counts requests.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	keys   []map[string]any
	status int
	delay  time.Duration
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		keys, status, delay := s.keys, s.status, s.delay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != http.StatusOK {
			http.Error(w, "down", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.keys = status, keys
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep returns at once: the tests move the clock with Set.
func (*clock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func (c *clock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = testNow.Add(d)
}

// newJWKSVerifier returns a verifier for srv whose clock is clk.
func newJWKSVerifier(t testing.TB, srv *jwksServer, clk *clock) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{
		JWKSURL:       srv.URL + "/.well-known/jwks.json",
		Secrets:       [][]byte{secretNow}, // ignored in JWKS mode
		Issuer:        testIssuer,
		Audience:      testAudience,
		RequiredScope: testScope,
		Clock:         clk,
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifyJWKS(t *testing.T) {
	rk, ek := rsaKey(), ecKey()
	srv := newJWKSServer(t, rsaJWK("rsa-1", &rk.PublicKey), ecJWK("ec-1", &ek.PublicKey))
	v := newJWKSVerifier(t, srv, &clock{t: testNow})
	kid := func(id string) map[string]any { return map[string]any{"kid": id} }
	claims := claimsWith(nil)

	tests := []struct {
		name  string
		token string
		want  wantErr
	}{
		{"RS256", signWith(t, jwt.SigningMethodRS256, rk, kid("rsa-1"), claims), ok},
		{"ES256", signWith(t, jwt.SigningMethodES256, ek, kid("ec-1"), claims), ok},
		{"RS256 without kid, one RSA key", signWith(t, jwt.SigningMethodRS256, rk, nil, claims), ok},
		{"RS256 expired", signWith(t, jwt.SigningMethodRS256, rk, kid("rsa-1"), claimsWith(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), unauth(msgExpired)},
		{"RS256 missing scope", signWith(t, jwt.SigningMethodRS256, rk, kid("rsa-1"), claimsWith(map[string]any{"scope": "other"})), wantErr{sms.KindForbidden, "", msgScope}},
		{"RS256 by another key under our kid", signWith(t, jwt.SigningMethodRS256, rsaOtherKey(), kid("rsa-1"), claims), unauth(msgSignature)},
		{"RS256 naming the EC kid", signWith(t, jwt.SigningMethodRS256, rk, kid("ec-1"), claims), unauth(msgAlgorithm)},
		{"ES256 naming the RSA kid", signWith(t, jwt.SigningMethodES256, ek, kid("rsa-1"), claims), unauth(msgAlgorithm)},
		{"HS256 with the RSA public key PEM as secret", signWith(t, jwt.SigningMethodHS256, pemOf(t, &rk.PublicKey), kid("rsa-1"), claims), unauth(msgAlgorithm)},
		{"HS256 with the EC public key PEM as secret", signWith(t, jwt.SigningMethodHS256, pemOf(t, &ek.PublicKey), kid("ec-1"), claims), unauth(msgAlgorithm)},
		{"HS256 with the configured secret", signWith(t, jwt.SigningMethodHS256, secretNow, nil, claims), unauth(msgAlgorithm)},
		{"PS256 with the RSA key", signWith(t, jwt.SigningMethodPS256, rk, kid("rsa-1"), claims), unauth(msgAlgorithm)},
		{"ES384", signWith(t, jwt.SigningMethodES384, mustEC(elliptic.P384()), kid("ec-1"), claims), unauth(msgAlgorithm)},
		{"alg none", unsignedToken(claims), unauth(msgAlgorithm)},
		{"kid not a string", signWith(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": 7}, claims), unauth(msgMalformed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), "Bearer "+tt.token)
			checkErr(t, err, tt.want, tt.token)
		})
	}
	if got, want := srv.hits.Load(), int64(1); got != want {
		t.Errorf("JWKS fetches = %d, want %d (one lazy fetch, then cached)", got, want)
	}
}

func TestJWKSRefresh(t *testing.T) {
	rk, ek := rsaKey(), ecKey()
	srv := newJWKSServer(t, rsaJWK("k1", &rk.PublicKey))
	clk := &clock{t: testNow}
	longLived := claimsWith(map[string]any{"exp": testNow.Add(2 * time.Hour).Unix()}) // outlives the steps
	v := newJWKSVerifier(t, srv, clk)
	tokRSA := signWith(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "k1"}, longLived)
	tokEC := signWith(t, jwt.SigningMethodES256, ek, map[string]any{"kid": "k2"}, longLived)
	tokUnknown := signWith(t, jwt.SigningMethodES256, ek, map[string]any{"kid": "k9"}, longLived)

	steps := []struct {
		name     string
		at       time.Duration
		before   func()
		token    string
		repeat   int
		want     wantErr
		wantHits int64
	}{
		{name: "first token fetches lazily", token: tokRSA, want: ok, wantHits: 1},
		{name: "known kid is cached", at: time.Second, token: tokRSA, repeat: 5, want: ok, wantHits: 1},
		{name: "new kid inside the rate limit is not fetched", at: 2 * time.Second,
			before: func() { srv.set(http.StatusOK, rsaJWK("k1", &rk.PublicKey), ecJWK("k2", &ek.PublicKey)) },
			token:  tokEC, repeat: 10, want: unauth(msgUnknownKey), wantHits: 1},
		{name: "new kid after the interval refreshes", at: 31 * time.Second, token: tokEC, want: ok, wantHits: 2},
		{name: "unknown kid right after is rate-limited", at: 32 * time.Second, token: tokUnknown, repeat: 20, want: unauth(msgUnknownKey), wantHits: 2},
		{name: "unknown kid later refreshes once", at: 62 * time.Second, token: tokUnknown, repeat: 20, want: unauth(msgUnknownKey), wantHits: 3},
		{name: "fresh set still serves known keys", at: 63 * time.Second, token: tokEC, want: ok, wantHits: 3},
		{name: "old set is re-fetched and a removed key stops verifying", at: 62*time.Second + jwksMaxAge + time.Second,
			before: func() { srv.set(http.StatusOK, ecJWK("k2", &ek.PublicKey)) },
			token:  tokRSA, want: unauth(msgUnknownKey), wantHits: 4},
		{name: "remaining key keeps working", at: 63*time.Second + jwksMaxAge + time.Second, token: tokEC, want: ok, wantHits: 4},
	}
	for _, st := range steps {
		clk.Set(st.at)
		if st.before != nil {
			st.before()
		}
		for range max(st.repeat, 1) {
			_, err := v.Verify(context.Background(), "Bearer "+st.token)
			t.Run(st.name, func(t *testing.T) { checkErr(t, err, st.want, st.token) })
		}
		if got := srv.hits.Load(); got != st.wantHits {
			t.Errorf("%s: JWKS fetches = %d, want %d", st.name, got, st.wantHits)
		}
	}
}

func TestJWKSUnavailable(t *testing.T) {
	rk := rsaKey()
	srv := newJWKSServer(t)
	srv.set(http.StatusServiceUnavailable)
	clk := &clock{t: testNow}
	longLived := claimsWith(map[string]any{"exp": testNow.Add(2 * time.Hour).Unix()}) // outlives the steps
	v := newJWKSVerifier(t, srv, clk)
	tok := signWith(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "k1"}, longLived)
	down := wantErr{sms.KindUnavailable, "", msgKeysDown}

	steps := []struct {
		name     string
		at       time.Duration
		status   int
		want     wantErr
		wantHits int64
	}{
		{"endpoint down at cold start", 0, http.StatusServiceUnavailable, down, 1},
		{"retry waits for the cold-start interval", time.Second, http.StatusServiceUnavailable, down, 1},
		{"retry after the interval", 3 * time.Second, http.StatusServiceUnavailable, down, 2},
		{"endpoint back", 6 * time.Second, http.StatusOK, ok, 3},
		{"endpoint down, cached key still verifies", 7 * time.Second, http.StatusInternalServerError, ok, 3},
		{"old set, failed re-fetch keeps the cached key", 8*time.Second + jwksMaxAge, http.StatusInternalServerError, ok, 4},
	}
	for _, st := range steps {
		clk.Set(st.at)
		srv.set(st.status, rsaJWK("k1", &rk.PublicKey))
		_, err := v.Verify(context.Background(), "Bearer "+tok)
		t.Run(st.name, func(t *testing.T) {
			checkErr(t, err, st.want, tok)
			if st.want == down {
				if e := sms.AsError(err); e.RetryAfter <= 0 {
					t.Errorf("RetryAfter = %v, want > 0", e.RetryAfter)
				}
			}
		})
		if got := srv.hits.Load(); got != st.wantHits {
			t.Errorf("%s: JWKS fetches = %d, want %d", st.name, got, st.wantHits)
		}
	}
}

// TestJWKSDoesNotFollowRedirects: a JWKS URL that redirects, even to a
// valid key set, is a failed fetch, whatever HTTP client the verifier is
// given (an open redirect on the issuer's host must not let another host
// choose the keys).
func TestJWKSDoesNotFollowRedirects(t *testing.T) {
	rk := rsaKey()
	real := newJWKSServer(t, rsaJWK("k1", &rk.PublicKey))
	tok := signWith(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "k1"}, claimsWith(nil))
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, client := range []struct {
			name string
			hc   *http.Client
		}{{"default client", nil}, {"client that follows redirects", &http.Client{Timeout: 5 * time.Second}}} {
			t.Run(fmt.Sprintf("%d/%s", status, client.name), func(t *testing.T) {
				hits := real.hits.Load()
				redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, real.URL+"/.well-known/jwks.json", status)
				}))
				defer redirector.Close()
				v, err := NewVerifier(Config{
					JWKSURL: redirector.URL + "/.well-known/jwks.json", Issuer: testIssuer, Audience: testAudience,
					RequiredScope: testScope, Clock: &clock{t: testNow}, HTTPClient: client.hc,
				})
				if err != nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				_, err = v.Verify(context.Background(), "Bearer "+tok)
				checkErr(t, err, wantErr{sms.KindUnavailable, "", msgKeysDown}, tok)
				if err != nil && !strings.Contains(sms.AsError(err).Err.Error(), "redirect") {
					t.Errorf("cause = %v, want it to say the JWKS URL redirects", sms.AsError(err).Err)
				}
				if got := real.hits.Load() - hits; got != 0 {
					t.Errorf("the redirect target was fetched %d times, want 0", got)
				}
				if client.hc != nil && client.hc.CheckRedirect != nil {
					t.Error("the caller's client was changed, want a copy")
				}
			})
		}
	}
}

func TestJWKSCallerCancelDoesNotCount(t *testing.T) {
	rk := rsaKey()
	srv := newJWKSServer(t, rsaJWK("k1", &rk.PublicKey))
	srv.setDelay(2 * time.Second)
	v := newJWKSVerifier(t, srv, &clock{t: testNow})
	tok := signWith(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "k1"}, claimsWith(nil))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Verify(ctx, "Bearer "+tok)
	if took := time.Since(start); took > time.Second {
		t.Errorf("Verify with a 50ms deadline took %v, want it to give up with the context", took)
	}
	checkErr(t, err, wantErr{sms.KindUnavailable, "", msgKeysDown}, tok)

	// The abandoned fetch must not block the next caller behind a rate limit.
	srv.setDelay(0)
	if _, err := v.Verify(context.Background(), "Bearer "+tok); err != nil {
		t.Errorf("Verify after a cancelled fetch = %v, want nil", err)
	}
	if got, want := srv.hits.Load(), int64(2); got != want {
		t.Errorf("JWKS fetches = %d, want %d", got, want)
	}
}

func TestJWKSConcurrentColdStartFetchesOnce(t *testing.T) {
	rk := rsaKey()
	srv := newJWKSServer(t, rsaJWK("k1", &rk.PublicKey))
	srv.setDelay(50 * time.Millisecond)
	v := newJWKSVerifier(t, srv, &clock{t: testNow})
	tok := signWith(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "k1"}, claimsWith(nil))

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), "Bearer "+tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify = %v, want nil", err)
		}
	}
	if got, want := srv.hits.Load(), int64(1); got != want {
		t.Errorf("JWKS fetches = %d, want %d", got, want)
	}
}

func TestJWKSAmbiguousWithoutKid(t *testing.T) {
	rk, other := rsaKey(), rsaOtherKey()
	srv := newJWKSServer(t, rsaJWK("a", &rk.PublicKey), rsaJWK("b", &other.PublicKey))
	v := newJWKSVerifier(t, srv, &clock{t: testNow})
	tok := signWith(t, jwt.SigningMethodRS256, rk, nil, claimsWith(nil))
	_, err := v.Verify(context.Background(), "Bearer "+tok)
	checkErr(t, err, unauth(msgNoKeyID), tok)
}

func TestParseJWKS(t *testing.T) {
	rk, ek := rsaKey(), ecKey()
	small := mustRSA(1024)
	p384 := mustEC(elliptic.P384())
	with := func(m map[string]any, k string, v any) map[string]any {
		out := maps.Clone(m)
		out[k] = v
		return out
	}
	badPoint := ecJWK("bad", &ek.PublicKey)
	badPoint["y"] = badPoint["x"] // (x, x) is not on the curve

	tests := []struct {
		name    string
		keys    []map[string]any
		wantAlg []string // algorithms of the usable keys, in order
	}{
		{"RSA and EC", []map[string]any{rsaJWK("r", &rk.PublicKey), ecJWK("e", &ek.PublicKey)}, []string{"RS256", "ES256"}},
		{"RSA without alg", []map[string]any{with(rsaJWK("r", &rk.PublicKey), "alg", "")}, []string{"RS256"}},
		{"RSA for encryption skipped", []map[string]any{with(rsaJWK("r", &rk.PublicKey), "use", "enc"), ecJWK("e", &ek.PublicKey)}, []string{"ES256"}},
		{"RSA labelled PS256 skipped", []map[string]any{with(rsaJWK("r", &rk.PublicKey), "alg", "PS256"), ecJWK("e", &ek.PublicKey)}, []string{"ES256"}},
		{"RSA 1024 skipped", []map[string]any{rsaJWK("s", &small.PublicKey), ecJWK("e", &ek.PublicKey)}, []string{"ES256"}},
		{"RSA even exponent skipped", []map[string]any{with(rsaJWK("r", &rk.PublicKey), "e", b64([]byte{2})), ecJWK("e", &ek.PublicKey)}, []string{"ES256"}},
		{"P-384 skipped", []map[string]any{ecJWK("p", &p384.PublicKey), rsaJWK("r", &rk.PublicKey)}, []string{"RS256"}},
		{"point off the curve skipped", []map[string]any{badPoint, rsaJWK("r", &rk.PublicKey)}, []string{"RS256"}},
		{"symmetric key skipped", []map[string]any{{"kty": "oct", "k": b64(secretNow)}, rsaJWK("r", &rk.PublicKey)}, []string{"RS256"}},
		{"no usable key", []map[string]any{{"kty": "oct", "k": b64(secretNow)}}, nil},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"keys": tt.keys})
			keys, err := parseJWKS(body)
			if tt.wantAlg == nil {
				if err == nil {
					t.Errorf("parseJWKS error = nil, want one (got %d keys)", len(keys))
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, k.alg)
			}
			if !slices.Equal(got, tt.wantAlg) {
				t.Errorf("parseJWKS algs = %v, want %v", got, tt.wantAlg)
			}
		})
	}
	if _, err := parseJWKS([]byte("not json")); err == nil {
		t.Errorf("parseJWKS(not json) error = nil, want one")
	}
}
