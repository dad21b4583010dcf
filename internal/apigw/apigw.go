// Package apigw maps API Gateway proxy events (HTTP API payload 2.0 and
// REST API payload 1.0) for POST /messaging/sms and GET and DELETE
// /messaging/sms/{messageId} to the sms domain and back. It is the whole
// of the send function's handler, shared with the local server so that
// both run the same code.
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
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/sms"
)

// maxBodyBytes is the largest request body accepted: enough for 1600 emoji
// written as \uXXXX escapes.
const maxBodyBytes = 64 << 10

// Sender carries out a validated request (sms.Sender).
type Sender interface {
	Send(ctx context.Context, r sms.SendRequest) (sms.Result, error)
}

// Authenticator checks the Authorization header and returns the caller:
// its subject and the scopes its token carries. Failures are *sms.Error of
// kind KindUnauthorized or KindForbidden.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Caller, error)
}

// Handler handles API Gateway events for the send function.
type Handler struct {
	auth    Authenticator
	sender  Sender
	log     *slog.Logger
	callers logging.CallerHash
	cancels cancels
	records records
	// suppressions and adminScope serve the suppression list's route
	// (Suppressions).
	suppressions Unsuppressor
	adminScope   string
}

// An Option sets an optional part of a Handler.
type Option func(*Handler)

// LogCallers names callers in the request log with h (keyed with the
// secret's logKey); without it they are named by the unkeyed hash.
func LogCallers(h logging.CallerHash) Option { return func(hd *Handler) { hd.callers = h } }

// NewHandler returns a Handler.
func NewHandler(auth Authenticator, sender Sender, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{auth: auth, sender: sender, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Request is a proxy request reduced to what the handler uses, whichever
// payload format it came in.
type Request struct {
	Method string
	// Path is the request's path as the client sent it (percent-encoded);
	// it may start with a stage or a custom domain's base path.
	Path string
	// PathParams are the route's path parameters as API Gateway decoded
	// them (messageId); without them the id is read from Path.
	PathParams map[string]string
	Headers    http.Header
	Body       []byte
}

// Response is what the handler answers, before it is put in the payload
// format of the request.
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
	// code is the body's error.code, if any, for the request log.
	code string
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
		req, bodyErr := fromV2(ev)
		resp := h.serve(ctx, req, bodyErr)
		return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: string(resp.Body)})
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("apigw: decode payload 1.0 event: %w", err)
	}
	req, bodyErr := fromV1(ev)
	resp := h.serve(ctx, req, bodyErr)
	return json.Marshal(events.APIGatewayProxyResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: string(resp.Body)})
}

// fromV2 converts an HTTP API (payload 2.0) event. The error reports a
// body that is not valid base64; the request then has no body.
func fromV2(ev events.APIGatewayV2HTTPRequest) (Request, error) {
	hdr := make(http.Header, len(ev.Headers))
	for k, v := range ev.Headers {
		hdr.Set(k, v)
	}
	body, err := eventBody(ev.Body, ev.IsBase64Encoded)
	return Request{Method: ev.RequestContext.HTTP.Method, Path: ev.RawPath, PathParams: ev.PathParameters, Headers: hdr, Body: body}, err
}

// fromV1 converts a REST API (payload 1.0) event, like fromV2.
func fromV1(ev events.APIGatewayProxyRequest) (Request, error) {
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
	body, err := eventBody(ev.Body, ev.IsBase64Encoded)
	return Request{Method: ev.HTTPMethod, Path: ev.Path, PathParams: ev.PathParameters, Headers: hdr, Body: body}, err
}

// eventBody returns the raw body of an event, decoding base64 when the
// event says it is encoded.
func eventBody(body string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(body), nil
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, invalidRequest("request body is not valid base64")
	}
	return b, nil
}

// Serve handles one request and never panics.
func (h *Handler) Serve(ctx context.Context, r Request) Response {
	return h.serve(ctx, r, nil)
}

