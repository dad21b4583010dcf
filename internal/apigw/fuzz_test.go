package apigw

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"
)

// e164Pattern is the documented shape of "to" in a result.
var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// fuzzResult is a 200 body; unknown fields make decoding fail.
type fuzzResult struct {
	MessageID string `json:"messageId"`
	Status    string `json:"status"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Segments  int    `json:"segments"`
	Encoding  string `json:"encoding"`
	Provider  string `json:"provider"`
}

// fuzzError is an error body; unknown fields make decoding fail.
type fuzzError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeStrict decodes the JSON value b into v, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// FuzzServe sends arbitrary bodies, Idempotency-Key values (an empty value
// means no header) and Content-Type values through the real handler and
// send service, whose provider, rate limiter and idempotency store accept
// everything. Whatever the input, the answer is a documented status, 200
// or 4xx (bad input never causes a 5xx), and a JSON body that is either a
// sent result or an error with a stable code documented for that status.
func FuzzServe(f *testing.F) {
	f.Add([]byte(contractBody), "", "application/json")
	f.Add([]byte(`{"to":"+14155552671","body":"x"}`), "k\x7f", "application/problem+json")
	auth := "Bearer " + contractToken(f, nil)

	f.Fuzz(func(t *testing.T, body []byte, idemKey, contentType string) {
		e := newContractEnv(t, "fuzz", contractOptions{})
		h := http.Header{}
		h.Set("Authorization", auth)
		h.Set("Content-Type", contentType)
		if idemKey != "" {
			h.Set("Idempotency-Key", idemKey)
		}
		resp := e.h.Serve(t.Context(), Request{Method: http.MethodPost, Path: sendPath, Headers: h, Body: body})

		codes, documented := documentedCodes[resp.Status]
		if !documented {
			t.Fatalf("status = %d, want a documented status (body %s)", resp.Status, resp.Body)
		}
		if resp.Status != http.StatusOK && (resp.Status < 400 || resp.Status > 499) {
			t.Fatalf("status = %d (%s), want 200 or 4xx", resp.Status, resp.Body)
		}
		if got := resp.Headers["Content-Type"]; got != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		if got := resp.Headers["Cache-Control"]; got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		if !json.Valid(resp.Body) {
			t.Fatalf("body %q is not JSON", resp.Body)
		}
		for _, n := range requiredHeaders[resp.Status] {
			if resp.Headers[n] == "" {
				t.Errorf("status %d without header %s", resp.Status, n)
			}
		}
		calls := e.provider.callCount()

		if resp.Status == http.StatusOK {
			var r fuzzResult
			if err := decodeStrict(resp.Body, &r); err != nil {
				t.Fatalf("200 body %s is not a result: %v", resp.Body, err)
			}
			if r.MessageID == "" || r.Status != "sent" || r.Channel != "sms" || !e164Pattern.MatchString(r.To) ||
				r.Segments < 1 || (r.Encoding != "GSM-7" && r.Encoding != "UCS-2") || r.Provider != "twilio" {
				t.Errorf("200 body = %s, want a complete sent result", resp.Body)
			}
			if calls != 1 {
				t.Errorf("provider calls = %d, want 1 for a 200", calls)
			}
			return
		}
		var eb fuzzError
		if err := decodeStrict(resp.Body, &eb); err != nil || eb.Error == nil {
			t.Fatalf("%d body %s is not an error body: %v", resp.Status, resp.Body, err)
		}
		if !slices.Contains(stableCodes, eb.Error.Code) {
			t.Errorf("error.code = %q, want one of %v", eb.Error.Code, stableCodes)
		}
		if !slices.Contains(codes, eb.Error.Code) {
			t.Errorf("error.code = %q with status %d, want one of %v", eb.Error.Code, resp.Status, codes)
		}
		if eb.Error.Message == "" {
			t.Errorf("error.message is empty (status %d)", resp.Status)
		}
		if calls != 0 {
			t.Errorf("provider calls = %d for a %d answer, want 0", calls, resp.Status)
		}
	})
}
