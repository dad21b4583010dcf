package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/openapicheck"
)

// stableCodes is the error.code list of README.md#http-api. The contract test
// checks that openapi.yaml enumerates exactly these; the fuzz test that
// every answer uses one of them.
var stableCodes = []string{
	codeInvalidRequest, sms.CodeInvalidTo, sms.CodeInvalidBody, sms.CodeInvalidFrom,
	codeUnauthorized, codeForbidden, sms.CodeSenderNotAllowed, sms.CodeDestinationNotAllowed, codeConflict, sms.CodeIdempotencyMismatch,
	codePayloadTooLarge, codeUnsupportedMediaType, codeProviderRejected,
	codeProviderError, codeProviderOutcomeUnknown, codeRateLimited, codeUnavailable, codeInternal,
	sms.CodeQuotaExceeded, sms.CodeRecipientOptedOut, codeNotFound,
}

// documentedCodes lists every status openapi.yaml documents for
// POST /messaging/sms with the error codes its body may carry (none for the
// two success statuses). The contract test checks it against the document,
// so the fuzz test can rely on it without parsing YAML.
var documentedCodes = map[int][]string{
	http.StatusOK:                    nil,
	http.StatusAccepted:              nil,
	http.StatusBadRequest:            {codeInvalidRequest, sms.CodeInvalidTo, sms.CodeInvalidBody, sms.CodeInvalidFrom},
	http.StatusUnauthorized:          {codeUnauthorized},
	http.StatusForbidden:             {codeForbidden, sms.CodeSenderNotAllowed, sms.CodeDestinationNotAllowed},
	http.StatusConflict:              {codeConflict},
	http.StatusRequestEntityTooLarge: {codePayloadTooLarge},
	http.StatusUnsupportedMediaType:  {codeUnsupportedMediaType},
	http.StatusUnprocessableEntity:   {codeProviderRejected, sms.CodeRecipientOptedOut, sms.CodeIdempotencyMismatch},
	http.StatusTooManyRequests:       {codeRateLimited, sms.CodeQuotaExceeded},
	http.StatusInternalServerError:   {codeInternal},
	http.StatusBadGateway:            {codeProviderError, codeProviderOutcomeUnknown},
	http.StatusServiceUnavailable:    {codeUnavailable},
}

// requiredHeaders are the response headers README.md#http-api promises per
// status; the document must mark them required and the handler must send
// them.
var requiredHeaders = map[int][]string{
	http.StatusUnauthorized:       {"WWW-Authenticate"},
	http.StatusConflict:           {"Retry-After"},
	http.StatusTooManyRequests:    {"Retry-After"},
	http.StatusServiceUnavailable: {"Retry-After"},
}

// resultCodes are the codes carried by a result (status failed, or unknown
// for codeProviderOutcomeUnknown) rather than by a plain error body.
var resultCodes = []string{codeProviderRejected, sms.CodeRecipientOptedOut, codeProviderError, codeProviderOutcomeUnknown}

// contractT0 is the fixed time of the contract scenarios.
var contractT0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// contractSecret signs the scenarios' HS256 tokens (test-only).
var contractSecret = []byte("openapi-contract-test-secret-0123456789")

const (
	contractScope        = "sms:send"
	contractReadAllScope = "sms:read-all"
)

// stillClock is an sms.Clock that stands still: with MaxWait zero the
// dispatcher only ever takes a slot that starts now.
type stillClock struct{ t time.Time }

func (c stillClock) Now() time.Time { return c.t }

func (c stillClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// verifierAuth adapts the real JWT verifier to Authenticator.
type verifierAuth struct{ v *auth.Verifier }

func (a verifierAuth) Authenticate(ctx context.Context, authorization string) (auth.Caller, error) {
	c, err := a.v.Verify(ctx, authorization)
	if err != nil {
		return auth.Caller{}, err
	}
	return c.Caller(), nil
}

// scriptedProvider answers with the next scripted error (nil accepts) and,
// when armed, holds one call until released.
type scriptedProvider struct {
	mu      sync.Mutex
	errs    []error
	receipt sms.Receipt
	calls   int
	entered chan struct{} // receives when a held call has started
	release chan struct{} // closed to let a held call finish
}

func (p *scriptedProvider) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	entered, release := p.entered, p.release
	p.entered, p.release = nil, nil
	var err error
	if len(p.errs) > 0 {
		err, p.errs = p.errs[0], p.errs[1:]
	}
	rc := p.receipt
	p.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return sms.Receipt{}, ctx.Err()
		}
	}
	if err != nil {
		return rc, err // a partial failure's receipt names the accepted part
	}
	if rc.ID == "" {
		rc = sms.Receipt{ID: fmt.Sprintf("SM%032x", n)}
	}
	return rc, nil
}

// hold makes the next call wait for release after signalling entered.
func (p *scriptedProvider) hold() (entered chan struct{}, release chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entered, p.release = make(chan struct{}, 1), make(chan struct{})
	return p.entered, p.release
}

func (p *scriptedProvider) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// downLimiter is a rate limiter whose table cannot be reached.
type downLimiter struct{}

func (downLimiter) Reserve(context.Context, time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, errors.New("dynamo: take slot: connection refused")
}

func (downLimiter) ReserveN(context.Context, int, int, time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, errors.New("dynamo: take slot: connection refused")
}

// downLedger is an idempotency store whose table cannot be reached.
type downLedger struct{}

func (downLedger) Claim(context.Context, string, string, time.Duration) (sms.Claim, error) {
	return sms.Claim{}, errors.New("dynamo: claim: connection refused")
}

