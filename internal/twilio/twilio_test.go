package twilio_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/twilio"
)

var tokenCreds = twilio.Credentials{
	AccountSID: providertest.TwilioAccountSID,
	AuthToken:  providertest.TwilioAuthToken,
}

var keyCreds = twilio.Credentials{
	AccountSID:   providertest.TwilioAccountSID,
	APIKeySID:    providertest.TwilioAPIKeySID,
	APIKeySecret: providertest.TwilioAPIKeySecret,
}

const to = "+14155550123"

func message(body string) sms.Message {
	return sms.Message{To: to, From: providertest.TwilioFrom, Body: body}
}

func TestSendWire(t *testing.T) {
	tests := []struct {
		name      string
		creds     twilio.Credentials
		from      string
		body      string
		wantUser  string
		wantParam map[string]string // "" means absent
		wantParts int               // as the fake counted them
	}{
		{"auth token, number sender", tokenCreds, providertest.TwilioFrom, "Your code is 482901",
			providertest.TwilioAccountSID, map[string]string{"From": providertest.TwilioFrom, "MessagingServiceSid": ""}, 1},
		{"api key", keyCreds, providertest.TwilioFrom, "hello",
			providertest.TwilioAPIKeySID, map[string]string{"From": providertest.TwilioFrom}, 1},
		{"alphanumeric sender", tokenCreds, "FluxKit", "hello",
			providertest.TwilioAccountSID, map[string]string{"From": "FluxKit"}, 1},
		{"messaging service", tokenCreds, providertest.TwilioMessagingServiceSID, "hello",
			providertest.TwilioAccountSID, map[string]string{"MessagingServiceSid": providertest.TwilioMessagingServiceSID, "From": ""}, 1},
		{"two gsm parts", tokenCreds, providertest.TwilioFrom, strings.Repeat("a", 161),
			providertest.TwilioAccountSID, nil, 2},
		{"ucs2 parts", tokenCreds, providertest.TwilioFrom, strings.Repeat("😀", 36),
			providertest.TwilioAccountSID, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t)
			c := twilio.New(tt.creds, twilio.Config{BaseURL: f.URL() + "/", HTTPClient: httpclient.New(10 * time.Second)})
			got, err := c.Send(context.Background(), sms.Message{To: to, From: tt.from, Body: tt.body})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			acc := f.Accepted()
			if len(acc) != 1 {
				t.Fatalf("fake accepted %d, want 1", len(acc))
			}
			if want := (sms.Receipt{ID: acc[0].ID}); got != want {
				t.Errorf("receipt = %+v, want %+v", got, want)
			}
			if acc[0].Parts != tt.wantParts {
				t.Errorf("fake sent %d parts, want %d", acc[0].Parts, tt.wantParts)
			}
			if !regexp.MustCompile(`^SM[0-9a-f]{32}$`).MatchString(got.ID) {
				t.Errorf("ID = %q, want a message SID", got.ID)
			}
			r := f.Requests()[0]
			if r.Method != http.MethodPost || r.ContentType != "application/x-www-form-urlencoded" ||
				r.UserAgent != httpclient.UserAgent || r.Auth.Scheme != "basic" || r.Auth.User != tt.wantUser {
				t.Errorf("request = %s %s %q %q %+v, want a form POST as %s", r.Method, r.Path, r.ContentType, r.UserAgent, r.Auth, tt.wantUser)
			}
			if want := "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/Messages.json"; r.Path != want {
				t.Errorf("path = %q, want %q", r.Path, want)
			}
			if r.Params.Get("To") != to || r.Params.Get("Body") != tt.body {
				t.Errorf("To, Body = %q, %q, want %q, %q", r.Params.Get("To"), r.Params.Get("Body"), to, tt.body)
			}
			for k, v := range tt.wantParam {
				if got, has := r.Params.Get(k), r.Params.Has(k); got != v || has != (v != "") {
					t.Errorf("param %s = %q (present %v), want %q", k, got, has, v)
				}
			}
		})
	}
}

