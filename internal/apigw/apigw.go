// Package apigw maps API Gateway proxy events (HTTP API payload 2.0 and
// REST API payload 1.0) for POST /messaging/sms to the sms domain and back.
// It is the whole of the send function's handler, shared with the local
// server so that both run the same code.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/sms"
)

// MaxBodyBytes is the largest request body accepted: enough for 1600 emoji
// written as \uXXXX escapes (README.md#http-api).
const MaxBodyBytes = 64 << 10

// Sender carries out a validated request (sms.Sender).
type Sender interface {
	Send(ctx context.Context, r sms.SendRequest) (sms.Result, error)
}

// Authenticator checks the Authorization header and returns the caller's
// subject. Failures are *sms.Error of kind KindUnauthorized or
// KindForbidden.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (subject string, err error)
}

// Handler handles API Gateway events for the send function.
type Handler struct {
	auth   Authenticator
	sender Sender
	log    *slog.Logger
	now    func() time.Time
}

// NewHandler returns a Handler.
func NewHandler(auth Authenticator, sender Sender, log *slog.Logger) *Handler {
	return &Handler{auth: auth, sender: sender, log: log, now: time.Now}
}

// Request is a proxy request reduced to what the handler uses, whichever
// payload format it came in.
type Request struct {
	Method  string
	Path    string
	Headers http.Header
	Body    []byte
}

// Response is what the handler answers, before it is put in the payload
// format of the request.
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// Invoke is the Lambda entry point: it accepts the raw event, detects the
// payload format and answers in the same format.
func (h *Handler) Invoke(ctx context.Context, event json.RawMessage) (json.RawMessage, error) {
	var probe struct {
		Version    string `json:"version"`
		HTTPMethod string `json:"httpMethod"`
	}
	_ = json.Unmarshal(event, &probe)
	if probe.Version == "2.0" {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(event, &ev); err != nil {
			return nil, fmt.Errorf("apigw: decode payload 2.0 event: %w", err)
		}
		resp := h.Serve(ctx, FromV2(ev))
		return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: string(resp.Body)})
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("apigw: decode payload 1.0 event: %w", err)
	}
	resp := h.Serve(ctx, FromV1(ev))
	return json.Marshal(events.APIGatewayProxyResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: string(resp.Body)})
}

// FromV2 converts an HTTP API (payload 2.0) event.
func FromV2(ev events.APIGatewayV2HTTPRequest) Request {
	hdr := make(http.Header, len(ev.Headers))
	for k, v := range ev.Headers {
		hdr.Set(k, v)
	}
	return Request{Method: ev.RequestContext.HTTP.Method, Path: ev.RawPath, Headers: hdr, Body: eventBody(ev.Body, ev.IsBase64Encoded)}
}

// FromV1 converts a REST API (payload 1.0) event.
func FromV1(ev events.APIGatewayProxyRequest) Request {
	hdr := make(http.Header, len(ev.Headers))
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	for k, v := range ev.Headers {
		if hdr.Get(k) == "" {
			hdr.Set(k, v)
		}
	}
	return Request{Method: ev.HTTPMethod, Path: ev.Path, Headers: hdr, Body: eventBody(ev.Body, ev.IsBase64Encoded)}
}

// eventBody returns the raw body; an undecodable base64 body is passed on
// as nil+marker so that Serve answers 400.
func eventBody(body string, b64 bool) []byte {
	if !b64 {
		return []byte(body)
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return invalidBase64
	}
	return b
}

var invalidBase64 = []byte("\x00invalid base64")

