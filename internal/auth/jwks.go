package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/sms"
)

// JWKS cache tuning.
const (
	// jwksRefreshInterval is the least time between two fetches once a key
	// set has been fetched: an unknown kid triggers at most one fetch per
	// interval, however many tokens name it.
	jwksRefreshInterval = 30 * time.Second
	// jwksRetryInterval is the least time between two attempts while no key
	// set has ever been fetched (cold start with the endpoint failing).
	jwksRetryInterval = 2 * time.Second
	// jwksMaxAge is how long a fetched key set is used before the next token
	// triggers a re-fetch (so removed keys stop verifying). When that fetch
	// fails the cached keys stay in use.
	jwksMaxAge = 15 * time.Minute
	// jwksFetchTimeout bounds one fetch.
	jwksFetchTimeout = 5 * time.Second
	// jwksMaxBytes bounds the JWKS document.
	jwksMaxBytes = 1 << 20
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
)

// jwk is one usable key: the algorithm it verifies, pinned by its type.
type jwk struct {
	kid string
	alg string // "RS256" for RSA keys, "ES256" for P-256 keys
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// jwksCache holds the keys of one JWKS URL, fetched lazily and refreshed on
// an unknown kid or when old, never more often than the intervals above.
type jwksCache struct {
	url    string
	client *http.Client
	clock  sms.Clock
	sem    chan struct{} // one fetch at a time; waiters reuse its result

	mu        sync.RWMutex
	keys      []jwk
	fetched   time.Time // last successful fetch; zero before the first
	attempted time.Time // last attempt that was not cut short by its caller
	lastErr   error     // outcome of the last attempt
}

// newJWKSCache returns the cache of url, fetched with a copy of client
// (nil: a client with a 10 s timeout) that does not follow redirects: the
// configured URL names the keys' host, and a redirect (an open redirect on
// that host, say) must not let another host choose them.
func newJWKSCache(url string, client *http.Client, clock sms.Clock) *jwksCache {
	c := http.Client{Timeout: 10 * time.Second}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &jwksCache{url: url, client: &c, clock: clock, sem: make(chan struct{}, 1)}
}

// lookupResult says what lookup found.
type lookupResult int

const (
	keyFound     lookupResult = iota
	keyUnknown                // no key with this kid (or, without kid, none for alg)
	keyWrongAlg               // the kid names a key of another type
	keyAmbiguous              // no kid and several keys could apply
)

// key is the jwt.Keyfunc of JWKS mode.
func (c *jwksCache) key(ctx context.Context, t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodRS256 && t.Method != jwt.SigningMethodES256 {
		return nil, unauthorized(msgAlgorithm, nil)
	}
	alg := t.Method.Alg()
	var kid string
	if raw, ok := t.Header["kid"]; ok {
		if kid, ok = raw.(string); !ok || kid == "" {
			return nil, unauthorized(msgMalformed, nil)
		}
	}
	k, res, stale := c.lookup(kid, alg)
	if res == keyFound && !stale {
		return k, nil
	}
	if res == keyWrongAlg {
		return nil, unauthorized(msgAlgorithm, nil)
	}
	if res == keyAmbiguous {
		return nil, unauthorized(msgNoKeyID, nil)
	}
	err := c.refresh(ctx)
	if res == keyFound {
		// The set was old; a failed re-fetch keeps the cached key usable.
		if err == nil {
			if k2, res2, _ := c.lookup(kid, alg); res2 == keyFound {
				return k2, nil
			}
			return nil, unauthorized(msgUnknownKey, nil)
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	k, res, _ = c.lookup(kid, alg)
	switch res {
	case keyFound:
		return k, nil
	case keyWrongAlg:
		return nil, unauthorized(msgAlgorithm, nil)
	case keyAmbiguous:
		return nil, unauthorized(msgNoKeyID, nil)
	}
	return nil, unauthorized(msgUnknownKey, nil)
}

// lookup finds the key for kid (or, when kid is empty, the only key for
// alg) and reports whether the cached set is older than jwksMaxAge.
func (c *jwksCache) lookup(kid, alg string) (key any, res lookupResult, stale bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	stale = !c.fetched.IsZero() && c.clock.Now().Sub(c.fetched) > jwksMaxAge
	res = keyUnknown
	for _, k := range c.keys {
		switch {
		case kid != "" && k.kid == kid && k.alg == alg:
			return k.key, keyFound, stale
		case kid != "" && k.kid == kid:
			res = keyWrongAlg
		case kid == "" && k.alg == alg:
			if key != nil {
				return nil, keyAmbiguous, stale
			}
			key, res = k.key, keyFound
		}
	}
	return key, res, stale
}

// refresh fetches the key set unless a fetch happened too recently, in which
// case it returns that fetch's outcome. Concurrent callers wait for one
// fetch rather than each making their own.
func (c *jwksCache) refresh(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return unavailable(jwksRetryInterval, fmt.Errorf("auth: wait for JWKS fetch: %w", ctx.Err()))
	}
	defer func() { <-c.sem }()

	c.mu.RLock()
	attempted, fetched, lastErr := c.attempted, c.fetched, c.lastErr
	c.mu.RUnlock()
	gap := jwksRefreshInterval
	if fetched.IsZero() {
		gap = jwksRetryInterval
	}
	now := c.clock.Now()
	if !attempted.IsZero() && now.Sub(attempted) < gap {
		return lastErr
	}

	keys, err := c.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		// Our caller gave up; that says nothing about the endpoint, so it
		// does not count against the rate limit.
		return unavailable(jwksRetryInterval, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempted = now
	if err != nil {
		c.lastErr = unavailable(gap, err)
		return c.lastErr
	}
	c.keys, c.fetched, c.lastErr = keys, now, nil
	return nil
}

// fetch downloads and parses the key set.
func (c *jwksCache) fetch(ctx context.Context) ([]jwk, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil, fmt.Errorf("auth: fetch JWKS: HTTP status %d: the JWKS URL redirects, and redirects are not followed (configure the final URL)", resp.StatusCode)
		}
		return nil, fmt.Errorf("auth: fetch JWKS: HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: read JWKS: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("auth: JWKS larger than %d bytes", jwksMaxBytes)
	}
	return parseJWKS(body)
}

// jwkJSON is one entry of a JWKS document (RFC 7517, RFC 7518 §6).
type jwkJSON struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the usable signature keys of a JWKS document: RSA keys
// of at least 2048 bits (RS256) and P-256 keys (ES256). Keys for encryption,
// for other algorithms or of other types are skipped; a document with no
// usable key is an error.
func parseJWKS(body []byte) ([]jwk, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("auth: parse JWKS: %w", err)
	}
	var keys []jwk
	for _, raw := range doc.Keys {
		var j jwkJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			continue // one odd entry does not spoil the others
		}
		if k, err := j.parse(); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: JWKS has no usable RS256 or ES256 signing key")
	}
	return keys, nil
}