func TestUsesAPIKey(t *testing.T) {
	tests := []struct {
		name  string
		creds twilio.Credentials
		want  bool
	}{
		{"auth token only", tokenCreds, false},
		{"API key pair", keyCreds, true},
		{"API key pair and auth token", twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
			APIKeySID: providertest.TwilioAPIKeySID, APIKeySecret: providertest.TwilioAPIKeySecret}, true},
		{"key SID without its secret", twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
			APIKeySID: providertest.TwilioAPIKeySID}, false},
	}
	for _, tt := range tests {
		if got := tt.creds.UsesAPIKey(); got != tt.want {
			t.Errorf("%s: UsesAPIKey = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A key SID without its secret: the auth token authenticates.
	f := providertest.NewTwilio(t)
	creds := tests[3].creds
	if _, err := twilio.New(creds, twilio.Config{BaseURL: f.URL()}).Send(context.Background(), message("hi")); err != nil {
		t.Fatalf("Send with a key SID but no secret: %v", err)
	}
	if got := f.Requests()[0].Auth.User; got != providertest.TwilioAccountSID {
		t.Errorf("auth user = %q, want the account SID %q", got, providertest.TwilioAccountSID)
	}
}

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDefaultBaseURL(t *testing.T) {
	var gotURL string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		gotURL = r.URL.String()
		return &http.Response{
			StatusCode: http.StatusOK, // 200 with a sid is success too
			Header:     http.Header{},
			Body:       io.NopCloser(strings.NewReader(`{"sid":"SM1","num_segments":"3"}`)),
		}, nil
	})}
	got, err := twilio.New(tokenCreds, twilio.Config{HTTPClient: hc}).Send(context.Background(), message("hi"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := "https://api.twilio.com/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/Messages.json"; gotURL != want {
		t.Errorf("URL = %q, want %q", gotURL, want)
	}
	if want := (sms.Receipt{ID: "SM1"}); got != want {
		t.Errorf("receipt = %+v, want %+v", got, want)
	}
}

func TestSendClassifies(t *testing.T) {
	pf := func(f providertest.Fault) *providertest.Fault { return &f }
	tests := []struct {
		name     string
		fault    *providertest.Fault
		creds    *twilio.Credentials
		msg      sms.Message
		timeout  time.Duration
		want     sms.Kind
		wantCode string // ProviderCode
	}{
		// transient: turned away unprocessed
		{name: "429 concurrency", fault: pf(providertest.Fault{Status: 429}), want: sms.KindTransient, wantCode: "20429"},
		{name: "503", fault: pf(providertest.Fault{Status: 503}), want: sms.KindTransient, wantCode: "20503"},
		{name: "503 html", fault: pf(providertest.Fault{Status: 503, Body: "<html>Service Unavailable</html>"}), want: sms.KindTransient},
		{name: "503 with a 4xx code", fault: pf(providertest.Fault{Status: 503, Code: 21211}), want: sms.KindTransient, wantCode: "21211"},
		{name: "429 with a 4xx code", fault: pf(providertest.Fault{Status: 429, Code: 21610}), want: sms.KindTransient, wantCode: "21610"},
		{name: "sender queue full", msg: sms.Message{To: to, From: "+15005550008", Body: "hi"}, want: sms.KindTransient, wantCode: "21611"},
		// ambiguous: a 5xx other than 503 may come after Twilio created the message
		{name: "500", fault: pf(providertest.Fault{Status: 500}), want: sms.KindAmbiguous, wantCode: "20500"},
		{name: "502 html", fault: pf(providertest.Fault{Status: 502, Body: "<html>Bad Gateway</html>"}), want: sms.KindAmbiguous},
		{name: "504", fault: pf(providertest.Fault{Status: 504}), want: sms.KindAmbiguous, wantCode: "20504"},
		{name: "500 with a 4xx code", fault: pf(providertest.Fault{Status: 500, Code: 21211}), want: sms.KindAmbiguous, wantCode: "21211"},
		{name: "502 after accepting", fault: pf(providertest.Fault{Status: 502, AcceptFirst: true}), want: sms.KindAmbiguous, wantCode: "20502"},
		// rejected: codes known to be about this one message
		{name: "invalid To", msg: sms.Message{To: "+15005550001", From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindRejected, wantCode: "21211"},
		{name: "malformed To", msg: sms.Message{To: "4155550123", From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindRejected, wantCode: "21211"},
		{name: "opted out", msg: sms.Message{To: "+15005550004", From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindRejected, wantCode: "21610"},
		{name: "not mobile", msg: sms.Message{To: "+15005550009", From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindRejected, wantCode: "21614"},
		{name: "no body", msg: sms.Message{To: to, From: providertest.TwilioFrom}, want: sms.KindRejected, wantCode: "21602"},
		{name: "body too long", msg: message(strings.Repeat("a", 1601)), want: sms.KindRejected, wantCode: "21617"},
		{name: "landline", fault: pf(providertest.Fault{Code: 21635}), want: sms.KindRejected, wantCode: "21635"},
		// provider account: unknown codes, and codes about the sender, the
		// messaging service, the account or its settings
		{name: "unknown 400 code", fault: pf(providertest.Fault{Code: 21999}), want: sms.KindProviderAccount, wantCode: "21999"},
		{name: "unroutable from this sender", msg: sms.Message{To: "+15005550002", From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindProviderAccount, wantCode: "21612"},
		{name: "region not enabled", msg: sms.Message{To: "+15005550003", From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindProviderAccount, wantCode: "21408"},
		{name: "no To", msg: sms.Message{From: providertest.TwilioFrom, Body: "hi"}, want: sms.KindProviderAccount, wantCode: "21604"},
		{name: "sender not a Twilio number", fault: pf(providertest.Fault{Code: 21659}), want: sms.KindProviderAccount, wantCode: "21659"},
		{name: "sender of another account", fault: pf(providertest.Fault{Code: 21660}), want: sms.KindProviderAccount, wantCode: "21660"},
		{name: "messaging service without senders", fault: pf(providertest.Fault{Code: 21703}), want: sms.KindProviderAccount, wantCode: "21703"},
		{name: "messaging service has no numbers", fault: pf(providertest.Fault{Code: 21704}), want: sms.KindProviderAccount, wantCode: "21704"},
		{name: "messaging service invalid", fault: pf(providertest.Fault{Code: 21705}), want: sms.KindProviderAccount, wantCode: "21705"},
		{name: "messaging service not found", fault: pf(providertest.Fault{Code: 21701}), want: sms.KindProviderAccount, wantCode: "21701"},
		{name: "wrong token", creds: &twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: "wrong"},
			want: sms.KindProviderAccount, wantCode: "20003"},
		{name: "wrong api key secret", creds: &twilio.Credentials{AccountSID: providertest.TwilioAccountSID,
			APIKeySID: providertest.TwilioAPIKeySID, APIKeySecret: "wrong"}, want: sms.KindProviderAccount, wantCode: "20003"},
		{name: "malformed account", creds: &twilio.Credentials{AccountSID: "AC123", AuthToken: providertest.TwilioAuthToken},
			want: sms.KindProviderAccount, wantCode: "20404"},
		{name: "403", fault: pf(providertest.Fault{Status: 403}), want: sms.KindProviderAccount, wantCode: "20403"},
		{name: "unknown 401 code", fault: pf(providertest.Fault{Status: 401, Code: 20999}), want: sms.KindProviderAccount, wantCode: "20999"},
		{name: "From not owned", msg: sms.Message{To: to, From: "+15005550007", Body: "hi"}, want: sms.KindProviderAccount, wantCode: "21606"},
		{name: "invalid From", msg: sms.Message{To: to, From: "+15005550001", Body: "hi"}, want: sms.KindProviderAccount, wantCode: "21212"},
		{name: "no sender", msg: sms.Message{To: to, Body: "hi"}, want: sms.KindProviderAccount, wantCode: "21603"},
		{name: "trial account", fault: pf(providertest.Fault{Code: 21608}), want: sms.KindProviderAccount, wantCode: "21608"},
		{name: "400 html", fault: pf(providertest.Fault{Status: 400, Body: "<html>no</html>"}), want: sms.KindProviderAccount},
		{name: "redirect", fault: pf(providertest.Fault{Status: 302, Body: "moved"}), want: sms.KindProviderAccount},
		// ambiguous
		{name: "201 garbled", fault: pf(providertest.Fault{Status: 201, Body: "{not json"}), want: sms.KindAmbiguous},
		{name: "201 without sid", fault: pf(providertest.Fault{Status: 201, Body: `{"status":"queued"}`}), want: sms.KindAmbiguous},
		{name: "dropped before processing", fault: pf(providertest.Fault{Drop: providertest.DropBeforeProcessing}), want: sms.KindAmbiguous},
		{name: "dropped after accepting", fault: pf(providertest.Fault{Drop: providertest.DropAfterAccept}), want: sms.KindAmbiguous},
		{name: "answer too slow", fault: pf(providertest.Fault{Delay: 2 * time.Second}), timeout: 150 * time.Millisecond, want: sms.KindAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t)
			if tt.fault != nil {
				f.FailNext(1, *tt.fault)
			}
			creds := tokenCreds
			if tt.creds != nil {
				creds = *tt.creds
			}
			msg := tt.msg
			if msg == (sms.Message{}) {
				msg = message("Your code is 482901")
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			_, err := twilio.New(creds, twilio.Config{BaseURL: f.URL(), HTTPClient: httpclient.New(timeout)}).Send(context.Background(), msg)
			checkError(t, err, tt.want, tt.wantCode, creds)
			if f.Count() != 1 {
				t.Errorf("fake saw %d requests, want 1", f.Count())
			}
		})
	}
}

// TestOptOutIsMarked: only an answered 21610 marks the refusal as the
// recipient's opt-out (which feeds the suppression list).
func TestOptOutIsMarked(t *testing.T) {
	tests := []struct {
		name  string
		to    string
		fault *providertest.Fault
		want  bool
	}{
		{name: "opted out", to: "+15005550004", want: true},
		{name: "not mobile", to: "+15005550009"},
		{name: "429 carrying 21610", to: to, fault: &providertest.Fault{Status: 429, Code: 21610}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t)
			if tt.fault != nil {
				f.FailNext(1, *tt.fault)
			}
			_, err := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL(), HTTPClient: httpclient.New(2 * time.Second)}).
				Send(context.Background(), sms.Message{To: tt.to, From: providertest.TwilioFrom, Body: "hi"})
			if err == nil {
				t.Fatal("Send succeeded, want a refusal")
			}
			if got := sms.AsError(err).OptedOut; got != tt.want {
				t.Errorf("OptedOut = %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

// checkError asserts that err is an *sms.Error of kind want with provider
// code wantCode, and that its client message and text leak neither the
// number nor a credential.
func checkError(t *testing.T, err error, want sms.Kind, wantCode string, creds twilio.Credentials) {
	t.Helper()
	e := providertest.CheckProviderError(t, err)
	if e.Kind != want {
		t.Errorf("kind = %v, want %v (error %v)", e.Kind, want, err)
	}
	if e.ProviderCode != wantCode {
		t.Errorf("ProviderCode = %q, want %q", e.ProviderCode, wantCode)
	}
	if wantCode != "" && e.ProviderMessage == "" {
		t.Errorf("ProviderMessage is empty, want Twilio's text")
	}
	if e.Code != "" || e.Message == "" {
		t.Errorf("Code, Message = %q, %q, want no narrowing code and a message", e.Code, e.Message)
	}
	for _, secret := range []string{to[2:], "5005550", creds.AuthToken, creds.APIKeySecret, providertest.TwilioAuthToken} {
		if secret == "" {
			continue
		}
		if strings.Contains(e.Message, secret) || strings.Contains(err.Error(), secret) {
			t.Errorf("error %q (message %q) contains %q", err, e.Message, secret)
		}
	}
}

func TestSendTransportFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		url := "http://" + l.Addr().String()
		l.Close()
		_, err = twilio.New(tokenCreds, twilio.Config{BaseURL: url, HTTPClient: httpclient.New(10 * time.Second)}).Send(context.Background(), message("hi"))
		checkError(t, err, sms.KindTransient, "", tokenCreds)
	})
	t.Run("untrusted TLS", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(srv.Close)
		_, err := twilio.New(tokenCreds, twilio.Config{BaseURL: srv.URL, HTTPClient: httpclient.New(10 * time.Second)}).Send(context.Background(), message("hi"))
		checkError(t, err, sms.KindTransient, "", tokenCreds)
	})
	t.Run("caller canceled before sending", func(t *testing.T) {
		f := providertest.NewTwilio(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL()}).Send(ctx, message("hi"))
		checkError(t, err, sms.KindTransient, "", tokenCreds)
		if n := f.Count(); n != 0 {
			t.Errorf("fake saw %d requests, want 0", n)
		}
	})
	t.Run("caller deadline while waiting", func(t *testing.T) {
		f := providertest.NewTwilio(t)
		f.FailNext(1, providertest.Fault{Delay: 300 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL()}).Send(ctx, message("hi"))
		checkError(t, err, sms.KindAmbiguous, "", tokenCreds)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
		}
	})
}

func TestDroppedAfterAcceptIsDeliveredOnce(t *testing.T) {
	f := providertest.NewTwilio(t)
	f.FailNext(1, providertest.Fault{Drop: providertest.DropAfterAccept})
	c := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL()})
	_, err := c.Send(context.Background(), message("hi"))
	if got := sms.KindOf(err); got != sms.KindAmbiguous {
		t.Fatalf("first send kind = %v, want %v", got, sms.KindAmbiguous)
	}
	if n := len(f.Accepted()); n != 1 {
		t.Errorf("accepted after the dropped answer = %d, want 1: the provider took it", n)
	}
	if _, err := c.Send(context.Background(), message("hi")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(f.Accepted()); n != 2 {
		t.Errorf("accepted after the retry = %d, want 2: an ambiguous retry duplicates", n)
	}
}

