package providertest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/testing/providertest"
)

// vonageAnswer is the Vonage submission answer.
type vonageAnswer struct {
	MessageCount string              `json:"message-count"`
	Messages     []map[string]string `json:"messages"`
}

func validVonageForm() url.Values {
	return url.Values{
		"api_key":    {providertest.VonageAPIKey},
		"api_secret": {providertest.VonageAPISecret},
		"from":       {"FluxKit"},
		"to":         {"447700900000"},
		"text":       {"Your code is 482901"},
	}
}

// postVonage sends req and decodes the answer, which must be HTTP 200.
func postVonage(t *testing.T, req *http.Request) vonageAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status = %d, want 200 (body %q)", resp.StatusCode, raw)
	}
	var a vonageAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("body %q: %v", raw, err)
	}
	return a
}

func postVonageForm(t *testing.T, base string, form url.Values) vonageAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/sms/json", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return postVonage(t, req)
}

var uuidForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestVonageAccepts(t *testing.T) {
	f := providertest.NewVonage(t)
	form := validVonageForm()
	form.Set("client-ref", "msg-1")
	a := postVonageForm(t, f.URL(), form)

	if a.MessageCount != "1" || len(a.Messages) != 1 {
		t.Fatalf("answer = %+v, want one message", a)
	}
	m := a.Messages[0]
	if m["status"] != "0" || m["to"] != "447700900000" || m["client-ref"] != "msg-1" ||
		m["message-price"] != "0.03330000" || m["network"] == "" {
		t.Errorf("message = %v, want an accepted part", m)
	}
	if !uuidForm.MatchString(m["message-id"]) {
		t.Errorf("message-id = %q, want a UUID", m["message-id"])
	}
	if got, want := m["remaining-balance"], "999999.96670000"; got != want {
		t.Errorf("remaining-balance = %q, want %q", got, want)
	}
	acc := f.Accepted()
	if len(acc) != 1 {
		t.Fatalf("accepted %d, want 1", len(acc))
	}
	if got := acc[0]; got.ID != m["message-id"] || got.To != "447700900000" || got.From != "FluxKit" ||
		got.Parts != 1 || got.Encoding != "GSM-7" || got.Mangled || got.ClientRef != "msg-1" {
		t.Errorf("accepted = %+v, want the message as sent", got)
	}
	if r := f.Requests()[0]; r.Auth.Scheme != "params" || r.Auth.User != providertest.VonageAPIKey || r.Code != "0" || r.Status != 200 {
		t.Errorf("request = %+v, want params auth answered status 0", r)
	}
}

func TestVonageAuthAndEncodings(t *testing.T) {
	f := providertest.NewVonage(t)
	t.Run("basic auth", func(t *testing.T) {
		form := validVonageForm()
		form.Del("api_key")
		form.Del("api_secret")
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/sms/json", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(providertest.VonageAPIKey, providertest.VonageAPISecret)
		if a := postVonage(t, req); a.Messages[0]["status"] != "0" {
			t.Errorf("status = %q, want 0", a.Messages[0]["status"])
		}
	})
	t.Run("json body", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{
			"api_key": providertest.VonageAPIKey, "api_secret": providertest.VonageAPISecret,
			"from": "FluxKit", "to": "447700900000", "text": "hi", "status-report-req": true, "ttl": 30000,
		})
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/sms/json", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if a := postVonage(t, req); a.Messages[0]["status"] != "0" {
			t.Errorf("status = %q, want 0", a.Messages[0]["status"])
		}
		if got := f.Requests()[len(f.Requests())-1].Params.Get("ttl"); got != "30000" {
			t.Errorf("ttl param = %q, want 30000", got)
		}
	})
	t.Run("query string", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/sms/json?"+validVonageForm().Encode(), nil)
		if a := postVonage(t, req); a.Messages[0]["status"] != "0" {
			t.Errorf("status = %q, want 0", a.Messages[0]["status"])
		}
	})
}

