package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/sms"
)

type fakeAuth struct{}

// The fake's tokens: "good" is user-1's, "other" user-2's, "reader"
// carries the read-all scope, "admin" the admin scope.
func (fakeAuth) Authenticate(_ context.Context, h string) (auth.Caller, error) {
	switch h {
	case "Bearer good":
		return auth.Caller{Subject: "user-1", Scopes: []string{"sms:send"}}, nil
	case "Bearer other":
		return auth.Caller{Subject: "user-2", Scopes: []string{"sms:send"}}, nil
	case "Bearer reader":
		return auth.Caller{Subject: "ops", Scopes: []string{"sms:send", testReadAllScope}}, nil
	case "Bearer admin":
		return auth.Caller{Subject: "ops", Scopes: []string{"sms:send", testAdminScope}}, nil
	case "Bearer noscope":
		return auth.Caller{}, sms.E(sms.KindForbidden, "token lacks the required scope")
	}
	return auth.Caller{}, sms.E(sms.KindUnauthorized, "invalid token")
}

const testReadAllScope = "sms:read-all"
const testAdminScope = "sms:admin"

type fakeSender struct {
	res  sms.Result
	err  error
	got  []sms.SendRequest
	hook func()
}

func (f *fakeSender) Send(_ context.Context, r sms.SendRequest) (sms.Result, error) {
	if f.hook != nil {
		f.hook()
	}
	f.got = append(f.got, r)
	return f.res, f.err
}

func newTestHandler(s *fakeSender) *Handler {
	return NewHandler(fakeAuth{}, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func req(body string, hdr ...string) Request {
	h := http.Header{}
	h.Set("Authorization", "Bearer good")
	h.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			h.Del(hdr[i])
			continue
		}
		h.Set(hdr[i], hdr[i+1])
	}
	return Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: h, Body: []byte(body)}
}

const okBody = `{"to":"+14155552671","body":"Your code is 482901"}`

func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var eb struct {
		Error errorBody `json:"error"`
	}
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("body %s is not JSON: %v", b, err)
	}
	return eb.Error.Code
}

func TestServeRequestErrors(t *testing.T) {
	tests := []struct {
		name       string
		req        Request
		wantStatus int
		wantCode   string
		wantHeader string
	}{
		{"missing auth", req(okBody, "Authorization", ""), 401, "unauthorized", "WWW-Authenticate"},
		{"bad token", req(okBody, "Authorization", "Bearer nope"), 401, "unauthorized", "WWW-Authenticate"},
		{"missing scope", req(okBody, "Authorization", "Bearer noscope"), 403, "forbidden", ""},
		{"no content type", req(okBody, "Content-Type", ""), 415, "unsupported_media_type", ""},
		{"text/plain", req(okBody, "Content-Type", "text/plain"), 415, "unsupported_media_type", ""},
		{"json with charset ok but malformed", req(`{"to":`, "Content-Type", "application/json; charset=utf-8"), 400, "invalid_request", ""},
		{"too large", req(`{"to":"+14155552671","body":"` + strings.Repeat("a", maxBodyBytes) + `"}`), 413, "payload_too_large", ""},
		{"empty body", req(""), 400, "invalid_request", ""},
		{"array", req(`[]`), 400, "invalid_request", ""},
		{"unknown field", req(`{"to":"+14155552671","body":"x","extra":1}`), 400, "invalid_request", ""},
		{"wrong type", req(`{"to":14155552671,"body":"x"}`), 400, "invalid_request", ""},
		{"trailing data", req(okBody + `{}`), 400, "invalid_request", ""},
		{"missing to", req(`{"body":"x"}`), 400, "invalid_to", ""},
		{"missing body", req(`{"to":"+14155552671"}`), 400, "invalid_body", ""},
		{"empty from", req(`{"to":"+14155552671","body":"x","from":""}`), 400, "invalid_from", ""},
		{"null from", req(`{"to":"+14155552671","body":"x","from":null}`), 400, "invalid_request", ""},
		{"field names are case-sensitive", req(`{"TO":"+14155552671","Body":"x"}`), 400, "invalid_request", ""},
		{"duplicate key", req(`{"to":"+1","to":"+14155552671","body":"x"}`), 400, "invalid_request", ""},
		{"invalid UTF-8", req("{\"to\":\"+14155552671\",\"body\":\"\xff\xfe\"}"), 400, "invalid_body", ""},
		{"lone high surrogate", req(`{"to":"+14155552671","body":"a\ud800b"}`), 400, "invalid_body", ""},
		{"lone low surrogate", req(`{"to":"+14155552671","body":"\udc00"}`), 400, "invalid_body", ""},
		{"reversed surrogates", req(`{"to":"+14155552671","body":"\ude00\ud83d"}`), 400, "invalid_body", ""},
		{"bad idempotency key", req(okBody, "Idempotency-Key", "bad\x01key"), 400, "invalid_request", ""},
		{"long idempotency key", req(okBody, "Idempotency-Key", strings.Repeat("k", 256)), 400, "invalid_request", ""},
		{"GET", Request{Method: http.MethodGet, Headers: http.Header{}}, 405, "invalid_request", "Allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSender{}
			resp := newTestHandler(s).Serve(context.Background(), tt.req)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.Status, resp.Body, tt.wantStatus)
			}
			if got := errorCode(t, resp.Body); got != tt.wantCode {
				t.Errorf("code = %q, want %q", got, tt.wantCode)
			}
			if tt.wantHeader != "" && resp.Headers[tt.wantHeader] == "" {
				t.Errorf("header %s missing in %v", tt.wantHeader, resp.Headers)
			}
			if got := resp.Headers["Content-Type"]; got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if len(s.got) != 0 {
				t.Errorf("sender called %d times, want 0", len(s.got))
			}
		})
	}
}