func BenchmarkTwilioSend(b *testing.B) {
	f := providertest.NewTwilio(b)
	c := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL(), HTTPClient: httpclient.New(5 * time.Second)})
	m := message("Your code is 482901")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSendValidityPeriod(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		left time.Duration // the validity left at the call; 0 means none
		want string        // ValidityPeriod; "" means absent
	}{
		{"no validity", 0, ""},
		{"whole seconds", 300 * time.Second, "300"},
		{"rounded down", 20*time.Second + 900*time.Millisecond, "20"},
		{"under a second: Twilio's minimum", 400 * time.Millisecond, "1"},
		{"the maximum", 36000 * time.Second, "36000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t)
			c := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL(), Clock: conformance.NewClock(now)})
			m := message("Your code is 482901")
			if tt.left > 0 {
				m.ValidUntil = now.Add(tt.left)
			}
			if _, err := c.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v (the fake checks the range like Twilio)", err)
			}
			p := f.Requests()[0].Params
			if got, has := p.Get("ValidityPeriod"), p.Has("ValidityPeriod"); got != tt.want || has != (tt.want != "") {
				t.Errorf("ValidityPeriod = %q (present %v), want %q", got, has, tt.want)
			}
		})
	}
}

// TestSendAsksForStatusCallbacks: with a receipts URL configured, a
// message with a service id carries StatusCallback=<url>?ref=<service id>;
// without either there is none.
func TestSendAsksForStatusCallbacks(t *testing.T) {
	const receipts = "https://sms.example.com/messaging/sms/receipts/twilio"
	const id = "7d0b7f7e-3c2a-4e1b-9a55-0d4c2b1a9e8f"
	tests := []struct {
		name      string
		callback  string
		serviceID string
		want      string // "" means absent
	}{
		{"receipts and a service id", receipts, id, receipts + "?ref=" + id},
		{"no service id (tracking off)", receipts, "", ""},
		{"no receipts URL", "", id, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t)
			c := twilio.New(tokenCreds, twilio.Config{BaseURL: f.URL(), StatusCallback: tt.callback})
			m := message("hello")
			m.ServiceID = tt.serviceID
			if _, err := c.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			p := f.Requests()[0].Params
			if got, has := p.Get("StatusCallback"), p.Has("StatusCallback"); got != tt.want || has != (tt.want != "") {
				t.Errorf("StatusCallback = %q (present %v), want %q", got, has, tt.want)
			}
			if got := c.StatusCallbackFor(m); got != tt.want {
				t.Errorf("StatusCallbackFor = %q, want %q", got, tt.want)
			}
		})
	}
}