// serve is Serve for a request whose body could not be read (bodyErr): that
// is reported where a malformed body would be, after the checks of the
// caller and the headers.
func (h *Handler) serve(ctx context.Context, r Request, bodyErr error) (resp Response) {
	start := time.Now()
	subject := ""
	defer func() {
		if p := recover(); p != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "panic in handler", slog.String("panic", fmt.Sprint(p)))
			resp = errorResponse(sms.E(sms.KindInternal, "internal error"))
		}
		// The caller is named by a hash of the token's subject, so abuse can
		// be traced to a token without logging who it is; code is the
		// error's, if any.
		attrs := []slog.Attr{slog.Int("status", resp.Status), slog.Duration("latency", time.Since(start))}
		if subject != "" {
			attrs = append(attrs, slog.String("caller", h.callers.Of(subject)))
		}
		if resp.code != "" {
			attrs = append(attrs, slog.String("code", resp.code))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
		metrics.Answer(ctx, resp.Status)
	}()
	// The suppression list's entries lie under the send route too: they
	// are matched first.
	if number, ok := suppressionNumber(r.Path); ok {
		subject, resp = h.serveSuppression(ctx, r, number)
		return resp
	}
	if id, ok := messageTarget(r); ok {
		resp, subject = h.serveMessage(ctx, r, id)
		return resp
	}
	// The path may carry a prefix (a REST API stage, a custom domain's
	// base path); an empty one is a request built in process.
	if r.Path != "" && !strings.HasSuffix(r.Path, sendPath) {
		return errorResponse(sms.E(sms.KindNotFound, "no such route"))
	}
	if r.Method != "" && r.Method != http.MethodPost {
		return jsonResponse(http.StatusMethodNotAllowed, map[string]string{"Allow": http.MethodPost},
			errorEnvelope(codeInvalidRequest, "only POST is supported"))
	}
	caller, err := h.auth.Authenticate(ctx, r.Headers.Get("Authorization"))
	if err != nil {
		return errorResponse(err)
	}
	subject = caller.Subject
	if err := checkContentType(r.Headers.Get("Content-Type")); err != nil {
		return errorResponse(err)
	}
	if len(r.Body) > maxBodyBytes {
		return errorResponse(sms.E(sms.KindInvalid, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes), sms.Code(codePayloadTooLarge)))
	}
	key, err := idempotencyKey(r.Headers)
	if err != nil {
		return errorResponse(err)
	}
	if bodyErr != nil {
		return errorResponse(bodyErr)
	}
	req, err := decodeBody(r.Body)
	if err != nil {
		return errorResponse(err)
	}
	req.IdempotencyKey = key
	req.Caller = caller.Subject
	res, err := h.sender.Send(ctx, req)
	return resultResponse(res, err)
}

func checkContentType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return sms.E(sms.KindInvalid, "Content-Type must be application/json", sms.Code(codeUnsupportedMediaType))
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
		return "", sms.InvalidField("Idempotency-Key", "must be 1-255 printable ASCII characters")
	}
	return k, nil
}

