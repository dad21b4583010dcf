package vonage_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/vonage"
)

var creds = vonage.Credentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret}

const to = "+447700900123"

func message(body string) sms.Message {
	return sms.Message{To: to, From: "FluxKit", Body: body}
}

func newClient(t testing.TB, url string, timeout time.Duration) *vonage.Client {
	t.Helper()
	return vonage.New(creds, vonage.Config{BaseURL: url, HTTPClient: httpclient.New(timeout)})
}

func TestSendWire(t *testing.T) {
	tests := []struct {
		name      string
		msg       sms.Message
		wantFrom  string
		wantType  string // "" means absent
		wantRef   string // "" means absent
		wantParts int
	}{
		{"alphanumeric sender", message("Your code is 482901"), "FluxKit", "", "", 1},
		{"numeric sender loses plus", sms.Message{To: to, From: "+447700900001", Body: "hi"}, "447700900001", "", "", 1},
		{"euro stays gsm", message("Total: 5€ [paid]"), "FluxKit", "", "", 1},
		{"cyrillic is unicode", message("Привет"), "FluxKit", "unicode", "", 1},
		{"emoji is unicode", message("ok 👍"), "FluxKit", "unicode", "", 1},
		{"backtick is unicode", message("`code`"), "FluxKit", "unicode", "", 1},
		{"two gsm parts", message(strings.Repeat("a", 200)), "FluxKit", "", "", 2},
		{"three unicode parts", message(strings.Repeat("ж", 150)), "FluxKit", "unicode", "", 3},
		{"id as client-ref", sms.Message{ID: "01HZX3Q2W9", To: to, From: "FluxKit", Body: "hi"}, "FluxKit", "", "01HZX3Q2W9", 1},
		{"long id not sent", sms.Message{ID: strings.Repeat("x", 41), To: to, From: "FluxKit", Body: "hi"}, "FluxKit", "", "", 1},
		{"service id as client-ref", sms.Message{ID: "01HZX3Q2W9", ServiceID: serviceID, To: to, From: "FluxKit", Body: "hi"}, "FluxKit", "", serviceID, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t)
			got, err := newClient(t, f.URL()+"/", 10*time.Second).Send(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			acc := f.Accepted()
			if len(acc) != 1 {
				t.Fatalf("fake accepted %d, want 1", len(acc))
			}
			if want := (sms.Receipt{ID: acc[0].PartIDs[0]}); got != want {
				t.Errorf("receipt = %+v, want %+v", got, want)
			}
			if len(acc[0].PartIDs) != tt.wantParts {
				t.Errorf("fake accepted %d parts, want %d", len(acc[0].PartIDs), tt.wantParts)
			}
			if acc[0].Mangled {
				t.Errorf("fake saw a mangled send: UCS-2 text without type=unicode")
			}
			r := f.Requests()[0]
			p := r.Params
			if r.Method != http.MethodPost || r.Path != "/sms/json" || r.ContentType != "application/x-www-form-urlencoded" ||
				r.UserAgent != httpclient.UserAgent {
				t.Errorf("request = %s %s %q %q, want a form POST to /sms/json", r.Method, r.Path, r.ContentType, r.UserAgent)
			}
			if r.Auth != (providertest.Auth{Scheme: "params", User: creds.APIKey, Secret: creds.APISecret}) {
				t.Errorf("auth = %+v, want api_key/api_secret parameters", r.Auth)
			}
			if got, want := p.Get("to"), strings.TrimPrefix(tt.msg.To, "+"); got != want {
				t.Errorf("to = %q, want %q", got, want)
			}
			if got := p.Get("from"); got != tt.wantFrom {
				t.Errorf("from = %q, want %q", got, tt.wantFrom)
			}
			if got := p.Get("text"); got != tt.msg.Body {
				t.Errorf("text = %q, want %q", got, tt.msg.Body)
			}
			if got, has := p.Get("type"), p.Has("type"); got != tt.wantType || has != (tt.wantType != "") {
				t.Errorf("type = %q (present %v), want %q", got, has, tt.wantType)
			}
			if got, has := p.Get("client-ref"), p.Has("client-ref"); got != tt.wantRef || has != (tt.wantRef != "") {
				t.Errorf("client-ref = %q (present %v), want %q", got, has, tt.wantRef)
			}
			if got := p.Get("status-report-req"); got != "1" {
				t.Errorf("status-report-req = %q, want 1 on every message", got)
			}
			if p.Has("callback") {
				t.Errorf("callback = %q, want none without a configured one", p.Get("callback"))
			}
		})
	}
}