func TestServeMapsResults(t *testing.T) {
	sent := sms.Result{MessageID: "SM1", Status: sms.StatusSent, Channel: "sms", To: "+14155552671", Segments: 1, Encoding: sms.GSM7}
	failed := sms.Result{Status: sms.StatusFailed, Channel: "sms", To: "+14155552671"}
	tests := []struct {
		name       string
		res        sms.Result
		err        error
		wantStatus int
		wantRetry  string
	}{
		{"sent", sent, nil, 200, ""},
		{"queued", sms.Result{MessageID: "q1", Status: sms.StatusQueued, Channel: "sms", To: "+14155552671"}, nil, 202, ""},
		{"rejected", failed, sms.E(sms.KindRejected, "not a mobile number", sms.ProviderDetail("21614", "")), 422, ""},
		{"account", sms.Result{Status: sms.StatusFailed, Channel: "sms"}, sms.E(sms.KindProviderAccount, ""), 502, ""},
		{"partial", sms.Result{Status: sms.StatusFailed, Channel: "sms"}, sms.E(sms.KindPartial, ""), 502, ""},
		{"outcome unknown", sms.Result{MessageID: "0b6f7c4e-3a51-4c1e-9d2a-5f8e1b7a9c33", Status: sms.StatusUnknown, Channel: "sms", To: "+14155552671"},
			sms.E(sms.KindAmbiguous, "the message may have been sent"), 502, ""},
		{"rate limited", sms.Result{}, sms.E(sms.KindRateLimited, "", sms.RetryAfter(1500*time.Millisecond)), 429, "2"},
		{"unavailable", sms.Result{}, sms.E(sms.KindUnavailable, "", sms.RetryAfter(5*time.Second)), 503, "5"},
		{"conflict", sms.Result{}, sms.E(sms.KindConflict, "", sms.RetryAfter(time.Second)), 409, "1"},
		// A conflict that waiting does not resolve names no time.
		{"conflict for good", sms.Result{}, sms.E(sms.KindConflict, "it can no longer be canceled"), 409, ""},
		{"mismatch", sms.Result{}, sms.E(sms.KindInvalid, "", sms.Code(sms.CodeIdempotencyMismatch)), 422, ""},
		{"invalid to", sms.Result{}, sms.InvalidField("to", "is required"), 400, ""},
		{"internal", sms.Result{}, io.ErrUnexpectedEOF, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := newTestHandler(&fakeSender{res: tt.res, err: tt.err}).Serve(context.Background(), req(okBody))
			if resp.Status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.Status, tt.wantStatus)
			}
			if got := resp.Headers["Retry-After"]; got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if tt.wantStatus == 500 && strings.Contains(string(resp.Body), "unexpected EOF") {
				t.Errorf("internal error text leaked: %s", resp.Body)
			}
			var m map[string]any
			if err := json.Unmarshal(resp.Body, &m); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if tt.res.Status == sms.StatusFailed {
				want := codeProviderError
				if tt.wantStatus == 422 {
					want = codeProviderRejected
				}
				if got := errorCode(t, resp.Body); got != want || m["status"] != "failed" {
					t.Errorf("failed body = %s, want the failed result with error code %s", resp.Body, want)
				}
			}
			if tt.res.Status == sms.StatusUnknown {
				if got := errorCode(t, resp.Body); got != codeProviderOutcomeUnknown || m["status"] != "unknown" || m["messageId"] != tt.res.MessageID {
					t.Errorf("unknown body = %s, want the result with status unknown, its messageId and error code %s", resp.Body, codeProviderOutcomeUnknown)
				}
			}
		})
	}
}

