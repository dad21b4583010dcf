package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/fluxkit/sms/client"
	"github.com/fluxkit/sms/internal/local"
)

// These tests run Status against the real GET /messaging/sms/{messageId}
// handler behind the local server (helpers_test.go): in-memory status
// records, written by the send path, the drain and the console provider's
// delivery reports.

// reportWait bounds the wait for a status the service reaches on its own:
// the console provider's report (local.ReportDelay, 1 s after the send), or
// the drain's send of a queued message.
const reportWait = 15 * time.Second

// TestStatusOfASentMessage: the record read back by the messageId Send
// returned is the sent message's, every field decoded; the console
// provider's report then makes it delivered.
func TestStatusOfASentMessage(t *testing.T) {
	api := newLocal(t, nil)
	tr := &recordingTransport{}
	c := localClient(t, api, api.Token, client.WithHTTPClient(&http.Client{Transport: tr}))
	ctx := context.Background()
	start := time.Now()
	res, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "Your verification code is 482901", ValidFor: time.Minute})
	if err != nil || res.Status != client.StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}

	rec, err := c.Status(ctx, res.MessageID)
	if err != nil {
		t.Fatalf("Status(%s): %v", res.MessageID, err)
	}
	// The report comes local.ReportDelay after the provider took the
	// message: a read that ended sooner after the send began must find it
	// sent (on a machine slow enough, the read may come after the report).
	if took := time.Since(start); took < local.ReportDelay || rec.Status != client.StatusDelivered {
		if rec.Status != client.StatusSent {
			t.Errorf("status %q %v after the send began, want sent (before the console provider's report)", rec.Status, took)
		}
		if got := historyOf(rec); !slices.Equal(got, []client.Status{client.StatusSent}) {
			t.Errorf("history %v, want [sent]", got)
		}
	}
	checkRecordOf(t, rec, res)
	if rec.CreatedAt.Before(start.Add(-time.Second)) || rec.CreatedAt.After(time.Now()) || rec.UpdatedAt.Before(rec.CreatedAt) {
		t.Errorf("createdAt %v, updatedAt %v: want createdAt at the send (%v) and updatedAt not before it", rec.CreatedAt, rec.UpdatedAt, start)
	}
	if d := rec.ExpiresAt.Sub(rec.CreatedAt); d < time.Minute-time.Second || d > time.Minute+time.Second {
		t.Errorf("expiresAt %v is %v after createdAt, want validFor (1m)", rec.ExpiresAt, d)
	}
	if len(rec.History) == 0 || rec.History[0].Status != client.StatusSent || rec.History[0].At.Before(rec.CreatedAt) {
		t.Errorf("history %+v, want sent first, not before createdAt %v", rec.History, rec.CreatedAt)
	}
	if rec.Error != nil {
		t.Errorf("error %+v, want none", rec.Error)
	}
	checkDecodesEverything(t, tr)

	byServiceID, err := c.Status(ctx, rec.ServiceID)
	if err != nil || byServiceID.ServiceID != rec.ServiceID || byServiceID.MessageID != res.MessageID {
		t.Errorf("Status(service id %s) = %+v, %v; want the same record", rec.ServiceID, byServiceID, err)
	}

	rec = waitForStatus(t, c, res.MessageID, client.StatusDelivered)
	if got := historyOf(rec); !slices.Equal(got, []client.Status{client.StatusSent, client.StatusDelivered}) {
		t.Errorf("history %v, want [sent delivered]", got)
	}
	if last := rec.History[len(rec.History)-1]; last.ProviderCode != "delivered" || last.At.Before(rec.History[0].At) ||
		last.At.After(rec.UpdatedAt) || rec.UpdatedAt.Sub(last.At) > time.Second {
		t.Errorf("delivered entry %+v (updatedAt %v), want the provider's code, after the sent entry, at the last change", last, rec.UpdatedAt)
	}
	if rec.Error != nil {
		t.Errorf("error %+v, want none once delivered", rec.Error)
	}
	checkDecodesEverything(t, tr)
}