const serviceID = "7d0b7f7e-3c2a-4e1b-9a55-0d4c2b1a9e8f"

// TestSendCallback: a configured callback of at most 100 characters goes
// with every message; a longer one, which Vonage refuses (status 23), is
// not sent.
func TestSendCallback(t *testing.T) {
	short := "https://abcdefghij.execute-api.eu-west-1.amazonaws.com/messaging/sms/receipts/vonage"
	long := "https://" + strings.Repeat("a", 63) + ".example.com/messaging/sms/receipts/vonage"
	for _, tt := range []struct {
		name, callback, want string
	}{
		{"fits", short, short},
		{"too long", long, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t)
			c := vonage.New(creds, vonage.Config{BaseURL: f.URL(), Callback: tt.callback})
			m := message("hi")
			m.ServiceID = serviceID
			if _, err := c.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			p := f.Requests()[0].Params
			if got, has := p.Get("callback"), p.Has("callback"); got != tt.want || has != (tt.want != "") {
				t.Errorf("callback = %q (present %v), want %q", got, has, tt.want)
			}
			if got := p.Get("client-ref"); got != serviceID {
				t.Errorf("client-ref = %q, want the service id %q", got, serviceID)
			}
		})
	}
	if len(short) > vonage.MaxCallback || len(long) <= vonage.MaxCallback {
		t.Fatalf("test URLs of %d and %d characters do not straddle %d", len(short), len(long), vonage.MaxCallback)
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
			StatusCode: http.StatusOK,
			Header:     http.Header{},
			Body:       io.NopCloser(strings.NewReader(`{"message-count":"1","messages":[{"message-id":"A1","status":"0"}]}`)),
		}, nil
	})}
	got, err := vonage.New(creds, vonage.Config{HTTPClient: hc}).Send(context.Background(), message("hi"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := "https://rest.nexmo.com/sms/json"; gotURL != want {
		t.Errorf("URL = %q, want %q", gotURL, want)
	}
	if want := (sms.Receipt{ID: "A1"}); got != want {
		t.Errorf("receipt = %+v, want %+v", got, want)
	}
}

func TestSendClassifies(t *testing.T) {
	pf := func(f providertest.Fault) *providertest.Fault { return &f }
	tests := []struct {
		name     string
		fault    *providertest.Fault
		opts     []providertest.Option
		msg      sms.Message
		timeout  time.Duration
		want     sms.Kind
		wantCode string // ProviderCode
	}{
		// transient
		{name: "throttled", fault: pf(providertest.Fault{Code: 1}), want: sms.KindTransient, wantCode: "1"},
		{name: "internal error", fault: pf(providertest.Fault{Code: 5}), want: sms.KindTransient, wantCode: "5"},
		{name: "too many binds", fault: pf(providertest.Fault{Code: 10}), want: sms.KindTransient, wantCode: "10"},
		{name: "gateway 429", fault: pf(providertest.Fault{Status: 429}), want: sms.KindTransient},
		{name: "gateway 503", fault: pf(providertest.Fault{Status: 503}), want: sms.KindTransient},
		// ambiguous: a 5xx other than 503 may come after Vonage took the message
		{name: "gateway 500", fault: pf(providertest.Fault{Status: 500}), want: sms.KindAmbiguous},
		{name: "gateway 502", fault: pf(providertest.Fault{Status: 502}), want: sms.KindAmbiguous},
		{name: "gateway 504 after accepting", fault: pf(providertest.Fault{Status: 504, AcceptFirst: true}), want: sms.KindAmbiguous},
		// rejected: statuses known to be about this one message
		{name: "invalid message", fault: pf(providertest.Fault{Code: 6}), want: sms.KindRejected, wantCode: "6"},
		{name: "number barred", fault: pf(providertest.Fault{Code: 7}), want: sms.KindRejected, wantCode: "7"},
		{name: "too long", msg: message(strings.Repeat("ж", providertest.VonageMaxTextUCS2+1)), want: sms.KindRejected, wantCode: "12"},
		{name: "deactivated", fault: pf(providertest.Fault{Code: 33}), want: sms.KindRejected, wantCode: "33"},
		// provider account: unknown statuses, and statuses that may be
		// about the sender, the request or the account
		{name: "missing text", msg: sms.Message{To: to, From: "FluxKit"}, want: sms.KindProviderAccount, wantCode: "2"},
		{name: "invalid to", msg: sms.Message{To: "+12345", From: "FluxKit", Body: "hi"}, want: sms.KindProviderAccount, wantCode: "3"},
		{name: "invalid from", msg: sms.Message{To: to, From: "FluxKit Alerts", Body: "hi"}, want: sms.KindProviderAccount, wantCode: "3"},
		{name: "invalid network", fault: pf(providertest.Fault{Code: 22}), want: sms.KindProviderAccount, wantCode: "22"},
		// provider account
		{name: "bad credentials", opts: []providertest.Option{providertest.WithVonageCredentials("other123", "other-secret")},
			want: sms.KindProviderAccount, wantCode: "4"},
		{name: "account barred", fault: pf(providertest.Fault{Code: 8}), want: sms.KindProviderAccount, wantCode: "8"},
		{name: "no credit", opts: []providertest.Option{providertest.WithVonageBalance(0)}, want: sms.KindProviderAccount, wantCode: "9"},
		{name: "not enabled for HTTP", fault: pf(providertest.Fault{Code: 11}), want: sms.KindProviderAccount, wantCode: "11"},
		{name: "invalid signature", fault: pf(providertest.Fault{Code: 14}), want: sms.KindProviderAccount, wantCode: "14"},
		{name: "sender not allowed", fault: pf(providertest.Fault{Code: 15}), want: sms.KindProviderAccount, wantCode: "15"},
		{name: "callback", fault: pf(providertest.Fault{Code: 23}), want: sms.KindProviderAccount, wantCode: "23"},
		{name: "non-whitelisted", fault: pf(providertest.Fault{Code: 29}), want: sms.KindProviderAccount, wantCode: "29"},
		{name: "sig and secret", fault: pf(providertest.Fault{Code: 32}), want: sms.KindProviderAccount, wantCode: "32"},
		{name: "unknown status", fault: pf(providertest.Fault{Code: 99, Message: "Something new"}), want: sms.KindProviderAccount, wantCode: "99"},
		{name: "gateway 401", fault: pf(providertest.Fault{Status: 401}), want: sms.KindProviderAccount},
		// ambiguous
		{name: "garbled 200", fault: pf(providertest.Fault{Body: "<html>ok</html>"}), want: sms.KindAmbiguous},
		{name: "no messages", fault: pf(providertest.Fault{Body: `{"message-count":"0","messages":[]}`}), want: sms.KindAmbiguous},
		{name: "success without id", fault: pf(providertest.Fault{Body: `{"message-count":"1","messages":[{"status":"0"}]}`}), want: sms.KindAmbiguous},
		{name: "numbers instead of strings", fault: pf(providertest.Fault{Body: `{"message-count":1,"messages":[{"status":0}]}`}), want: sms.KindAmbiguous},
		{name: "dropped before processing", fault: pf(providertest.Fault{Drop: providertest.DropBeforeProcessing}), want: sms.KindAmbiguous},
		{name: "dropped after accepting", fault: pf(providertest.Fault{Drop: providertest.DropAfterAccept}), want: sms.KindAmbiguous},
		{name: "answer too slow", fault: pf(providertest.Fault{Delay: 2 * time.Second}), timeout: 150 * time.Millisecond, want: sms.KindAmbiguous},
		// every part failed: a rejection only when every part was rejected
		{name: "all parts rejected", fault: pf(providertest.Fault{Body: `{"message-count":"2","messages":[` +
			`{"status":"7","error-text":"Number barred."},{"status":"7","error-text":"Number barred."}]}`}),
			want: sms.KindRejected, wantCode: "7"},
		{name: "all parts failed, one throttled", fault: pf(providertest.Fault{Body: `{"message-count":"2","messages":[` +
			`{"status":"7","error-text":"Number barred."},{"status":"1","error-text":"Throttled"}]}`}),
			want: sms.KindTransient, wantCode: "1"},
		{name: "all parts failed, one unknown", fault: pf(providertest.Fault{Body: `{"message-count":"2","messages":[` +
			`{"status":"12","error-text":"Message too long"},{"status":"77","error-text":"New"}]}`}),
			want: sms.KindProviderAccount, wantCode: "77"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t, tt.opts...)
			if tt.fault != nil {
				f.FailNext(1, *tt.fault)
			}
			msg := tt.msg
			if msg == (sms.Message{}) {
				msg = message("Your code is 482901")
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			_, err := newClient(t, f.URL(), timeout).Send(context.Background(), msg)
			checkError(t, err, tt.want, tt.wantCode)
			if f.Count() != 1 {
				t.Errorf("fake saw %d requests, want 1", f.Count())
			}
		})
	}
}