func TestServeFailedResultCarriesProviderCode(t *testing.T) {
	res := sms.Result{Status: sms.StatusFailed, Channel: "sms", To: "+14155552671", Segments: 1, Encoding: sms.GSM7}
	err := sms.E(sms.KindRejected, "not a mobile number", sms.ProviderDetail("21614", "To number: +14155552671, is not a mobile number"))
	resp := newTestHandler(&fakeSender{res: res, err: err}).Serve(context.Background(), req(okBody))
	want := `{"messageId":"","status":"failed","channel":"sms","to":"+14155552671","segments":1,"encoding":"GSM-7",` +
		`"error":{"code":"provider_rejected","message":"not a mobile number","providerCode":"21614"}}`
	if resp.Status != 422 || string(resp.Body) != want {
		t.Errorf("got %d %s, want 422 %s", resp.Status, resp.Body, want)
	}
}

func TestAnswersCoverEveryKindAndCode(t *testing.T) {
	// KindExpired never reaches a client: the send path answers 503 for
	// it (sms.Sender).
	for k := sms.KindInternal; k <= sms.KindNotFound; k++ {
		found := false
		for _, a := range answers {
			found = found || a.kind == k
		}
		if !found {
			t.Errorf("kind %v has no row in answers", k)
		}
	}
	var codes []string
	for _, a := range answers {
		if !slices.Contains(codes, a.code) {
			codes = append(codes, a.code)
		}
	}
	slices.Sort(codes)
	want := slices.Sorted(slices.Values(stableCodes))
	if !slices.Equal(codes, want) {
		t.Errorf("codes in answers = %v, want the stable codes %v", codes, want)
	}
	// A code that does not narrow its kind gives the kind's first row.
	if status, code := answerOf(sms.E(sms.KindRejected, "", sms.Code(sms.CodeInvalidTo))); status != 422 || code != codeProviderRejected {
		t.Errorf("answerOf(rejected with invalid_to) = %d %s, want 422 %s", status, code, codeProviderRejected)
	}
	if status, code := answerOf(sms.E(sms.Kind(99), "")); status != 500 || code != codeInternal {
		t.Errorf("answerOf(unknown kind) = %d %s, want 500 %s", status, code, codeInternal)
	}
}

func TestInvokeReportsInvalidBase64AfterAuthentication(t *testing.T) {
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantCode   string
	}{
		{"authenticated", "Bearer good", 400, codeInvalidRequest},
		{"not authenticated", "Bearer bad", 401, codeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/messaging/sms",
				Headers: map[string]string{"Authorization": tt.auth, "Content-Type": "application/json"},
				Body:    "not base64!", IsBase64Encoded: true}
			raw, _ := json.Marshal(ev)
			s := &fakeSender{}
			out, err := newTestHandler(s).Invoke(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp events.APIGatewayProxyResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || errorCode(t, []byte(resp.Body)) != tt.wantCode {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, resp.Body, tt.wantStatus, tt.wantCode)
			}
			if len(s.got) != 0 {
				t.Errorf("sender called %d times, want 0", len(s.got))
			}
		})
	}
}

