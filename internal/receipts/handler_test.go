package receipts_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// TestReceiptsAnyOrderAndDuplicates: whatever order the callbacks of one
// message arrive in, and however often, the record ends the same
// (docs/status.md's rules, applied by the store).
func TestReceiptsAnyOrderAndDuplicates(t *testing.T) {
	sequences := map[string][]string{
		"sent, delivered":                {"sent", "delivered"},
		"delivered, sent":                {"delivered", "sent"},
		"sent twice, delivered twice":    {"sent", "sent", "delivered", "delivered"},
		"delivered, sent, delivered":     {"delivered", "sent", "delivered"},
		"sending, sent, delivered, read": {"sending", "sent", "delivered", "read"},
	}
	for name, seq := range sequences {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
			id := sms.NewServiceID()
			for _, st := range seq {
				if resp := r.h.Serve(context.Background(), twilioRequest(authToken, callbackURL(id), twilioForm(st, ""))); resp.Status != 200 {
					t.Fatalf("%s: answer = %d %s", st, resp.Status, resp.Body)
				}
			}
			rec := r.get(t, id)
			if rec.Status != sms.StatusDelivered || rec.Error != nil {
				t.Errorf("record = %s %+v, want delivered", rec.Status, rec.Error)
			}
			var statuses []sms.Status
			for _, h := range rec.History {
				statuses = append(statuses, h.Status)
			}
			if want := []sms.Status{sms.StatusSent, sms.StatusDelivered}; !reflect.DeepEqual(statuses, want) {
				t.Errorf("history = %v, want each status once: %v", statuses, want)
			}
		})
	}
	// A final failure then a late sent: undelivered stays.
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	for _, st := range []string{"undelivered", "sent", "sent"} {
		r.h.Serve(context.Background(), twilioRequest(authToken, callbackURL(id), twilioForm(st, "30003")))
	}
	if got := r.get(t, id).Status; got != sms.StatusUndelivered {
		t.Errorf("undelivered, then sent: status = %s, want undelivered", got)
	}
}

// TestReceiptSettlesUnknownAndMergesWithTheSendPath: a receipt settles a
// message whose outcome was unknown; one that outruns the send path's
// write creates the record, which that write then completes.
func TestReceiptSettlesUnknownAndMergesWithTheSendPath(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	ctx := context.Background()
	unknown := sms.NewServiceID()
	if _, err := r.store.Record(ctx, unknown, sms.Change{Status: sms.StatusUnknown, Owner: sms.CallerOwner("client-1"), To: recipient}); err != nil {
		t.Fatal(err)
	}
	r.h.Serve(ctx, twilioRequest(authToken, callbackURL(unknown), twilioForm("sent", "")))
	if got := r.get(t, unknown); got.Status != sms.StatusSent || got.ProviderMessageID != twilioSID {
		t.Errorf("unknown, then a sent callback: %s %q, want sent with the SID", got.Status, got.ProviderMessageID)
	}

	early := sms.NewServiceID()
	r.h.Serve(ctx, twilioRequest(authToken, callbackURL(early), twilioForm("delivered", "")))
	if _, err := r.store.Record(ctx, early, sms.Change{Status: sms.StatusSent, MessageID: twilioSID, ProviderMessageID: twilioSID,
		Provider: "twilio", To: recipient, From: "+15005550006", Segments: 1, Encoding: sms.GSM7, Owner: sms.CallerOwner("client-1")}); err != nil {
		t.Fatal(err)
	}
	got := r.get(t, early)
	if got.Status != sms.StatusDelivered || got.From != "+15005550006" || got.Segments != 1 || !got.OwnedBy(sms.CallerOwner("client-1")) {
		t.Errorf("receipt, then the send path: %+v, want delivered with the send path's fields", got)
	}
}

