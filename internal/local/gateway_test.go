package local

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// recorder is an Invoker that records the events and contexts it gets and
// answers with a canned response.
type recorder struct {
	mu       sync.Mutex
	events   []events.APIGatewayV2HTTPRequest
	ids      []string
	deadline time.Duration
	answer   string
	err      error
}

func (r *recorder) Invoke(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.ids = append(r.ids, lc.AwsRequestID)
	}
	if d, ok := ctx.Deadline(); ok {
		r.deadline = time.Until(d)
	}
	return json.RawMessage(r.answer), r.err
}

// serve runs one request through a gateway over real HTTP.
func serve(t *testing.T, fn Invoker, req func(url string) *http.Request) (*http.Response, []byte) {
	t.Helper()
	srv := httptest.NewServer(NewGateway(fn, nil, GatewayConfig{}))
	defer srv.Close()
	resp, err := http.DefaultClient.Do(req(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const okAnswer = `{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{}"}`

func TestEventShape(t *testing.T) {
	rec := &recorder{answer: okAnswer}
	serve(t, rec, func(url string) *http.Request {
		r, _ := http.NewRequest("POST", url+RoutePath+"?a=1&a=2&b=x", strings.NewReader(curlBody))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer abc")
		r.Header.Add("X-Multi", "one")
		r.Header.Add("X-Multi", "two")
		r.Header.Add("Cookie", "a=1; b=2")
		r.Header.Set("User-Agent", "curl/8.5.0")
		return r
	})
	if len(rec.events) != 1 {
		t.Fatalf("function invoked %d times, want 1", len(rec.events))
	}
	ev := rec.events[0]
	rc := ev.RequestContext
	for _, c := range []struct{ name, got, want string }{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "POST /messaging/sms"},
		{"requestContext.routeKey", rc.RouteKey, "POST /messaging/sms"},
		{"rawPath", ev.RawPath, "/messaging/sms"},
		{"rawQueryString", ev.RawQueryString, "a=1&a=2&b=x"},
		{"queryStringParameters a", ev.QueryStringParameters["a"], "1,2"},
		{"body", ev.Body, curlBody},
		{"http.method", rc.HTTP.Method, "POST"},
		{"http.path", rc.HTTP.Path, "/messaging/sms"},
		{"http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
		{"http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
		{"http.userAgent", rc.HTTP.UserAgent, "curl/8.5.0"},
		{"stage", rc.Stage, "$default"},
		{"domainName", rc.DomainName, "127.0.0.1"},
		{"header content-type", ev.Headers["content-type"], "application/json"},
		{"header authorization", ev.Headers["authorization"], "Bearer abc"},
		{"header x-multi", ev.Headers["x-multi"], "one,two"},
		{"header user-agent", ev.Headers["user-agent"], "curl/8.5.0"},
		{"header x-forwarded-for", ev.Headers["x-forwarded-for"], "127.0.0.1"},
		{"header x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
		{"header content-length", ev.Headers["content-length"], strconv.Itoa(len(curlBody))},
		{"cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if ev.IsBase64Encoded {
		t.Errorf("isBase64Encoded = true for a JSON body, want false")
	}
	for name := range ev.Headers {
		if name != strings.ToLower(name) {
			t.Errorf("header %q is not lower-cased", name)
		}
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Errorf("cookie header kept, want it moved to cookies")
	}
	if rc.RequestID == "" || ev.Headers["host"] == "" || ev.Headers["x-amzn-trace-id"] == "" || ev.Headers["x-forwarded-port"] == "" {
		t.Errorf("requestId %q, host %q, trace %q, port %q: want all set", rc.RequestID, ev.Headers["host"], ev.Headers["x-amzn-trace-id"], ev.Headers["x-forwarded-port"])
	}
	if d := time.Since(time.UnixMilli(rc.TimeEpoch)); d < 0 || d > time.Minute {
		t.Errorf("timeEpoch is %v away from now", d)
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time); err != nil {
		t.Errorf("time %q is not in API Gateway's format: %v", rc.Time, err)
	}
	if len(rec.ids) != 1 || rec.ids[0] == "" {
		t.Errorf("Lambda context request ids = %q, want one", rec.ids)
	}
	if rec.deadline <= 0 || rec.deadline > SendTimeout {
		t.Errorf("invocation deadline in %v, want within the function timeout %v", rec.deadline, SendTimeout)
	}
}

func TestEventBodyEncoding(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantB64     bool
	}{
		{"json", "application/json; charset=utf-8", `{"a":"é"}`, false},
		{"vendor json", "application/problem+json", `{}`, false},
		{"text", "text/plain", "hello", false},
		{"binary type", "application/octet-stream", "hello", true},
		{"form", "application/x-www-form-urlencoded", "a=b", true},
		{"no type", "", "hello", true},
		{"json type, invalid UTF-8", "application/json", "\xff\xfe", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: okAnswer}
			serve(t, rec, func(url string) *http.Request {
				r, _ := http.NewRequest("POST", url+RoutePath, strings.NewReader(tt.body))
				if tt.contentType != "" {
					r.Header.Set("Content-Type", tt.contentType)
				}
				return r
			})
			ev := rec.events[0]
			if ev.IsBase64Encoded != tt.wantB64 {
				t.Fatalf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.wantB64)
			}
			got := ev.Body
			if ev.IsBase64Encoded {
				b, err := base64.StdEncoding.DecodeString(ev.Body)
				if err != nil {
					t.Fatalf("body is not base64: %v", err)
				}
				got = string(b)
			}
			if got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}
}

func TestResponseTranslation(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		err        error
		wantStatus int
		wantBody   string
		wantHeader map[string]string
		wantCookie string
	}{
		{
			name:       "headers and body",
			answer:     `{"statusCode":429,"headers":{"Retry-After":"1","Content-Type":"application/json"},"body":"{\"error\":{}}"}`,
			wantStatus: 429, wantBody: `{"error":{}}`,
			wantHeader: map[string]string{"Retry-After": "1", "Content-Type": "application/json"},
		},
		{
			name:       "multi-value headers and cookies",
			answer:     `{"statusCode":200,"multiValueHeaders":{"X-A":["1","2"]},"cookies":["s=1; HttpOnly"],"body":"ok"}`,
			wantStatus: 200, wantBody: "ok", wantHeader: map[string]string{"X-A": "1"}, wantCookie: "s=1; HttpOnly",
		},
		{
			name:       "base64 body",
			answer:     `{"statusCode":201,"isBase64Encoded":true,"body":"aGVsbG8="}`,
			wantStatus: 201, wantBody: "hello",
		},
		{
			name:       "no statusCode: the answer is a 200 JSON body",
			answer:     `{"hello":"world"}`,
			wantStatus: 200, wantBody: `{"hello":"world"}`, wantHeader: map[string]string{"Content-Type": "application/json"},
		},
		{
			name:       "function error",
			err:        errors.New("boom"),
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name:       "not JSON",
			answer:     `nope`,
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
		{
			name:       "bad status",
			answer:     `{"statusCode":7}`,
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: tt.answer, err: tt.err}
			resp, body := serve(t, rec, func(url string) *http.Request {
				r, _ := http.NewRequest("POST", url+RoutePath, strings.NewReader("{}"))
				return r
			})
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.wantCookie != "" && resp.Header.Get("Set-Cookie") != tt.wantCookie {
				t.Errorf("Set-Cookie = %q, want %q", resp.Header.Get("Set-Cookie"), tt.wantCookie)
			}
			if resp.Header.Get("Apigw-Requestid") == "" {
				t.Errorf("Apigw-Requestid missing")
			}
		})
	}
}

func TestGatewayRoutesOnlyTheRoute(t *testing.T) {
	tests := []struct {
		method, path string
		wantInvoked  bool
	}{
		{"POST", "/messaging/sms", true},
		{"GET", "/messaging/sms", false},
		{"PUT", "/messaging/sms", false},
		{"POST", "/Messaging/SMS", false},
		{"POST", "/messaging/sms/", false},
		{"POST", "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := &recorder{answer: okAnswer}
			resp, body := serve(t, rec, func(url string) *http.Request {
				r, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader("{}"))
				return r
			})
			if got := len(rec.events) == 1; got != tt.wantInvoked {
				t.Errorf("invoked = %v, want %v", got, tt.wantInvoked)
			}
			if !tt.wantInvoked && (resp.StatusCode != 404 || string(body) != `{"message":"Not Found"}`) {
				t.Errorf("answer = %d %s, want 404 {\"message\":\"Not Found\"}", resp.StatusCode, body)
			}
		})
	}
}

