package vonage

import (
	"net/url"
	"strings"
	"testing"
)

// TestSignatureVonageVectors are Vonage's published signature test
// vectors: md5hash over {a: 1, b: 2, timestamp: 1461605396} with the
// secret "secret" (no "&" between the signed string and the secret), and
// HMAC-SHA256 over {param1: value1, param2: value2, timestamp:
// 1234567890} with "signature_secret".
func TestSignatureVonageVectors(t *testing.T) {
	tests := []struct {
		method, secret string
		params         url.Values
		want           string
	}{
		{MethodMD5Hash, "secret", url.Values{"a": {"1"}, "b": {"2"}, "timestamp": {"1461605396"}},
			"6af838ef94998832dbfc29020b564830"},
		{MethodSHA256, "signature_secret", url.Values{"param1": {"value1"}, "param2": {"value2"}, "timestamp": {"1234567890"}},
			"280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			got, err := Signature(tt.method, tt.secret, tt.params)
			if err != nil || got != tt.want {
				t.Errorf("Signature = %s, %v; want %s", got, err, tt.want)
			}
			for _, sig := range []string{tt.want, strings.ToUpper(tt.want)} {
				p := cloneParams(tt.params)
				p.Set("sig", sig)
				if !CheckSignature(tt.method, tt.secret, p) {
					t.Errorf("CheckSignature(sig %s) = false, want true (hex in either case)", sig)
				}
			}
		})
	}
}

// TestSignatureEveryMethod: each method gives its own digest length, the
// signed string leaves sig out and sanitises "&" and "=" in values, and a
// signature verifies only with its own method, secret and parameters.
func TestSignatureEveryMethod(t *testing.T) {
	params := url.Values{"messageId": {"0A0000001234ABCD"}, "status": {"delivered"}, "timestamp": {"1767225600"},
		"client-ref": {"a&b=c"}, "nonce": {"n-1"}}
	if got, want := signedString(params), "&client-ref=a_b_c&messageId=0A0000001234ABCD&nonce=n-1&status=delivered&timestamp=1767225600"; got != want {
		t.Errorf("signed string = %q, want %q", got, want)
	}
	lengths := map[string]int{MethodMD5Hash: 32, MethodMD5: 32, MethodSHA1: 40, MethodSHA256: 64, MethodSHA512: 128}
	seen := map[string]string{}
	for _, m := range SignatureMethods {
		sig, err := Signature(m, "shh", params)
		if err != nil || len(sig) != lengths[m] {
			t.Fatalf("Signature(%s) = %q, %v; want %d hex digits", m, sig, err, lengths[m])
		}
		if other, dup := seen[sig]; dup {
			t.Errorf("%s and %s give the same signature", m, other)
		}
		seen[sig] = m
		p := cloneParams(params)
		p.Set("sig", sig)
		if !CheckSignature(m, "shh", p) {
			t.Errorf("%s: CheckSignature = false, want true", m)
		}
		if CheckSignature(m, "other", p) {
			t.Errorf("%s: CheckSignature with another secret = true, want false", m)
		}
		for _, other := range SignatureMethods {
			if other != m && CheckSignature(other, "shh", p) {
				t.Errorf("a %s signature verifies as %s", m, other)
			}
		}
		p.Set("status", "failed")
		if CheckSignature(m, "shh", p) {
			t.Errorf("%s: CheckSignature with a changed status = true, want false", m)
		}
	}
	if _, err := Signature("sha384", "shh", params); err == nil {
		t.Errorf("Signature(sha384) error = nil, want an unknown method")
	}
	for _, sig := range []string{"", "zz", "6af838ef"} {
		p := url.Values{"a": {"1"}, "sig": {sig}}
		if CheckSignature(MethodMD5Hash, "secret", p) {
			t.Errorf("CheckSignature(sig %q) = true, want false", sig)
		}
	}
}

func cloneParams(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
