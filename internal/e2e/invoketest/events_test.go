package invoketest

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/testing/rie"
	"github.com/fluxkit/sms/internal/twilio"
)

// update rewrites the derived values of the event files: the bearer
// tokens, the content-length headers, the SQS MD5 digests and the Twilio
// signatures.
//
//	go test ./internal/e2e/invoketest -run TestEventFiles -update
var update = flag.Bool("update", false, "rewrite the tokens, content lengths, MD5 digests and Twilio signatures of events/")

// The claims of the events' tokens. exp is 2100-01-01T00:00:00Z: the
// tokens are only ever checked against the test-only secret, so a long
// life costs nothing and keeps the files stable.
const (
	tokenSubject  = "events-test"
	tokenIssuedAt = 1735689600 // 2025-01-01T00:00:00Z
	tokenExpires  = 4102444800 // 2100-01-01T00:00:00Z
)

// testSecret is events/secret.json.
type testSecret struct {
	AccountSID    string `json:"accountSid"`
	AuthToken     string `json:"authToken"`
	JWTSecret     string `json:"jwtSecret"`
	ReceiptsToken string `json:"receiptsToken"`
}

func eventsDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(rie.ModuleRoot(tb), "events")
}

// launchEvents launches the stack of the env file in dir (events/) with
// the events' secret; it is closed with tb.
func launchEvents(tb testing.TB, dir string) *Stack {
	tb.Helper()
	file, err := ReadEnvFile(filepath.Join(dir, "env.json"))
	if err != nil {
		tb.Fatal(err)
	}
	_, secretJSON := readSecret(tb)
	st, err := Launch(context.Background(), file, secretJSON)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st
}

func readSecret(tb testing.TB) (testSecret, []byte) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir(tb), "secret.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var s testSecret
	if err := json.Unmarshal(b, &s); err != nil {
		tb.Fatalf("events/secret.json: %v", err)
	}
	return s, b
}

