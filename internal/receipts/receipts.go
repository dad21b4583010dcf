// Package receipts is the receipts function's handler: the providers'
// status callbacks (Twilio) and delivery receipts (Vonage) arrive as API
// Gateway events (HTTP API payload 2.0 or REST API payload 1.0), are
// verified against the provider's signature (or, for Vonage, a token),
// mapped to the domain's statuses and recorded in the message's status
// record. docs/receipts.md describes the routes, the verification, the
// mapping and the cost.
package receipts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/sms"
)

// The receipt routes (template.yaml's ReceiptsTwilioRoute,
// ReceiptsVonageGetRoute and ReceiptsVonagePostRoute).
const (
	TwilioPath = "/messaging/sms/receipts/twilio"
	VonagePath = "/messaging/sms/receipts/vonage"
)

// The providers whose receipts the handler takes, as SMS_PROVIDER names
// them and as records name them.
const (
	ProviderTwilio = "twilio"
	ProviderVonage = "vonage"
)

// maxBodyBytes bounds a receipt's body. A receipt is well under 2 KB;
// anything far larger is not one.
const maxBodyBytes = 64 << 10

// MaxTimestampSkew is how far a signed Vonage receipt's timestamp may be
// from the handler's clock, either way: an older one is a replay.
const MaxTimestampSkew = 5 * time.Minute

// Recorder records a status change in a message's status record
// (sms.StatusStore).
type Recorder interface {
	Record(ctx context.Context, serviceID string, ch sms.Change) (changed bool, err error)
}

// Keys are what verifies receipts: the Twilio account's auth token (Twilio
// signs callbacks with it, even when API keys send), and the Vonage
// account's signature secret and method, or the token the operator put in
// the account's receipt URL. A provider without its key has its receipts
// refused.
type Keys struct {
	TwilioAuthToken       string
	VonageSignatureSecret string
	// VonageSignatureMethod is one of vonage.SignatureMethods; empty means
	// vonage.DefaultSignatureMethod.
	VonageSignatureMethod string
	// VonageReceiptsToken is used only without a VonageSignatureSecret.
	VonageReceiptsToken string
}

// KeySource provides the keys: read at start-up and cached, re-read when a
// receipt fails verification against them (a rotated key), at most as
// often as the source allows.
type KeySource interface {
	Keys(ctx context.Context) (Keys, error)
	// Refresh re-reads the keys and reports whether they changed.
	Refresh(ctx context.Context) (Keys, bool, error)
}

// OptOut is what a receipt says when the recipient opted out of messages
// from the sender: Twilio's error 21610 or Vonage's err-code 9.
type OptOut struct {
	Provider  string
	ServiceID string
	// To is the recipient, in E.164.
	To string
	// ProviderCode is the provider's code that said so.
	ProviderCode string
}

// OptOutHook hears of every verified receipt that says the recipient opted
// out, after it was recorded. It is where a suppression list will learn
// of opt-outs; none is kept yet.
type OptOutHook func(ctx context.Context, o OptOut)

// Config holds the options of a Handler.
type Config struct {
	// PublicURL is SMS_PUBLIC_URL: Twilio's signature is verified over
	// the URL rebuilt from it, TwilioPath and the received ref, never over
	// the event's path (a custom domain's mapping may change that). Empty:
	// Twilio's receipts cannot be verified and are refused.
	PublicURL string
	// Clock is the time source of the Vonage timestamp window; nil means
	// sms.SystemClock.
	Clock sms.Clock
	// OptOut, when set, is called for receipts saying the recipient opted
	// out.
	OptOut OptOutHook
}

// Handler handles the receipt routes. It is safe for concurrent use.
type Handler struct {
	store Recorder
	keys  KeySource
	log   *slog.Logger
	cfg   Config
}

// NewHandler returns a handler recording into store (nil: status tracking
// is off, and verified receipts are acknowledged and dropped), verifying
// with keys, logging to log (nil discards).
func NewHandler(store Recorder, keys KeySource, log *slog.Logger, cfg Config) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Handler{store: store, keys: keys, log: log, cfg: cfg}
}

