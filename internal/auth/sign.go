package auth

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Sign returns an HS256 token carrying claims, signed with secret (at least
// MinSecretSize bytes).
//
// Sign is for local and test use only: development tokens in local mode, the
// sample events, `make token` and tests. Deployed callers get their tokens
// from their own issuer; this service never issues tokens in production.
func Sign(secret []byte, claims map[string]any) (string, error) {
	if len(secret) < MinSecretSize {
		return "", fmt.Errorf("auth: sign: secret is %d bytes, need at least %d", len(secret), MinSecretSize)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return tok, nil
}