// Serve handles one request and never panics.
func (h *Handler) Serve(ctx context.Context, r Request) (resp Response) {
	start := h.now()
	defer func() {
		if p := recover(); p != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "panic in handler", slog.String("panic", fmt.Sprint(p)))
			resp = errorResponse(&sms.Error{Kind: sms.KindInternal, Message: "internal error"})
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.Int("status", resp.Status), slog.Duration("latency", h.now().Sub(start)))
	}()
	if r.Method != "" && r.Method != http.MethodPost {
		return jsonResponse(http.StatusMethodNotAllowed, map[string]string{"Allow": http.MethodPost},
			errorBody("invalid_request", "only POST is supported"))
	}
	caller, err := h.auth.Authenticate(ctx, r.Headers.Get("Authorization"))
	if err != nil {
		return errorResponse(err)
	}
	if err := checkContentType(r.Headers.Get("Content-Type")); err != nil {
		return errorResponse(err)
	}
	if len(r.Body) > MaxBodyBytes {
		return errorResponse(&sms.Error{Kind: sms.KindInvalid, Code: sms.CodePayloadTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)})
	}
	key, err := idempotencyKey(r.Headers)
	if err != nil {
		return errorResponse(err)
	}
	req, err := decodeBody(r.Body)
	if err != nil {
		return errorResponse(err)
	}
	req.IdempotencyKey = key
	req.Caller = caller
	res, err := h.sender.Send(ctx, req)
	return resultResponse(res, err)
}

func checkContentType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &sms.Error{Kind: sms.KindInvalid, Code: sms.CodeUnsupportedMediaType, Message: "Content-Type must be application/json"}
	}
	return nil
}

func idempotencyKey(h http.Header) (string, error) {
	vs := h.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	bad := len(vs) > 1 || len(k) < 1 || len(k) > 255
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < 0x20 || k[i] > 0x7e
	}
	if bad {
		return "", &sms.Error{Kind: sms.KindInvalid, Code: sms.CodeInvalidRequest, Field: "Idempotency-Key", Message: "Idempotency-Key must be 1-255 printable ASCII characters"}
	}
	return k, nil
}

// decodeBody parses the JSON body strictly: one object whose keys are
// exactly "to", "body" and optionally "from" (matched case-sensitively,
// each at most once), every value a JSON string of valid UTF-8.
func decodeBody(b []byte) (sms.SendRequest, error) {
	invalid := func(msg string) error {
		return &sms.Error{Kind: sms.KindInvalid, Code: sms.CodeInvalidRequest, Message: msg}
	}
	if bytes.Equal(b, invalidBase64) {
		return sms.SendRequest{}, invalid("request body is not valid base64")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil {
		return sms.SendRequest{}, invalid(describeJSONError(err))
	} else if tok != json.Delim('{') {
		return sms.SendRequest{}, invalid("request body must be a JSON object")
	}
	fields := map[string]*string{}
	var r sms.SendRequest
	targets := map[string]*string{"to": &r.To, "body": &r.Body, "from": &r.From}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return sms.SendRequest{}, invalid(describeJSONError(err))
		}
		key, _ := tok.(string)
		dst, known := targets[key]
		if !known {
			return sms.SendRequest{}, invalid(fmt.Sprintf("unknown field %q", truncate(key, 40)))
		}
		if _, dup := fields[key]; dup {
			return sms.SendRequest{}, invalid(fmt.Sprintf("field %q appears more than once", key))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return sms.SendRequest{}, invalid(describeJSONError(err))
		}
		if len(raw) == 0 || raw[0] != '"' {
			return sms.SendRequest{}, invalid(fmt.Sprintf("field %q must be a string", key))
		}
		if !validJSONText(raw) {
			return sms.SendRequest{}, fieldError(key, "must be valid UTF-8 text")
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return sms.SendRequest{}, invalid(fmt.Sprintf("field %q must be a string", key))
		}
		fields[key] = dst
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return sms.SendRequest{}, invalid(describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return sms.SendRequest{}, invalid("request body must be a single JSON object")
	}
	if fields["to"] == nil {
		return r, fieldError("to", "is required")
	}
	if fields["body"] == nil {
		return r, fieldError("body", "is required")
	}
	if fields["from"] != nil && r.From == "" {
		return r, fieldError("from", "must not be empty when given")
	}
	return r, nil
}

// fieldError is the validation error of one request field.
func fieldError(field, reason string) error {
	code := map[string]string{"to": sms.CodeInvalidTo, "body": sms.CodeInvalidBody, "from": sms.CodeInvalidFrom}[field]
	return &sms.Error{Kind: sms.KindInvalid, Code: code, Field: field, Message: field + " " + reason}
}