// Start loads the keys (a failure is the caller's start-up failure) and
// logs, for each of the providers in use, why its receipts will be
// refused, if they will be: a Twilio account without an auth token, a
// Vonage account with neither a signature secret nor a receipts token, no
// SMS_PUBLIC_URL. It also says when the Vonage callback URL is too long to
// be sent with each message.
func (h *Handler) Start(ctx context.Context, providers ...string) error {
	k, err := h.keys.Keys(ctx)
	if err != nil {
		return fmt.Errorf("receipts: load keys: %w", err)
	}
	if h.store == nil {
		h.log.LogAttrs(ctx, slog.LevelInfo, "status tracking is off (SMS_STATUS_TRACKING=false): receipts are verified and dropped")
	}
	for _, p := range providers {
		switch p {
		case ProviderTwilio:
			switch {
			case h.cfg.PublicURL == "":
				h.log.LogAttrs(ctx, slog.LevelWarn, "Twilio status callbacks are refused: SMS_PUBLIC_URL is not set, and Twilio signs the URL it calls", slog.String("event", "receipts_refused"))
			case k.TwilioAuthToken == "":
				h.log.LogAttrs(ctx, slog.LevelWarn, "Twilio status callbacks are refused: the secret has no authToken, which Twilio signs them with (also needed with API keys)", slog.String("event", "receipts_refused"))
			}
		case ProviderVonage:
			switch {
			case k.VonageSignatureSecret != "":
				if cb := h.VonageCallback(); len(cb) > vonageMaxCallback {
					h.log.LogAttrs(ctx, slog.LevelWarn, "the Vonage callback URL is longer than Vonage's 100 characters: messages do not carry it; set the account's delivery receipt URL to it instead",
						slog.String("url", cb), slog.Int("length", len(cb)))
				}
			case k.VonageReceiptsToken != "":
			default:
				h.log.LogAttrs(ctx, slog.LevelWarn, "Vonage delivery receipts are refused: the secret has neither signatureSecret nor receiptsToken", slog.String("event", "receipts_refused"))
			}
		}
	}
	return nil
}

// vonageMaxCallback is the longest callback Vonage takes (vonage.MaxCallback).
const vonageMaxCallback = 100

// TwilioURL is the URL of the Twilio receipts route, without its ref.
func (h *Handler) TwilioURL() string { return h.cfg.PublicURL + TwilioPath }

// VonageCallback is the URL of the Vonage receipts route, the callback of
// signed receipts.
func (h *Handler) VonageCallback() string { return h.cfg.PublicURL + VonagePath }

// Request is a receipt request reduced to what the handler uses, whichever
// payload format it came in.
type Request struct {
	Method string
	// Path is the route's path (TwilioPath or VonagePath); it only picks
	// the provider.
	Path    string
	Query   url.Values
	Headers http.Header
	Body    []byte
}

// Response is the handler's answer, before it is put in the payload format
// of the request.
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// Invoke is the Lambda entry point: it accepts the raw event, detects the
// payload format and answers in the same format.
func (h *Handler) Invoke(ctx context.Context, event json.RawMessage) (json.RawMessage, error) {
	var probe struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(event, &probe)
	if probe.Version == "2.0" {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(event, &ev); err != nil {
			return nil, fmt.Errorf("receipts: decode payload 2.0 event: %w", err)
		}
		resp := h.fromEvent(ctx, fromV2(ev))
		return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: string(resp.Body)})
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, fmt.Errorf("receipts: decode payload 1.0 event: %w", err)
	}
	resp := h.fromEvent(ctx, fromV1(ev))
	return json.Marshal(events.APIGatewayProxyResponse{StatusCode: resp.Status, Headers: resp.Headers, Body: string(resp.Body)})
}

// decoded is a request read from an event, or why it could not be.
type decoded struct {
	req Request
	err string
}

func (h *Handler) fromEvent(ctx context.Context, d decoded) Response {
	if d.err != "" {
		resp := errorResponse(http.StatusBadRequest, codeInvalidRequest, d.err)
		h.logRequest(ctx, d.req, resp, slog.String("reason", d.err))
		return resp
	}
	return h.Serve(ctx, d.req)
}

// fromV2 converts an HTTP API (payload 2.0) event. The route's path comes
// from the route key when there is one ($default routes have none).
func fromV2(ev events.APIGatewayV2HTTPRequest) decoded {
	hdr := make(http.Header, len(ev.Headers))
	for k, v := range ev.Headers {
		hdr.Set(k, v)
	}
	path := ev.RawPath
	if _, p, ok := strings.Cut(ev.RouteKey, " "); ok {
		path = p
	}
	d := decoded{req: Request{Method: ev.RequestContext.HTTP.Method, Path: path, Headers: hdr}}
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		d.err = "the query string is malformed"
	}
	d.req.Query = q
	if d.req.Body, err = eventBody(ev.Body, ev.IsBase64Encoded); err != nil && d.err == "" {
		d.err = err.Error()
	}
	return d
}