func TestServePassesRequest(t *testing.T) {
	s := &fakeSender{res: sms.Result{Status: sms.StatusSent}}
	r := req(`{"to":"+14155552671","body":"hi","from":"Alerts"}`, "Idempotency-Key", "order-7")
	newTestHandler(s).Serve(context.Background(), r)
	want := sms.SendRequest{To: "+14155552671", Body: "hi", From: "Alerts", IdempotencyKey: "order-7", Caller: "user-1"}
	if len(s.got) != 1 || s.got[0] != want {
		t.Errorf("sender got %+v, want %+v", s.got, want)
	}
}

func TestServeAcceptsEscapedText(t *testing.T) {
	s := &fakeSender{res: sms.Result{Status: sms.StatusSent}}
	resp := newTestHandler(s).Serve(context.Background(), req(`{"to":"+14155552671","body":"smile \ud83d\ude00 \u20ac \"q\" \\"}`))
	if resp.Status != 200 {
		t.Fatalf("status = %d %s, want 200", resp.Status, resp.Body)
	}
	if got, want := s.got[0].Body, "smile \U0001F600 € \"q\" \\"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestServeRecoversPanic(t *testing.T) {
	s := &fakeSender{hook: func() { panic("boom") }}
	resp := newTestHandler(s).Serve(context.Background(), req(okBody))
	if resp.Status != 500 || errorCode(t, resp.Body) != "internal" {
		t.Errorf("got %d %s, want 500 internal", resp.Status, resp.Body)
	}
}

func TestInvokeBothPayloadFormats(t *testing.T) {
	s := &fakeSender{res: sms.Result{MessageID: "SM1", Status: sms.StatusSent, Channel: "sms", To: "+14155552671"}}
	h := newTestHandler(s)
	v2 := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/messaging/sms",
		Headers:         map[string]string{"authorization": "Bearer good", "content-type": "application/json"},
		Body:            base64.StdEncoding.EncodeToString([]byte(okBody)),
		IsBase64Encoded: true}
	v2.RequestContext.HTTP.Method = "POST"
	v1 := events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/messaging/sms",
		Headers: map[string]string{"Authorization": "Bearer good", "Content-Type": "application/json"}, Body: okBody}
	invokeBoth(t, h, v2, v1, `"status":"sent"`)
}

func TestServePassesValidFor(t *testing.T) {
	tests := []struct {
		body string
		want time.Duration
	}{
		{`{"to":"+14155552671","body":"hi","validFor":300}`, 300 * time.Second},
		{`{"to":"+14155552671","body":"hi","validFor":3e2}`, 300 * time.Second},
		{`{"to":"+14155552671","body":"hi"}`, 0},
	}
	for _, tt := range tests {
		s := &fakeSender{res: sms.Result{Status: sms.StatusSent}}
		newTestHandler(s).Serve(context.Background(), req(tt.body))
		if len(s.got) != 1 || s.got[0].ValidFor != tt.want {
			t.Errorf("%s: sender got %+v, want ValidFor %v", tt.body, s.got, tt.want)
		}
	}
}

func TestServeRefusesBadValidFor(t *testing.T) {
	for _, v := range []string{`0`, `-20`, `20.5`, `"300"`, `null`, `true`, `1e300`, `[20]`} {
		s := &fakeSender{}
		resp := newTestHandler(s).Serve(context.Background(), req(`{"to":"+14155552671","body":"hi","validFor":`+v+`}`))
		if resp.Status != 400 || errorCode(t, resp.Body) != codeInvalidRequest || !strings.Contains(string(resp.Body), "validFor") {
			t.Errorf("validFor %s: got %d %s, want 400 invalid_request naming validFor", v, resp.Status, resp.Body)
		}
		if len(s.got) != 0 {
			t.Errorf("validFor %s: sender called", v)
		}
	}
	resp := newTestHandler(&fakeSender{}).Serve(context.Background(), req(`{"to":"+14155552671","body":"hi","validFor":30,"validFor":40}`))
	if resp.Status != 400 {
		t.Errorf("repeated validFor: got %d %s, want 400", resp.Status, resp.Body)
	}
}

