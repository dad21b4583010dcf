package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// get reads a message's status through the send function with a token of
// the given claims (nil: the default caller, client-1).
func get(t testing.TB, h *apigw.Handler, id string, claims map[string]any) answer {
	t.Helper()
	return serveMessage(t, h, http.MethodGet, id, claims)
}

// serveMessage serves method on /messaging/sms/{id} through the send
// function with a token of the given claims.
func serveMessage(t testing.TB, h *apigw.Handler, method, id string, claims map[string]any) answer {
	t.Helper()
	r := apigw.Request{Method: method, Path: "/messaging/sms/" + url.PathEscape(id), Headers: http.Header{}}
	r.Headers.Set("Authorization", "Bearer "+token(t, claims))
	resp := h.Serve(context.Background(), r)
	a := answer{status: resp.Status, header: resp.Headers, raw: string(resp.Body)}
	if err := json.Unmarshal(resp.Body, &a.body); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", resp.Status, resp.Body, err)
	}
	return a
}

// errorCode is the record's, or the answer's, error.code.
func (a answer) errorCode() string {
	e, _ := a.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// historyOf lists the statuses of a record's history.
func historyOf(a answer) []string {
	var out []string
	h, _ := a.body["history"].([]any)
	for _, e := range h {
		m, _ := e.(map[string]any)
		s, _ := m["status"].(string)
		out = append(out, s)
	}
	return out
}

var readAll = map[string]any{"sub": "operator", "scope": "sms:read-all"}

// TestStatusOfAPIMessages sends through the send function against moto and
// reads every outcome back with GET: sent (found by the provider's id,
// through the table's index), queued and then sent by the drain, refused,
// and unknown; only the owner or the read-all scope may read them.
func TestStatusOfAPIMessages(t *testing.T) {
	s := newStack(t, "SMS_RATE_LIMIT", "1", "SMS_MAX_WAIT", "0s")
	h := s.sendHandler(t)

	sent := post(t, h, `{"to":"+14155552671","body":"direct","validFor":300}`)
	if sent.status != 200 {
		t.Fatalf("direct send = %d %s, want 200", sent.status, sent.raw)
	}
	providerID := sent.body["messageId"].(string)
	rec := get(t, h, providerID, nil)
	if rec.status != 200 || rec.body["status"] != "sent" || rec.body["providerMessageId"] != providerID || rec.body["provider"] != "twilio" ||
		rec.body["channel"] != "sms" || rec.body["expiresAt"] == nil || rec.body["segments"] != 1.0 {
		t.Errorf("GET by provider id = %d %s, want the sent record with its expiry", rec.status, rec.raw)
	}
	if acc := s.twilio.Accepted(); len(acc) != 1 || acc[0].Validity <= 295*time.Second || acc[0].Validity > 300*time.Second {
		t.Errorf("Twilio accepted %+v, want one message with a ValidityPeriod just under 300 s", acc)
	}

	queued := post(t, h, `{"to":"+14155552671","body":"queued"}`)
	if queued.status != 202 {
		t.Fatalf("second send = %d %s, want 202 (rate 1/s, no wait)", queued.status, queued.raw)
	}
	serviceID := queued.body["messageId"].(string)
	if rec := get(t, h, serviceID, nil); rec.status != 200 || rec.body["status"] != "queued" || rec.body["serviceId"] != serviceID {
		t.Errorf("GET of the queued message = %d %s, want queued", rec.status, rec.raw)
	}
	runUntil(t, 15*time.Second, func() bool { return len(s.twilio.Accepted()) == 2 }, s.poller(t))
	rec = get(t, h, serviceID, nil)
	if rec.body["status"] != "sent" || rec.body["messageId"] != serviceID || rec.body["providerMessageId"] == nil {
		t.Errorf("GET after the drain = %s, want sent with the provider's id, messageId still the service id", rec.raw)
	}
	if got := historyOf(rec); len(got) != 2 || got[0] != "queued" || got[1] != "sent" {
		t.Errorf("history = %v, want [queued sent]", got)
	}

	time.Sleep(1100 * time.Millisecond) // a fresh slot
	refused := post(t, h, `{"to":"+15005550009","body":"to a landline"}`)
	if refused.status != 422 {
		t.Fatalf("send to a landline = %d %s, want 422", refused.status, refused.raw)
	}
	rec = get(t, h, refused.body["messageId"].(string), nil)
	if rec.body["status"] != "failed" || rec.errorCode() != "provider_rejected" {
		t.Errorf("GET of the refused message = %s, want failed/provider_rejected", rec.raw)
	}

	if other := get(t, h, providerID, map[string]any{"sub": "client-2"}); other.status != 404 || other.errorCode() != "not_found" {
		t.Errorf("GET by another caller = %d %s, want 404 not_found", other.status, other.raw)
	}
	if ops := get(t, h, providerID, readAll); ops.status != 200 {
		t.Errorf("GET with the read-all scope = %d %s, want 200", ops.status, ops.raw)
	}
	if none := get(t, h, "SM00000000000000000000000000000000", readAll); none.status != 404 {
		t.Errorf("GET of an unknown id = %d %s, want 404", none.status, none.raw)
	}
	s.assertLogsClean(t, "direct", "to a landline")
}

func TestStatusOfUnknownOutcome(t *testing.T) {
	s := newStack(t, "SMS_QUEUE_ENABLED", "false")
	h := s.sendHandler(t)
	s.twilio.FailNext(1, providertest.Fault{Drop: providertest.DropAfterAccept})
	a := post(t, h, `{"to":"+14155552671","body":"lost answer"}`)
	if a.status != 502 || a.body["status"] != "unknown" {
		t.Fatalf("send = %d %s, want 502 unknown", a.status, a.raw)
	}
	rec := get(t, h, a.body["messageId"].(string), nil)
	if rec.status != 200 || rec.body["status"] != "unknown" || rec.errorCode() != "provider_outcome_unknown" {
		t.Errorf("GET = %d %s, want unknown/provider_outcome_unknown", rec.status, rec.raw)
	}
}

// TestStatusOfProducerMessages puts producers' messages on the queue and
// checks what the drain recorded: sent, poison, expired, and dead-lettered
// on the last receive (the queue redrives after 2 receives).
func TestStatusOfProducerMessages(t *testing.T) {
	s := newStack(t, "SMS_MAX_RECEIVES", "2")
	h := s.sendHandler(t)
	s.twilio.FailWhen(func(r providertest.Request) bool { return r.Params.Get("Body") == "always down" }, providertest.Fault{Status: 503})
	s.enqueueRaw(t, `{"id":"order-1","to":"+14155552671","body":"your order"}`)
	s.enqueueRaw(t, `{"id":"order-2","to":"+1415555","body":"bad number"}`)
	s.enqueueRaw(t, `{"id":"order-3","to":"+14155552671","body":"too late","expiresAt":"2020-01-01T00:00:00Z"}`)
	s.enqueueRaw(t, `{"id":"order-4","to":"+14155552671","body":"always down"}`)

	status := func(id string) string {
		a := get(t, h, id, readAll)
		st, _ := a.body["status"].(string)
		return st
	}
	runUntil(t, 30*time.Second, func() bool {
		return status("order-1") == "sent" && status("order-4") == "failed" && s.queueDepth(t, s.queueURL) == 0
	}, s.poller(t))

	want := []struct {
		id, status, code, reason string
	}{
		{"order-1", "sent", "", ""},
		{"order-2", "failed", "dead_lettered", "invalid_to"},
		{"order-3", "expired", "", ""},
		{"order-4", "failed", "dead_lettered", "max_receives"},
	}
	for _, w := range want {
		a := get(t, h, w.id, readAll)
		e, _ := a.body["error"].(map[string]any)
		if a.body["status"] != w.status || a.errorCode() != w.code || (w.reason != "" && e["message"] != w.reason) || a.body["producerId"] != w.id {
			t.Errorf("%s: record %s, want status %s, error %s %s, producerId %s", w.id, a.raw, w.status, w.code, w.reason, w.id)
		}
		if mine := get(t, h, w.id, nil); mine.status != 404 {
			t.Errorf("%s: a caller read a producer's message: %d %s", w.id, mine.status, mine.raw)
		}
	}
	if got := acceptedBy(s.twilio); got["too late"] != 0 || got["your order"] != 1 {
		t.Errorf("accepted %v, want the order once and nothing past its expiry", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.queueDepth(t, s.dlqURL) < 2 && time.Now().Before(deadline) {
		// SQS moves a message after its last receive when it is received
		// again: keep receiving.
		runUntil(t, time.Second, func() bool { return false }, s.poller(t))
	}
	if d := s.queueDepth(t, s.dlqURL); d != 2 {
		t.Errorf("DLQ depth %d, want 2 (the poison message and the one whose receives ran out)", d)
	}
}
