package chaos_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/local"
)

// Settings of the abuse battery's deployments.
const (
	abuseIssuer   = "https://issuer.chaos.example"
	abuseAudience = "sms-api"
	abuseScope    = "sms:send"
	// allowedSender is the only sender SMS_ALLOWED_SENDERS lists.
	allowedSender = "+15005550006"
	// abuseMarker is in the body of every request of the battery: the log
	// audit looks for it.
	abuseMarker = "abuse code"
	sendPath    = "/messaging/sms"
	kid         = "chaos-key-1"
)

// omit as a header value removes the header from the request.
const omit = "\x00omit"

// abuseCase is one request of the battery and the answer it must get.
type abuseCase struct {
	name   string
	method string   // POST when empty
	path   string   // sendPath when empty
	hdr    []string // header name, value pairs over the defaults; omit removes
	body   []byte   // validBody when nil
	want   int
	// code is the error.code the answer must carry; empty for a 200 and
	// for API Gateway's own answers ({"message": ...}).
	code string
}

// validBody is a request body the service accepts.
func validBody() []byte {
	return []byte(`{"to":"` + recipient + `","body":"Your ` + abuseMarker + ` is 482901"}`)
}

// withBody returns a body with the given raw JSON value for field, the
// other required fields valid.
func withField(field, raw string) []byte {
	f := map[string]string{"to": `"` + recipient + `"`, "body": `"Your ` + abuseMarker + ` is 1"`}
	f[field] = raw
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{"to", "body", "from"} {
		v, ok := f[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// jwtKit signs the tokens of the battery: good ones and every kind of
// forgery.
type jwtKit struct {
	t        *testing.T
	key      *rsa.PrivateKey // the JWKS deployment's signing key
	attacker *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
}

// claims are valid claims for both deployments; kv changes them (a nil
// value removes a claim).
func claims(kv ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": abuseIssuer, "aud": abuseAudience, "sub": "abuse-client", "scope": abuseScope,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// sign signs c with method and key; hdr adds header fields.
func (k *jwtKit) sign(method jwt.SigningMethod, key any, c jwt.MapClaims, hdr ...any) string {
	k.t.Helper()
	tok := jwt.NewWithClaims(method, c)
	for i := 0; i+1 < len(hdr); i += 2 {
		tok.Header[hdr[i].(string)] = hdr[i+1]
	}
	s, err := tok.SignedString(key)
	if err != nil {
		k.t.Fatalf("sign: %v", err)
	}
	return s
}

// hs is a valid HS256 token for the HS256 deployment, with claims kv.
func (k *jwtKit) hs(kv ...any) string {
	return k.sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(kv...))
}

// rs is a valid RS256 token for the JWKS deployment.
func (k *jwtKit) rs(kv ...any) string {
	return k.sign(jwt.SigningMethodRS256, k.key, claims(kv...), "kid", kid)
}

// raw assembles a token from a header and claims as given, with sig as
// its signature segment.
func raw(header map[string]any, c jwt.MapClaims, sig string) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + sig
}

// jwk is the public JWK of key.
func jwk(key *rsa.PublicKey, id string) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": id, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}
}

// abuseStack is the battery's system under test: two deployments of the
// send function (HS256 tokens; JWKS-verified RS256 tokens) on the shared
// moto and one Twilio fake, each behind an API Gateway stand-in on a real
// HTTP server.
type abuseStack struct {
	hs, jwks         *deployment
	hsURL, jwksURL   string
	failures         *atomic.Int64 // function errors behind the gateways
	hsFn             *apigw.Handler
	attackerJWKSHits *atomic.Int64
}

// countErrors counts the invocations that end in a function error (which
// API Gateway would answer 500).
type countErrors struct {
	fn local.Invoker
	n  *atomic.Int64
}

// Invoke invokes fn and counts its errors.
func (c countErrors) Invoke(ctx context.Context, event json.RawMessage) (json.RawMessage, error) {
	out, err := c.fn.Invoke(ctx, event)
	if err != nil || !json.Valid(out) {
		c.n.Add(1)
	}
	return out, err
}

func newAbuseStack(t *testing.T, kit *jwtKit) *abuseStack {
	t.Helper()
	keys, _ := json.Marshal(map[string]any{"keys": []any{jwk(&kit.key.PublicKey, kid)}})
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys)
	}))
	t.Cleanup(jwksSrv.Close)
	s := &abuseStack{attackerJWKSHits: &atomic.Int64{}, failures: &atomic.Int64{}}
	common := []string{
		"JWT_ISSUER", abuseIssuer, "JWT_AUDIENCE", abuseAudience, "JWT_REQUIRED_SCOPE", abuseScope,
		"SMS_ALLOWED_SENDERS", allowedSender,
		// The deployment's defaults for the other rules: unset.
		"SMS_BLOCKED_NUMBER_TYPES", "", "SMS_SMART_ENCODING", "",
	}
	s.hs = deploy(t, moto, "twilio", common...)
	s.jwks = deploy(t, moto, "twilio", append(common, "JWT_JWKS_URL", jwksSrv.URL+"/.well-known/jwks.json")...)
	s.hsFn = s.hs.sendHandler(t)
	// The same API Gateway stand-in as `make local`.
	hsSrv := httptest.NewServer(local.NewGateway(countErrors{s.hsFn, s.failures}, nil, local.GatewayConfig{}))
	jwksAPI := httptest.NewServer(local.NewGateway(countErrors{s.jwks.sendHandler(t), s.failures}, nil, local.GatewayConfig{}))
	t.Cleanup(hsSrv.Close)
	t.Cleanup(jwksAPI.Close)
	s.hsURL, s.jwksURL = hsSrv.URL, jwksAPI.URL
	return s
}