// fakeRecords holds status records by every id they are found by.
type fakeRecords struct {
	recs map[string]sms.Record
	ids  []string // ids looked up
}

func (f *fakeRecords) Get(_ context.Context, id string) (sms.Record, error) {
	f.ids = append(f.ids, id)
	if r, ok := f.recs[id]; ok {
		return r, nil
	}
	return sms.Record{}, sms.RecordNotFound(id)
}

func TestRoutes(t *testing.T) {
	rec := sms.Record{ServiceID: "3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14", Status: sms.StatusSent, Owner: sms.CallerOwner("user-1")}
	tests := []struct {
		name       string
		req        Request
		wantStatus int
		wantLookup string // the id looked up, if any
		wantSends  int
	}{
		{"POST on the send path", Request{Method: "POST", Path: "/messaging/sms"}, 200, "", 1},
		{"POST behind a stage", Request{Method: "POST", Path: "/prod/messaging/sms"}, 200, "", 1},
		{"GET of the send path", Request{Method: "GET", Path: "/messaging/sms"}, 405, "", 0},
		{"GET of a message", Request{Method: "GET", Path: "/messaging/sms/" + rec.ServiceID}, 200, rec.ServiceID, 0},
		{"GET behind a base path", Request{Method: "GET", Path: "/v1/messaging/sms/" + rec.ServiceID}, 200, rec.ServiceID, 0},
		{"GET with a percent-encoded id", Request{Method: "GET", Path: "/messaging/sms/sqs%3Aa%2Fb"}, 404, "sqs:a/b", 0},
		{"GET by the path parameter", Request{Method: "GET", Path: "/whatever", PathParams: map[string]string{"messageId": "order/7"}}, 404, "order/7", 0},
		{"POST to a message", Request{Method: "POST", Path: "/messaging/sms/" + rec.ServiceID}, 405, "", 0},
		{"a path below a message", Request{Method: "GET", Path: "/messaging/sms/a/b"}, 404, "", 0},
		{"another path", Request{Method: "POST", Path: "/messaging/email"}, 404, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSender{res: sms.Result{MessageID: "SM1", Status: sms.StatusSent, Channel: "sms", To: "+14155552671"}}
			records := &fakeRecords{recs: map[string]sms.Record{rec.ServiceID: rec}}
			h := NewHandler(fakeAuth{}, s, slog.New(slog.DiscardHandler), ReadsStatus(records, ""))
			tt.req.Headers = http.Header{"Authorization": {"Bearer good"}, "Content-Type": {"application/json"}}
			tt.req.Body = []byte(okBody)
			resp := h.Serve(context.Background(), tt.req)
			if resp.Status != tt.wantStatus {
				t.Errorf("status = %d %s, want %d", resp.Status, resp.Body, tt.wantStatus)
			}
			if got := strings.Join(records.ids, ","); got != tt.wantLookup {
				t.Errorf("looked up %q, want %q", got, tt.wantLookup)
			}
			if len(s.got) != tt.wantSends {
				t.Errorf("sends = %d, want %d", len(s.got), tt.wantSends)
			}
			if resp.Status == 405 && resp.Headers["Allow"] == "" {
				t.Errorf("405 without Allow: %v", resp.Headers)
			}
		})
	}
}

