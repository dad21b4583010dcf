package providertest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

const messagesPath = "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/Messages.json"

// twilioCall is one raw request to a Twilio fake.
type twilioCall struct {
	method      string
	path        string
	contentType string
	user, pass  string // Basic auth; none when user is empty
	form        url.Values
}

// validTwilioCall is a request the fake accepts.
func validTwilioCall() twilioCall {
	return twilioCall{
		method:      http.MethodPost,
		path:        messagesPath,
		contentType: "application/x-www-form-urlencoded",
		user:        providertest.TwilioAccountSID,
		pass:        providertest.TwilioAuthToken,
		form: url.Values{
			"To":   {"+14155550100"},
			"From": {providertest.TwilioFrom},
			"Body": {"Your code is 482901"},
		},
	}
}

// do sends c to the fake and returns the status and the decoded JSON body.
func (c twilioCall) do(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.form.Encode()))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", c.contentType)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, body
}

func TestTwilioAccepts(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f := providertest.NewTwilio(t, providertest.WithClock(conformance.NewClock(at)))
	status, body := validTwilioCall().do(t, f.URL())

	if status != http.StatusCreated {
		t.Fatalf("status = %d, want 201 (body %v)", status, body)
	}
	sid, _ := body["sid"].(string)
	if !regexp.MustCompile(`^SM[0-9a-f]{32}$`).MatchString(sid) {
		t.Errorf("sid = %q, want SM + 32 hex", sid)
	}
	want := map[string]any{
		"account_sid":           providertest.TwilioAccountSID,
		"to":                    "+14155550100",
		"from":                  providertest.TwilioFrom,
		"body":                  "Your code is 482901",
		"status":                "queued",
		"num_segments":          "1",
		"num_media":             "0",
		"direction":             "outbound-api",
		"api_version":           "2010-04-01",
		"date_created":          "Wed, 04 Mar 2026 05:06:07 +0000",
		"messaging_service_sid": nil,
		"error_code":            nil,
		"price":                 nil,
		"uri":                   "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/Messages/" + sid + ".json",
	}
	for k, v := range want {
		if got, ok := body[k]; !ok || got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC1123Z, body["date_updated"].(string)); err != nil {
		t.Errorf("date_updated is not RFC 2822: %v", err)
	}

	acc := f.Accepted()
	if len(acc) != 1 {
		t.Fatalf("accepted %d messages, want 1", len(acc))
	}
	if got := acc[0]; got.ID != sid || got.To != "+14155550100" || got.From != providertest.TwilioFrom ||
		got.Body != "Your code is 482901" || got.Parts != 1 || got.Encoding != "GSM-7" || !got.At.Equal(at) {
		t.Errorf("accepted = %+v, want the message with sid %s", got, sid)
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != messagesPath || r.Status != 201 || r.Code != "" || !r.At.Equal(at) ||
		r.Auth != (providertest.Auth{Scheme: "basic", User: providertest.TwilioAccountSID, Secret: providertest.TwilioAuthToken}) ||
		r.Params.Get("Body") != "Your code is 482901" || r.Fault != nil {
		t.Errorf("request = %+v, want the POST as sent", r)
	}
}

func TestTwilioSegmentsAndServices(t *testing.T) {
	f := providertest.NewTwilio(t)
	tests := []struct {
		name       string
		from, svc  string
		body       string
		wantStatus string
		wantSegs   string
		wantSvc    any
	}{
		{"gsm two parts", providertest.TwilioFrom, "", strings.Repeat("a", 161), "queued", "2", nil},
		{"euro counts two septets", providertest.TwilioFrom, "", strings.Repeat("€", 81), "queued", "2", nil},
		{"ucs2 single", providertest.TwilioFrom, "", strings.Repeat("ж", 70), "queued", "1", nil},
		{"emoji two parts", providertest.TwilioFrom, "", strings.Repeat("😀", 36), "queued", "2", nil},
		{"1600 characters", providertest.TwilioFrom, "", strings.Repeat("a", 1600), "queued", "11", nil},
		{"service picks sender", "", providertest.TwilioMessagingServiceSID, "hi", "accepted", "0", providertest.TwilioMessagingServiceSID},
		{"service with sender", providertest.TwilioFrom, providertest.TwilioMessagingServiceSID, "hi", "queued", "1", providertest.TwilioMessagingServiceSID},
		{"short code", "12345", "", "hi", "queued", "1", nil},
		{"alphanumeric", "FluxKit 1", "", "hi", "queued", "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validTwilioCall()
			c.form = url.Values{"To": {"+14155550100"}, "Body": {tt.body}}
			if tt.from != "" {
				c.form.Set("From", tt.from)
			}
			if tt.svc != "" {
				c.form.Set("MessagingServiceSid", tt.svc)
			}
			status, body := c.do(t, f.URL())
			if status != http.StatusCreated {
				t.Fatalf("status = %d, want 201 (body %v)", status, body)
			}
			if got := body["status"]; got != tt.wantStatus {
				t.Errorf("status = %v, want %v", got, tt.wantStatus)
			}
			if got := body["num_segments"]; got != tt.wantSegs {
				t.Errorf("num_segments = %#v, want %#v", got, tt.wantSegs)
			}
			if got := body["messaging_service_sid"]; got != tt.wantSvc {
				t.Errorf("messaging_service_sid = %#v, want %#v", got, tt.wantSvc)
			}
		})
	}
}

