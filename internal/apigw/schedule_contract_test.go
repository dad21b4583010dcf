package apigw

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/openapicheck"
)

// contractScheduledBody is a send request due ahead of contractT0.
func contractScheduledBody(ahead time.Duration) string {
	return `{"to":"+14155552671","body":"Reminder: your appointment is at 10:00","sendAt":"` +
		contractT0.Add(ahead).In(time.FixedZone("CET", 3600)).Format(time.RFC3339) + `"}`
}

// syntheticScheduled is a 202 body of a scheduled message.
const syntheticScheduled = `{"messageId":"3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f","status":"scheduled","channel":"sms","to":"+14155552671",` +
	`"sendAt":"2026-03-01T09:32:00Z","segments":1,"encoding":"GSM-7"}`

// cancelPath is the route of one message, as openapi.yaml names it.
const cancelPath = "/messaging/sms/{messageId}"

// cancelCodes lists every status openapi.yaml documents for DELETE
// /messaging/sms/{messageId} with the error codes its body may carry.
var cancelCodes = map[int][]string{
	http.StatusOK:                  nil,
	http.StatusUnauthorized:        {codeUnauthorized},
	http.StatusForbidden:           {codeForbidden},
	http.StatusNotFound:            {codeNotFound},
	http.StatusConflict:            {codeConflict},
	http.StatusInternalServerError: {codeInternal},
	http.StatusServiceUnavailable:  {codeUnavailable},
}

// cancelRequiredHeaders are the headers the document must mark required
// for DELETE, and the handler must send.
var cancelRequiredHeaders = map[int][]string{
	http.StatusUnauthorized:       {"WWW-Authenticate"},
	http.StatusForbidden:          {"WWW-Authenticate"},
	http.StatusServiceUnavailable: {"Retry-After"},
}

// failingRecords is a status store whose every call fails with err.
type failingRecords struct{ err error }

func (f failingRecords) Get(context.Context, string) (sms.Record, error) { return sms.Record{}, f.err }

func (f failingRecords) Transition(context.Context, string, sms.Status, sms.Status, time.Time) (sms.Record, bool, error) {
	return sms.Record{}, false, f.err
}

// cancelEnv is a send path and a canceler over one in-memory status store.
type cancelEnv struct {
	t      *testing.T
	h      *Handler
	status *memory.StatusStore
	seen   []exchange
}

func newCancelEnv(t *testing.T, store sms.CancelStore) *cancelEnv {
	t.Helper()
	clock := stillClock{contractT0}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	status := memory.NewStatusStore(memory.StatusConfig{Clock: clock})
	if store == nil {
		store = status
	}
	d := sms.NewDispatcher(&scriptedProvider{}, mustLimiter(t, memory.LimiterConfig{Rate: 10, Clock: clock}), log, sms.DispatcherConfig{Clock: clock})
	sender := sms.NewSender(d, mustQueue(t, memory.QueueConfig{Capacity: 8}), memory.NewLedger(memory.LedgerConfig{Clock: clock}), sms.SenderConfig{
		DefaultFrom: "+14155550100", QueueEnabled: true, Status: status,
	})
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{contractSecret}, RequiredScope: contractScope, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(verifierAuth{v}, sender, log, Cancels(sms.NewCanceler(store, log, sms.CancelerConfig{}), "sms:admin"))
	return &cancelEnv{t: t, h: h, status: status}
}

// schedule posts a scheduled message for sub and returns its id.
func (e *cancelEnv) schedule(sub string) string {
	e.t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+contractToken(e.t, map[string]any{"sub": sub}))
	h.Set("Content-Type", "application/json")
	resp := e.h.Serve(e.t.Context(), Request{Method: http.MethodPost, Path: sendPath, Headers: h, Body: []byte(contractScheduledBody(10 * time.Minute))})
	var res sms.Result
	if err := json.Unmarshal(resp.Body, &res); err != nil || resp.Status != http.StatusAccepted || res.Status != sms.StatusScheduled {
		e.t.Fatalf("scheduling: %d %s", resp.Status, resp.Body)
	}
	return res.MessageID
}

// cancel serves DELETE /messaging/sms/{id} with a token of claims (nil:
// client-7's); noToken sends no Authorization header.
func (e *cancelEnv) cancel(step, id string, claims map[string]any, noToken bool) Response {
	h := http.Header{}
	if !noToken {
		h.Set("Authorization", "Bearer "+contractToken(e.t, claims))
	}
	r := Request{Method: http.MethodDelete, Path: "/prod" + sendPath + "/" + id, Headers: h}
	resp := e.h.Serve(e.t.Context(), r)
	e.seen = append(e.seen, exchange{name: e.t.Name() + "/" + step, req: r, resp: resp})
	return resp
}