// parse converts one JWK into a key pinned to its algorithm.
func (j jwkJSON) parse() (jwk, error) {
	if j.Use != "" && j.Use != "sig" {
		return jwk{}, errors.New("not a signature key")
	}
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != "RS256" {
			return jwk{}, fmt.Errorf("RSA key for %q", j.Alg)
		}
		n, err := b64Int(j.N)
		if err != nil {
			return jwk{}, err
		}
		e, err := b64Int(j.E)
		if err != nil {
			return jwk{}, err
		}
		if n.BitLen() < minRSABits {
			return jwk{}, errors.New("RSA key too small")
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return jwk{}, errors.New("bad RSA exponent")
		}
		return jwk{kid: j.Kid, alg: "RS256", key: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case "EC":
		if j.Crv != "P-256" || j.Alg != "" && j.Alg != "ES256" {
			return jwk{}, errors.New("EC key not for ES256")
		}
		x, err1 := base64.RawURLEncoding.DecodeString(j.X)
		y, err2 := base64.RawURLEncoding.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return jwk{}, errors.New("bad P-256 coordinates")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwk{}, err
		}
		return jwk{kid: j.Kid, alg: "ES256", key: pub}, nil
	}
	return jwk{}, fmt.Errorf("unsupported key type %q", j.Kty)
}

// b64Int decodes a base64url big-endian unsigned integer.
func b64Int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}

// unavailable is the error for a JWKS that cannot be fetched: not the
// token's fault, so not a 401.
func unavailable(retry time.Duration, cause error) *sms.Error {
	return sms.E(sms.KindUnavailable, msgKeysDown, sms.RetryAfter(retry), sms.Cause(cause))
}