// TestRecordingFailureAsksForARetry: when the store fails, the answer is
// 5xx so that the provider sends the receipt again.
func TestRecordingFailureAsksForARetry(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	req := twilioRequest(authToken, callbackURL(id), twilioForm("delivered", ""))
	for _, tt := range []struct {
		err  error
		want int
	}{
		{errUnavailable, http.StatusServiceUnavailable},
		{sms.E(sms.KindInternal, "internal error"), http.StatusInternalServerError},
	} {
		r.writes.err = tt.err
		if resp := r.h.Serve(context.Background(), req); resp.Status != tt.want {
			t.Errorf("store error %v: answer = %d, want %d", tt.err, resp.Status, tt.want)
		}
	}
	r.writes.err = nil
	if resp := r.h.Serve(context.Background(), req); resp.Status != http.StatusOK {
		t.Fatalf("retry: answer = %d, want 200", resp.Status)
	}
	if got := r.get(t, id).Status; got != sms.StatusDelivered {
		t.Errorf("after the retry: status = %s, want delivered", got)
	}
	if !strings.Contains(string(r.logs.Bytes()), `"event":"receipt_record_failed"`) {
		t.Errorf("no receipt_record_failed event logged")
	}
}

// TestTrackingOff: without a store, verified receipts are acknowledged
// and dropped; unverified ones are still refused.
func TestTrackingOff(t *testing.T) {
	h := receipts.NewHandler(nil, &keySource{cur: receipts.Keys{TwilioAuthToken: authToken}}, nil, receipts.Config{PublicURL: publicURL})
	id := sms.NewServiceID()
	if resp := h.Serve(context.Background(), twilioRequest(authToken, callbackURL(id), twilioForm("delivered", ""))); resp.Status != 200 {
		t.Errorf("verified: answer = %d, want 200", resp.Status)
	}
	if resp := h.Serve(context.Background(), twilioRequest("x", callbackURL(id), twilioForm("delivered", ""))); resp.Status != 403 {
		t.Errorf("forged: answer = %d, want 403", resp.Status)
	}
}

// TestInvokeBothPayloadFormats: the Lambda entry point takes HTTP API
// (2.0) and REST API (1.0) events, base64 bodies included, and answers in
// the same format.
func TestInvokeBothPayloadFormats(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	req := twilioRequest(authToken, callbackURL(id), twilioForm("sent", ""))
	v2 := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST " + receipts.TwilioPath, RawPath: "/stage" + receipts.TwilioPath, RawQueryString: "ref=" + id,
		Headers: map[string]string{"content-type": req.Headers.Get("Content-Type"), "x-twilio-signature": req.Headers.Get("X-Twilio-Signature")},
		Body:    base64.StdEncoding.EncodeToString(req.Body), IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}},
	}
	out := invoke(t, r.h, v2)
	var resp2 events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp2); err != nil || resp2.StatusCode != 200 {
		t.Fatalf("payload 2.0 answer = %s, %v; want 200", out, err)
	}

	req = twilioRequest(authToken, callbackURL(id), twilioForm("delivered", ""))
	v1 := events.APIGatewayProxyRequest{
		Resource: receipts.TwilioPath, Path: "/prod" + receipts.TwilioPath, HTTPMethod: "POST",
		Headers:                         map[string]string{"Content-Type": req.Headers.Get("Content-Type"), "X-Twilio-Signature": req.Headers.Get("X-Twilio-Signature")},
		QueryStringParameters:           map[string]string{"ref": id},
		MultiValueQueryStringParameters: map[string][]string{"ref": {id}},
		Body:                            string(req.Body),
	}
	out = invoke(t, r.h, v1)
	var resp1 events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp1); err != nil || resp1.StatusCode != 200 {
		t.Fatalf("payload 1.0 answer = %s, %v; want 200", out, err)
	}
	if got := r.get(t, id).Status; got != sms.StatusDelivered {
		t.Errorf("status = %s, want delivered", got)
	}

	bad := v2
	bad.Body, bad.RawQueryString = "%%%", "ref="+id
	out = invoke(t, r.h, bad)
	if err := json.Unmarshal(out, &resp2); err != nil || resp2.StatusCode != 400 {
		t.Errorf("body not base64: answer = %s, want 400", out)
	}
}

func invoke(t *testing.T, h *receipts.Handler, ev any) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(context.Background(), b)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return out
}