// eventToken is the token every authorized sample event carries. HS256
// is deterministic, so it is the same on every run.
func eventToken(tb testing.TB, secret string) string {
	tb.Helper()
	tok, err := auth.Sign([]byte(secret), map[string]any{"sub": tokenSubject, "iat": tokenIssuedAt, "exp": tokenExpires})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestSecretFile(t *testing.T) {
	s, _ := readSecret(t)
	readme, err := os.ReadFile(filepath.Join(eventsDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want string
	}{
		{"accountSid is the Twilio fake's", s.AccountSID, providertest.TwilioAccountSID},
		{"authToken is the Twilio fake's", s.AuthToken, providertest.TwilioAuthToken},
		{"jwtSecret is documented in events/README.md", strconv.FormatBool(strings.Contains(string(readme), s.JWTSecret)), "true"},
		{"jwtSecret says it is for tests", strconv.FormatBool(strings.Contains(s.JWTSecret, "test")), "true"},
		{"jwtSecret is long enough", strconv.FormatBool(len(s.JWTSecret) >= auth.MinSecretSize), "true"},
		{"receiptsToken is documented in events/README.md", strconv.FormatBool(strings.Contains(string(readme), s.ReceiptsToken)), "true"},
		{"receiptsToken says it is for tests", strconv.FormatBool(strings.Contains(s.ReceiptsToken, "test")), "true"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestEventFiles checks that the sample events look like what API Gateway,
// SQS and the table's stream send, that their derived values (token, content-length, MD5
// digests) are right, and that every token verifies with the test-only
// secret. With -update it first rewrites the derived values.
func TestEventFiles(t *testing.T) {
	secret, _ := readSecret(t)
	token := eventToken(t, secret.JWTSecret)
	d := derivation{token: token, authToken: secret.AuthToken, publicURL: receiptsPublicURL(t)}
	evs, err := Discover(eventsDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("no events found in events/")
	}
	sqsIDs := map[string]string{}
	for _, ev := range evs {
		t.Run(filepath.Base(ev.Path), func(t *testing.T) {
			raw, err := os.ReadFile(ev.Path)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				fixed, err := fixDerived(raw, ev.Function, d)
				if err != nil {
					t.Fatal(err)
				}
				if string(fixed) != string(raw) {
					if err := os.WriteFile(ev.Path, fixed, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("rewrote %s", ev.Path)
					raw = fixed
				}
			}
			if _, err := ReadExpected(ev.Expected, ev.Function); err != nil {
				t.Error(err)
			}
			switch ev.Function {
			case Send:
				checkSendEvent(t, raw, token, secret.JWTSecret)
				if strings.Contains(ev.Path, "body-too-long") {
					if got, want := sendBodyLen(t, raw), 1601; got != want {
						t.Errorf("body length = %d characters, want %d", got, want)
					}
				}
			case Drain:
				for _, id := range checkSQSEvent(t, raw) {
					if prev, dup := sqsIDs[id]; dup {
						t.Errorf("messageId %s is used in %s too, want unique ids", id, prev)
					}
					sqsIDs[id] = ev.Path
				}
			case Receipts:
				checkReceiptEvent(t, raw, filepath.Base(ev.Path), d, secret.ReceiptsToken)
			case Publisher:
				checkStreamEvent(t, raw)
			}
		})
	}
}

// derivation is what the derived values of the events are made with.
type derivation struct {
	// token is the send events' bearer token.
	token string
	// authToken signs the Twilio receipts over publicURL, the receipts
	// function's SMS_PUBLIC_URL in events/env.json.
	authToken, publicURL string
}

// receiptsPublicURL is the receipts function's SMS_PUBLIC_URL in
// events/env.json.
func receiptsPublicURL(tb testing.TB) string {
	tb.Helper()
	file, err := ReadEnvFile(filepath.Join(eventsDir(tb), "env.json"))
	if err != nil {
		tb.Fatal(err)
	}
	vars, err := file.Vars(Receipts.Logical)
	if err != nil {
		tb.Fatal(err)
	}
	if vars["SMS_PUBLIC_URL"] == "" {
		tb.Fatalf("events/env.json: %s has no SMS_PUBLIC_URL", Receipts.Logical)
	}
	return vars["SMS_PUBLIC_URL"]
}

// fixDerived rewrites the token, content-length, MD5 and signature values
// of an event file, keeping its layout. A Twilio receipt whose name says
// it is forged keeps its signature.
func fixDerived(raw []byte, f Function, d derivation) ([]byte, error) {
	text := string(raw)
	switch f {
	case Receipts:
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		body, err := receiptBody(ev)
		if err != nil {
			return nil, err
		}
		if _, ok := ev.Headers["content-length"]; ok {
			text = contentLengthRE.ReplaceAllString(text, `${1}"`+strconv.Itoa(len(body))+`"`)
		}
		if sig, ok := ev.Headers["x-twilio-signature"]; ok && !strings.Contains(sig, "AAAAAAAA") {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, err
			}
			want := twilio.Signature(d.authToken, twilioSignedURL(d.publicURL, ev), form)
			text = twilioSigRE.ReplaceAllString(text, `${1}"`+want+`"`)
		}
	case Send:
		text = bearerRE.ReplaceAllString(text, "Bearer "+d.token)
		var body struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal([]byte(text), &body); err != nil {
			return nil, err
		}
		text = contentLengthRE.ReplaceAllString(text, `${1}"`+strconv.Itoa(len(body.Body))+`"`)
	case Drain:
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		var bodies, attrs []string
		for _, r := range ev.Records {
			bodies = append(bodies, md5Hex([]byte(r.Body)))
			if len(r.MessageAttributes) > 0 {
				attrs = append(attrs, md5OfAttributes(r.MessageAttributes))
			}
		}
		var err error
		if text, err = replaceNth(text, md5BodyRE, bodies); err != nil {
			return nil, fmt.Errorf("md5OfBody: %w", err)
		}
		if text, err = replaceNth(text, md5AttrsRE, attrs); err != nil {
			return nil, fmt.Errorf("md5OfMessageAttributes: %w", err)
		}
	}
	return []byte(text), nil
}

var (
	bearerRE        = regexp.MustCompile(`Bearer [A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){0,2}`)
	contentLengthRE = regexp.MustCompile(`(?i)("content-length"\s*:\s*(?:\[\s*)?)"[0-9]*"`)
	md5BodyRE       = regexp.MustCompile(`("md5OfBody"\s*:\s*)"[0-9a-f]*"`)
	md5AttrsRE      = regexp.MustCompile(`("md5OfMessageAttributes"\s*:\s*)"[0-9a-f]*"`)
	twilioSigRE     = regexp.MustCompile(`("x-twilio-signature"\s*:\s*)"[A-Za-z0-9+/=]*"`)
)

// receiptBody is the raw body of a receipt event.
func receiptBody(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if !ev.IsBase64Encoded {
		return []byte(ev.Body), nil
	}
	return base64.StdEncoding.DecodeString(ev.Body)
}

// twilioSignedURL is the URL Twilio signed a callback event over: the
// public URL, the route and the event's query (ref).
func twilioSignedURL(publicURL string, ev events.APIGatewayV2HTTPRequest) string {
	u := publicURL + ev.RawPath
	if ev.RawQueryString != "" {
		u += "?" + ev.RawQueryString
	}
	return u
}

// checkReceiptEvent checks a receipt event: an HTTP API event of a receipt
// route, as API Gateway sends it on a custom domain; a Twilio callback is
// a base64 form (as HTTP APIs pass forms) signed over the public URL (a
// forged one is not), a Vonage receipt carries the test-only receipts
// token and a service id as client-ref.
func checkReceiptEvent(t *testing.T, raw []byte, name string, d derivation, receiptsToken string) {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	rc := ev.RequestContext
	method, path, _ := strings.Cut(ev.RouteKey, " ")
	for _, c := range []struct{ name, got, want string }{
		{"version", ev.Version, "2.0"},
		{"rawPath", ev.RawPath, path},
		{"requestContext.routeKey", rc.RouteKey, ev.RouteKey},
		{"requestContext.http.method", rc.HTTP.Method, method},
		{"requestContext.http.path", rc.HTTP.Path, path},
		{"requestContext.stage", rc.Stage, "$default"},
		{"headers.host", ev.Headers["host"], rc.DomainName},
		{"requestContext.domainName is SMS_PUBLIC_URL's host", "https://" + rc.DomainName, d.publicURL},
		{"headers.user-agent", ev.Headers["user-agent"], rc.HTTP.UserAgent},
		{"headers.x-forwarded-for", ev.Headers["x-forwarded-for"], rc.HTTP.SourceIP},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !slices.Contains([]string{"POST /messaging/sms/receipts/twilio", "GET /messaging/sms/receipts/vonage", "POST /messaging/sms/receipts/vonage"}, ev.RouteKey) {
		t.Errorf("routeKey = %q, want a receipt route", ev.RouteKey)
	}
	checkRequestTime(t, rc.Time, rc.TimeEpoch)
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		t.Fatalf("rawQueryString: %v", err)
	}
	for k, v := range ev.QueryStringParameters {
		if q.Get(k) != v {
			t.Errorf("queryStringParameters[%s] = %q, want %q (rawQueryString)", k, v, q.Get(k))
		}
	}
	body, err := receiptBody(ev)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	if cl, ok := ev.Headers["content-length"]; ok && cl != strconv.Itoa(len(body)) {
		t.Errorf("content-length = %q, want %d (run with -update)", cl, len(body))
	}
	switch path {
	case "/messaging/sms/receipts/twilio":
		if !ev.IsBase64Encoded || ev.Headers["content-type"] != "application/x-www-form-urlencoded" {
			t.Errorf("a Twilio callback is a form, which HTTP APIs pass base64-encoded")
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("body is not a form: %v", err)
		}
		if !sms.IsServiceIDShaped(q.Get("ref")) {
			t.Errorf("ref = %q, want a service id", q.Get("ref"))
		}
		valid := twilio.CheckSignature(d.authToken, twilioSignedURL(d.publicURL, ev), form, ev.Headers["x-twilio-signature"])
		if forged := strings.Contains(name, "forged"); valid == forged {
			t.Errorf("signature valid = %v, want %v (run with -update)", valid, !forged)
		}
	case "/messaging/sms/receipts/vonage":
		params := q
		if method == "POST" {
			obj := map[string]string{}
			if err := json.Unmarshal(body, &obj); err != nil {
				t.Fatalf("a Vonage POST receipt here is JSON: %v", err)
			}
			params = url.Values{}
			for k, v := range obj {
				params.Set(k, v)
			}
		}
		if got := q.Get("token"); got != receiptsToken {
			t.Errorf("token = %q, want the test-only receiptsToken of events/secret.json", got)
		}
		if !sms.IsServiceIDShaped(params.Get("client-ref")) {
			t.Errorf("client-ref = %q, want a service id", params.Get("client-ref"))
		}
	}
}

// replaceNth sets the i-th match of re (a key and its string value) to
// values[i]; the number of matches must be len(values).
func replaceNth(text string, re *regexp.Regexp, values []string) (string, error) {
	matches := re.FindAllStringSubmatchIndex(text, -1)
	if len(matches) != len(values) {
		return "", fmt.Errorf("%d values in the file, want %d", len(matches), len(values))
	}
	var b strings.Builder
	last := 0
	for i, m := range matches {
		b.WriteString(text[last:m[3]])
		b.WriteString(`"` + values[i] + `"`)
		last = m[1]
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is SQS's MD5 of message attributes: for each attribute
// in name order, the name, the data type, a transport byte (1 string,
// 2 binary) and the value, each length-prefixed (4 bytes, big endian).
func md5OfAttributes(attrs map[string]events.SQSMessageAttribute) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	field := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, n := range names {
		a := attrs[n]
		field([]byte(n))
		field([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			h.Write([]byte{2})
			field(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			field([]byte(*a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The routes of the send function: POST routePath, and GET and DELETE of
// a message (messageRoute, with the path parameter messageId).
const (
	routeKey     = "POST /messaging/sms"
	routePath    = "/messaging/sms"
	messageRoute = routePath + "/{messageId}"
)

// sendRoute is what an event of the send function must say about its
// route: the route key and resource, the method and the path.
func sendRoute(t *testing.T, method string, params map[string]string) (key, resource, path string) {
	t.Helper()
	if method != http.MethodGet && method != http.MethodDelete {
		return routeKey, routePath, routePath
	}
	id := params["messageId"]
	if id == "" {
		t.Errorf("a %s event needs the path parameter messageId", method)
	}
	return method + " " + messageRoute, messageRoute, routePath + "/" + url.PathEscape(id)
}

func checkSendEvent(t *testing.T, raw []byte, token, secret string) {
	t.Helper()
	var probe struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		t.Fatalf("event is not JSON: %v", err)
	}
	var headers map[string]string
	var body, method string
	if probe.Version == "2.0" {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		rc := ev.RequestContext
		key, _, path := sendRoute(t, rc.HTTP.Method, ev.PathParameters)
		method = rc.HTTP.Method
		for _, c := range []struct{ name, got, want string }{
			{"routeKey", ev.RouteKey, key},
			{"rawPath", ev.RawPath, path},
			{"requestContext.routeKey", rc.RouteKey, key},
			{"requestContext.stage", rc.Stage, "$default"},
			{"requestContext.http.method", rc.HTTP.Method, strings.SplitN(key, " ", 2)[0]},
			{"requestContext.http.path", rc.HTTP.Path, path},
			{"requestContext.http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
			{"requestContext.domainName", rc.DomainName, rc.APIID + ".execute-api.us-east-1.amazonaws.com"},
			{"requestContext.domainPrefix", rc.DomainPrefix, rc.APIID},
			{"headers.host", ev.Headers["host"], rc.DomainName},
			{"headers.user-agent", ev.Headers["user-agent"], rc.HTTP.UserAgent},
			{"headers.x-forwarded-for", ev.Headers["x-forwarded-for"], rc.HTTP.SourceIP},
			{"requestContext.accountId set", strconv.FormatBool(rc.AccountID != ""), "true"},
			{"requestContext.requestId set", strconv.FormatBool(rc.RequestID != ""), "true"},
		} {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
			}
		}
		checkRequestTime(t, rc.Time, rc.TimeEpoch)
		for k := range ev.Headers {
			if k != strings.ToLower(k) {
				t.Errorf("header %q: HTTP API sends header names in lower case", k)
			}
		}
		headers, body = ev.Headers, ev.Body
	} else {
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		rc := ev.RequestContext
		key, resource, path := sendRoute(t, ev.HTTPMethod, ev.PathParameters)
		method = ev.HTTPMethod
		for _, c := range []struct{ name, got, want string }{
			{"resource", ev.Resource, resource},
			{"path", ev.Path, path},
			{"httpMethod", ev.HTTPMethod, strings.SplitN(key, " ", 2)[0]},
			{"requestContext.resourcePath", rc.ResourcePath, resource},
			{"requestContext.httpMethod", rc.HTTPMethod, strings.SplitN(key, " ", 2)[0]},
			{"requestContext.path", rc.Path, "/" + rc.Stage + path},
			{"requestContext.domainName", rc.DomainName, rc.APIID + ".execute-api.us-east-1.amazonaws.com"},
			{"headers.Host", ev.Headers["Host"], rc.DomainName},
			{"headers.User-Agent", ev.Headers["User-Agent"], rc.Identity.UserAgent},
			{"headers.X-Forwarded-For", ev.Headers["X-Forwarded-For"], rc.Identity.SourceIP},
			{"requestContext.accountId set", strconv.FormatBool(rc.AccountID != ""), "true"},
			{"requestContext.requestId set", strconv.FormatBool(rc.RequestID != ""), "true"},
		} {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
			}
		}
		var rt struct {
			RequestContext struct {
				RequestTime string `json:"requestTime"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(raw, &rt); err != nil {
			t.Fatal(err)
		}
		checkRequestTime(t, rt.RequestContext.RequestTime, rc.RequestTimeEpoch)
		if got, want := len(ev.MultiValueHeaders), len(ev.Headers); got != want {
			t.Errorf("multiValueHeaders has %d names, want %d (one per header)", got, want)
		}
		for k, v := range ev.Headers {
			if got := ev.MultiValueHeaders[k]; len(got) != 1 || got[0] != v {
				t.Errorf("multiValueHeaders[%q] = %q, want [%q]", k, got, v)
			}
		}
		headers, body = ev.Headers, ev.Body
	}

	h := map[string]string{}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	switch method {
	case http.MethodGet, http.MethodDelete:
		// A GET or DELETE carries no body, and so no content headers.
		if body != "" || h["content-length"] != "" || h["content-type"] != "" {
			t.Errorf("%s with body %q, content-length %q, content-type %q: want none", method, body, h["content-length"], h["content-type"])
		}
	default:
		if got, want := h["content-length"], strconv.Itoa(len(body)); got != want {
			t.Errorf("content-length = %q, want %q (run with -update)", got, want)
		}
		if got, want := h["content-type"], "application/json"; got != want {
			t.Errorf("content-type = %q, want %q", got, want)
		}
		if !json.Valid([]byte(body)) {
			t.Errorf("body %q is not JSON", body)
		}
	}
	authz, ok := h["authorization"]
	if !ok {
		return
	}
	if got, want := authz, "Bearer "+token; got != want {
		t.Errorf("authorization = %q, want %q (run with -update)", got, want)
	}
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), authz)
	if err != nil {
		t.Fatalf("token does not verify with the test-only secret: %v", err)
	}
	if got, want := claims.Subject, tokenSubject; got != want {
		t.Errorf("token sub = %q, want %q", got, want)
	}
	if got, want := claims.ExpiresAt, time.Unix(tokenExpires, 0); !got.Equal(want) {
		t.Errorf("token exp = %v, want %v", got, want)
	}
}

// checkRequestTime checks API Gateway's CLF request time against the
// epoch milliseconds beside it.
func checkRequestTime(t *testing.T, clf string, epochMillis int64) {
	t.Helper()
	at, err := time.Parse("02/Jan/2006:15:04:05 -0700", clf)
	if err != nil {
		t.Errorf("request time %q: %v", clf, err)
		return
	}
	if got, want := at.Unix(), epochMillis/1000; got != want {
		t.Errorf("request time %q is epoch %d, want %d (the epoch field)", clf, got, want)
	}
}

func sendBodyLen(t *testing.T, raw []byte) int {
	t.Helper()
	var ev struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var req struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal([]byte(ev.Body), &req); err != nil {
		t.Fatal(err)
	}
	return utf8.RuneCountInString(req.Body)
}

var (
	uuidV4RE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	sqsARNRE    = regexp.MustCompile(`^arn:aws:sqs:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]+$`)
	senderIDRE  = regexp.MustCompile(`^A[A-Z0-9]{20}(:[A-Za-z0-9_.@-]+)?$`)
	timestampRE = regexp.MustCompile(`^[0-9]{13}$`)
)

// checkSQSEvent checks an SQS event's records and returns their message
// ids.
func checkSQSEvent(t *testing.T, raw []byte) []string {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	var ids []string
	for i, r := range ev.Records {
		ids = append(ids, r.MessageId)
		if !uuidV4RE.MatchString(r.MessageId) {
			t.Errorf("record %d: messageId %q is not a UUID", i, r.MessageId)
		}
		if !strings.HasPrefix(r.ReceiptHandle, "AQEB") {
			t.Errorf("record %d: receiptHandle %.10q… does not look like SQS's", i, r.ReceiptHandle)
		}
		if got, want := r.Md5OfBody, md5Hex([]byte(r.Body)); got != want {
			t.Errorf("record %d: md5OfBody = %s, want %s (run with -update)", i, got, want)
		}
		if len(r.MessageAttributes) > 0 {
			if got, want := r.Md5OfMessageAttributes, md5OfAttributes(r.MessageAttributes); got != want {
				t.Errorf("record %d: md5OfMessageAttributes = %s, want %s (run with -update)", i, got, want)
			}
		} else if r.Md5OfMessageAttributes != "" {
			t.Errorf("record %d: md5OfMessageAttributes without messageAttributes", i)
		}
		if got, want := r.EventSource, "aws:sqs"; got != want {
			t.Errorf("record %d: eventSource = %q, want %q", i, got, want)
		}
		m := sqsARNRE.FindStringSubmatch(r.EventSourceARN)
		if m == nil {
			t.Errorf("record %d: eventSourceARN %q is not a queue ARN", i, r.EventSourceARN)
		} else if got, want := r.AWSRegion, m[1]; got != want {
			t.Errorf("record %d: awsRegion = %q, want %q (the queue's)", i, got, want)
		}
		for _, a := range []string{"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} {
			if r.Attributes[a] == "" {
				t.Errorf("record %d: attribute %s missing", i, a)
			}
		}
		sent, first := r.Attributes["SentTimestamp"], r.Attributes["ApproximateFirstReceiveTimestamp"]
		if !timestampRE.MatchString(sent) || !timestampRE.MatchString(first) || first < sent {
			t.Errorf("record %d: SentTimestamp %q, ApproximateFirstReceiveTimestamp %q: want epoch milliseconds, received after sent", i, sent, first)
		}
		if !senderIDRE.MatchString(r.Attributes["SenderId"]) {
			t.Errorf("record %d: SenderId %q is not an IAM unique id", i, r.Attributes["SenderId"])
		}
	}
	return ids
}

// TestFreshSendAt: the scheduled event's sendAt, a placeholder in the
// file, is moved to an hour after the invocation, keeping its width so
// that content-length stays right; events without one are unchanged.
func TestFreshSendAt(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(eventsDir(t), "send", "http-api-v2-scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 7, 4, 10, 15, 30, 0, time.UTC)
	fresh := FreshSendAt(raw, now)
	if len(fresh) != len(raw) {
		t.Errorf("length %d, want %d (unchanged)", len(fresh), len(raw))
	}
	var ev struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(fresh, &ev); err != nil {
		t.Fatal(err)
	}
	var req struct {
		SendAt string `json:"sendAt"`
	}
	if err := json.Unmarshal([]byte(ev.Body), &req); err != nil {
		t.Fatal(err)
	}
	if want := "2031-07-04T11:15:30Z"; req.SendAt != want {
		t.Errorf("sendAt = %q, want %q (an hour after the invocation)", req.SendAt, want)
	}
	valid, err := os.ReadFile(filepath.Join(eventsDir(t), "send", "http-api-v2-valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := FreshSendAt(valid, now); string(got) != string(valid) {
		t.Error("an event without sendAt was changed")
	}
}