func TestOpenAPICancelContract(t *testing.T) {
	admin := map[string]any{"sub": "ops", "scope": contractScope + " sms:admin"}
	scenarios := []struct {
		name       string
		store      sms.CancelStore
		run        func(e *cancelEnv) Response
		wantStatus int
		wantCode   string
	}{
		{name: "canceled", run: func(e *cancelEnv) Response {
			resp := e.cancel("cancel", e.schedule("client-7"), nil, false)
			var rec struct {
				Status  string `json:"status"`
				Channel string `json:"channel"`
			}
			if err := json.Unmarshal(resp.Body, &rec); err != nil || rec.Status != "canceled" || rec.Channel != "sms" {
				e.t.Errorf("body = %s, want the canceled record", resp.Body)
			}
			return resp
		}, wantStatus: 200},
		{name: "canceled again", run: func(e *cancelEnv) Response {
			id := e.schedule("client-7")
			first := e.cancel("first", id, nil, false)
			again := e.cancel("again", id, nil, false)
			if string(again.Body) != string(first.Body) {
				e.t.Errorf("repeated cancel = %s, want the first answer %s", again.Body, first.Body)
			}
			return again
		}, wantStatus: 200},
		{name: "the admin scope cancels another's", run: func(e *cancelEnv) Response {
			return e.cancel("cancel", e.schedule("client-7"), admin, false)
		}, wantStatus: 200},
		{name: "another caller's", run: func(e *cancelEnv) Response {
			return e.cancel("cancel", e.schedule("client-7"), map[string]any{"sub": "client-8"}, false)
		}, wantStatus: 404, wantCode: codeNotFound},
		{name: "unknown id", run: func(e *cancelEnv) Response {
			return e.cancel("cancel", sms.NewServiceID(), admin, false)
		}, wantStatus: 404, wantCode: codeNotFound},
		{name: "already handed over", run: func(e *cancelEnv) Response {
			id := e.schedule("client-7")
			if _, moved, err := e.status.Transition(e.t.Context(), id, sms.StatusScheduled, sms.StatusQueued, time.Time{}); !moved || err != nil {
				e.t.Fatalf("hand-over: moved %v, %v", moved, err)
			}
			return e.cancel("cancel", id, nil, false)
		}, wantStatus: 409, wantCode: codeConflict},
		{name: "no token", run: func(e *cancelEnv) Response {
			return e.cancel("cancel", sms.NewServiceID(), nil, true)
		}, wantStatus: 401, wantCode: codeUnauthorized},
		{name: "no scope", run: func(e *cancelEnv) Response {
			return e.cancel("cancel", sms.NewServiceID(), map[string]any{"scope": nil}, false)
		}, wantStatus: 403, wantCode: codeForbidden},
		{name: "status store down", store: failingRecords{sms.E(sms.KindUnavailable, "status store unavailable", sms.RetryAfter(time.Second))},
			run: func(e *cancelEnv) Response { return e.cancel("cancel", sms.NewServiceID(), nil, false) }, wantStatus: 503, wantCode: codeUnavailable},
		{name: "internal error", store: failingRecords{io.ErrUnexpectedEOF},
			run: func(e *cancelEnv) Response { return e.cancel("cancel", sms.NewServiceID(), nil, false) }, wantStatus: 500, wantCode: codeInternal},
	}
	var all []exchange
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newCancelEnv(t, sc.store)
			resp := sc.run(e)
			if resp.Status != sc.wantStatus {
				t.Errorf("status = %d (%s), want %d", resp.Status, resp.Body, sc.wantStatus)
			}
			if got := responseCode(t, resp.Body); got != sc.wantCode {
				t.Errorf("error.code = %q, want %q", got, sc.wantCode)
			}
			all = append(all, e.seen...)
		})
	}

	in := openapicheck.Contract{Path: cancelPath, Method: "delete"}
	produced := map[int]bool{}
	for _, x := range all {
		produced[x.resp.Status] = true
		in.Responses = append(in.Responses, openapicheck.Response{Name: x.name, Status: x.resp.Status, Headers: x.resp.Headers, Body: string(x.resp.Body), ExpectValid: true})
	}
	for status, codes := range cancelCodes {
		for _, c := range stableCodes {
			if codes == nil || slices.Contains(resultCodes, c) {
				continue
			}
			body := `{"error":{"code":"` + c + `","message":"m"}}`
			in.Responses = append(in.Responses, openapicheck.Response{Name: "synthetic " + strconv.Itoa(status) + " " + c, Status: status, Body: body, ExpectValid: slices.Contains(codes, c)})
		}
	}
	in.Responses = append(in.Responses,
		openapicheck.Response{Name: "synthetic 200 scheduled record", Status: 200,
			Body: `{"channel":"sms","serviceId":"s","status":"scheduled","updatedAt":"2026-03-01T09:30:00Z","history":[]}`},
		openapicheck.Response{Name: "synthetic 200 with an owner", Status: 200,
			Body: `{"channel":"sms","serviceId":"s","status":"canceled","updatedAt":"2026-03-01T09:30:00Z","history":[],"owner":"client-7"}`})
	rep := openapicheck.Check(t, in)
	for status, names := range cancelRequiredHeaders {
		for _, n := range names {
			if !slices.Contains(rep.RequiredHeaders[strconv.Itoa(status)], n) {
				t.Errorf("status %d: header %s is not documented as required", status, n)
			}
		}
	}
	for _, x := range all {
		for _, n := range cancelRequiredHeaders[x.resp.Status] {
			if x.resp.Headers[n] == "" {
				t.Errorf("%s: status %d without header %s", x.name, x.resp.Status, n)
			}
		}
		if x.resp.Status == http.StatusConflict && x.resp.Headers["Retry-After"] != "" {
			t.Errorf("%s: 409 with Retry-After %s, want none (waiting does not help)", x.name, x.resp.Headers["Retry-After"])
		}
	}
	var want []int
	for s := range cancelCodes {
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
}