// TestStatusOfAnUndeliveredMessage: the console provider reports a message
// to a number ending in 0000 undelivered; the record's error decodes with
// its code, message and provider code.
func TestStatusOfAnUndeliveredMessage(t *testing.T) {
	api := newLocal(t, nil)
	tr := &recordingTransport{}
	c := localClient(t, api, api.Token, client.WithHTTPClient(&http.Client{Transport: tr}))
	res, err := c.Send(context.Background(), client.Message{To: "+14155550000", Body: "hi"})
	if err != nil || res.Status != client.StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	rec := waitForStatus(t, c, res.MessageID, client.StatusUndelivered)
	checkRecordOf(t, rec, res)
	if rec.Error == nil || rec.Error.Code != "undelivered" || rec.Error.Message == "" || rec.Error.ProviderCode != "unreachable" {
		t.Errorf("error %+v, want undelivered with a message and provider code unreachable", rec.Error)
	}
	if got := historyOf(rec); !slices.Equal(got, []client.Status{client.StatusSent, client.StatusUndelivered}) || rec.History[1].ProviderCode != "unreachable" {
		t.Errorf("history %+v, want [sent undelivered(unreachable)]", rec.History)
	}
	if !rec.ExpiresAt.IsZero() {
		t.Errorf("expiresAt %v, want none for a message without validFor", rec.ExpiresAt)
	}
	checkDecodesEverything(t, tr)
}

// TestStatusOfAQueuedMessage: at 0.5 sends a second and no wait for a
// slot, a message sent right after another is queued; its record reads
// queued, then sent once the drain sends it at its slot, two seconds
// after the first.
func TestStatusOfAQueuedMessage(t *testing.T) {
	api := newLocal(t, map[string]string{"SMS_RATE_LIMIT": "0.5", "SMS_MAX_WAIT": "0s"})
	tr := &recordingTransport{}
	c := localClient(t, api, api.Token, client.WithHTTPClient(&http.Client{Transport: tr}))
	ctx := context.Background()
	const interval = 2 * time.Second // between slots at 0.5/s
	var queued client.Result
	var lastSent time.Time // when the send that took the last slot began
	for i := range 3 {
		start := time.Now()
		res, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "code " + string(rune('a'+i))})
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if res.Status == client.StatusQueued {
			queued = res
			break
		}
		lastSent = start
	}
	if queued.MessageID == "" {
		t.Fatal("none of 3 sends at 0.5/s was queued: the test cannot read a queued record")
	}

	rec, err := c.Status(ctx, queued.MessageID)
	if err != nil {
		t.Fatalf("Status(%s): %v", queued.MessageID, err)
	}
	if rec.MessageID != queued.MessageID || rec.ServiceID != queued.MessageID || rec.To != queued.To || rec.Segments != 1 || rec.Encoding != "GSM-7" {
		t.Errorf("record = %+v, want the service id Send returned as messageId and serviceId, and the message's to, segments and encoding", rec)
	}
	// The drain sends it at the next slot, interval after the last send
	// took its own: a read that ended sooner must find it queued (on a
	// machine slow enough, the read may come after the drain's send).
	if took := time.Since(lastSent); took < interval || rec.Status != client.StatusSent && rec.Status != client.StatusDelivered {
		if rec.Status != client.StatusQueued || rec.ProviderMessageID != "" || rec.Provider != "" {
			t.Errorf("record = %+v %v after the slot was taken, want queued, no provider yet", rec, took)
		}
		if got := historyOf(rec); !slices.Equal(got, []client.Status{client.StatusQueued}) {
			t.Errorf("history %v, want [queued]", got)
		}
	}

	rec = waitForStatus(t, c, queued.MessageID, client.StatusSent, client.StatusDelivered)
	if got := historyOf(rec); len(got) < 2 || got[0] != client.StatusQueued || got[1] != client.StatusSent {
		t.Errorf("history %v, want queued then sent", got)
	}
	if rec.MessageID != queued.MessageID || rec.ProviderMessageID == "" || rec.ProviderMessageID == queued.MessageID || rec.Provider != "console" {
		t.Errorf("record = %+v, want the service id as messageId and the console provider's id once sent", rec)
	}
	byProviderID, err := c.Status(ctx, rec.ProviderMessageID)
	if err != nil || byProviderID.ServiceID != rec.ServiceID {
		t.Errorf("Status(provider id %s) = %+v, %v; want the same record", rec.ProviderMessageID, byProviderID, err)
	}
	checkDecodesEverything(t, tr)
}