// fromV1 converts a REST API (payload 1.0) event, like fromV2; the route's
// path is the resource.
func fromV1(ev events.APIGatewayProxyRequest) decoded {
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
	q := url.Values{}
	for k, vs := range ev.MultiValueQueryStringParameters {
		q[k] = append(q[k], vs...)
	}
	for k, v := range ev.QueryStringParameters {
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	path := ev.Resource
	if path == "" {
		path = ev.Path
	}
	d := decoded{req: Request{Method: ev.HTTPMethod, Path: path, Query: q, Headers: hdr}}
	var err error
	if d.req.Body, err = eventBody(ev.Body, ev.IsBase64Encoded); err != nil {
		d.err = err.Error()
	}
	return d
}

func eventBody(body string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(body), nil
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("the body is not valid base64")
	}
	return b, nil
}

// Serve handles one request and never panics.
func (h *Handler) Serve(ctx context.Context, r Request) (resp Response) {
	start := time.Now()
	var attrs []slog.Attr
	defer func() {
		if p := recover(); p != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "panic in handler", slog.String("panic", fmt.Sprint(p)))
			resp = errorResponse(http.StatusInternalServerError, codeInternal, http.StatusText(http.StatusInternalServerError))
		}
		h.logRequest(ctx, r, resp, append(attrs, slog.Duration("latency", time.Since(start)))...)
		metrics.Answer(ctx, resp.Status)
	}()
	var rc receipt
	switch {
	case strings.HasSuffix(r.Path, TwilioPath):
		rc = h.twilio(ctx, r)
	case strings.HasSuffix(r.Path, VonagePath):
		rc = h.vonage(ctx, r)
	default:
		return errorResponse(http.StatusNotFound, codeNotFound, "no such route")
	}
	attrs = rc.attrs()
	if rc.refusal != nil {
		return rc.refusal.response()
	}
	return h.record(ctx, &rc, &attrs)
}

// logRequest logs one line per request: the route, the answer and what
// the receipt was about. Nothing secret is in it: no signature, token,
// key or phone number.
func (h *Handler) logRequest(ctx context.Context, r Request, resp Response, attrs ...slog.Attr) {
	level := slog.LevelInfo
	if resp.Status >= 500 {
		level = slog.LevelError
	}
	attrs = append([]slog.Attr{slog.String("route", r.Method+" "+routeName(r.Path)), slog.Int("status", resp.Status)}, attrs...)
	h.log.LogAttrs(ctx, level, "receipt", attrs...)
}

// routeName is the route of path, or "unknown" (the path itself may be
// anything a caller sent).
func routeName(path string) string {
	switch {
	case strings.HasSuffix(path, TwilioPath):
		return TwilioPath
	case strings.HasSuffix(path, VonagePath):
		return VonagePath
	}
	return "unknown"
}

// receipt is a verified receipt mapped to the domain, or why it was
// refused.
type receipt struct {
	provider string
	// refusal, when set, is the answer: the receipt was not verified, or
	// is malformed.
	refusal *refusal
	// providerStatus is the provider's status word, as received.
	providerStatus string
	// serviceID is the message's service id (Twilio's ref, Vonage's
	// client-ref); "" when the receipt carries none.
	serviceID string
	// mapped is false for a provider status that says nothing the record
	// keeps (then change is empty).
	mapped bool
	change sms.Change
	// to is the recipient in E.164, when the receipt names it.
	to string
	// optOut: the receipt says the recipient opted out.
	optOut bool
}

func (rc receipt) attrs() []slog.Attr {
	attrs := []slog.Attr{slog.String("provider", rc.provider)}
	if rc.refusal != nil {
		return append(attrs, slog.String("event", rc.refusal.event), slog.String("reason", rc.refusal.reason))
	}
	attrs = append(attrs, slog.String("providerStatus", rc.providerStatus))
	if rc.serviceID != "" {
		attrs = append(attrs, slog.String("serviceId", rc.serviceID))
	}
	if id := rc.change.ProviderMessageID + rc.change.ForProviderMessageID; id != "" {
		attrs = append(attrs, slog.String("providerMessageId", id))
	}
	if rc.mapped {
		attrs = append(attrs, slog.String("recordStatus", string(rc.change.Status)))
	}
	if rc.change.ProviderCode != "" {
		attrs = append(attrs, slog.String("providerCode", rc.change.ProviderCode))
	}
	return attrs
}