func TestVonageRejects(t *testing.T) {
	tests := []struct {
		name     string
		opts     []providertest.Option
		edit     func(url.Values)
		want     string
		wantText string
	}{
		{"wrong secret", nil, func(v url.Values) { v.Set("api_secret", "nope") }, "4", "Bad Credentials"},
		{"wrong key", nil, func(v url.Values) { v.Set("api_key", "nope1234") }, "4", "Bad Credentials"},
		{"no key", nil, func(v url.Values) { v.Del("api_key") }, "2", "Missing api_key"},
		{"no secret", nil, func(v url.Values) { v.Del("api_secret") }, "2", "Missing api_secret"},
		{"no from", nil, func(v url.Values) { v.Del("from") }, "2", "Missing from param"},
		{"no to", nil, func(v url.Values) { v.Del("to") }, "2", "Missing to param"},
		{"no text", nil, func(v url.Values) { v.Del("text") }, "2", "Missing text param"},
		{"to with plus", nil, func(v url.Values) { v.Set("to", "+447700900000") }, "3", "Invalid to param"},
		{"to too short", nil, func(v url.Values) { v.Set("to", "123456") }, "3", "Invalid to param"},
		{"to too long", nil, func(v url.Values) { v.Set("to", "1234567890123456") }, "3", "Invalid to param"},
		{"to with letters", nil, func(v url.Values) { v.Set("to", "44770090000a") }, "3", "Invalid to param"},
		{"from with plus", nil, func(v url.Values) { v.Set("from", "+447700900001") }, "3", "Invalid from param"},
		{"from too long", nil, func(v url.Values) { v.Set("from", "FluxKitAlerts") }, "3", "Invalid from param"},
		{"binary type", nil, func(v url.Values) { v.Set("type", "binary") }, "3", "Invalid type param"},
		{"ttl under 20 s", nil, func(v url.Values) { v.Set("ttl", "19999") }, "3", "Invalid ttl param"},
		{"ttl over 7 days", nil, func(v url.Values) { v.Set("ttl", "604800001") }, "3", "Invalid ttl param"},
		{"ttl in seconds", nil, func(v url.Values) { v.Set("ttl", "20.5") }, "3", "Invalid ttl param"},
		{"signature and secret", nil, func(v url.Values) { v.Set("sig", strings.Repeat("a", 32)) }, "32", "Signature and API secret disallowed"},
		{"signature", nil, func(v url.Values) { v.Del("api_secret"); v.Set("sig", strings.Repeat("a", 32)) }, "14", "Invalid Signature"},
		{"unicode too long", nil, func(v url.Values) {
			v.Set("type", "unicode")
			v.Set("text", strings.Repeat("ж", providertest.VonageMaxTextUCS2+1))
		}, "12", "Message too long"},
		{"text too long", nil, func(v url.Values) { v.Set("text", strings.Repeat("a", providertest.VonageMaxTextGSM+1)) }, "12", "Message too long"},
		{"no credit", []providertest.Option{providertest.WithVonageBalance(0.01)}, nil, "9", "Partner quota exceeded."},
		{"custom credentials", []providertest.Option{providertest.WithVonageCredentials("k2k2k2k2", "another-secret")}, nil, "4", "Bad Credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t, tt.opts...)
			form := validVonageForm()
			if tt.edit != nil {
				tt.edit(form)
			}
			a := postVonageForm(t, f.URL(), form)
			if len(a.Messages) != 1 {
				t.Fatalf("messages = %v, want one", a.Messages)
			}
			m := a.Messages[0]
			if m["status"] != tt.want || m["error-text"] != tt.wantText {
				t.Errorf("status, error-text = %q, %q, want %q, %q", m["status"], m["error-text"], tt.want, tt.wantText)
			}
			if len(m) != 2 {
				t.Errorf("failed message has fields %v, want only status and error-text", m)
			}
			if n := len(f.Accepted()); n != 0 {
				t.Errorf("accepted %d, want none", n)
			}
		})
	}
}

func TestVonageMultipartAndMangling(t *testing.T) {
	tests := []struct {
		name        string
		text, typ   string
		wantParts   int
		wantEnc     string
		wantMangled bool
	}{
		{"gsm two parts", strings.Repeat("a", 200), "", 2, "GSM-7", false},
		{"gsm with euro", "5€ " + strings.Repeat("a", 155), "", 1, "GSM-7", false},
		{"unicode three parts", strings.Repeat("ж", 150), "unicode", 3, "UCS-2", false},
		{"cyrillic without unicode", "Привет", "", 1, "GSM-7", true},
		{"emoji without unicode", "hi 😀", "text", 1, "GSM-7", true},
		{"gsm sent as unicode", strings.Repeat("a", 71), "unicode", 2, "UCS-2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t)
			form := validVonageForm()
			form.Set("text", tt.text)
			if tt.typ != "" {
				form.Set("type", tt.typ)
			}
			a := postVonageForm(t, f.URL(), form)
			if a.MessageCount != strconv.Itoa(tt.wantParts) || len(a.Messages) != tt.wantParts {
				t.Fatalf("message-count %q with %d entries, want %d", a.MessageCount, len(a.Messages), tt.wantParts)
			}
			ids := map[string]bool{}
			for i, m := range a.Messages {
				if m["status"] != "0" {
					t.Errorf("part %d status = %q, want 0", i+1, m["status"])
				}
				ids[m["message-id"]] = true
			}
			if len(ids) != tt.wantParts {
				t.Errorf("%d distinct message-ids, want %d", len(ids), tt.wantParts)
			}
			acc := f.Accepted()
			if len(acc) != 1 {
				t.Fatalf("accepted %d, want 1", len(acc))
			}
			got := acc[0]
			if got.Parts != tt.wantParts || len(got.PartIDs) != tt.wantParts || got.ID != a.Messages[0]["message-id"] ||
				got.Encoding != tt.wantEnc || got.Mangled != tt.wantMangled {
				t.Errorf("accepted = %+v, want %d parts, %s, mangled %v", got, tt.wantParts, tt.wantEnc, tt.wantMangled)
			}
			if want := providertest.VonageBalance - float64(tt.wantParts)*providertest.VonagePartPrice; !near(f.Balance(), want) {
				t.Errorf("balance = %f, want %f", f.Balance(), want)
			}
		})
	}
}

func TestVonageWrongRoute(t *testing.T) {
	f := providertest.NewVonage(t)
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/sms/xml", http.StatusNotFound},
		{http.MethodDelete, "/sms/json", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tt.method, f.URL()+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func TestVonageTTL(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{{"", 0}, {"20000", 20 * time.Second}, {"604800000", 7 * 24 * time.Hour}} {
		f := providertest.NewVonage(t)
		form := validVonageForm()
		if tt.value != "" {
			form.Set("ttl", tt.value)
		}
		a := postVonageForm(t, f.URL(), form)
		if len(a.Messages) != 1 || a.Messages[0]["status"] != "0" {
			t.Fatalf("ttl %q: answer %v, want accepted", tt.value, a.Messages)
		}
		if acc := f.Accepted(); len(acc) != 1 || acc[0].Validity != tt.want {
			t.Errorf("ttl %q: accepted %+v, want Validity %v", tt.value, acc, tt.want)
		}
	}
}