func TestTwilioRejects(t *testing.T) {
	otherAccount := "AC" + strings.Repeat("ab", 16)
	tests := []struct {
		name       string
		opts       []providertest.Option
		edit       func(*twilioCall)
		wantStatus int
		wantCode   int
	}{
		{"wrong token", nil, func(c *twilioCall) { c.pass = "wrong" }, 401, 20003},
		{"no auth", nil, func(c *twilioCall) { c.user = "" }, 401, 20003},
		{"api key wrong secret", nil, func(c *twilioCall) { c.user, c.pass = providertest.TwilioAPIKeySID, "wrong" }, 401, 20003},
		{"api key disabled", []providertest.Option{providertest.WithTwilioAPIKey("", "")},
			func(c *twilioCall) { c.user, c.pass = providertest.TwilioAPIKeySID, providertest.TwilioAPIKeySecret }, 401, 20003},
		{"another account in path", nil, func(c *twilioCall) {
			c.path = "/2010-04-01/Accounts/" + otherAccount + "/Messages.json"
		}, 401, 20003},
		{"malformed account sid", nil, func(c *twilioCall) { c.path = "/2010-04-01/Accounts/AC123/Messages.json" }, 404, 20404},
		{"wrong path", nil, func(c *twilioCall) { c.path = "/2010-04-01/Messages.json" }, 404, 20404},
		{"GET", nil, func(c *twilioCall) { c.method = http.MethodGet }, 405, 20004},
		{"json body", nil, func(c *twilioCall) { c.contentType = "application/json" }, 400, 21604},
		{"no To", nil, func(c *twilioCall) { c.form.Del("To") }, 400, 21604},
		{"To without plus", nil, func(c *twilioCall) { c.form.Set("To", "14155550100") }, 400, 21211},
		{"To with letters", nil, func(c *twilioCall) { c.form.Set("To", "+1415CALLME") }, 400, 21211},
		{"no sender", nil, func(c *twilioCall) { c.form.Del("From") }, 400, 21603},
		{"malformed service", nil, func(c *twilioCall) { c.form.Del("From"); c.form.Set("MessagingServiceSid", "MG123") }, 400, 21701},
		{"invalid From", nil, func(c *twilioCall) { c.form.Set("From", "not valid!") }, 400, 21212},
		{"numeric alphanumeric From", nil, func(c *twilioCall) { c.form.Set("From", "123456789012") }, 400, 21212},
		{"From not owned", []providertest.Option{providertest.WithTwilioSenders("+15005550010")}, nil, 400, 21606},
		{"empty Body", nil, func(c *twilioCall) { c.form.Set("Body", "") }, 400, 21602},
		{"Body over 1600", nil, func(c *twilioCall) { c.form.Set("Body", strings.Repeat("é", 1601)) }, 400, 21617},
		{"magic invalid To", nil, func(c *twilioCall) { c.form.Set("To", "+15005550001") }, 400, 21211},
		{"magic unroutable", nil, func(c *twilioCall) { c.form.Set("To", "+15005550002") }, 400, 21612},
		{"magic region", nil, func(c *twilioCall) { c.form.Set("To", "+15005550003") }, 400, 21408},
		{"magic opted out", nil, func(c *twilioCall) { c.form.Set("To", "+15005550004") }, 400, 21610},
		{"magic landline", nil, func(c *twilioCall) { c.form.Set("To", "+15005550009") }, 400, 21614},
		{"magic invalid From", nil, func(c *twilioCall) { c.form.Set("From", "+15005550001") }, 400, 21212},
		{"magic From not owned", nil, func(c *twilioCall) { c.form.Set("From", "+15005550007") }, 400, 21606},
		{"magic queue full", nil, func(c *twilioCall) { c.form.Set("From", "+15005550008") }, 400, 21611},
		{"ValidityPeriod 0", nil, func(c *twilioCall) { c.form.Set("ValidityPeriod", "0") }, 400, 21624},
		{"ValidityPeriod over 36000", nil, func(c *twilioCall) { c.form.Set("ValidityPeriod", "36001") }, 400, 21624},
		{"ValidityPeriod with a fraction", nil, func(c *twilioCall) { c.form.Set("ValidityPeriod", "20.5") }, 400, 21624},
		{"ValidityPeriod empty", nil, func(c *twilioCall) { c.form.Set("ValidityPeriod", "") }, 400, 21624},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t, tt.opts...)
			c := validTwilioCall()
			if tt.edit != nil {
				tt.edit(&c)
			}
			status, body := c.do(t, f.URL())
			if status != tt.wantStatus {
				t.Errorf("HTTP status = %d, want %d", status, tt.wantStatus)
			}
			if got := body["code"]; got != float64(tt.wantCode) {
				t.Errorf("code = %v, want %v", got, tt.wantCode)
			}
			if got := body["status"]; got != float64(tt.wantStatus) {
				t.Errorf("envelope status = %v, want %d", got, tt.wantStatus)
			}
			wantInfo := "https://www.twilio.com/docs/errors/" + strconv.Itoa(tt.wantCode)
			if got := body["more_info"]; got != wantInfo {
				t.Errorf("more_info = %v, want %v", got, wantInfo)
			}
			if msg, _ := body["message"].(string); msg == "" {
				t.Errorf("message is empty, want Twilio's text")
			}
			if n := len(f.Accepted()); n != 0 {
				t.Errorf("accepted %d messages, want none", n)
			}
			if reqs := f.Requests(); len(reqs) != 1 || reqs[0].Status != tt.wantStatus {
				t.Errorf("requests = %+v, want one answered %d", reqs, tt.wantStatus)
			}
		})
	}
}

