package receipts_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/vonage"
)

func TestVonageStatus(t *testing.T) {
	tests := []struct {
		status, errCode string
		want            sms.Status
		wantCode        string
		wantProvider    string
		wantOK          bool
	}{
		{"accepted", "0", sms.StatusSent, "", "", true},
		{"buffered", "0", sms.StatusSent, "", "", true},
		{"unknown", "1", sms.StatusSent, "", "", true},
		{"delivered", "0", sms.StatusDelivered, "", "", true},
		{"expired", "0", sms.StatusExpired, receipts.CodeExpired, "", true},
		{"failed", "3", sms.StatusUndelivered, receipts.CodeUndelivered, "3", true},
		{"rejected", "6", sms.StatusUndelivered, receipts.CodeUndelivered, "6", true},
		{"failed", "99", sms.StatusUndelivered, receipts.CodeUndelivered, "99", true},
		{"submitted", "0", "", "", "", false},
		{"", "", "", "", "", false},
	}
	for _, tt := range tests {
		st, f, ok := receipts.VonageStatus(tt.status, tt.errCode)
		code, pc := "", ""
		if f != nil {
			code, pc = f.Code, f.ProviderCode
		}
		if st != tt.want || code != tt.wantCode || pc != tt.wantProvider || ok != tt.wantOK {
			t.Errorf("VonageStatus(%q, %q) = %s, %q, %q, %v; want %s, %q, %q, %v", tt.status, tt.errCode, st, code, pc, ok,
				tt.want, tt.wantCode, tt.wantProvider, tt.wantOK)
		}
	}
}

// TestVonageSignedEveryMethodAndFormat: with a signature secret, a receipt
// signed with the account's method is accepted by GET, POST form and POST
// JSON, and recorded.
func TestVonageSignedEveryMethodAndFormat(t *testing.T) {
	for _, method := range vonage.SignatureMethods {
		for _, format := range []string{"GET", "POST form", "POST JSON"} {
			t.Run(method+"/"+format, func(t *testing.T) {
				keys := receipts.Keys{VonageSignatureSecret: sigSecret, VonageSignatureMethod: method}
				if method == vonage.DefaultSignatureMethod {
					keys.VonageSignatureMethod = "" // the default
				}
				r := newRig(t, keys)
				id := sms.NewServiceID()
				p := signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), method, sigSecret, now.Add(-time.Minute))
				var req receipts.Request
				switch format {
				case "GET":
					req = vonageGET(p)
				case "POST form":
					req = vonagePOSTForm(p, nil)
				default:
					req = vonagePOSTJSON(t, p, nil)
				}
				if resp := r.h.Serve(context.Background(), req); resp.Status != http.StatusOK {
					t.Fatalf("answer = %d %s, want 200", resp.Status, resp.Body)
				}
				rec := r.get(t, id)
				if rec.Status != sms.StatusDelivered || rec.Provider != "vonage" || rec.To != recipient || rec.ProviderMessageID != "" {
					t.Errorf("record = %+v, want delivered to %s by vonage, without a provider id (receipts of a part fill none)", rec, recipient)
				}
			})
		}
	}
}