// attackerJWKS serves the attacker's key and counts fetches, which must
// never happen.
func (s *abuseStack) attackerJWKS(t *testing.T, key *rsa.PublicKey) string {
	t.Helper()
	keys, _ := json.Marshal(map[string]any{"keys": []any{jwk(key, kid)}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.attackerJWKSHits.Add(1)
		_, _ = w.Write(keys)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// sent counts the 200 answers of the battery.
var sent atomic.Int64

// do sends c to the API at base with token as the default bearer token.
func do(t *testing.T, base, token string, c abuseCase) (int, http.Header, []byte) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	path := c.path
	if path == "" {
		path = sendPath
	}
	body := c.body
	if body == nil {
		body = validBody()
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(c.hdr); i += 2 {
		if c.hdr[i+1] == omit {
			req.Header.Del(c.hdr[i])
			continue
		}
		req.Header.Set(c.hdr[i], c.hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read answer: %v", c.name, err)
	}
	if resp.StatusCode == http.StatusOK {
		sent.Add(1)
	}
	return resp.StatusCode, resp.Header, out
}

// checkAnswer checks an answer against c: the status, a JSON body with the
// documented code, and the headers the status requires.
func checkAnswer(t *testing.T, c abuseCase, status int, hdr http.Header, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("status = %d %s, want %d: never a 5xx", status, body, c.want)
	}
	if status != c.want {
		t.Fatalf("status = %d %s, want %d", status, body, c.want)
	}
	if got := hdr.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var got struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	switch {
	case status == http.StatusOK:
		if got.Status != "sent" {
			t.Errorf("200 body %s, want status sent", body)
		}
	case c.code == "":
		if got.Message == "" {
			t.Errorf("body %s, want API Gateway's {\"message\": ...}", body)
		}
	case got.Error == nil:
		t.Errorf("body %s, want an error body", body)
	default:
		if got.Error.Code != c.code {
			t.Errorf("error.code = %q, want %q", got.Error.Code, c.code)
		}
		if got.Error.Message == "" {
			t.Error("error.message is empty")
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", hdr.Get("WWW-Authenticate"))
	}
}

// TestAbuse sends hostile requests over HTTP through the API Gateway
// stand-in to the send function backed by moto and the Twilio fake: each
// gets its documented status — a 4xx with a JSON error and its documented
// code, or a 200 where the contract accepts the input — never a 5xx. It
// ends with a log audit of everything the battery made the service log.
func TestAbuse(t *testing.T) {
	kit := &jwtKit{t: t}
	var err error
	if kit.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if kit.attacker, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if kit.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	s := newAbuseStack(t, kit)
	good := kit.hs()
	huge := strings.Repeat("A", 60<<10)

	t.Run("body", func(t *testing.T) {
		deep := func(n int, open, close string) []byte {
			return []byte(`{"to":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `,"body":"x"}`)
		}
		cases := []abuseCase{
			{name: "valid request", want: 200},
			{name: "malformed JSON", body: []byte(`{"to":"` + recipient + `","body":`), want: 400, code: "invalid_request"},
			{name: "not JSON at all", body: []byte(`to=` + recipient + `&body=hi`), want: 400, code: "invalid_request"},
			{name: "empty body", body: []byte{}, want: 400, code: "invalid_request"},
			{name: "whitespace only", body: []byte(" \n\t "), want: 400, code: "invalid_request"},
			{name: "two objects", body: append(validBody(), []byte(`{}`)...), want: 400, code: "invalid_request"},
			{name: "trailing garbage", body: append(validBody(), []byte(`xyz`)...), want: 400, code: "invalid_request"},
			{name: "64 KiB + 1", body: append(validBody(), bytes.Repeat([]byte(" "), 64<<10+1-len(validBody()))...), want: 413, code: "payload_too_large"},
			{name: "1 MB", body: bytes.Repeat([]byte("["), 1<<20), want: 413, code: "payload_too_large"},
			{name: "100k-deep array nesting", body: deep(100_000, "[", "]"), want: 413, code: "payload_too_large"},
			{name: "30k-deep array nesting under 64 KiB", body: deep(30_000, "[", "]"), want: 400, code: "invalid_request"},
			{name: "8k-deep object nesting", body: deep(8_000, `{"a":`, "}"), want: 400, code: "invalid_request"},
			{name: "deep nesting in an unknown field", body: []byte(`{"x":` + strings.Repeat("[", 30_000) + `}`), want: 400, code: "invalid_request"},
			{name: "top-level array", body: []byte(`[` + string(validBody()) + `]`), want: 400, code: "invalid_request"},
			{name: "top-level string", body: []byte(`"hello"`), want: 400, code: "invalid_request"},
			{name: "top-level null", body: []byte(`null`), want: 400, code: "invalid_request"},
			{name: "top-level number", body: []byte(`14155552671`), want: 400, code: "invalid_request"},
			{name: "to is a number", body: withField("to", `14155552671`), want: 400, code: "invalid_request"},
			{name: "to is null", body: withField("to", `null`), want: 400, code: "invalid_request"},
			{name: "body is an array", body: withField("body", `["a","b"]`), want: 400, code: "invalid_request"},
			{name: "body is true", body: withField("body", `true`), want: 400, code: "invalid_request"},
			{name: "from is an object", body: withField("from", `{"name":"x"}`), want: 400, code: "invalid_request"},
			{name: "huge number", body: withField("to", "1"+strings.Repeat("0", 5000)), want: 400, code: "invalid_request"},
			{name: "unknown field", body: []byte(`{"to":"` + recipient + `","body":"hi","cc":"+14155550100"}`), want: 400, code: "invalid_request"},
			{name: "field name in another case", body: []byte(`{"To":"` + recipient + `","body":"hi"}`), want: 400, code: "invalid_request"},
			{name: "duplicate field", body: []byte(`{"to":"` + recipient + `","to":"+14155550100","body":"hi"}`), want: 400, code: "invalid_request"},
			{name: "missing to", body: []byte(`{"body":"hi"}`), want: 400, code: "invalid_to"},
			{name: "missing body", body: []byte(`{"to":"` + recipient + `"}`), want: 400, code: "invalid_body"},
			{name: "empty body field", body: withField("body", `""`), want: 400, code: "invalid_body"},
			{name: "1601 characters", body: withField("body", `"`+strings.Repeat("é", 1601)+`"`), want: 400, code: "invalid_body"},
		}
		runCases(t, s.hsURL, good, cases)
	})

	t.Run("characters", func(t *testing.T) {
		cases := []abuseCase{
			{name: "NUL in to", body: withField("to", `"+1415555\u00002671"`), want: 400, code: "invalid_to"},
			{name: "control character in to", body: withField("to", `"+14155552671\u0007"`), want: 400, code: "invalid_to"},
			{name: "NUL in from", body: withField("from", `"Flux\u0000Kit"`), want: 400, code: "invalid_from"},
			{name: "escape character in from", body: withField("from", `"\u001b[31mRed"`), want: 400, code: "invalid_from"},
			{name: "raw control byte inside a string", body: withField("body", "\"a\x01b\""), want: 400, code: "invalid_request"},
			{name: "raw NUL byte inside a string", body: withField("to", "\"+1415555\x002671\""), want: 400, code: "invalid_request"},
			// sms.ValidateBody accepts every character, control ones
			// included (the API forbids none; they force UCS-2).
			{name: "NUL and control characters in body are accepted", body: withField("body", `"Your `+abuseMarker+` \u0000\u0001\u001f\u007f is 5"`), want: 200},
			{name: "invalid UTF-8 in body", body: withField("body", "\"Your "+abuseMarker+" \xff\xfe\""), want: 400, code: "invalid_body"},
			{name: "overlong UTF-8 encoding in body", body: withField("body", "\"\xc0\xaf\""), want: 400, code: "invalid_body"},
			{name: "UTF-16 surrogate encoded as UTF-8", body: withField("body", "\"\xed\xa0\x80\""), want: 400, code: "invalid_body"},
			{name: "invalid UTF-8 in to", body: withField("to", "\"+1415\xff5552671\""), want: 400, code: "invalid_to"},
			{name: "invalid UTF-8 in from", body: withField("from", "\"Flux\xffKit\""), want: 400, code: "invalid_from"},
			{name: "invalid UTF-8 in a field name", body: []byte("{\"t\xffo\":\"x\",\"body\":\"hi\"}"), want: 400, code: "invalid_request"},
			{name: "lone high surrogate in body", body: withField("body", `"abc\ud800"`), want: 400, code: "invalid_body"},
			{name: "lone low surrogate in body", body: withField("body", `"\udc00abc"`), want: 400, code: "invalid_body"},
			{name: "reversed surrogate pair in body", body: withField("body", `"\ude00\ud83d"`), want: 400, code: "invalid_body"},
			{name: "lone surrogate in from", body: withField("from", `"\ud800"`), want: 400, code: "invalid_from"},
			{name: "lone surrogate in to", body: withField("to", `"+1415555267\udfff"`), want: 400, code: "invalid_to"},
			{name: "byte order mark before the object", body: append([]byte("\xef\xbb\xbf"), validBody()...), want: 400, code: "invalid_request"},
		}
		runCases(t, s.hsURL, good, cases)
	})

	t.Run("sender", func(t *testing.T) {
		cases := []abuseCase{
			{name: "allowed sender", body: withField("from", `"`+allowedSender+`"`), want: 200},
			{name: "number not in SMS_ALLOWED_SENDERS", body: withField("from", `"+15005550007"`), want: 403, code: "sender_not_allowed"},
			{name: "sender ID not in SMS_ALLOWED_SENDERS", body: withField("from", `"FluxKit"`), want: 403, code: "sender_not_allowed"},
			{name: "a bank's name as sender", body: withField("from", `"MyBank"`), want: 403, code: "sender_not_allowed"},
			{name: "CRLF header injection", body: withField("from", `"FluxKit\r\nBcc: +14155550100"`), want: 400, code: "invalid_from"},
			{name: "CRLF after the allowed sender", body: withField("from", `"`+allowedSender+`\r\n"`), want: 400, code: "invalid_from"},
			{name: "LF only", body: withField("from", `"`+allowedSender+`\nX-Injected: 1"`), want: 400, code: "invalid_from"},
			{name: "percent-encoded CRLF", body: withField("from", `"FluxKit%0d%0a"`), want: 400, code: "invalid_from"},
			{name: "Cyrillic homoglyph in a sender ID", body: withField("from", `"FluxK\u0456t"`), want: 400, code: "invalid_from"},
			{name: "fullwidth digits", body: withField("from", `"\uff0b\uff11\uff15\uff10\uff10\uff15\uff15\uff15\uff10\uff10\uff10\uff16"`), want: 400, code: "invalid_from"},
			{name: "Arabic-Indic digits", body: withField("from", `"+\u0661\u0665\u0660\u0660\u0665\u0665\u0665\u0660\u0660\u0660\u0666"`), want: 400, code: "invalid_from"},
			{name: "zero-width space in the allowed sender", body: withField("from", `"+1500555\u200b0006"`), want: 400, code: "invalid_from"},
			{name: "empty from", body: withField("from", `""`), want: 400, code: "invalid_from"},
			{name: "12-character sender ID", body: withField("from", `"FluxKitShops"`), want: 400, code: "invalid_from"},
			{name: "to with a national prefix", body: withField("to", `"+4402079460000"`), want: 400, code: "invalid_to"},
		}
		runCases(t, s.hsURL, good, cases)
	})

	t.Run("headers", func(t *testing.T) {
		cases := []abuseCase{
			{name: "60 KB Authorization", hdr: []string{"Authorization", "Bearer " + huge}, want: 401, code: "unauthorized"},
			{name: "60 KB Idempotency-Key", hdr: []string{"Idempotency-Key", huge}, want: 400, code: "invalid_request"},
			{name: "60 KB Content-Type", hdr: []string{"Content-Type", "application/" + huge}, want: 415, code: "unsupported_media_type"},
			{name: "60 KB unrelated header is ignored", hdr: []string{"X-Padding", huge}, want: 200},
			{name: "Idempotency-Key of 256 characters", hdr: []string{"Idempotency-Key", strings.Repeat("k", 256)}, want: 400, code: "invalid_request"},
			{name: "Idempotency-Key with a tab", hdr: []string{"Idempotency-Key", "order\t1"}, want: 400, code: "invalid_request"},
			{name: "Idempotency-Key with non-ASCII", hdr: []string{"Idempotency-Key", "заказ-1"}, want: 400, code: "invalid_request"},
			{name: "text/plain", hdr: []string{"Content-Type", "text/plain"}, want: 415, code: "unsupported_media_type"},
			{name: "no Content-Type", hdr: []string{"Content-Type", omit}, want: 415, code: "unsupported_media_type"},
			{name: "form encoded", hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, body: []byte("to=%2B14155552671&body=hi"), want: 415, code: "unsupported_media_type"},
			{name: "multipart", hdr: []string{"Content-Type", "multipart/form-data; boundary=x"}, want: 415, code: "unsupported_media_type"},
			{name: "application/jsonp", hdr: []string{"Content-Type", "application/jsonp"}, want: 415, code: "unsupported_media_type"},
			{name: "malformed media type", hdr: []string{"Content-Type", "application/json;;;=="}, want: 415, code: "unsupported_media_type"},
			{name: "GET is not routed", method: http.MethodGet, want: 404},
			{name: "PUT is not routed", method: http.MethodPut, want: 404},
			{name: "other path is not routed", path: "/messaging/sms/../admin", want: 404},
		}
		runCases(t, s.hsURL, good, cases)
	})

	t.Run("JWT", func(t *testing.T) {
		parts := strings.Split(good, ".")
		pemKey, _ := x509.MarshalPKIXPublicKey(&kit.key.PublicKey)
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pemKey})
		cases := []struct {
			name, token string
			jwks        bool // against the JWKS deployment
			raw         string
			want        int
			code        string
		}{
			{name: "no Authorization header", raw: omit, want: 401, code: "unauthorized"},
			{name: "empty Bearer", raw: "Bearer ", want: 401, code: "unauthorized"},
			{name: "Bearer alone", raw: "Bearer", want: 401, code: "unauthorized"},
			{name: "Basic scheme", raw: "Basic " + base64.StdEncoding.EncodeToString([]byte("abuse-client:"+jwtSecret)), want: 401, code: "unauthorized"},
			{name: "two tokens", raw: "Bearer " + good + " " + good, want: 401, code: "unauthorized"},
			{name: "token without scheme", raw: good, want: 401, code: "unauthorized"},
			{name: "lowercase bearer is accepted", raw: "bearer " + good, want: 200},
			{name: "alg none", token: raw(map[string]any{"alg": "none", "typ": "JWT"}, claims(), ""), want: 401, code: "unauthorized"},
			{name: "alg None", token: raw(map[string]any{"alg": "None"}, claims(), ""), want: 401, code: "unauthorized"},
			{name: "alg NONE keeping the signature", token: raw(map[string]any{"alg": "NONE"}, claims(), parts[2]), want: 401, code: "unauthorized"},
			{name: "signature stripped", token: parts[0] + "." + parts[1] + ".", want: 401, code: "unauthorized"},
			{name: "wrong secret", token: kit.sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123456789"), claims()), want: 401, code: "unauthorized"},
			{name: "provider auth token as the HMAC key", token: kit.sign(jwt.SigningMethodHS256, []byte("9f8e7d6c5b4a39281706f5e4d3c2b1a0"), claims()), want: 401, code: "unauthorized"},
			{name: "HS512 with the right secret", token: kit.sign(jwt.SigningMethodHS512, []byte(jwtSecret), claims()), want: 401, code: "unauthorized"},
			{name: "HS384 with the right secret", token: kit.sign(jwt.SigningMethodHS384, []byte(jwtSecret), claims()), want: 401, code: "unauthorized"},
			{name: "RS256 where HS256 is configured", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims()), want: 401, code: "unauthorized"},
			{name: "expired", token: kit.hs("exp", time.Now().Add(-2*time.Minute).Unix()), want: 401, code: "unauthorized"},
			{name: "nbf in the future", token: kit.hs("nbf", time.Now().Add(5*time.Minute).Unix()), want: 401, code: "unauthorized"},
			{name: "iat in the future", token: kit.hs("iat", time.Now().Add(5*time.Minute).Unix()), want: 401, code: "unauthorized"},
			{name: "missing exp", token: kit.hs("exp", nil), want: 401, code: "unauthorized"},
			{name: "exp in the past as a string", token: kit.hs("exp", "1000000000"), want: 401, code: "unauthorized"},
			{name: "exp not a number", token: kit.hs("exp", "tomorrow"), want: 401, code: "unauthorized"},
			{name: "exp as an object", token: kit.hs("exp", map[string]any{"$gt": 0}), want: 401, code: "unauthorized"},
			{name: "wrong audience", token: kit.hs("aud", "other-api"), want: 401, code: "unauthorized"},
			{name: "missing audience", token: kit.hs("aud", nil), want: 401, code: "unauthorized"},
			{name: "wrong issuer", token: kit.hs("iss", "https://evil.example"), want: 401, code: "unauthorized"},
			{name: "missing subject", token: kit.hs("sub", nil), want: 401, code: "unauthorized"},
			{name: "blank subject", token: kit.hs("sub", "   "), want: 401, code: "unauthorized"},
			{name: "subject of 300 characters", token: kit.hs("sub", strings.Repeat("s", 300)), want: 401, code: "unauthorized"},
			{name: "oversize token", token: kit.hs("pad", strings.Repeat("x", 9000)), want: 401, code: "unauthorized"},
			{name: "garbage", token: "not.a.token", want: 401, code: "unauthorized"},
			{name: "random base64", token: base64.RawURLEncoding.EncodeToString([]byte(huge[:300])), want: 401, code: "unauthorized"},
			{name: "payload is not JSON", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + parts[2], want: 401, code: "unauthorized"},
			{name: "tampered payload", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999,"scope":"sms:send","iss":"`+abuseIssuer+`","aud":"`+abuseAudience+`"}`)) + "." + parts[2], want: 401, code: "unauthorized"},
			{name: "critical header", token: kit.sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(), "crit", []string{"exp"}), want: 401, code: "unauthorized"},
			{name: "lacks the required scope", token: kit.hs("scope", "sms:read"), want: 403, code: "forbidden"},
			{name: "valid RS256 from the JWKS", token: kit.rs(), jwks: true, want: 200},
			{name: "JWKS: HS256 signed with the public key PEM", token: kit.sign(jwt.SigningMethodHS256, pubPEM, claims(), "kid", kid), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: HS256 signed with the modulus", token: kit.sign(jwt.SigningMethodHS256, kit.key.N.Bytes(), claims(), "kid", kid), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: HS256 signed with the JWKS secret", token: kit.sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(), "kid", kid), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: alg none", token: raw(map[string]any{"alg": "none", "kid": kid}, claims(), ""), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: attacker key under the known kid", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims(), "kid", kid), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: attacker key embedded as jwk", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims(), "kid", "attacker", "jwk", jwk(&kit.attacker.PublicKey, "attacker")), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: jku pointing to the attacker's keys", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims(), "kid", "attacker", "jku", s.attackerJWKS(t, &kit.attacker.PublicKey)), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: x5u pointing to the attacker", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims(), "kid", "attacker", "x5u", s.attackerJWKS(t, &kit.attacker.PublicKey)), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: kid path traversal", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims(), "kid", "../../../../dev/null"), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: no kid, attacker key", token: kit.sign(jwt.SigningMethodRS256, kit.attacker, claims()), jwks: true, want: 401, code: "unauthorized"},
			// Without a kid the JWKS's only RS256 key applies (auth/jwks.go).
			{name: "JWKS: no kid, the published key", token: kit.sign(jwt.SigningMethodRS256, kit.key, claims()), jwks: true, want: 200},
			{name: "JWKS: kid of the wrong type", token: kit.sign(jwt.SigningMethodRS256, kit.key, claims(), "kid", 7), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: PS256 with the right key", token: kit.sign(jwt.SigningMethodPS256, kit.key, claims(), "kid", kid), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: ES256 with an unknown key", token: kit.sign(jwt.SigningMethodES256, kit.ec, claims(), "kid", kid), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: expired RS256", token: kit.rs("exp", time.Now().Add(-2*time.Minute).Unix()), jwks: true, want: 401, code: "unauthorized"},
			{name: "JWKS: wrong audience", token: kit.rs("aud", "other-api"), jwks: true, want: 401, code: "unauthorized"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				base := s.hsURL
				if tc.jwks {
					base = s.jwksURL
				}
				auth := tc.raw
				if auth == "" {
					auth = "Bearer " + tc.token
				}
				c := abuseCase{name: tc.name, hdr: []string{"Authorization", auth}, want: tc.want, code: tc.code}
				status, hdr, body := do(t, base, "", c)
				checkAnswer(t, c, status, hdr, body)
				if status == http.StatusForbidden && hdr.Get("WWW-Authenticate") == "" {
					t.Error("403 for a missing scope without WWW-Authenticate")
				}
			})
		}
		if got := s.attackerJWKSHits.Load(); got != 0 {
			t.Errorf("the attacker's key URL was fetched %d times, want 0", got)
		}
	})

	t.Run("events HTTP cannot carry", func(t *testing.T) {
		// Header values with control characters cannot cross an HTTP/1.1
		// connection, but the function must not trust its caller for
		// that: it gets them straight as API Gateway events.
		cases := []struct {
			name  string
			key   string
			value string
			code  string
			want  int
		}{
			{"NUL in Idempotency-Key", "idempotency-key", "order\x001", "invalid_request", 400},
			{"CR LF in Idempotency-Key", "idempotency-key", "order\r\nX-Injected: 1", "invalid_request", 400},
			{"DEL in Idempotency-Key", "idempotency-key", "order\x7f", "invalid_request", 400},
			{"empty Idempotency-Key", "idempotency-key", "", "invalid_request", 400},
			{"NUL in the token", "authorization", "Bearer " + good[:20] + "\x00" + good[20:], "unauthorized", 401},
			{"CR LF in Content-Type", "content-type", "application/json\r\nX-Injected: 1", "unsupported_media_type", 415},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ev := events.APIGatewayV2HTTPRequest{
					Version: "2.0", RouteKey: "POST " + sendPath, RawPath: sendPath,
					Headers: map[string]string{"authorization": "Bearer " + good, "content-type": "application/json", tc.key: tc.value},
					Body:    string(validBody()),
				}
				ev.RequestContext.HTTP.Method = http.MethodPost
				ev.RequestContext.HTTP.Path = sendPath
				in, _ := json.Marshal(ev)
				out, err := s.hsFn.Invoke(context.Background(), in)
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("answer %s: %v", out, err)
				}
				h := http.Header{}
				for k, v := range resp.Headers {
					h.Set(k, v)
				}
				checkAnswer(t, abuseCase{name: tc.name, want: tc.want, code: tc.code}, resp.StatusCode, h, []byte(resp.Body))
			})
		}
	})

	// Only the requests the contract accepts reached the provider.
	if got, want := len(s.hs.twilio.Accepted())+len(s.jwks.twilio.Accepted()), int(sent.Load()); got != want || want == 0 {
		t.Errorf("provider accepted %d messages, want %d (the 200 answers)", got, want)
	}
	if f := s.failures.Load(); f != 0 {
		t.Errorf("function errors or panics behind the gateway: %d, want 0", f)
	}

	t.Run("log audit", func(t *testing.T) {
		secrets := []chaos.Secret{
			{Name: "message body", Value: abuseMarker},
			{Name: "bearer token", Value: good},
			{Name: "oversized header value", Value: huge[:64]},
		}
		s.hs.auditLogs(t, secrets...)
		s.jwks.auditLogs(t, secrets...)
	})
}

// runCases sends each case to base as a subtest and checks its answer.
func runCases(t *testing.T, base, token string, cases []abuseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := do(t, base, token, c)
			checkAnswer(t, c, status, hdr, body)
		})
	}
}