func (downLedger) Complete(context.Context, string, string, []byte, time.Duration) error {
	return errors.New("dynamo: complete: connection refused")
}

func (downLedger) Release(context.Context, string) error {
	return errors.New("dynamo: release: connection refused")
}

// unreadableLedger holds a completed record whose outcome cannot be decoded.
type unreadableLedger struct{}

func (unreadableLedger) Claim(context.Context, string, string, time.Duration) (sms.Claim, error) {
	return sms.Claim{State: sms.Done, Outcome: []byte("{")}, nil
}

func (unreadableLedger) Complete(context.Context, string, string, []byte, time.Duration) error {
	return nil
}

func (unreadableLedger) Release(context.Context, string) error { return nil }

// contractOptions shape the service behind the handler.
type contractOptions struct {
	queueOff     bool
	queueFull    bool
	noSlot       bool
	limiterDown  bool
	providerErrs []error
	receipt      sms.Receipt
	allowed      []string
	countries    []string
	ledger       sms.Ledger
	// records replaces the status store the GET reads (the sender still
	// writes to the memory store); noRecords runs without status tracking.
	records   Records
	noRecords bool
	// recipientLimit, when positive, is the messages a number may get in
	// 10 minutes; suppressed numbers are on the suppression list; budget,
	// when positive, is the daily segment budget.
	recipientLimit int
	suppressed     []string
	budget         int64
}

// exchange is one request served during a scenario.
type exchange struct {
	name string
	req  Request
	resp Response
	// schemaRefuses marks a request the documented schema must refuse.
	schemaRefuses bool
}

// contractEnv is the real handler over the real send service, with
// in-memory limiter, queue and ledger and a scripted provider.
type contractEnv struct {
	t        testing.TB
	name     string
	h        *Handler
	provider *scriptedProvider
	queue    *memory.Queue
	status   *memory.StatusStore

	mu   sync.Mutex
	seen []exchange
}

// mustLimiter returns an in-memory limiter for cfg and fails the test on
// error.
func mustLimiter(t testing.TB, cfg memory.LimiterConfig) *memory.Limiter {
	t.Helper()
	l, err := memory.NewLimiter(cfg)
	if err != nil {
		t.Fatalf("memory.NewLimiter: %v", err)
	}
	return l
}

// mustQueue returns an in-memory queue for cfg and fails the test on error.
func mustQueue(t testing.TB, cfg memory.QueueConfig) *memory.Queue {
	t.Helper()
	q, err := memory.NewQueue(cfg)
	if err != nil {
		t.Fatalf("memory.NewQueue: %v", err)
	}
	return q
}

func newContractEnv(t testing.TB, name string, o contractOptions) *contractEnv {
	t.Helper()
	clock := stillClock{contractT0}
	var limiter sms.Limiter = mustLimiter(t, memory.LimiterConfig{Rate: 10, Clock: clock, DailySegments: o.budget})
	switch {
	case o.limiterDown:
		limiter = downLimiter{}
	case o.noSlot:
		if _, ok, err := limiter.Reserve(t.Context(), 0); !ok || err != nil {
			t.Fatalf("priming limiter: ok = %v, err = %v, want a slot", ok, err)
		}
	}
	queue := mustQueue(t, memory.QueueConfig{Capacity: 8})
	if o.queueFull {
		queue = mustQueue(t, memory.QueueConfig{Capacity: 1})
		if err := queue.Enqueue(t.Context(), sms.QueuedMessage{Message: sms.Message{ID: "filler", To: "+14155552671", Body: "x"}}); err != nil {
			t.Fatalf("filling queue: %v", err)
		}
	}
	ledger := o.ledger
	if ledger == nil {
		ledger = memory.NewLedger(memory.LedgerConfig{Clock: clock})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := &scriptedProvider{errs: o.providerErrs, receipt: o.receipt}
	d := sms.NewDispatcher(p, limiter, log, sms.DispatcherConfig{Clock: clock, Name: "twilio"})
	// The deployment's default rules, with the senders and countries the
	// scenario allows.
	guard := sms.NewGuard(sms.GuardConfig{
		DefaultFrom: "+14155550100", AllowedSenders: o.allowed, AllowedCountries: o.countries,
		BlockedNumberTypes: sms.DefaultBlockedNumberTypes, BlockNonGeographic: true, SmartEncoding: true,
	}, log)
	quota := memory.NewQuotaStore(memory.QuotaConfig{Limits: sms.QuotaLimits{Recipient: sms.Limit{Count: o.recipientLimit, Window: 10 * time.Minute}}, Clock: clock})
	for _, n := range o.suppressed {
		if err := quota.Suppress(t.Context(), n); err != nil {
			t.Fatalf("Suppress: %v", err)
		}
	}
	status := memory.NewStatusStore(memory.StatusConfig{Clock: clock})
	sender := sms.NewSender(d, queue, ledger, sms.SenderConfig{
		DefaultFrom:  "+14155550100",
		Guard:        guard,
		QueueEnabled: !o.queueOff,
		Quota:        quota,
		Status:       status,
	})
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{contractSecret}, RequiredScope: contractScope, Clock: clock})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	var records Records = status
	switch {
	case o.noRecords:
		records = nil
	case o.records != nil:
		records = o.records
	}
	h := NewHandler(verifierAuth{v}, sender, log, ReadsStatus(records, contractReadAllScope))
	return &contractEnv{t: t, name: name, h: h, provider: p, queue: queue, status: status}
}