// TestStartLogsRefusals: the start-up says which providers' receipts
// will be refused, and why.
func TestStartLogsRefusals(t *testing.T) {
	tests := []struct {
		name      string
		keys      receipts.Keys
		publicURL string
		providers []string
		want      []string // fragments of warnings; none means no warning
	}{
		{"twilio with a token", receipts.Keys{TwilioAuthToken: authToken}, publicURL, []string{"twilio"}, nil},
		{"twilio without a token", receipts.Keys{}, publicURL, []string{"twilio"}, []string{"no authToken"}},
		{"twilio without SMS_PUBLIC_URL", receipts.Keys{TwilioAuthToken: authToken}, "", []string{"twilio"}, []string{"SMS_PUBLIC_URL is not set"}},
		{"vonage signed", receipts.Keys{VonageSignatureSecret: sigSecret}, publicURL, []string{"vonage"}, nil},
		{"vonage by token", receipts.Keys{VonageReceiptsToken: tokenSecret}, publicURL, []string{"vonage"}, nil},
		{"vonage with neither", receipts.Keys{}, publicURL, []string{"vonage"}, []string{"neither signatureSecret nor receiptsToken"}},
		{"vonage callback too long", receipts.Keys{VonageSignatureSecret: sigSecret}, "https://" + strings.Repeat("a", 70) + ".example.com", []string{"vonage"},
			[]string{"longer than Vonage's 100 characters"}},
		{"another provider's keys are not its concern", receipts.Keys{}, publicURL, []string{"twilio", "vonage"}, []string{"no authToken", "neither signatureSecret"}},
		{"no provider", receipts.Keys{}, publicURL, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logging.Buffer
			h := receipts.NewHandler(&countingStore{}, &keySource{cur: tt.keys}, logging.New(&logs, -4), receipts.Config{PublicURL: tt.publicURL})
			if err := h.Start(context.Background(), tt.providers...); err != nil {
				t.Fatal(err)
			}
			out := string(logs.Bytes())
			if got := strings.Count(out, `"level":"WARN"`); got != len(tt.want) {
				t.Errorf("%d warnings, want %d:\n%s", got, len(tt.want), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no warning with %q:\n%s", w, out)
				}
			}
		})
	}
	failing := receipts.NewHandler(nil, &keySource{err: errUnavailable}, nil, receipts.Config{})
	if err := failing.Start(context.Background(), "twilio"); err == nil {
		t.Errorf("Start with unreadable keys = nil, want an error")
	}
}

// TestKeysUnavailableAsksForARetry: a receipt that cannot be verified
// because the keys cannot be read (Secrets Manager unreachable) may be
// genuine: it is answered 503 with Retry-After, so that the provider sends
// it again, not 403, and nothing is recorded.
func TestKeysUnavailableAsksForARetry(t *testing.T) {
	keys := receipts.Keys{TwilioAuthToken: authToken, VonageReceiptsToken: tokenSecret}
	tests := []struct {
		name  string
		spoil func(k *keySource)
		req   func(id string) receipts.Request
	}{
		{"twilio, keys unreadable", func(k *keySource) { k.err = errUnavailable },
			func(id string) receipts.Request {
				return twilioRequest(authToken, callbackURL(id), twilioForm("delivered", ""))
			}},
		{"twilio, a mismatch and the re-read fails", func(k *keySource) { k.refreshErr = errUnavailable },
			func(id string) receipts.Request {
				return twilioRequest("a-token-rotated-since", callbackURL(id), twilioForm("delivered", ""))
			}},
		{"vonage, keys unreadable", func(k *keySource) { k.err = errUnavailable },
			func(id string) receipts.Request {
				return vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, keys)
			tt.spoil(r.keys)
			id := sms.NewServiceID()
			resp := r.h.Serve(context.Background(), tt.req(id))
			if resp.Status != http.StatusServiceUnavailable || resp.Headers["Retry-After"] == "" || !strings.Contains(string(resp.Body), `"unavailable"`) {
				t.Errorf("answer = %d %v %s, want 503 unavailable with Retry-After", resp.Status, resp.Headers, resp.Body)
			}
			r.absent(t, id)
			if r.writes.writes != 0 {
				t.Errorf("writes = %d, want 0", r.writes.writes)
			}
		})
	}
}