// TestStatusOfAScheduledMessage: a message scheduled an hour ahead reads
// scheduled, by the service id Send returned, its validity counted from
// its send time.
func TestStatusOfAScheduledMessage(t *testing.T) {
	api := newLocal(t, nil)
	tr := &recordingTransport{}
	c := localClient(t, api, api.Token, client.WithHTTPClient(&http.Client{Transport: tr}))
	ctx := context.Background()
	sendAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	res, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "Your table is ready", SendAt: sendAt, ValidFor: 10 * time.Minute})
	if err != nil || res.Status != client.StatusScheduled || !res.SendAt.Equal(sendAt) {
		t.Fatalf("Send = %+v, %v; want scheduled for %v", res, err, sendAt)
	}
	rec, err := c.Status(ctx, res.MessageID)
	if err != nil {
		t.Fatalf("Status(%s): %v", res.MessageID, err)
	}
	if rec.Status != client.StatusScheduled || rec.ServiceID != res.MessageID || rec.MessageID != res.MessageID || rec.ProviderMessageID != "" {
		t.Errorf("record = %+v, want scheduled, the service id Send returned as serviceId and messageId, no provider id", rec)
	}
	if want := sendAt.Add(10 * time.Minute); !rec.ExpiresAt.Equal(want) {
		t.Errorf("expiresAt %v, want sendAt + validFor = %v", rec.ExpiresAt, want)
	}
	if got := historyOf(rec); !slices.Equal(got, []client.Status{client.StatusScheduled}) {
		t.Errorf("history %v, want [scheduled]", got)
	}
	if rec.To != res.To || rec.Segments != res.Segments || rec.Encoding != res.Encoding || rec.CreatedAt.IsZero() {
		t.Errorf("record = %+v, want the message's to, segments, encoding and createdAt", rec)
	}
	checkDecodesEverything(t, tr)
}

// TestStatusIsTheOwners: another caller's message is 404 not_found, the
// same answer as an id that never existed; a token with the read-all
// scope (JWT_READ_ALL_SCOPE) reads it.
func TestStatusIsTheOwners(t *testing.T) {
	api := newLocal(t, nil)
	ctx := context.Background()
	owner := localClient(t, api, api.Token)
	res, err := owner.Send(ctx, client.Message{To: "+14155552671", Body: "hi"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	readAll := api.Config().JWTReadAllScope
	if readAll == "" {
		t.Fatal("the local server runs without a read-all scope")
	}

	tests := []struct {
		name     string
		token    string
		id       string
		wantRead bool
	}{
		{"the owner", api.Token, res.MessageID, true},
		{"another caller", api.tokenFor(t, "another-caller"), res.MessageID, false},
		{"another caller with other scopes", api.tokenFor(t, "another-caller", "sms:send", "sms:admin"), res.MessageID, false},
		{"another caller with the read-all scope", api.tokenFor(t, "another-caller", readAll), res.MessageID, true},
		{"the owner, an id that never existed", api.Token, "SM00000000000000000000000000000000", false},
		{"the owner, a service id that never existed", api.Token, "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f", false},
		{"the read-all scope, an id that never existed", api.tokenFor(t, "another-caller", readAll), "no-such-message", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &recordingTransport{}
			c := localClient(t, api, tt.token, client.WithHTTPClient(&http.Client{Transport: tr}))
			rec, err := c.Status(ctx, tt.id)
			if tt.wantRead {
				if err != nil || rec.MessageID != res.MessageID || rec.Status == "" {
					t.Errorf("Status = %+v, %v; want the record of %s", rec, err, res.MessageID)
				}
				return
			}
			var apiErr *client.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("Status = %+v, %v; want a *client.Error", rec, err)
			}
			if apiErr.HTTPStatus != http.StatusNotFound || apiErr.Code != client.CodeNotFound || apiErr.Message != "no such message" {
				t.Errorf("error = %d %q %q, want 404 not_found \"no such message\"", apiErr.HTTPStatus, apiErr.Code, apiErr.Message)
			}
			if apiErr.Retryable() || len(tr.exchanges()) != 1 {
				t.Errorf("%d tries (retryable %v), want 1: a 404 is not retried", len(tr.exchanges()), apiErr.Retryable())
			}
			if rec.ServiceID != "" || rec.Status != "" {
				t.Errorf("record = %+v, want none with the error", rec)
			}
		})
	}
}

