package receipts_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

func TestTwilioStatus(t *testing.T) {
	tests := []struct {
		status, errorCode string
		want              sms.Status
		wantCode          string // the failure's code; "" for none
		wantOK            bool
	}{
		{"queued", "", sms.StatusSent, "", true},
		{"accepted", "", sms.StatusSent, "", true},
		{"sending", "", sms.StatusSent, "", true},
		{"sent", "", sms.StatusSent, "", true},
		{"delivered", "", sms.StatusDelivered, "", true},
		{"read", "", sms.StatusDelivered, "", true},
		{"undelivered", "30003", sms.StatusUndelivered, receipts.CodeUndelivered, true},
		{"undelivered", "", sms.StatusUndelivered, receipts.CodeUndelivered, true},
		{"failed", "30008", sms.StatusFailed, receipts.CodeSendFailed, true},
		{"canceled", "", sms.StatusFailed, receipts.CodeCanceled, true},
		{"failed", "30036", sms.StatusExpired, receipts.CodeExpired, true},
		{"undelivered", "30036", sms.StatusExpired, receipts.CodeExpired, true},
		{"scheduled", "", "", "", false},
		{"receiving", "", "", "", false},
		{"received", "", "", "", false},
		{"partially_delivered", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tt := range tests {
		st, f, ok := receipts.TwilioStatus(tt.status, tt.errorCode)
		code := ""
		if f != nil {
			code = f.Code
			if f.ProviderCode != tt.errorCode || f.Message == "" {
				t.Errorf("TwilioStatus(%q, %q) failure = %+v, want provider code %q and a message", tt.status, tt.errorCode, f, tt.errorCode)
			}
		}
		if st != tt.want || code != tt.wantCode || ok != tt.wantOK {
			t.Errorf("TwilioStatus(%q, %q) = %s, %q, %v; want %s, %q, %v", tt.status, tt.errorCode, st, code, ok, tt.want, tt.wantCode, tt.wantOK)
		}
	}
}

// TestTwilioCallbackRecorded: a signed callback is verified over the
// StatusCallback URL and recorded; the record says what the callback
// said.
func TestTwilioCallbackRecorded(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	resp := r.h.Serve(context.Background(), twilioRequest(authToken, callbackURL(id), twilioForm("delivered", "")))
	if resp.Status != http.StatusOK || string(resp.Body) != "{}" {
		t.Fatalf("answer = %d %s, want 200 {}", resp.Status, resp.Body)
	}
	rec := r.get(t, id)
	if rec.Status != sms.StatusDelivered || rec.ProviderMessageID != twilioSID || rec.Provider != "twilio" || rec.To != recipient {
		t.Errorf("record = %+v, want delivered with the SID, provider and recipient of the callback", rec)
	}
	if len(rec.History) != 1 || rec.History[0].ProviderCode != "delivered" || !rec.History[0].At.Equal(now) {
		t.Errorf("history = %+v, want one delivered entry at the handler's clock", rec.History)
	}
}

// TestTwilioSignatureChecks: the URL is rebuilt from SMS_PUBLIC_URL, the
// route and the ref (both port forms); anything else is 403
// invalid_signature and changes nothing.
func TestTwilioSignatureChecks(t *testing.T) {
	form := twilioForm("delivered", "")
	tests := []struct {
		name       string
		req        func(id string) receipts.Request
		wantStatus int
	}{
		{"as called", func(id string) receipts.Request { return twilioRequest(authToken, callbackURL(id), form) }, 200},
		{"signed with :443", func(id string) receipts.Request {
			return twilioRequest(authToken, "https://sms.example.com:443"+receipts.TwilioPath+"?ref="+id, form)
		}, 200},
		{"received on another path (custom domain mapping)", func(id string) receipts.Request {
			req := twilioRequest(authToken, callbackURL(id), form)
			req.Path = "/prod" + receipts.TwilioPath
			return req
		}, 200},
		{"another token", func(id string) receipts.Request { return twilioRequest("other-token", callbackURL(id), form) }, 403},
		{"signed for the API's own domain", func(id string) receipts.Request {
			req := twilioRequest(authToken, "https://abc123.execute-api.eu-west-1.amazonaws.com"+receipts.TwilioPath+"?ref="+id, form)
			return req
		}, 403},
		{"ref changed after signing", func(id string) receipts.Request {
			req := twilioRequest(authToken, callbackURL(sms.NewServiceID()), form)
			req.Query = url.Values{"ref": {id}}
			return req
		}, 403},
		{"status changed after signing", func(id string) receipts.Request {
			req := twilioRequest(authToken, callbackURL(id), form)
			req.Body = []byte(strings.Replace(string(req.Body), "MessageStatus=delivered", "MessageStatus=failed", 1))
			return req
		}, 403},
		{"parameter added after signing", func(id string) receipts.Request {
			req := twilioRequest(authToken, callbackURL(id), form)
			req.Body = append(req.Body, "&ErrorCode=30003"...)
			return req
		}, 403},
		{"no signature", func(id string) receipts.Request {
			req := twilioRequest(authToken, callbackURL(id), form)
			req.Headers.Del("X-Twilio-Signature")
			return req
		}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
			id := sms.NewServiceID()
			resp := r.h.Serve(context.Background(), tt.req(id))
			if resp.Status != tt.wantStatus {
				t.Fatalf("answer = %d %s, want %d", resp.Status, resp.Body, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusForbidden {
				if got := errorCode(t, resp); got != "invalid_signature" {
					t.Errorf("error code = %q, want invalid_signature", got)
				}
				r.absent(t, id)
				if r.writes.writes != 0 {
					t.Errorf("store writes = %d, want 0", r.writes.writes)
				}
				if !strings.Contains(string(r.logs.Bytes()), `"event":"invalid_signature"`) {
					t.Errorf("no invalid_signature event logged:\n%s", r.logs.Bytes())
				}
				return
			}
			if got := r.get(t, id).Status; got != sms.StatusDelivered {
				t.Errorf("status = %s, want delivered", got)
			}
		})
	}
}

// TestTwilioRefusedWithoutKeys: without an auth token, or without
// SMS_PUBLIC_URL, callbacks are refused.
func TestTwilioRefusedWithoutKeys(t *testing.T) {
	id := sms.NewServiceID()
	r := newRig(t, receipts.Keys{VonageReceiptsToken: tokenSecret})
	if resp := r.h.Serve(context.Background(), twilioRequest("", callbackURL(id), twilioForm("delivered", ""))); resp.Status != http.StatusForbidden {
		t.Errorf("without an auth token: answer = %d, want 403", resp.Status)
	}
	h := receipts.NewHandler(r.writes, &keySource{cur: receipts.Keys{TwilioAuthToken: authToken}}, nil, receipts.Config{})
	if resp := h.Serve(context.Background(), twilioRequest(authToken, receipts.TwilioPath+"?ref="+id, twilioForm("delivered", ""))); resp.Status != http.StatusForbidden {
		t.Errorf("without SMS_PUBLIC_URL: answer = %d, want 403", resp.Status)
	}
	r.absent(t, id)
}

// TestTwilioKeyRotation: a callback signed with a token newer than the
// cached one re-reads the keys once and is then accepted; a callback that
// fails against fresh keys too is refused.
func TestTwilioKeyRotation(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: "old-token"})
	r.keys.next = &receipts.Keys{TwilioAuthToken: authToken}
	id := sms.NewServiceID()
	if resp := r.h.Serve(context.Background(), twilioRequest(authToken, callbackURL(id), twilioForm("sent", ""))); resp.Status != http.StatusOK {
		t.Fatalf("answer = %d %s, want 200 after the keys were re-read", resp.Status, resp.Body)
	}
	if r.keys.refreshes != 1 {
		t.Errorf("refreshes = %d, want 1", r.keys.refreshes)
	}
	if resp := r.h.Serve(context.Background(), twilioRequest("forged", callbackURL(id), twilioForm("delivered", ""))); resp.Status != http.StatusForbidden {
		t.Errorf("forged answer = %d, want 403", resp.Status)
	}
	if got := r.get(t, id).Status; got != sms.StatusSent {
		t.Errorf("status = %s, want sent (the forged delivered changed nothing)", got)
	}
}

// TestTwilioMalformed: what is not a status callback is refused before any
// verification.
func TestTwilioMalformed(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	ok := func() receipts.Request { return twilioRequest(authToken, callbackURL(id), twilioForm("delivered", "")) }
	tests := []struct {
		name     string
		change   func(*receipts.Request)
		status   int
		code     string
		wantHead string
	}{
		{"GET", func(r *receipts.Request) { r.Method = http.MethodGet }, 405, "invalid_request", "Allow"},
		{"JSON", func(r *receipts.Request) { r.Headers.Set("Content-Type", "application/json") }, 415, "unsupported_media_type", ""},
		{"bad form", func(r *receipts.Request) { r.Body = []byte("a=%zz") }, 400, "invalid_request", ""},
		{"huge", func(r *receipts.Request) { r.Body = []byte(strings.Repeat("a", 70000)) }, 413, "payload_too_large", ""},
		{"unknown route", func(r *receipts.Request) { r.Path = "/messaging/sms/receipts/plivo" }, 404, "not_found", ""},
	}
	for _, tt := range tests {
		req := ok()
		tt.change(&req)
		resp := r.h.Serve(context.Background(), req)
		if resp.Status != tt.status || errorCode(t, resp) != tt.code {
			t.Errorf("%s: answer = %d %s, want %d %s", tt.name, resp.Status, resp.Body, tt.status, tt.code)
		}
		if tt.wantHead != "" && resp.Headers[tt.wantHead] == "" {
			t.Errorf("%s: no %s header", tt.name, tt.wantHead)
		}
	}
	r.absent(t, id)
}

// TestTwilioNothingToRecord: a verified callback without a service id, or
// with a status that says nothing about delivery, gets 200 and changes
// nothing.
func TestTwilioNothingToRecord(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	noRef := twilioRequest(authToken, publicURL+receipts.TwilioPath, twilioForm("delivered", ""))
	badRef := twilioRequest(authToken, publicURL+receipts.TwilioPath+"?ref=not-a-service-id", twilioForm("delivered", ""))
	id := sms.NewServiceID()
	other := twilioRequest(authToken, callbackURL(id), twilioForm("receiving", ""))
	for name, req := range map[string]receipts.Request{"no ref": noRef, "ref not a service id": badRef, "status receiving": other} {
		if resp := r.h.Serve(context.Background(), req); resp.Status != http.StatusOK {
			t.Errorf("%s: answer = %d %s, want 200", name, resp.Status, resp.Body)
		}
	}
	if r.writes.writes != 0 {
		t.Errorf("store writes = %d, want 0", r.writes.writes)
	}
	r.absent(t, id)
	logs := string(r.logs.Bytes())
	for _, ev := range []string{`"event":"receipt_unmatched"`, `"event":"receipt_ignored"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("no %s in the logs:\n%s", ev, logs)
		}
	}
}

// TestTwilioOutcomes: undelivered, failed, expired and opted-out
// callbacks record their failure; an undelivered one logs the
// recipient's region, and an opted-out one reaches the opt-out hook.
func TestTwilioOutcomes(t *testing.T) {
	tests := []struct {
		status, code string
		want         sms.Status
		wantCode     string
		optOut       bool
	}{
		{"undelivered", "30003", sms.StatusUndelivered, receipts.CodeUndelivered, false},
		{"undelivered", "21610", sms.StatusUndelivered, receipts.CodeUndelivered, true},
		{"failed", "30008", sms.StatusFailed, receipts.CodeSendFailed, false},
		{"failed", "30036", sms.StatusExpired, receipts.CodeExpired, false},
	}
	for _, tt := range tests {
		t.Run(tt.status+"/"+tt.code, func(t *testing.T) {
			r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
			id := sms.NewServiceID()
			if resp := r.h.Serve(context.Background(), twilioRequest(authToken, callbackURL(id), twilioForm(tt.status, tt.code))); resp.Status != 200 {
				t.Fatalf("answer = %d %s", resp.Status, resp.Body)
			}
			rec := r.get(t, id)
			if rec.Status != tt.want || rec.Error == nil || rec.Error.Code != tt.wantCode || rec.Error.ProviderCode != tt.code {
				t.Errorf("record = %s %+v, want %s with code %s and provider code %s", rec.Status, rec.Error, tt.want, tt.wantCode, tt.code)
			}
			if got := len(r.optOut) == 1; got != tt.optOut {
				t.Errorf("opt-outs = %+v, want one: %v", r.optOut, tt.optOut)
			} else if tt.optOut && r.optOut[0] != (receipts.OptOut{Provider: "twilio", ServiceID: id, To: recipient, ProviderCode: "21610"}) {
				t.Errorf("opt-out = %+v", r.optOut[0])
			}
			logs := string(r.logs.Bytes())
			if wantRegion := tt.want == sms.StatusUndelivered; strings.Contains(logs, `"region":"US"`) != wantRegion {
				t.Errorf("region logged = %v, want %v:\n%s", !wantRegion, wantRegion, logs)
			}
			if strings.Contains(logs, recipient) || strings.Contains(logs, authToken) {
				t.Errorf("the log holds the recipient or the token:\n%s", logs)
			}
		})
	}
}