// decodeBody parses the JSON body strictly: one object whose keys are
// exactly "to", "body" and optionally "from", "sendAt" and "validFor"
// (matched case-sensitively, each at most once); every value but validFor
// a JSON string of valid UTF-8; sendAt an RFC 3339 date-time with a time
// zone, validFor an integer number of seconds (their ranges are the
// domain's rules).
func decodeBody(b []byte) (sms.SendRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil {
		return sms.SendRequest{}, invalidRequest(describeJSONError(err))
	} else if tok != json.Delim('{') {
		return sms.SendRequest{}, invalidRequest("request body must be a JSON object")
	}
	fields := map[string]*string{}
	var r sms.SendRequest
	var sendAt string
	targets := map[string]*string{"to": &r.To, "body": &r.Body, "from": &r.From, fieldSendAt: &sendAt}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return sms.SendRequest{}, invalidRequest(describeJSONError(err))
		}
		key, _ := tok.(string)
		dst, known := targets[key]
		if !known && key != fieldValidFor {
			return sms.SendRequest{}, invalidRequest(fmt.Sprintf("unknown field %q", truncate(key, 40)))
		}
		if _, dup := fields[key]; dup {
			return sms.SendRequest{}, invalidRequest(fmt.Sprintf("field %q appears more than once", key))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return sms.SendRequest{}, invalidRequest(describeJSONError(err))
		}
		if key == fieldValidFor {
			if r.ValidFor, err = validFor(raw); err != nil {
				return sms.SendRequest{}, err
			}
			fields[key] = nil
			continue
		}
		if len(raw) == 0 || raw[0] != '"' {
			return sms.SendRequest{}, invalidRequest(fmt.Sprintf("field %q must be a string", key))
		}
		if !validJSONText(raw) {
			return sms.SendRequest{}, sms.InvalidField(key, "must be valid UTF-8 text")
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return sms.SendRequest{}, invalidRequest(fmt.Sprintf("field %q must be a string", key))
		}
		fields[key] = dst
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return sms.SendRequest{}, invalidRequest(describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return sms.SendRequest{}, invalidRequest("request body must be a single JSON object")
	}
	if fields["to"] == nil {
		return r, sms.InvalidField("to", "is required")
	}
	if fields["body"] == nil {
		return r, sms.InvalidField("body", "is required")
	}
	if fields["from"] != nil && r.From == "" {
		return r, sms.InvalidField("from", "must not be empty when given")
	}
	if fields[fieldSendAt] != nil {
		t, err := parseSendAt(sendAt)
		if err != nil {
			return r, err
		}
		r.SendAt = t
	}
	return r, nil
}

// fieldValidFor is the request's optional validity field.
const fieldValidFor = "validFor"

// validFor reads the validFor field: a JSON number without a fractional
// part, in seconds. Its range (sms.CheckValidFor) is checked by the
// domain; a number too large for any range is refused here.
func validFor(raw json.RawMessage) (time.Duration, error) {
	bad := sms.InvalidField(fieldValidFor, "must be an integer number of seconds from 20 to 36000")
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, bad
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
		return 0, bad
	}
	if f <= 0 {
		// Zero would mean "none" in the domain; like a negative value it
		// is out of range.
		return 0, bad
	}
	return time.Duration(f) * time.Second, nil
}

// invalidRequest is the error of a request that is malformed as a whole.
func invalidRequest(msg string) error { return sms.E(sms.KindInvalid, msg) }

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

// API error codes (error.code). The codes that narrow a kind in the domain
// (sms.CodeInvalidTo, sms.CodeSenderNotAllowed, …) are part of the same
// list; the last two are the HTTP layer's own.
const (
	codeInvalidRequest         = "invalid_request"
	codeUnauthorized           = "unauthorized"
	codeForbidden              = "forbidden"
	codeConflict               = "conflict"
	codeRateLimited            = "rate_limited"
	codeProviderRejected       = "provider_rejected"
	codeProviderError          = "provider_error"
	codeProviderOutcomeUnknown = "provider_outcome_unknown"
	codeUnavailable            = "unavailable"
	codeInternal               = "internal"
	codePayloadTooLarge        = "payload_too_large"
	codeUnsupportedMediaType   = "unsupported_media_type"
	codeNotFound               = "not_found"
)