// TestVonageSignatureRefusals: a receipt whose sig does not verify, whose
// timestamp is stale or in the future, or that is not signed, is 403
// invalid_signature and changes nothing.
func TestVonageSignatureRefusals(t *testing.T) {
	keys := receipts.Keys{VonageSignatureSecret: sigSecret, VonageSignatureMethod: vonage.MethodSHA256, VonageReceiptsToken: tokenSecret}
	tests := []struct {
		name string
		req  func(t *testing.T, id string) receipts.Request
	}{
		{"another secret", func(t *testing.T, id string) receipts.Request {
			return vonageGET(signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), vonage.MethodSHA256, "other", now))
		}},
		{"another method", func(t *testing.T, id string) receipts.Request {
			return vonageGET(signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), vonage.MethodSHA512, sigSecret, now))
		}},
		{"status changed after signing", func(t *testing.T, id string) receipts.Request {
			p := signVonage(t, vonageParams(id, vonagePart1, "failed", "3"), vonage.MethodSHA256, sigSecret, now)
			p.Set("status", "delivered")
			return vonageGET(p)
		}},
		{"stale timestamp", func(t *testing.T, id string) receipts.Request {
			return vonageGET(signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), vonage.MethodSHA256, sigSecret, now.Add(-receipts.MaxTimestampSkew-time.Second)))
		}},
		{"future timestamp", func(t *testing.T, id string) receipts.Request {
			return vonageGET(signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), vonage.MethodSHA256, sigSecret, now.Add(receipts.MaxTimestampSkew+time.Second)))
		}},
		{"unsigned, with the token (signing is configured)", func(t *testing.T, id string) receipts.Request {
			return vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, keys)
			id := sms.NewServiceID()
			resp := r.h.Serve(context.Background(), tt.req(t, id))
			if resp.Status != http.StatusForbidden || errorCode(t, resp) != "invalid_signature" {
				t.Fatalf("answer = %d %s, want 403 invalid_signature", resp.Status, resp.Body)
			}
			r.absent(t, id)
		})
	}
	r := newRig(t, keys)
	id := sms.NewServiceID()
	edge := signVonage(t, vonageParams(id, vonagePart1, "delivered", "0"), vonage.MethodSHA256, sigSecret, now.Add(-receipts.MaxTimestampSkew))
	if resp := r.h.Serve(context.Background(), vonageGET(edge)); resp.Status != http.StatusOK {
		t.Errorf("timestamp exactly %v old: answer = %d, want 200", receipts.MaxTimestampSkew, resp.Status)
	}
}

// TestVonageToken: with only a receipts token, the token query parameter
// verifies GET and POST receipts; a wrong or missing one is 403. With
// neither key, every receipt is refused.
func TestVonageToken(t *testing.T) {
	r := newRig(t, receipts.Keys{VonageReceiptsToken: tokenSecret, TwilioAuthToken: authToken})
	tests := []struct {
		name string
		req  func(p url.Values) receipts.Request
		want int
	}{
		{"GET", func(p url.Values) receipts.Request { return vonageGET(p, "token", tokenSecret) }, 200},
		{"POST form", func(p url.Values) receipts.Request { return vonagePOSTForm(p, url.Values{"token": {tokenSecret}}) }, 200},
		{"POST JSON", func(p url.Values) receipts.Request { return vonagePOSTJSON(t, p, url.Values{"token": {tokenSecret}}) }, 200},
		{"wrong token", func(p url.Values) receipts.Request { return vonageGET(p, "token", tokenSecret+"x") }, 403},
		{"a prefix of the token", func(p url.Values) receipts.Request { return vonageGET(p, "token", tokenSecret[:5]) }, 403},
		{"token in the body, not the URL", func(p url.Values) receipts.Request {
			p.Set("token", tokenSecret)
			return vonagePOSTForm(p, nil)
		}, 403},
		{"no token", func(p url.Values) receipts.Request { return vonageGET(p) }, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sms.NewServiceID()
			resp := r.h.Serve(context.Background(), tt.req(vonageParams(id, vonagePart1, "delivered", "0")))
			if resp.Status != tt.want {
				t.Fatalf("answer = %d %s, want %d", resp.Status, resp.Body, tt.want)
			}
			if tt.want == http.StatusOK {
				if got := r.get(t, id).Status; got != sms.StatusDelivered {
					t.Errorf("status = %s, want delivered", got)
				}
			} else {
				r.absent(t, id)
			}
		})
	}
	if logs := string(r.logs.Bytes()); strings.Contains(logs, tokenSecret[:10]) {
		t.Errorf("the log holds the token:\n%s", logs)
	}

	none := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	if resp := none.h.Serve(context.Background(), vonageGET(vonageParams(id, vonagePart1, "delivered", "0"), "token", tokenSecret)); resp.Status != http.StatusForbidden {
		t.Errorf("without signatureSecret or receiptsToken: answer = %d, want 403", resp.Status)
	}
	none.absent(t, id)
}