// checkError asserts that err is an *sms.Error of kind want with provider
// code wantCode, leaking neither the number nor the credentials.
func checkError(t *testing.T, err error, want sms.Kind, wantCode string) *sms.Error {
	t.Helper()
	e := providertest.CheckProviderError(t, err)
	if e.Kind != want {
		t.Errorf("kind = %v, want %v (error %v)", e.Kind, want, err)
	}
	if e.ProviderCode != wantCode {
		t.Errorf("ProviderCode = %q, want %q", e.ProviderCode, wantCode)
	}
	if wantCode != "" && e.ProviderMessage == "" {
		t.Errorf("ProviderMessage is empty, want Vonage's error-text")
	}
	if e.Code != "" || e.Message == "" {
		t.Errorf("Code, Message = %q, %q, want no narrowing code and a message", e.Code, e.Message)
	}
	for _, secret := range []string{to[1:], creds.APIKey, creds.APISecret} {
		if strings.Contains(e.Message, secret) || strings.Contains(err.Error(), secret) {
			t.Errorf("error %q (message %q) contains %q", err, e.Message, secret)
		}
	}
	return e
}

func TestSendPartialFailure(t *testing.T) {
	long := strings.Repeat("a", 400) // three parts
	tests := []struct {
		name  string
		fault providertest.Fault
	}{
		{"middle part throttled", providertest.Fault{Code: 1, Part: 2}},
		{"first part barred", providertest.Fault{Code: 7, Part: 1}},
		{"last part failed", providertest.Fault{Code: 5, Part: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t)
			f.FailNext(1, tt.fault)
			rc, err := newClient(t, f.URL(), 10*time.Second).Send(context.Background(), message(long))
			e := checkError(t, err, sms.KindPartial, strconv.Itoa(tt.fault.Code))
			acc := f.Accepted()
			if len(acc) != 1 || len(acc[0].PartIDs) != 2 {
				t.Fatalf("accepted = %+v, want one message with two parts", acc)
			}
			if want := acc[0].PartIDs[0]; rc.ID != want {
				t.Errorf("receipt ID = %q, want the first accepted part %q", rc.ID, want)
			}
			if e.Code != "" {
				t.Errorf("Code = %q, want none", e.Code)
			}
		})
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
		_, err = newClient(t, url, 10*time.Second).Send(context.Background(), message("hi"))
		checkError(t, err, sms.KindTransient, "")
	})
	t.Run("caller deadline while waiting", func(t *testing.T) {
		f := providertest.NewVonage(t)
		f.FailNext(1, providertest.Fault{Delay: 300 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := vonage.New(creds, vonage.Config{BaseURL: f.URL()}).Send(ctx, message("hi"))
		checkError(t, err, sms.KindAmbiguous, "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
		}
	})
	t.Run("caller canceled before sending", func(t *testing.T) {
		f := providertest.NewVonage(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := vonage.New(creds, vonage.Config{BaseURL: f.URL()}).Send(ctx, message("hi"))
		checkError(t, err, sms.KindTransient, "")
		if n := f.Count(); n != 0 {
			t.Errorf("fake saw %d requests, want 0", n)
		}
	})
}

func BenchmarkVonageSend(b *testing.B) {
	f := providertest.NewVonage(b)
	c := newClient(b, f.URL(), 5*time.Second)
	m := message("Your code is 482901")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSendTTL(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		left time.Duration // the validity left at the call; 0 means none
		want string        // ttl; "" means absent
	}{
		{"no validity", 0, ""},
		{"milliseconds left", 300*time.Second + 250*time.Millisecond, "300250"},
		{"under 20 s: sent with Vonage's minimum", 5 * time.Second, "20000"},
		{"the longest validity", 36000 * time.Second, "36000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t)
			c := vonage.New(creds, vonage.Config{BaseURL: f.URL(), Clock: conformance.NewClock(now)})
			m := message("Your code is 482901")
			if tt.left > 0 {
				m.ValidUntil = now.Add(tt.left)
			}
			if _, err := c.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v (the fake checks the range like Vonage)", err)
			}
			p := f.Requests()[0].Params
			if got, has := p.Get("ttl"), p.Has("ttl"); got != tt.want || has != (tt.want != "") {
				t.Errorf("ttl = %q (present %v), want %q", got, has, tt.want)
			}
		})
	}
}