// contractToken signs a token for the scenarios, valid from contractT0 for an hour
// unless claims override it.
func contractToken(t testing.TB, override map[string]any) string {
	t.Helper()
	claims := map[string]any{"sub": "client-7", "scope": contractScope,
		"iat": contractT0.Unix(), "exp": contractT0.Add(time.Hour).Unix()}
	for k, v := range override {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	tok, err := auth.Sign(contractSecret, claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// post serves a POST with a valid token and JSON content type; hdr holds
// name/value pairs that replace those headers (an empty value removes one).
func (e *contractEnv) post(step, body string, hdr ...string) Response {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+contractToken(e.t, nil))
	h.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			h.Del(hdr[i])
			continue
		}
		h.Set(hdr[i], hdr[i+1])
	}
	r := Request{Method: http.MethodPost, Path: sendPath, Headers: h, Body: []byte(body)}
	resp := e.h.Serve(e.t.Context(), r)
	e.mu.Lock()
	e.seen = append(e.seen, exchange{name: e.name + "/" + step, req: r, resp: resp})
	e.mu.Unlock()
	return resp
}

// sendOnce is a scenario that serves one request.
func sendOnce(body string, hdr ...string) func(e *contractEnv) Response {
	return func(e *contractEnv) Response { return e.post("request", body, hdr...) }
}

const (
	contractTo   = "+14155552671"
	contractBody = `{"to":"+14155552671","body":"Your code is 482901"}`
)

// contractScenario drives the handler into one documented answer.
type contractScenario struct {
	name string
	opts contractOptions
	run  func(e *contractEnv) Response
	// wantStatus and wantCode are the answer of the request run returns
	// (wantCode empty for a result without error).
	wantStatus int
	wantCode   string
	// schemaRefuses means the request breaks a rule the documented
	// request schema states, so the schema must refuse it too.
	schemaRefuses bool
}