// TestVonageMultipartFirstPartDecides: every part of a multipart message
// has its receipt, all with the same client-ref; only the first part's
// (the provider id the send path recorded) moves the record.
func TestVonageMultipartFirstPartDecides(t *testing.T) {
	r := newRig(t, receipts.Keys{VonageReceiptsToken: tokenSecret})
	id := sms.NewServiceID()
	if _, err := r.store.Record(context.Background(), id, sms.Change{Status: sms.StatusSent, ProviderMessageID: vonagePart1, Provider: "vonage"}); err != nil {
		t.Fatal(err)
	}
	send := func(part, status, errCode string) {
		t.Helper()
		if resp := r.h.Serve(context.Background(), vonageGET(vonageParams(id, part, status, errCode), "token", tokenSecret)); resp.Status != http.StatusOK {
			t.Fatalf("%s %s: answer = %d %s", part, status, resp.Status, resp.Body)
		}
	}
	send(vonagePart2, "delivered", "0")
	if got := r.get(t, id).Status; got != sms.StatusSent {
		t.Errorf("after the second part's delivered: status = %s, want sent", got)
	}
	send(vonagePart1, "failed", "2")
	send(vonagePart2, "delivered", "0")
	rec := r.get(t, id)
	if rec.Status != sms.StatusUndelivered || rec.Error == nil || rec.Error.ProviderCode != "2" {
		t.Errorf("record = %s %+v, want undelivered with err-code 2 (the first part decides)", rec.Status, rec.Error)
	}
}

// TestVonageMalformed: what cannot be a receipt is refused.
func TestVonageMalformed(t *testing.T) {
	r := newRig(t, receipts.Keys{VonageReceiptsToken: tokenSecret})
	id := sms.NewServiceID()
	p := vonageParams(id, vonagePart1, "delivered", "0")
	q := url.Values{"token": {tokenSecret}}
	jsonReq := func(body string) receipts.Request {
		req := vonagePOSTJSON(t, p, q)
		req.Body = []byte(body)
		return req
	}
	tests := []struct {
		name   string
		req    receipts.Request
		status int
	}{
		{"PUT", func() receipts.Request { req := vonagePOSTForm(p, q); req.Method = http.MethodPut; return req }(), 405},
		{"XML", func() receipts.Request {
			req := vonagePOSTForm(p, q)
			req.Headers.Set("Content-Type", "text/xml")
			return req
		}(), 415},
		{"JSON array", jsonReq(`["delivered"]`), 400},
		{"JSON nested", jsonReq(`{"status":{"v":"delivered"}}`), 400},
		{"two JSON objects", jsonReq(`{"status":"delivered"}{}`), 400},
		{"bad form", func() receipts.Request { req := vonagePOSTForm(p, q); req.Body = []byte("%zz"); return req }(), 400},
	}
	for _, tt := range tests {
		if resp := r.h.Serve(context.Background(), tt.req); resp.Status != tt.status {
			t.Errorf("%s: answer = %d %s, want %d", tt.name, resp.Status, resp.Body, tt.status)
		}
	}
	r.absent(t, id)
	if resp := r.h.Serve(context.Background(), jsonReq(`{"status":"delivered","client-ref":"`+id+`","err-code":0,"messageId":"`+vonagePart1+`"}`)); resp.Status != 200 {
		t.Errorf("JSON with a number: answer = %d %s, want 200", resp.Status, resp.Body)
	}
}

// TestVonageOptOutAndRegion: err-code 9 reaches the opt-out hook, and an
// undelivered receipt logs the recipient's region.
func TestVonageOptOutAndRegion(t *testing.T) {
	r := newRig(t, receipts.Keys{VonageReceiptsToken: tokenSecret})
	id := sms.NewServiceID()
	p := vonageParams(id, vonagePart1, "rejected", "9")
	p.Set("msisdn", "33612345678")
	if resp := r.h.Serve(context.Background(), vonageGET(p, "token", tokenSecret)); resp.Status != 200 {
		t.Fatalf("answer = %d %s", resp.Status, resp.Body)
	}
	want := receipts.OptOut{Provider: "vonage", ServiceID: id, To: "+33612345678", ProviderCode: "9"}
	if len(r.optOut) != 1 || r.optOut[0] != want {
		t.Errorf("opt-outs = %+v, want [%+v]", r.optOut, want)
	}
	if logs := string(r.logs.Bytes()); !strings.Contains(logs, `"region":"FR"`) || strings.Contains(logs, "33612345678") {
		t.Errorf("log = %s, want region FR and no number", logs)
	}
}
