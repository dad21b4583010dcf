package chaos_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/chaos"
)

// recorder is a function that keeps the events it gets and answers with
// answer (or fails with err, or panics).
type recorder struct {
	events []events.APIGatewayV2HTTPRequest
	answer events.APIGatewayV2HTTPResponse
	raw    string // answered instead of answer when set
	err    error
	panics bool
}

func (r *recorder) Invoke(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, err
	}
	r.events = append(r.events, ev)
	switch {
	case r.panics:
		panic("boom")
	case r.err != nil:
		return nil, r.err
	case r.raw != "":
		return json.RawMessage(r.raw), nil
	}
	return json.Marshal(r.answer)
}

func TestGateway(t *testing.T) {
	ok := events.APIGatewayV2HTTPResponse{StatusCode: 202, Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "1"}, Body: `{"status":"queued"}`}
	tests := []struct {
		name       string
		fn         recorder
		method     string
		path       string
		body       []byte
		header     http.Header
		wantStatus int
		wantBody   string
		wantCalls  int
		wantFail   int64
		check      func(t *testing.T, ev events.APIGatewayV2HTTPRequest)
	}{
		{
			name: "event shape", fn: recorder{answer: ok}, method: "POST", path: "/messaging/sms?x=1",
			body:       []byte(`{"to":"+14155552671"}`),
			header:     http.Header{"X-Multi": {"a", "b"}, "Authorization": {"Bearer t"}, "Cookie": {"c=1"}},
			wantStatus: 202, wantBody: `{"status":"queued"}`, wantCalls: 1,
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				if ev.Version != "2.0" || ev.RouteKey != "POST /messaging/sms" || ev.RawPath != "/messaging/sms" || ev.RawQueryString != "x=1" {
					t.Errorf("event = %+v, want a payload 2.0 event for the route", ev)
				}
				if ev.RequestContext.HTTP.Method != "POST" || ev.RequestContext.RequestID == "" || ev.RequestContext.HTTP.SourceIP != "127.0.0.1" {
					t.Errorf("request context = %+v", ev.RequestContext)
				}
				if got := ev.Headers["x-multi"]; got != "a,b" {
					t.Errorf("x-multi = %q, want a,b", got)
				}
				if got := ev.Headers["authorization"]; got != "Bearer t" {
					t.Errorf("authorization = %q, want Bearer t", got)
				}
				if _, ok := ev.Headers["cookie"]; ok || len(ev.Cookies) != 1 || ev.Cookies[0] != "c=1" {
					t.Errorf("cookie header %q, cookies %q: want cookies only", ev.Headers["cookie"], ev.Cookies)
				}
				if ev.IsBase64Encoded || ev.Body != `{"to":"+14155552671"}` {
					t.Errorf("body = %q (base64 %v), want it as text", ev.Body, ev.IsBase64Encoded)
				}
			},
		},
		{
			name: "binary body is base64", fn: recorder{answer: ok}, method: "POST", path: "/messaging/sms",
			body: []byte("{\"body\":\"\xff\"}"), wantStatus: 202, wantCalls: 1,
			check: func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
				got, err := base64.StdEncoding.DecodeString(ev.Body)
				if !ev.IsBase64Encoded || err != nil || !bytes.Equal(got, []byte("{\"body\":\"\xff\"}")) {
					t.Errorf("body = %q (base64 %v), want the bytes base64-encoded", ev.Body, ev.IsBase64Encoded)
				}
			},
		},
		{name: "other method", fn: recorder{answer: ok}, method: "GET", path: "/messaging/sms", wantStatus: 404, wantBody: `{"message":"Not Found"}`},
		{name: "other path", fn: recorder{answer: ok}, method: "POST", path: "/admin", wantStatus: 404, wantBody: `{"message":"Not Found"}`},
		{name: "too large", fn: recorder{answer: ok}, method: "POST", path: "/messaging/sms", body: make([]byte, chaos.MaxPayloadBytes+1), wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "function error", fn: recorder{err: errors.New("crash")}, method: "POST", path: "/messaging/sms", wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`, wantCalls: 1, wantFail: 1},
		{name: "function panic", fn: recorder{panics: true}, method: "POST", path: "/messaging/sms", wantStatus: 500, wantCalls: 1, wantFail: 1},
		{name: "answer without a status", fn: recorder{raw: `{"body":"x"}`}, method: "POST", path: "/messaging/sms", wantStatus: 500, wantCalls: 1, wantFail: 1},
		{
			name: "base64 answer", method: "POST", path: "/messaging/sms", wantStatus: 200, wantBody: "hi", wantCalls: 1,
			fn: recorder{answer: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: base64.StdEncoding.EncodeToString([]byte("hi")), IsBase64Encoded: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := tt.fn
			gw := chaos.NewGateway(&fn, http.MethodPost, "/messaging/sms", func() time.Time { return time.Unix(1_700_000_000, 0) })
			srv := httptest.NewServer(gw)
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			if tt.wantStatus == 202 && resp.Header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q, want the function's header", resp.Header.Get("Retry-After"))
			}
			if got := len(fn.events); got != tt.wantCalls {
				t.Errorf("invocations = %d, want %d", got, tt.wantCalls)
			}
			if got := gw.Failures(); got != tt.wantFail {
				t.Errorf("Failures() = %d, want %d", got, tt.wantFail)
			}
			if tt.check != nil && len(fn.events) > 0 {
				tt.check(t, fn.events[0])
			}
		})
	}
}