func TestTwilioAPIKeyAuth(t *testing.T) {
	f := providertest.NewTwilio(t)
	c := validTwilioCall()
	c.user, c.pass = providertest.TwilioAPIKeySID, providertest.TwilioAPIKeySecret
	if status, body := c.do(t, f.URL()); status != http.StatusCreated {
		t.Fatalf("status = %d, want 201 (body %v)", status, body)
	}
	if got := f.Requests()[0].Auth.User; got != providertest.TwilioAPIKeySID {
		t.Errorf("auth user = %q, want %q", got, providertest.TwilioAPIKeySID)
	}
}

func TestTwilioCustomAccount(t *testing.T) {
	sid, token := "AC"+strings.Repeat("0f", 16), "another-token"
	f := providertest.NewTwilio(t, providertest.WithTwilioAccount(sid, token))
	c := validTwilioCall()
	c.path = "/2010-04-01/Accounts/" + sid + "/Messages.json"
	c.user, c.pass = sid, token
	if status, body := c.do(t, f.URL()); status != http.StatusCreated {
		t.Errorf("status = %d, want 201 (body %v)", status, body)
	}
	c = validTwilioCall() // the default account is not this fake's
	if status, _ := c.do(t, f.URL()); status != http.StatusUnauthorized {
		t.Errorf("status with default account = %d, want 401", status)
	}
}

func TestTwilioValidityPeriod(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
	}{{"", 0}, {"1", time.Second}, {"36000", 36000 * time.Second}} {
		f := providertest.NewTwilio(t)
		c := validTwilioCall()
		if tt.value != "" {
			c.form.Set("ValidityPeriod", tt.value)
		}
		if status, body := c.do(t, f.URL()); status != http.StatusCreated {
			t.Fatalf("ValidityPeriod %q: status %d %v, want 201", tt.value, status, body)
		}
		if acc := f.Accepted(); len(acc) != 1 || acc[0].Validity != tt.want {
			t.Errorf("ValidityPeriod %q: accepted %+v, want Validity %v", tt.value, acc, tt.want)
		}
	}
}