// localClient is a client of the local server sending token.
func localClient(t *testing.T, api *localAPI, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(api.URL, client.StaticToken(token), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitForStatus reads the record of id until its status is one of want,
// for at most reportWait, and returns it.
func waitForStatus(t *testing.T, c *client.Client, id string, want ...client.Status) client.Record {
	t.Helper()
	deadline := time.Now().Add(reportWait)
	for {
		rec, err := c.Status(context.Background(), id)
		if err != nil {
			t.Fatalf("Status(%s): %v", id, err)
		}
		if slices.Contains(want, rec.Status) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status(%s) is still %s after %v (history %v), want %v", id, rec.Status, reportWait, historyOf(rec), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRecordOf checks the fields of rec that come from the send res
// answered: its ids, provider, recipient, sender and encoding.
func checkRecordOf(t *testing.T, rec client.Record, res client.Result) {
	t.Helper()
	if rec.Channel != "sms" || rec.MessageID != res.MessageID || rec.ProviderMessageID != res.MessageID || rec.ProducerID != "" {
		t.Errorf("record ids = channel %q, messageId %q, providerMessageId %q, producerId %q; want sms, %s twice, none",
			rec.Channel, rec.MessageID, rec.ProviderMessageID, rec.ProducerID, res.MessageID)
	}
	if rec.ServiceID == "" || rec.ServiceID == res.MessageID {
		t.Errorf("serviceId %q, want the service's own id (not the provider's %s)", rec.ServiceID, res.MessageID)
	}
	if rec.Provider != "console" || rec.Provider != res.Provider {
		t.Errorf("provider %q (send answered %q), want console", rec.Provider, res.Provider)
	}
	if rec.To != res.To || rec.From == "" || rec.Segments != res.Segments || rec.Encoding != res.Encoding {
		t.Errorf("to %q, from %q, %d %s; want %s, the default sender, %d %s", rec.To, rec.From, rec.Segments, rec.Encoding, res.To, res.Segments, res.Encoding)
	}
}

// checkDecodesEverything decodes every 200 status record tr saw into a
// client.Record, refusing unknown fields: the client drops nothing the
// handler answers.
func checkDecodesEverything(t *testing.T, tr *recordingTransport) {
	t.Helper()
	n := 0
	for _, ex := range tr.exchanges() {
		if ex.method != http.MethodGet || ex.status != http.StatusOK {
			continue
		}
		n++
		dec := json.NewDecoder(bytes.NewReader([]byte(ex.body)))
		dec.DisallowUnknownFields()
		var rec client.Record
		if err := dec.Decode(&rec); err != nil {
			t.Errorf("status record %s: %v: the client's Record lacks a field the handler answers", ex.body, err)
		}
	}
	if n == 0 {
		t.Error("no status record was read")
	}
}

// historyOf lists the statuses of rec's history.
func historyOf(rec client.Record) []client.Status {
	var s []client.Status
	for _, h := range rec.History {
		s = append(s, h.Status)
	}
	return s
}
