package vonage

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strings"
)

// The signature methods a Vonage account can be set to (its dashboard's
// "signature method"). MethodMD5Hash, the dashboard's default, is a plain
// MD5 of the signed string followed by the secret; the others are HMACs
// keyed with the secret. (MethodMD5 is HMAC-MD5, not MethodMD5Hash.)
const (
	MethodMD5Hash = "md5hash"
	MethodMD5     = "md5"
	MethodSHA1    = "sha1"
	MethodSHA256  = "sha256"
	MethodSHA512  = "sha512"
)

// DefaultSignatureMethod is the method of an account whose setting is not
// known.
const DefaultSignatureMethod = MethodMD5Hash

// SignatureMethods lists every method, the default first.
var SignatureMethods = []string{MethodMD5Hash, MethodMD5, MethodSHA1, MethodSHA256, MethodSHA512}

// ValidSignatureMethod reports whether m is one of SignatureMethods.
func ValidSignatureMethod(m string) bool { return slices.Contains(SignatureMethods, m) }

// signedString is what Vonage signs: "&name=value" for every parameter
// but sig, names in sorted order, with every "&" and "=" in a value
// replaced by "_". A name given more than once counts with its first
// value.
func signedString(params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		if name != "sig" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	clean := strings.NewReplacer("&", "_", "=", "_")
	var b strings.Builder
	for _, name := range names {
		b.WriteByte('&')
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(clean.Replace(params.Get(name)))
	}
	return b.String()
}

// Signature returns the signature, in lower-case hex, of a request or
// webhook with the parameters params (sig, if present, is left out) under
// the given method and signature secret (docs/receipts.md).
func Signature(method, secret string, params url.Values) (string, error) {
	sum, err := signature(method, secret, params)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum), nil
}

func signature(method, secret string, params url.Values) ([]byte, error) {
	s := signedString(params)
	if method == MethodMD5Hash {
		sum := md5.Sum([]byte(s + secret))
		return sum[:], nil
	}
	var h func() hash.Hash
	switch method {
	case MethodMD5:
		h = md5.New
	case MethodSHA1:
		h = sha1.New
	case MethodSHA256:
		h = sha256.New
	case MethodSHA512:
		h = sha512.New
	default:
		return nil, fmt.Errorf("vonage: signature method %q: want one of %s", method, strings.Join(SignatureMethods, ", "))
	}
	mac := hmac.New(h, []byte(secret))
	mac.Write([]byte(s))
	return mac.Sum(nil), nil
}

// CheckSignature reports whether the parameters' sig is their signature
// under method and secret. The hex is compared without regard to case
// (Vonage's libraries disagree on it), in constant time.
func CheckSignature(method, secret string, params url.Values) bool {
	got, err := hex.DecodeString(params.Get("sig"))
	if err != nil || len(got) == 0 || secret == "" {
		return false
	}
	want, err := signature(method, secret, params)
	return err == nil && hmac.Equal(got, want)
}