// record records a verified receipt: 200 once it is recorded, or when
// there is nothing to record; 5xx when recording failed, so that the
// provider retries.
func (h *Handler) record(ctx context.Context, rc *receipt, attrs *[]slog.Attr) Response {
	switch {
	case !rc.mapped:
		*attrs = append(*attrs, slog.String("event", "receipt_ignored"))
		return okResponse()
	case rc.serviceID == "":
		// Every message sent with status tracking carries its service id;
		// one without is not tracked (sent before tracking, or by another
		// system on the same account).
		*attrs = append(*attrs, slog.String("event", "receipt_unmatched"))
		return okResponse()
	case h.store == nil:
		*attrs = append(*attrs, slog.String("event", "receipt_untracked"))
		return okResponse()
	}
	changed, err := h.store.Record(ctx, rc.serviceID, rc.change)
	if err != nil {
		e := sms.AsError(err)
		*attrs = append(*attrs, slog.String("event", "receipt_record_failed"), slog.String("kind", e.Kind.String()), slog.String("error", err.Error()))
		if e.Kind == sms.KindUnavailable {
			return errorResponse(http.StatusServiceUnavailable, codeUnavailable, "the status store is unavailable; retry later")
		}
		return errorResponse(http.StatusInternalServerError, codeInternal, http.StatusText(http.StatusInternalServerError))
	}
	*attrs = append(*attrs, slog.Bool("changed", changed))
	metrics.Inc(ctx, metrics.Receipts, metrics.Provider(rc.provider), metrics.Outcome(string(rc.change.Status)))
	if rc.change.Status == sms.StatusUndelivered {
		*attrs = append(*attrs, slog.String("region", Region(rc.to)))
	}
	if rc.optOut && h.cfg.OptOut != nil {
		h.cfg.OptOut(ctx, OptOut{Provider: rc.provider, ServiceID: rc.serviceID, To: rc.to, ProviderCode: rc.change.ProviderCode})
	}
	return okResponse()
}

// refusal is a receipt's refusal: its HTTP answer and what the log says.
type refusal struct {
	status  int
	code    string
	message string // client-safe
	event   string // the log's event
	reason  string // the log's reason: never a secret or a value received
	allow   string // the Allow header of a 405
}

func (r *refusal) response() Response {
	resp := errorResponse(r.status, r.code, r.message)
	if r.allow != "" {
		resp.Headers["Allow"] = r.allow
	}
	return resp
}

// invalidSignature is the refusal of a receipt that failed verification.
func invalidSignature(reason string) *refusal {
	return &refusal{status: http.StatusForbidden, code: codeInvalidSignature, message: "the receipt's signature is not valid",
		event: "invalid_signature", reason: reason}
}

// malformed is the refusal of a receipt that cannot be read.
func malformed(status int, code, message string) *refusal {
	return &refusal{status: status, code: code, message: message, event: "receipt_malformed", reason: message}
}

// methodNotAllowed is the refusal of a method the route does not take.
func methodNotAllowed(allow string) *refusal {
	return &refusal{status: http.StatusMethodNotAllowed, code: codeInvalidRequest, message: "only " + allow + " is supported",
		event: "receipt_malformed", reason: "method not allowed", allow: allow}
}

// verify runs check against the cached keys and, when it fails, once more
// against keys re-read from the source (a key rotated since they were
// read); the source spaces real reads out. It returns nil when check
// passed, invalidSignature(failed) when it did not, and keysUnavailable
// when the keys could not be read: the receipt may be genuine, so the
// provider is asked to send it again rather than told it is forged.
func (h *Handler) verify(ctx context.Context, check func(Keys) bool, failed string) *refusal {
	k, err := h.keys.Keys(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "receipt keys unavailable", slog.String("error", err.Error()))
		return keysUnavailable()
	}
	if check(k) {
		return nil
	}
	k, changed, err := h.keys.Refresh(ctx)
	switch {
	case err != nil:
		h.log.LogAttrs(ctx, slog.LevelError, "receipt keys refresh failed", slog.String("error", err.Error()))
		return keysUnavailable()
	case changed && check(k):
		return nil
	}
	return invalidSignature(failed)
}

// keysUnavailable is the refusal of a receipt that could not be verified
// because the keys could not be read: 503, so that the provider retries.
func keysUnavailable() *refusal {
	return &refusal{status: http.StatusServiceUnavailable, code: codeUnavailable, message: "the receipt cannot be verified now; retry later",
		event: "receipt_keys_unavailable", reason: "the keys could not be read"}
}

// equalSecret compares a received secret with the configured one in
// constant time, whatever their lengths.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// The error codes of the handler's answers (the API's codes).
const (
	codeInvalidRequest       = "invalid_request"
	codeInvalidSignature     = "invalid_signature"
	codeNotFound             = "not_found"
	codePayloadTooLarge      = "payload_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeUnavailable          = "unavailable"
	codeInternal             = "internal"
)

// okResponse acknowledges a receipt: 200 with an empty JSON object.
func okResponse() Response {
	return Response{Status: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, Body: []byte("{}")}
}

func errorResponse(status int, code, msg string) Response {
	b, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": msg}})
	hdr := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	if status == http.StatusServiceUnavailable {
		hdr["Retry-After"] = strconv.Itoa(1)
	}
	return Response{Status: status, Headers: hdr, Body: b}
}