// answers is how every error reaches a client: the HTTP status and API
// code for an error of kind whose code is code. The first row of a kind is
// its answer when the error carries no code, or one not listed for it.
var answers = []struct {
	kind   sms.Kind
	code   string
	status int
}{
	{sms.KindInvalid, codeInvalidRequest, http.StatusBadRequest},
	{sms.KindInvalid, sms.CodeInvalidTo, http.StatusBadRequest},
	{sms.KindInvalid, sms.CodeInvalidBody, http.StatusBadRequest},
	{sms.KindInvalid, sms.CodeInvalidFrom, http.StatusBadRequest},
	{sms.KindInvalid, sms.CodeIdempotencyMismatch, http.StatusUnprocessableEntity},
	{sms.KindInvalid, codePayloadTooLarge, http.StatusRequestEntityTooLarge},
	{sms.KindInvalid, codeUnsupportedMediaType, http.StatusUnsupportedMediaType},
	{sms.KindUnauthorized, codeUnauthorized, http.StatusUnauthorized},
	{sms.KindForbidden, codeForbidden, http.StatusForbidden},
	{sms.KindForbidden, sms.CodeSenderNotAllowed, http.StatusForbidden},
	{sms.KindForbidden, sms.CodeDestinationNotAllowed, http.StatusForbidden},
	{sms.KindConflict, codeConflict, http.StatusConflict},
	{sms.KindRateLimited, codeRateLimited, http.StatusTooManyRequests},
	{sms.KindRateLimited, sms.CodeQuotaExceeded, http.StatusTooManyRequests},
	{sms.KindTransient, codeUnavailable, http.StatusServiceUnavailable},
	{sms.KindAmbiguous, codeProviderOutcomeUnknown, http.StatusBadGateway},
	{sms.KindUnavailable, codeUnavailable, http.StatusServiceUnavailable},
	{sms.KindRejected, codeProviderRejected, http.StatusUnprocessableEntity},
	{sms.KindRejected, sms.CodeRecipientOptedOut, http.StatusUnprocessableEntity},
	{sms.KindProviderAccount, codeProviderError, http.StatusBadGateway},
	{sms.KindPartial, codeProviderError, http.StatusBadGateway},
	{sms.KindNotFound, codeNotFound, http.StatusNotFound},
	{sms.KindInternal, codeInternal, http.StatusInternalServerError},
}

// answerOf looks e up in answers. A kind without a row is internal.
func answerOf(e *sms.Error) (status int, code string) {
	status, code = http.StatusInternalServerError, codeInternal
	found := false
	for _, a := range answers {
		if a.kind != e.Kind {
			continue
		}
		if a.code == e.Code {
			return a.status, a.code
		}
		if !found {
			status, code, found = a.status, a.code, true
		}
	}
	return status, code
}

// resultResponse maps the sender's answer to HTTP. A failed send, or one
// whose outcome is unknown, answers its result with the error added.
func resultResponse(res sms.Result, err error) Response {
	if err == nil {
		status := http.StatusOK
		if res.Status == sms.StatusQueued || res.Status == sms.StatusScheduled {
			status = http.StatusAccepted
		}
		return jsonResponse(status, nil, res)
	}
	if res.Status == sms.StatusFailed || res.Status == sms.StatusUnknown {
		e := sms.AsError(err)
		status, code := answerOf(e)
		resp := jsonResponse(status, nil, failedResult{Result: res, Error: errorBody{Code: code, Message: e.Message, ProviderCode: e.ProviderCode}})
		resp.code = code
		return resp
	}
	return errorResponse(err)
}

// failedResult is the body of a failed send, or of one whose outcome is
// unknown: the result and its error.
type failedResult struct {
	sms.Result
	Error errorBody `json:"error"`
}

// errorBody is the JSON shape of an error as clients see it.
type errorBody struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	ProviderCode string `json:"providerCode,omitempty"`
}

func errorResponse(err error) Response {
	e := sms.AsError(err)
	status, code := answerOf(e)
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
		if ra <= 0 && status == http.StatusConflict {
			// A conflict that waiting does not resolve (a message that can
			// no longer be canceled) says so by naming no time.
			break
		}
		if ra <= 0 {
			ra = time.Second
		}
		hdr["Retry-After"] = strconv.Itoa(int((ra + time.Second - 1) / time.Second))
	}
	resp := jsonResponse(status, hdr, errorEnvelope(code, msg))
	resp.code = code
	return resp
}

// errorEnvelope is the body of an error without a result.
func errorEnvelope(code, msg string) any {
	return map[string]errorBody{"error": {Code: code, Message: msg}}
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