// validJSONText reports whether a JSON string literal holds valid UTF-8:
// no invalid bytes and no unpaired UTF-16 surrogate escapes, both of which
// encoding/json would silently turn into U+FFFD.
func validJSONText(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	pendingHigh := false
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			if pendingHigh {
				return false
			}
			continue
		}
		if raw[i+1] != 'u' || i+5 >= len(raw) {
			if pendingHigh {
				return false
			}
			i++
			continue
		}
		v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		if err != nil {
			return false
		}
		switch {
		case v >= 0xD800 && v < 0xDC00:
			if pendingHigh {
				return false
			}
			pendingHigh = true
		case v >= 0xDC00 && v < 0xE000:
			if !pendingHigh {
				return false
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return false
			}
		}
		i += 5
	}
	return !pendingHigh
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// describeJSONError turns a decoding error into a client-safe message that
// never echoes values.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF):
		return "request body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON"
}

// resultResponse maps the sender's answer to HTTP.
func resultResponse(res sms.Result, err error) Response {
	if err == nil {
		status := http.StatusOK
		if res.Status == sms.StatusQueued {
			status = http.StatusAccepted
		}
		return jsonResponse(status, nil, res)
	}
	if res.Status == sms.StatusFailed {
		status := http.StatusBadGateway
		if sms.KindOf(err) == sms.KindRejected {
			status = http.StatusUnprocessableEntity
		}
		return jsonResponse(status, nil, res)
	}
	return errorResponse(err)
}

// StatusOf is the HTTP status of an error that has no result.
func StatusOf(e *sms.Error) int {
	switch e.Kind {
	case sms.KindInvalid:
		switch e.ErrorCode() {
		case sms.CodeIdempotencyMismatch:
			return http.StatusUnprocessableEntity
		case sms.CodePayloadTooLarge:
			return http.StatusRequestEntityTooLarge
		case sms.CodeUnsupportedMediaType:
			return http.StatusUnsupportedMediaType
		}
		return http.StatusBadRequest
	case sms.KindUnauthorized:
		return http.StatusUnauthorized
	case sms.KindForbidden:
		return http.StatusForbidden
	case sms.KindConflict:
		return http.StatusConflict
	case sms.KindRateLimited:
		return http.StatusTooManyRequests
	case sms.KindTransient, sms.KindAmbiguous, sms.KindUnavailable:
		return http.StatusServiceUnavailable
	case sms.KindRejected:
		return http.StatusUnprocessableEntity
	case sms.KindProviderAccount, sms.KindPartial:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

func errorResponse(err error) Response {
	e := sms.AsError(err)
	status := StatusOf(e)
	msg := e.Message
	if status == http.StatusInternalServerError || msg == "" {
		msg = http.StatusText(status)
	}
	hdr := map[string]string{}
	switch status {
	case http.StatusUnauthorized:
		hdr["WWW-Authenticate"] = `Bearer error="invalid_token"`
		if e.Message != "" {
			hdr["WWW-Authenticate"] = fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, e.Message)
		}
	case http.StatusForbidden:
		if e.Field == "" {
			hdr["WWW-Authenticate"] = `Bearer error="insufficient_scope"`
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusConflict:
		ra := e.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		hdr["Retry-After"] = strconv.Itoa(int((ra + time.Second - 1) / time.Second))
	}
	return jsonResponse(status, hdr, errorBody(e.ErrorCode(), msg))
}

func errorBody(code, msg string) any {
	return map[string]sms.ErrorBody{"error": {Code: code, Message: msg}}
}

func jsonResponse(status int, hdr map[string]string, v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"Internal Server Error"}}`)
	}
	if hdr == nil {
		hdr = map[string]string{}
	}
	hdr["Content-Type"] = "application/json"
	hdr["Cache-Control"] = "no-store"
	return Response{Status: status, Headers: hdr, Body: b}
}
