package receipts_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

const (
	publicURL   = "https://sms.example.com"
	authToken   = "twilio-auth-token-0123456789abcdef"
	sigSecret   = "vonage-signature-secret"
	tokenSecret = "receipts-token-0123456789"
	recipient   = "+14155552671"
	twilioSID   = "SM0123456789abcdef0123456789abcdef"
	vonagePart1 = "0A0000001234ABC1"
	vonagePart2 = "0A0000001234ABC2"
)

// now is the handlers' clock in these tests.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func (c fixedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// keySource is a receipts.KeySource whose keys a test sets; Refresh
// returns the next keys when a rotation is pending. err fails Keys,
// refreshErr Refresh.
type keySource struct {
	mu         sync.Mutex
	cur        receipts.Keys
	next       *receipts.Keys
	refreshes  int
	err        error
	refreshErr error
}

func (k *keySource) Keys(context.Context) (receipts.Keys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur, k.err
}

func (k *keySource) Refresh(context.Context) (receipts.Keys, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refreshes++
	if k.refreshErr != nil {
		return receipts.Keys{}, false, k.refreshErr
	}
	if k.next == nil {
		return k.cur, false, nil
	}
	k.cur, k.next = *k.next, nil
	return k.cur, true, nil
}

// countingStore counts the writes that reach a store, and fails them with
// err when set.
type countingStore struct {
	s      sms.StatusStore
	mu     sync.Mutex
	writes int
	err    error
}

func (c *countingStore) Record(ctx context.Context, id string, ch sms.Change) (bool, error) {
	c.mu.Lock()
	c.writes++
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return false, err
	}
	return c.s.Record(ctx, id, ch)
}

// rig is a handler over a memory store with a log buffer.
type rig struct {
	h      *receipts.Handler
	keys   *keySource
	store  *memory.StatusStore
	writes *countingStore
	logs   *logging.Buffer
	optOut []receipts.OptOut
}

func newRig(t *testing.T, k receipts.Keys) *rig {
	t.Helper()
	r := &rig{keys: &keySource{cur: k}, store: memory.NewStatusStore(memory.StatusConfig{Clock: fixedClock{now}}), logs: &logging.Buffer{}}
	r.writes = &countingStore{s: r.store}
	r.h = receipts.NewHandler(r.writes, r.keys, logging.New(r.logs, -4), receipts.Config{
		PublicURL: publicURL, Clock: fixedClock{now},
		OptOut: func(_ context.Context, o receipts.OptOut) { r.optOut = append(r.optOut, o) },
	})
	return r
}

// get returns the record of id, failing when there is none.
func (r *rig) get(t *testing.T, id string) sms.Record {
	t.Helper()
	rec, err := r.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return rec
}

// absent fails unless id has no record.
func (r *rig) absent(t *testing.T, id string) {
	t.Helper()
	if rec, err := r.store.Get(context.Background(), id); sms.KindOf(err) != sms.KindNotFound {
		t.Errorf("record of %s = %+v, %v; want none", id, rec, err)
	}
}

// twilioRequest is a Twilio status callback for the message id, signed
// over signedURL (the StatusCallback) with token.
func twilioRequest(token, signedURL string, form url.Values) receipts.Request {
	q := url.Values{}
	if u, err := url.Parse(signedURL); err == nil {
		q = u.Query()
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	hdr.Set("X-Twilio-Signature", twilio.Signature(token, signedURL, form))
	return receipts.Request{Method: http.MethodPost, Path: receipts.TwilioPath, Query: q, Headers: hdr, Body: []byte(form.Encode())}
}

// callbackURL is the StatusCallback the service gives messages of id.
func callbackURL(id string) string {
	return publicURL + receipts.TwilioPath + "?ref=" + id
}

// twilioForm is a status callback's form.
func twilioForm(status, errorCode string) url.Values {
	f := url.Values{
		"MessageSid": {twilioSID}, "SmsSid": {twilioSID}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {"AC5ca1ab1e0ddba11c0ffee5eed0fface5"}, "From": {"+15005550006"}, "To": {recipient}, "ApiVersion": {"2010-04-01"},
	}
	if errorCode != "" {
		f.Set("ErrorCode", errorCode)
	}
	return f
}

// vonageParams are a delivery receipt's parameters.
func vonageParams(ref, part, status, errCode string) url.Values {
	p := url.Values{
		"msisdn": {recipient[1:]}, "to": {"FluxKit"}, "network-code": {"23410"}, "messageId": {part},
		"price": {"0.03330000"}, "status": {status}, "scts": {"2612011200"}, "err-code": {errCode},
		"api-key": {"fa4e1234"}, "message-timestamp": {"2026-12-01 12:00:00"},
	}
	if ref != "" {
		p.Set("client-ref", ref)
	}
	return p
}

// signVonage adds timestamp, nonce and sig to p.
func signVonage(t *testing.T, p url.Values, method, secret string, ts time.Time) url.Values {
	t.Helper()
	p.Set("timestamp", strconv.FormatInt(ts.Unix(), 10))
	p.Set("nonce", "5c3e2e1a-7f1f-4d9e-a2b3-8e4f0c1d2a3b")
	sig, err := vonage.Signature(method, secret, p)
	if err != nil {
		t.Fatal(err)
	}
	p.Set("sig", sig)
	return p
}

// vonageGET is a receipt by GET with p (and extra, e.g. a token) in the
// query.
func vonageGET(p url.Values, extra ...string) receipts.Request {
	q := url.Values{}
	for k, vs := range p {
		q[k] = vs
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return receipts.Request{Method: http.MethodGet, Path: receipts.VonagePath, Query: q, Headers: http.Header{}}
}

// vonagePOSTForm is a receipt by POST with p as a form, and query.
func vonagePOSTForm(p, query url.Values) receipts.Request {
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	return receipts.Request{Method: http.MethodPost, Path: receipts.VonagePath, Query: query, Headers: hdr, Body: []byte(p.Encode())}
}

// vonagePOSTJSON is a receipt by POST with p as a JSON object, and query.
func vonagePOSTJSON(t *testing.T, p, query url.Values) receipts.Request {
	t.Helper()
	obj := map[string]string{}
	for k := range p {
		obj[k] = p.Get(k)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	return receipts.Request{Method: http.MethodPost, Path: receipts.VonagePath, Query: query, Headers: hdr, Body: b}
}

// errorCode reads an answer's error code ("" for none).
func errorCode(t *testing.T, resp receipts.Response) string {
	t.Helper()
	var body struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("answer body %q is not JSON: %v", resp.Body, err)
	}
	if body.Error == nil {
		return ""
	}
	return body.Error.Code
}

var errUnavailable = sms.E(sms.KindUnavailable, "status store unavailable", sms.Cause(errors.New("throttled")))