func TestMessageRouteEvent(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantID             string // "" means no route: 404 without an invocation
	}{
		{"service id", "GET", RoutePath + "/3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14", "3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14"},
		{"percent-encoded id", "GET", RoutePath + "/sqs:a%2Fb", "sqs:a/b"},
		{"POST to a message", "POST", RoutePath + "/abc", ""},
		{"two segments", "GET", RoutePath + "/a/b", ""},
		{"no id", "GET", RoutePath + "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: okAnswer}
			resp, _ := serve(t, rec, func(url string) *http.Request {
				r, _ := http.NewRequest(tt.method, url+tt.path, nil)
				return r
			})
			if tt.wantID == "" {
				if resp.StatusCode != http.StatusNotFound || len(rec.events) != 0 {
					t.Errorf("status %d, %d invocations; want 404 and none", resp.StatusCode, len(rec.events))
				}
				return
			}
			if len(rec.events) != 1 {
				t.Fatalf("function invoked %d times, want 1", len(rec.events))
			}
			ev := rec.events[0]
			if ev.RouteKey != MessageRouteKey || ev.RequestContext.RouteKey != MessageRouteKey || ev.PathParameters["messageId"] != tt.wantID {
				t.Errorf("routeKey %q, %q, pathParameters %v; want %q and messageId %q", ev.RouteKey, ev.RequestContext.RouteKey, ev.PathParameters, MessageRouteKey, tt.wantID)
			}
		})
	}
}