func contractScenarios() []contractScenario {
	rejected := sms.E(sms.KindRejected, "the recipient number is not a mobile number",
		sms.ProviderDetail("21614", "To number: +14155552671, is not a mobile number"))
	return []contractScenario{
		{name: "sent GSM-7", run: sendOnce(contractBody), wantStatus: 200},
		{name: "sent UCS-2 with alphanumeric sender", opts: contractOptions{allowed: []string{"My Shop"}}, run: sendOnce(`{"to":"+4915123456789","body":"Ihr Code lautet 482901 ✅","from":"My Shop"}`), wantStatus: 200},
		{name: "sent from an allowed number", opts: contractOptions{allowed: []string{"+14155550100"}},
			run: sendOnce(`{"to":"+14155552671","body":"hi","from":"+14155550100"}`), wantStatus: 200},
		{name: "vonage multipart sent", opts: contractOptions{receipt: sms.Receipt{ID: "0A0000001234ABCD"}},
			run: sendOnce(`{"to":"+447911123456","body":"` + strings.Repeat("Parcel update. ", 12) + `"}`), wantStatus: 200},
		{name: "idempotent replay", run: func(e *contractEnv) Response {
			first := e.post("first", contractBody, "Idempotency-Key", "order-1")
			again := e.post("replay", contractBody, "Idempotency-Key", "order-1")
			if !bytes.Equal(again.Body, first.Body) {
				e.t.Errorf("replayed body = %s, want the first answer %s", again.Body, first.Body)
			}
			if got := e.provider.callCount(); got != 1 {
				e.t.Errorf("provider calls = %d, want 1", got)
			}
			return again
		}, wantStatus: 200},
		{name: "queued without a slot", opts: contractOptions{noSlot: true}, run: sendOnce(contractBody), wantStatus: 202},
		// schedule_contract_test.go
		{name: "scheduled", run: sendOnce(contractScheduledBody(2 * time.Minute)), wantStatus: 202},
		{name: "sendAt too soon", run: sendOnce(contractScheduledBody(30 * time.Second)), wantStatus: 400, wantCode: codeInvalidRequest},
		{name: "sendAt without a time zone", run: sendOnce(`{"to":"+14155552671","body":"hi","sendAt":"2026-03-01T10:00:00"}`),
			wantStatus: 400, wantCode: codeInvalidRequest, schemaRefuses: true},
		{name: "queued after a transient provider failure",
			opts: contractOptions{providerErrs: []error{sms.E(sms.KindTransient, "the SMS provider is rate limiting requests", sms.ProviderDetail("20429", ""))}},
			run:  sendOnce(contractBody), wantStatus: 202},
		{name: "queued after an unknown provider outcome", opts: contractOptions{providerErrs: []error{errors.New("read tcp: connection reset by peer")}},
			run: sendOnce(contractBody), wantStatus: 202},
		{name: "queued while the limiter is down", opts: contractOptions{limiterDown: true}, run: sendOnce(contractBody), wantStatus: 202},
		{name: "sent to a seven-digit number", run: sendOnce(`{"to":"+6834002","body":"Fakaalofa lahi atu"}`), wantStatus: 200},
		{name: "sent with a validity", run: sendOnce(`{"to":"+14155552671","body":"Your code is 482901","validFor":300}`), wantStatus: 200},
		{name: "queued with the longest validity", opts: contractOptions{noSlot: true}, run: sendOnce(`{"to":"+14155552671","body":"hi","validFor":36000}`), wantStatus: 202},

		{name: "malformed JSON", run: sendOnce(`{"to":`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "not an object", run: sendOnce(`["+14155552671"]`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "unknown field", run: sendOnce(`{"to":"+14155552671","body":"x","priority":"high"}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "wrong type", run: sendOnce(`{"to":14155552671,"body":"x"}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "two objects", run: sendOnce(contractBody + `{}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "bad Idempotency-Key", run: sendOnce(contractBody, "Idempotency-Key", "tab\tkey"), wantStatus: 400, wantCode: "invalid_request"},
		{name: "missing to", run: sendOnce(`{"body":"x"}`), wantStatus: 400, wantCode: "invalid_to", schemaRefuses: true},
		{name: "to without plus", run: sendOnce(`{"to":"14155552671","body":"x"}`), wantStatus: 400, wantCode: "invalid_to", schemaRefuses: true},
		{name: "to outside the numbering plan", run: sendOnce(`{"to":"+19995550123","body":"x"}`), wantStatus: 400, wantCode: "invalid_to"},
		{name: "empty body", run: sendOnce(`{"to":"+14155552671","body":""}`), wantStatus: 400, wantCode: "invalid_body", schemaRefuses: true},
		{name: "body of 1601 characters", run: sendOnce(`{"to":"+14155552671","body":"` + strings.Repeat("é", 1601) + `"}`), wantStatus: 400, wantCode: "invalid_body", schemaRefuses: true},
		{name: "from too long", run: sendOnce(`{"to":"+14155552671","body":"x","from":"LongSenderID"}`), wantStatus: 400, wantCode: "invalid_from", schemaRefuses: true},
		{name: "from without a letter", run: sendOnce(`{"to":"+14155552671","body":"x","from":"12345"}`), wantStatus: 400, wantCode: "invalid_from", schemaRefuses: true},
		{name: "validity too short", run: sendOnce(`{"to":"+14155552671","body":"x","validFor":19}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "validity too long", run: sendOnce(`{"to":"+14155552671","body":"x","validFor":36001}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "validity with a fraction", run: sendOnce(`{"to":"+14155552671","body":"x","validFor":20.5}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},
		{name: "validity as a string", run: sendOnce(`{"to":"+14155552671","body":"x","validFor":"300"}`), wantStatus: 400, wantCode: "invalid_request", schemaRefuses: true},

		{name: "no token", run: sendOnce(contractBody, "Authorization", ""), wantStatus: 401, wantCode: "unauthorized"},
		{name: "expired token", run: func(e *contractEnv) Response {
			tok := contractToken(e.t, map[string]any{"iat": contractT0.Add(-3 * time.Hour).Unix(), "exp": contractT0.Add(-2 * time.Hour).Unix()})
			return e.post("request", contractBody, "Authorization", "Bearer "+tok)
		}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "wrongly signed token", run: func(e *contractEnv) Response {
			tok := contractToken(e.t, nil)
			return e.post("request", contractBody, "Authorization", "Bearer "+tok[:len(tok)-4]+"AAAA")
		}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "token without the scope", run: func(e *contractEnv) Response {
			return e.post("request", contractBody, "Authorization", "Bearer "+contractToken(e.t, map[string]any{"scope": "sms:read"}))
		}, wantStatus: 403, wantCode: "forbidden"},
		{name: "sender not allowed", opts: contractOptions{allowed: []string{"MyShop"}},
			run: sendOnce(`{"to":"+14155552671","body":"x","from":"Other"}`), wantStatus: 403, wantCode: "sender_not_allowed"},
		{name: "sent GSM-7 after smart encoding", run: func(e *contractEnv) Response {
			resp := e.post("request", `{"to":"+14155552671","body":"It\u2019s \u201cdone\u201d \u2013 see you\u2026"}`)
			var res sms.Result
			if err := json.Unmarshal(resp.Body, &res); err != nil || res.Encoding != sms.GSM7 || res.Segments != 1 {
				e.t.Errorf("answer %s, want one GSM-7 segment: the text as sent", resp.Body)
			}
			return resp
		}, wantStatus: 200},
		{name: "sender other than the default", run: sendOnce(`{"to":"+14155552671","body":"x","from":"MyBank"}`), wantStatus: 403, wantCode: "sender_not_allowed"},
		{name: "premium-rate destination", run: sendOnce(`{"to":"+449012345678","body":"x"}`), wantStatus: 403, wantCode: "destination_not_allowed"},
		{name: "satellite destination", run: sendOnce(`{"to":"+881612345678","body":"x"}`), wantStatus: 403, wantCode: "destination_not_allowed"},
		{name: "country not allowed", opts: contractOptions{countries: []string{"US", "CA"}},
			run: sendOnce(`{"to":"+447911123456","body":"x"}`), wantStatus: 403, wantCode: "destination_not_allowed"},

		{name: "key in progress", run: func(e *contractEnv) Response {
			entered, release := e.provider.hold()
			first := make(chan Response, 1)
			go func() { first <- e.post("first", contractBody, "Idempotency-Key", "order-9") }()
			<-entered
			second := e.post("concurrent", contractBody, "Idempotency-Key", "order-9")
			close(release)
			if got := (<-first).Status; got != 200 {
				e.t.Errorf("first request status = %d, want 200", got)
			}
			return second
		}, wantStatus: 409, wantCode: "conflict"},
		{name: "body over 64 KiB", run: sendOnce(`{"to":"+14155552671","body":"` + strings.Repeat("a", maxBodyBytes) + `"}`), wantStatus: 413, wantCode: "payload_too_large"},
		{name: "form content type", run: sendOnce("to=%2B14155552671&body=hi", "Content-Type", "application/x-www-form-urlencoded"), wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "no content type", run: sendOnce(contractBody, "Content-Type", ""), wantStatus: 415, wantCode: "unsupported_media_type"},

		{name: "provider rejected", opts: contractOptions{providerErrs: []error{rejected}}, run: sendOnce(contractBody), wantStatus: 422, wantCode: "provider_rejected"},
		{name: "rejection replayed", opts: contractOptions{providerErrs: []error{rejected}}, run: func(e *contractEnv) Response {
			first := e.post("first", contractBody, "Idempotency-Key", "order-2")
			again := e.post("replay", contractBody, "Idempotency-Key", "order-2")
			if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
				e.t.Errorf("replay = %d %s, want the first answer %d %s", again.Status, again.Body, first.Status, first.Body)
			}
			return again
		}, wantStatus: 422, wantCode: "provider_rejected"},
		{name: "key reused for another request", run: func(e *contractEnv) Response {
			e.post("first", contractBody, "Idempotency-Key", "order-3")
			return e.post("different", `{"to":"+14155552671","body":"another text"}`, "Idempotency-Key", "order-3")
		}, wantStatus: 422, wantCode: "idempotency_mismatch"},
		{name: "no slot with queueing off", opts: contractOptions{noSlot: true, queueOff: true}, run: sendOnce(contractBody), wantStatus: 429, wantCode: "rate_limited"},
		{name: "recipient opted out", opts: contractOptions{recipientLimit: 5, suppressed: []string{contractTo}}, run: func(e *contractEnv) Response {
			resp := e.post("request", contractBody)
			if n := e.provider.callCount(); n != 0 {
				e.t.Errorf("provider calls = %d, want 0", n)
			}
			return resp
		}, wantStatus: 422, wantCode: "recipient_opted_out"},
		{name: "recipient over its limit", opts: contractOptions{recipientLimit: 1}, run: func(e *contractEnv) Response {
			e.post("first", contractBody)
			resp := e.post("second", `{"to":"+14155552671","body":"Your code is 115877"}`)
			// 09:30 is a window's first instant: the window frees a place
			// at 09:40.
			if got := resp.Headers["Retry-After"]; got != "600" {
				e.t.Errorf("Retry-After = %q, want 600", got)
			}
			return resp
		}, wantStatus: 429, wantCode: "quota_exceeded"},
		{name: "daily budget used up", opts: contractOptions{budget: 1}, run: func(e *contractEnv) Response {
			e.post("first", contractBody)
			resp := e.post("second", `{"to":"+447911123456","body":"hi"}`)
			ctx, cancel := context.WithTimeout(e.t.Context(), 50*time.Millisecond)
			defer cancel()
			if n := len(e.queue.Receive(ctx, 10)); n != 0 {
				e.t.Errorf("queue holds %d messages, want 0: a quota refusal queues nothing", n)
			}
			// 09:30 UTC: the budget comes back at midnight, 14.5 hours on.
			if got := resp.Headers["Retry-After"]; got != "52200" {
				e.t.Errorf("Retry-After = %q, want 52200", got)
			}
			return resp
		}, wantStatus: 429, wantCode: "quota_exceeded"},
		{name: "provider refused the credentials",
			opts: contractOptions{providerErrs: []error{sms.E(sms.KindProviderAccount, "the SMS provider refused our credentials", sms.ProviderDetail("20003", ""))}},
			run:  sendOnce(contractBody), wantStatus: 502, wantCode: "provider_error"},
		{name: "vonage multipart failed part-way",
			opts: contractOptions{receipt: sms.Receipt{ID: "0A0000001234ABCD"}, providerErrs: []error{sms.E(sms.KindPartial,
				"the SMS provider accepted only some parts of the message; it is not retried", sms.ProviderDetail("1", ""))}},
			run: sendOnce(`{"to":"+447911123456","body":"` + strings.Repeat("Parcel update. ", 12) + `"}`), wantStatus: 502, wantCode: "provider_error"},
		{name: "queue unreachable", opts: contractOptions{noSlot: true, queueFull: true}, run: sendOnce(contractBody), wantStatus: 503, wantCode: "unavailable"},
		{name: "provider down with queueing off",
			opts: contractOptions{queueOff: true, providerErrs: []error{sms.E(sms.KindTransient, "the SMS provider is temporarily unavailable", sms.ProviderDetail("503", ""))}},
			run:  sendOnce(contractBody), wantStatus: 503, wantCode: "unavailable"},
		{name: "limiter down with queueing off", opts: contractOptions{queueOff: true, limiterDown: true}, run: sendOnce(contractBody), wantStatus: 503, wantCode: "unavailable"},
		{name: "key while the table is down", opts: contractOptions{ledger: downLedger{}}, run: func(e *contractEnv) Response {
			resp := e.post("request", contractBody, "Idempotency-Key", "order-6")
			if n := e.provider.callCount(); n != 0 {
				e.t.Errorf("provider calls = %d, want 0: nothing is accepted without a record", n)
			}
			ctx, cancel := context.WithTimeout(e.t.Context(), 50*time.Millisecond)
			defer cancel()
			if n := len(e.queue.Receive(ctx, 10)); n != 0 {
				e.t.Errorf("queue holds %d messages, want 0: nothing is accepted without a record", n)
			}
			return resp
		}, wantStatus: 503, wantCode: "unavailable"},
		{name: "unknown outcome with queueing off", opts: contractOptions{queueOff: true, providerErrs: []error{errors.New("read tcp: connection reset by peer")}},
			run: func(e *contractEnv) Response {
				first := e.post("first", contractBody, "Idempotency-Key", "order-5")
				again := e.post("replay", contractBody, "Idempotency-Key", "order-5")
				if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
					e.t.Errorf("replay = %d %s, want the first answer %d %s", again.Status, again.Body, first.Status, first.Body)
				}
				if n := e.provider.callCount(); n != 1 {
					e.t.Errorf("provider calls = %d, want 1: the replay sends nothing", n)
				}
				var res sms.Result
				if err := json.Unmarshal(first.Body, &res); err != nil || res.Status != sms.StatusUnknown || len(res.MessageID) != 36 {
					e.t.Errorf("body %s: want status unknown and a service id (UUID) as messageId", first.Body)
				}
				return again
			}, wantStatus: 502, wantCode: "provider_outcome_unknown"},
		{name: "unreadable idempotency record", opts: contractOptions{ledger: unreadableLedger{}},
			run: sendOnce(contractBody, "Idempotency-Key", "order-4"), wantStatus: 500, wantCode: "internal"},
	}
}

// responseCode returns error.code of a response body ("" when none).
func responseCode(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Error *errorBody `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("body %s is not JSON: %v", body, err)
	}
	if b.Error == nil {
		return ""
	}
	return b.Error.Code
}

// checkQueued checks the documented promise of a 202: the queue holds the
// message, and its "id" is the messageId the client got.
func checkQueued(t *testing.T, q *memory.Queue, body []byte) {
	t.Helper()
	var res sms.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("202 body %s: %v", body, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	items := q.Receive(ctx, 10)
	if len(items) != 1 {
		t.Fatalf("queue holds %d messages after a 202, want 1", len(items))
	}
	var qm struct {
		ID string `json:"id"`
		To string `json:"to"`
	}
	if err := json.Unmarshal([]byte(items[0].Body), &qm); err != nil {
		t.Fatalf("queue message %s: %v", items[0].Body, err)
	}
	if qm.ID != res.MessageID || qm.To != res.To {
		t.Errorf("queue message id, to = %q, %q, want the 202's messageId, to %q, %q", qm.ID, qm.To, res.MessageID, res.To)
	}
}

// syntheticBodies pairs every documented error status with every stable
// code, so that the document's per-status codes must match documentedCodes
// exactly, and each success status with the other success shape.
func syntheticBodies() []openapicheck.Response {
	var out []openapicheck.Response
	for status, codes := range documentedCodes {
		if codes == nil {
			continue
		}
		for _, c := range stableCodes {
			body := fmt.Sprintf(`{"error":{"code":%q,"message":"m"}}`, c)
			if slices.Contains(resultCodes, c) {
				status := "failed"
				if c == codeProviderOutcomeUnknown {
					status = "unknown"
				}
				body = fmt.Sprintf(`{"messageId":"m-1","status":%q,"channel":"sms","to":"+14155552671","segments":1,"encoding":"GSM-7","error":{"code":%q,"message":"m","providerCode":"1"}}`, status, c)
			}
			out = append(out, openapicheck.Response{Name: fmt.Sprintf("synthetic %d %s", status, c), Status: status, Body: body, ExpectValid: slices.Contains(codes, c)})
		}
	}
	sent := `{"messageId":"SM1","status":"sent","channel":"sms","to":"+14155552671","segments":1,"encoding":"GSM-7"}`
	queued := `{"messageId":"q-1","status":"queued","channel":"sms","to":"+14155552671"}`
	return append(out,
		openapicheck.Response{Name: "synthetic 200 sent", Status: 200, Body: sent, ExpectValid: true},
		openapicheck.Response{Name: "synthetic 200 queued", Status: 200, Body: queued},
		openapicheck.Response{Name: "synthetic 200 undocumented field", Status: 200, Body: strings.TrimSuffix(sent, "}") + `,"price":"0.0079"}`},
		openapicheck.Response{Name: "synthetic 202 queued", Status: 202, Body: queued, ExpectValid: true},
		openapicheck.Response{Name: "synthetic 202 scheduled", Status: 202, Body: syntheticScheduled, ExpectValid: true},
		openapicheck.Response{Name: "synthetic 202 scheduled without sendAt", Status: 202, Body: strings.Replace(syntheticScheduled, `"sendAt":"2026-03-01T09:32:00Z",`, "", 1)},
		openapicheck.Response{Name: "synthetic 200 scheduled", Status: 200, Body: syntheticScheduled},
		openapicheck.Response{Name: "synthetic 202 sent", Status: 202, Body: sent},
		openapicheck.Response{Name: "synthetic 500 with a stack trace field", Status: 500, Body: `{"error":{"code":"internal","message":"m","stack":"main.go:1"}}`},
		openapicheck.Response{Name: "synthetic 502 failed with the unknown code", Status: 502,
			Body: `{"messageId":"m-1","status":"failed","channel":"sms","to":"+14155552671","error":{"code":"provider_outcome_unknown","message":"m"}}`},
		openapicheck.Response{Name: "synthetic 502 unknown without an id", Status: 502,
			Body: `{"messageId":"","status":"unknown","channel":"sms","to":"+14155552671","error":{"code":"provider_outcome_unknown","message":"m"}}`},
	)
}

func TestOpenAPIContract(t *testing.T) {
	var all []exchange
	for _, sc := range contractScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			e := newContractEnv(t, sc.name, sc.opts)
			resp := sc.run(e)
			if resp.Status != sc.wantStatus {
				t.Errorf("status = %d (%s), want %d", resp.Status, resp.Body, sc.wantStatus)
			}
			if got := responseCode(t, resp.Body); got != sc.wantCode {
				t.Errorf("error.code = %q, want %q", got, sc.wantCode)
			}
			if resp.Status == http.StatusAccepted {
				checkQueued(t, e.queue, resp.Body)
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			if sc.schemaRefuses {
				e.seen[len(e.seen)-1].schemaRefuses = true
			}
			all = append(all, e.seen...)
		})
	}

	in := openapicheck.Contract{Path: sendPath, Method: "post"}
	produced := map[int]bool{}
	for _, x := range all {
		produced[x.resp.Status] = true
		in.Responses = append(in.Responses, openapicheck.Response{Name: x.name, Status: x.resp.Status, Headers: x.resp.Headers, Body: string(x.resp.Body), ExpectValid: true})
		switch {
		case x.schemaRefuses:
			in.Requests = append(in.Requests, openapicheck.Request{Name: x.name, Body: string(x.req.Body)})
		case x.resp.Status == 200 || x.resp.Status == 202:
			// Whatever the handler accepts, the document must allow.
			in.Requests = append(in.Requests, openapicheck.Request{Name: x.name, Body: string(x.req.Body), ExpectValid: true})
		}
	}
	in.Responses = append(in.Responses, syntheticBodies()...)
	rep := openapicheck.Check(t, in)
	if len(rep.Examples) < len(rep.DocumentedStatuses) {
		t.Errorf("checker saw %d examples, want at least one per documented status (%d)", len(rep.Examples), len(rep.DocumentedStatuses))
	}

	for status, names := range requiredHeaders {
		for _, n := range names {
			if !slices.Contains(rep.RequiredHeaders[strconv.Itoa(status)], n) {
				t.Errorf("status %d: header %s is not documented as required (documented required: %v)", status, n, rep.RequiredHeaders[strconv.Itoa(status)])
			}
		}
	}
	for _, x := range all {
		for _, n := range requiredHeaders[x.resp.Status] {
			if x.resp.Headers[n] == "" {
				t.Errorf("%s: status %d without header %s (headers %v)", x.name, x.resp.Status, n, x.resp.Headers)
			}
		}
	}

	var want []int
	for s := range documentedCodes {
		want = append(want, s)
	}
	slices.Sort(want)
	if !slices.Equal(rep.DocumentedStatuses, want) {
		t.Errorf("documented statuses = %v, want %v", rep.DocumentedStatuses, want)
	}
	for _, s := range rep.DocumentedStatuses {
		if !produced[s] {
			t.Errorf("documented status %d is produced by no scenario", s)
		}
	}
	gotCodes, wantCodes := slices.Sorted(slices.Values(rep.ErrorCodes)), slices.Sorted(slices.Values(stableCodes))
	if !slices.Equal(gotCodes, wantCodes) {
		t.Errorf("documented error codes = %v, want %v", gotCodes, wantCodes)
	}
}

// messagePath is the path of the GET route in openapi.yaml.
const messagePath = "/messaging/sms/{messageId}"

// documentedGetCodes lists every status openapi.yaml documents for
// GET /messaging/sms/{messageId} with the error codes its body may carry.
var documentedGetCodes = map[int][]string{
	http.StatusOK:                  nil,
	http.StatusUnauthorized:        {codeUnauthorized},
	http.StatusForbidden:           {codeForbidden},
	http.StatusNotFound:            {codeNotFound},
	http.StatusInternalServerError: {codeInternal},
	http.StatusServiceUnavailable:  {codeUnavailable},
}

// get serves a GET of the message id with a token of the given claims
// (nil: the scenarios' caller); an empty token sends no Authorization.
func (e *contractEnv) get(step, id string, claims map[string]any) Response {
	h := http.Header{}
	if claims == nil || len(claims) > 0 {
		h.Set("Authorization", "Bearer "+contractToken(e.t, claims))
	}
	r := Request{Method: http.MethodGet, Path: sendPath + "/" + url.PathEscape(id), Headers: h}
	resp := e.h.Serve(e.t.Context(), r)
	e.mu.Lock()
	e.seen = append(e.seen, exchange{name: e.name + "/" + step, req: r, resp: resp})
	e.mu.Unlock()
	return resp
}

// sentID posts body and returns the answer's messageId, failing unless the
// answer has status want.
func (e *contractEnv) sentID(body string, want int) string {
	e.t.Helper()
	resp := e.post("post", body)
	if resp.Status != want {
		e.t.Fatalf("POST = %d %s, want %d", resp.Status, resp.Body, want)
	}
	var res sms.Result
	if err := json.Unmarshal(resp.Body, &res); err != nil || res.MessageID == "" {
		e.t.Fatalf("POST body %s: want a messageId", resp.Body)
	}
	return res.MessageID
}

// getScenario drives GET /messaging/sms/{messageId} into one documented
// answer: wantStatus and wantCode (the record's error code for a 200), and
// for a 200 the record's status wantRecord.
type getScenario struct {
	name       string
	opts       contractOptions
	run        func(e *contractEnv) Response
	wantStatus int
	wantCode   string
	wantRecord sms.Status
}

func getScenarios() []getScenario {
	rejected := sms.E(sms.KindRejected, "the recipient number is not a mobile number", sms.ProviderDetail("21614", ""))
	readAll := map[string]any{"sub": "ops-1", "scope": contractScope + " " + contractReadAllScope}
	return []getScenario{
		{name: "own message by the provider's id", run: func(e *contractEnv) Response {
			return e.get("get", e.sentID(contractBody, 200), nil)
		}, wantStatus: 200, wantRecord: sms.StatusSent},
		{name: "own queued message by its service id", opts: contractOptions{noSlot: true}, run: func(e *contractEnv) Response {
			return e.get("get", e.sentID(contractBody, 202), nil)
		}, wantStatus: 200, wantRecord: sms.StatusQueued},
		{name: "own message the provider refused", opts: contractOptions{providerErrs: []error{rejected}}, run: func(e *contractEnv) Response {
			return e.get("get", e.sentID(contractBody, 422), nil)
		}, wantStatus: 200, wantRecord: sms.StatusFailed, wantCode: codeProviderRejected},
		{name: "own message whose outcome is unknown", opts: contractOptions{queueOff: true, providerErrs: []error{errors.New("read: connection reset")}},
			run: func(e *contractEnv) Response {
				resp := e.get("get", e.sentID(`{"to":"+14155552671","body":"hi","validFor":300}`, 502), nil)
				var rec sms.Record
				if err := json.Unmarshal(resp.Body, &rec); err != nil || !rec.ExpiresAt.Equal(contractT0.Add(300*time.Second)) {
					e.t.Errorf("record %s: want expiresAt %v (validFor after acceptance)", resp.Body, contractT0.Add(300*time.Second))
				}
				return resp
			}, wantStatus: 200, wantRecord: sms.StatusUnknown, wantCode: codeProviderOutcomeUnknown},
		{name: "another caller's message with the read-all scope", run: func(e *contractEnv) Response {
			return e.get("get", e.sentID(contractBody, 200), readAll)
		}, wantStatus: 200, wantRecord: sms.StatusSent},
		{name: "another caller's message", run: func(e *contractEnv) Response {
			return e.get("get", e.sentID(contractBody, 200), map[string]any{"sub": "client-8"})
		}, wantStatus: 404, wantCode: codeNotFound},
		{name: "unknown id", run: func(e *contractEnv) Response {
			return e.get("get", "SM00000000000000000000000000000000", readAll)
		}, wantStatus: 404, wantCode: codeNotFound},
		{name: "id longer than any id", run: func(e *contractEnv) Response {
			return e.get("get", strings.Repeat("a", 129), readAll)
		}, wantStatus: 404, wantCode: codeNotFound},
		{name: "status tracking off", opts: contractOptions{noRecords: true}, run: func(e *contractEnv) Response {
			return e.get("get", e.sentID(contractBody, 200), nil)
		}, wantStatus: 404, wantCode: codeNotFound},
		{name: "no token", run: func(e *contractEnv) Response {
			return e.get("get", "SM00000000000000000000000000000000", map[string]any{})
		}, wantStatus: 401, wantCode: codeUnauthorized},
		{name: "token without the scope", run: func(e *contractEnv) Response {
			return e.get("get", "SM00000000000000000000000000000000", map[string]any{"scope": contractReadAllScope})
		}, wantStatus: 403, wantCode: codeForbidden},
		{name: "table unreachable", opts: contractOptions{records: failingRecords{sms.E(sms.KindUnavailable, "storage unavailable", sms.RetryAfter(time.Second))}},
			run:        func(e *contractEnv) Response { return e.get("get", "SM00000000000000000000000000000000", nil) },
			wantStatus: 503, wantCode: codeUnavailable},
		{name: "unreadable record", opts: contractOptions{records: failingRecords{errors.New("dynamo: status get: bad item")}},
			run:        func(e *contractEnv) Response { return e.get("get", "SM00000000000000000000000000000000", nil) },
			wantStatus: 500, wantCode: codeInternal},
	}
}

// TestOpenAPIContractGet runs GET /messaging/sms/{messageId} into every
// status openapi.yaml documents for it and checks each answer against the
// document; a 200 must carry the record of the message the scenario sent,
// without its owner.
func TestOpenAPIContractGet(t *testing.T) {
	var all []exchange
	for _, sc := range getScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			e := newContractEnv(t, sc.name, sc.opts)
			resp := sc.run(e)
			if resp.Status != sc.wantStatus {
				t.Errorf("status = %d (%s), want %d", resp.Status, resp.Body, sc.wantStatus)
			}
			if got := responseCode(t, resp.Body); got != sc.wantCode {
				t.Errorf("error.code = %q, want %q", got, sc.wantCode)
			}
			if resp.Status == http.StatusOK {
				var rec map[string]any
				if err := json.Unmarshal(resp.Body, &rec); err != nil {
					t.Fatalf("body %s: %v", resp.Body, err)
				}
				if rec["status"] != string(sc.wantRecord) || rec["channel"] != "sms" || rec["to"] != contractTo {
					t.Errorf("record %s: want status %q, channel sms, to %s", resp.Body, sc.wantRecord, contractTo)
				}
				for _, k := range []string{"owner", "Owner", "body", "subject"} {
					if _, ok := rec[k]; ok {
						t.Errorf("record %s has %q, want no owner and no body", resp.Body, k)
					}
				}
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, x := range e.seen {
				if x.req.Method == http.MethodGet {
					all = append(all, x)
				}
			}
		})
	}

	in := openapicheck.Contract{Path: messagePath, Method: "get"}
	produced := map[int]bool{}
	for _, x := range all {
		produced[x.resp.Status] = true
		in.Responses = append(in.Responses, openapicheck.Response{Name: x.name, Status: x.resp.Status, Headers: x.resp.Headers, Body: string(x.resp.Body), ExpectValid: true})
	}
	rep := openapicheck.Check(t, in)
	var want []int
	for s := range documentedGetCodes {
		want = append(want, s)
	}
	slices.Sort(want)
	if !slices.Equal(rep.DocumentedStatuses, want) {
		t.Errorf("documented statuses = %v, want %v", rep.DocumentedStatuses, want)
	}
	for _, s := range rep.DocumentedStatuses {
		if !produced[s] {
			t.Errorf("documented status %d is produced by no scenario", s)
		}
	}
	for _, x := range all {
		for _, n := range requiredHeaders[x.resp.Status] {
			if x.resp.Headers[n] == "" {
				t.Errorf("%s: status %d without header %s (headers %v)", x.name, x.resp.Status, n, x.resp.Headers)
			}
		}
	}
}