func TestGetMessageOwnership(t *testing.T) {
	const id = "3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14"
	caller := sms.Record{ServiceID: id, MessageID: "SM1", Status: sms.StatusSent, To: "+14155552671",
		UpdatedAt: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC), Owner: sms.CallerOwner("user-1"),
		History: []sms.HistoryEntry{{Status: sms.StatusSent, At: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}}}
	producer := caller
	producer.Owner = sms.ProducerOwner("")
	unowned := caller
	unowned.Owner = sms.Owner{}
	tests := []struct {
		name  string
		rec   sms.Record
		token string
		want  int
	}{
		{"the owner", caller, "good", 200},
		{"another caller", caller, "other", 404},
		{"the read-all scope", caller, "reader", 200},
		{"a producer's message, caller", producer, "good", 404},
		{"a producer's message, read-all", producer, "reader", 200},
		{"a record without owner, caller", unowned, "good", 404},
		{"a record without owner, read-all", unowned, "reader", 200},
		{"no token", caller, "", 401},
		{"token without the required scope", caller, "noscope", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := &fakeRecords{recs: map[string]sms.Record{id: tt.rec}}
			h := NewHandler(fakeAuth{}, &fakeSender{}, slog.New(slog.DiscardHandler), ReadsStatus(records, testReadAllScope))
			hdr := http.Header{}
			if tt.token != "" {
				hdr.Set("Authorization", "Bearer "+tt.token)
			}
			resp := h.Serve(context.Background(), Request{Method: "GET", Path: "/messaging/sms/" + id, Headers: hdr})
			if resp.Status != tt.want {
				t.Fatalf("status = %d %s, want %d", resp.Status, resp.Body, tt.want)
			}
			switch tt.want {
			case 200:
				want := `{"channel":"sms","serviceId":"` + id + `","messageId":"SM1","status":"sent","to":"+14155552671",` +
					`"updatedAt":"2026-03-01T09:30:00Z","history":[{"status":"sent","at":"2026-03-01T09:30:00Z"}]}`
				if string(resp.Body) != want {
					t.Errorf("body = %s, want %s", resp.Body, want)
				}
			case 404:
				if errorCode(t, resp.Body) != codeNotFound || strings.Contains(string(resp.Body), id) {
					t.Errorf("body = %s, want not_found without the id", resp.Body)
				}
			}
		})
	}
}

func TestGetWithoutReadAllScopeConfigured(t *testing.T) {
	const id = "3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14"
	records := &fakeRecords{recs: map[string]sms.Record{id: {ServiceID: id, Status: sms.StatusSent, Owner: sms.CallerOwner("user-1")}}}
	h := NewHandler(fakeAuth{}, &fakeSender{}, slog.New(slog.DiscardHandler), ReadsStatus(records, ""))
	resp := h.Serve(context.Background(), Request{Method: "GET", Path: "/messaging/sms/" + id, Headers: http.Header{"Authorization": {"Bearer reader"}}})
	if resp.Status != 404 {
		t.Errorf("status = %d, want 404: with no read-all scope configured, nobody reads others' messages", resp.Status)
	}
}

func TestInvokeGetBothPayloadFormats(t *testing.T) {
	const id = "sqs:9b2f4a1e/x"
	records := &fakeRecords{recs: map[string]sms.Record{id: {ServiceID: "3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14", Status: sms.StatusQueued, Owner: sms.CallerOwner("user-1")}}}
	h := NewHandler(fakeAuth{}, &fakeSender{}, slog.New(slog.DiscardHandler), ReadsStatus(records, ""))
	v2 := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /messaging/sms/{messageId}", RawPath: "/messaging/sms/sqs%3A9b2f4a1e%2Fx",
		PathParameters: map[string]string{"messageId": id}, Headers: map[string]string{"authorization": "Bearer good"}}
	v2.RequestContext.HTTP.Method = "GET"
	v1 := events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: "/messaging/sms/{messageId}", Path: "/messaging/sms/sqs:9b2f4a1e%2Fx",
		PathParameters: map[string]string{"messageId": id}, Headers: map[string]string{"Authorization": "Bearer good"}}
	invokeBoth(t, h, v2, v1, `"status":"queued"`)
}

// invokeBoth invokes h with the payload 2.0 event v2 and the payload 1.0
// event v1 of one request; each answer must be 200 with a body containing
// want.
func invokeBoth(t *testing.T, h *Handler, v2 events.APIGatewayV2HTTPRequest, v1 events.APIGatewayProxyRequest, want string) {
	t.Helper()
	for name, ev := range map[string]any{"v2": v2, "v1": v1} {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(ev)
			out, err := h.Invoke(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || !strings.Contains(resp.Body, want) {
				t.Errorf("got %d %s, want 200 with %s", resp.StatusCode, resp.Body, want)
			}
		})
	}
}
