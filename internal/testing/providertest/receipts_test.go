package providertest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

// hit is one receipt a test server received.
type hit struct {
	method string
	query  url.Values
	header http.Header
	params url.Values // form, JSON or query
	url    string
}

// receiver is an HTTP server that records the receipts it gets and answers
// with the statuses of answers in turn (then 200).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	hits    []hit
	answers []int
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	r := &receiver{answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h := hit{method: req.Method, query: req.URL.Query(), header: req.Header.Clone(), url: "http://" + req.Host + req.URL.RequestURI()}
		switch {
		case strings.HasPrefix(req.Header.Get("Content-Type"), "application/json"):
			var obj map[string]string
			_ = json.Unmarshal(body, &obj)
			h.params = url.Values{}
			for k, v := range obj {
				h.params.Set(k, v)
			}
		case req.Method == http.MethodPost:
			h.params, _ = url.ParseQuery(string(body))
		default:
			h.params = req.URL.Query()
		}
		r.mu.Lock()
		r.hits = append(r.hits, h)
		status := http.StatusOK
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func wait(t *testing.T, f interface {
	WaitReceipts(context.Context) error
}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.WaitReceipts(ctx); err != nil {
		t.Fatal(err)
	}
}

func statuses(hits []hit, key string) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.params.Get(key))
	}
	return out
}

// TestTwilioFakePostsSignedCallbacks: a message with a StatusCallback gets
// sent then delivered, signed over the URL as called; one to a number
// ending in 0000 gets sent then undelivered with ErrorCode 30003.
func TestTwilioFakePostsSignedCallbacks(t *testing.T) {
	rcv := newReceiver(t)
	f := providertest.NewTwilio(t)
	c := twilio.New(twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken},
		twilio.Config{BaseURL: f.URL(), StatusCallback: rcv.srv.URL + "/messaging/sms/receipts/twilio"})
	for _, tt := range []struct {
		to   string
		want []string
		code string
	}{
		{"+14155552671", []string{"sent", "delivered"}, ""},
		{"+14155550000", []string{"sent", "undelivered"}, "30003"},
	} {
		id := sms.NewServiceID()
		before := len(rcv.got())
		rc, err := c.Send(context.Background(), sms.Message{To: tt.to, From: providertest.TwilioFrom, Body: "hi", ServiceID: id})
		if err != nil {
			t.Fatal(err)
		}
		wait(t, f)
		hits := rcv.got()[before:]
		if got := statuses(hits, "MessageStatus"); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: callbacks %v, want %v", tt.to, got, tt.want)
		}
		for _, h := range hits {
			if h.method != http.MethodPost || h.query.Get("ref") != id || h.params.Get("MessageSid") != rc.ID || h.params.Get("To") != tt.to {
				t.Errorf("callback %s %v %v, want a POST for ref %s and SID %s", h.method, h.query, h.params, id, rc.ID)
			}
			if !twilio.CheckSignature(providertest.TwilioAuthToken, h.url, h.params, h.header.Get("X-Twilio-Signature")) {
				t.Errorf("callback %s: the signature does not verify", h.params.Get("MessageStatus"))
			}
		}
		if got := hits[len(hits)-1].params.Get("ErrorCode"); got != tt.code {
			t.Errorf("%s: final ErrorCode = %q, want %q", tt.to, got, tt.code)
		}
	}
	acc := f.Accepted()
	if len(acc[0].Fates) != 1 || acc[0].Fates[0].Outcome != providertest.Delivered || acc[1].Fates[0].Outcome != providertest.Undelivered {
		t.Errorf("fates = %+v, %+v", acc[0].Fates, acc[1].Fates)
	}
	for _, r := range f.Receipts() {
		if !r.Acked || r.Attempts != 1 {
			t.Errorf("receipt %+v, want acked at the first attempt", r)
		}
	}
	// Without a StatusCallback nothing is posted.
	n := len(rcv.got())
	plain := twilio.New(twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken}, twilio.Config{BaseURL: f.URL()})
	if _, err := plain.Send(context.Background(), sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "hi", ServiceID: sms.NewServiceID()}); err != nil {
		t.Fatal(err)
	}
	wait(t, f)
	if got := len(rcv.got()); got != n {
		t.Errorf("without StatusCallback: %d callbacks, want none", got-n)
	}
}

// TestFakeReceiptsRetryDuplicateReorder: a refused receipt is posted
// again up to MaxRetries times; Duplicate and Reorder post each receipt
// twice and the final one first; Fate decides the outcome.
func TestFakeReceiptsRetryDuplicateReorder(t *testing.T) {
	t.Run("retried until acked", func(t *testing.T) {
		rcv := newReceiver(t, 500, 503)
		f := providertest.NewTwilio(t, providertest.WithReceipts(providertest.ReceiptPlan{RetryDelay: time.Millisecond}))
		sendWithCallback(t, f, rcv.srv.URL)
		wait(t, f)
		r := f.Receipts()
		if len(r) != 2 || r[0].Attempts != 3 || !r[0].Acked || r[1].Attempts != 1 {
			t.Errorf("receipts = %+v, want the first acked at attempt 3", r)
		}
	})
	t.Run("given up after the retries", func(t *testing.T) {
		rcv := newReceiver(t, 500, 500, 500, 500, 500, 500, 500, 500)
		f := providertest.NewTwilio(t, providertest.WithReceipts(providertest.ReceiptPlan{RetryDelay: time.Millisecond}))
		sendWithCallback(t, f, rcv.srv.URL)
		wait(t, f)
		for _, r := range f.Receipts() {
			if r.Acked || r.Attempts != providertest.MaxRetries+1 || r.Answer != 500 {
				t.Errorf("receipt %+v, want %d attempts, none acked", r, providertest.MaxRetries+1)
			}
		}
	})
	t.Run("duplicated and reordered", func(t *testing.T) {
		rcv := newReceiver(t)
		f := providertest.NewTwilio(t, providertest.WithReceipts(providertest.ReceiptPlan{Duplicate: 1, Reorder: 1,
			Fate: func(providertest.Accepted, int) providertest.Fate {
				return providertest.Fate{Outcome: providertest.Undelivered, Code: "30005"}
			}}))
		sendWithCallback(t, f, rcv.srv.URL)
		wait(t, f)
		if got, want := strings.Join(statuses(rcv.got(), "MessageStatus"), ","), "undelivered,undelivered,sent,sent"; got != want {
			t.Errorf("callbacks = %s, want %s", got, want)
		}
		if got := rcv.got()[0].params.Get("ErrorCode"); got != "30005" {
			t.Errorf("ErrorCode = %q, want the fate's 30005", got)
		}
	})
	t.Run("closed while posting", func(t *testing.T) {
		rcv := newReceiver(t, 500, 500, 500, 500)
		f, err := providertest.StartTwilio("127.0.0.1:0", providertest.WithReceipts(providertest.ReceiptPlan{RetryDelay: time.Hour}))
		if err != nil {
			t.Fatal(err)
		}
		sendWithCallback(t, f, rcv.srv.URL)
		for len(rcv.got()) == 0 {
			time.Sleep(time.Millisecond)
		}
		f.Close()
		wait(t, f)
	})
}

func sendWithCallback(t *testing.T, f *providertest.Twilio, base string) {
	t.Helper()
	c := twilio.New(twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken},
		twilio.Config{BaseURL: f.URL(), StatusCallback: base + "/messaging/sms/receipts/twilio"})
	if _, err := c.Send(context.Background(), sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "hi", ServiceID: sms.NewServiceID()}); err != nil {
		t.Fatal(err)
	}
}

// TestVonageFakePostsReceipts: every part gets its receipts, to the
// message's callback or the account's receipt URL, in the account's
// format, signed when the account signs them.
func TestVonageFakePostsReceipts(t *testing.T) {
	for _, format := range []string{providertest.VonageDLRGet, providertest.VonageDLRPost, providertest.VonageDLRPostJSON} {
		for _, method := range []string{"", vonage.MethodSHA256} {
			t.Run(format+"/"+orNone(method), func(t *testing.T) {
				rcv := newReceiver(t)
				opts := []providertest.Option{providertest.WithVonageDLRFormat(format),
					providertest.WithVonageDLRURL(rcv.srv.URL + "/messaging/sms/receipts/vonage?token=tok")}
				if method != "" {
					opts = append(opts, providertest.WithVonageSignature("sig-secret", method))
				}
				f := providertest.NewVonage(t, opts...)
				c := vonage.New(vonage.Credentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret}, vonage.Config{BaseURL: f.URL()})
				id := sms.NewServiceID()
				if _, err := c.Send(context.Background(), sms.Message{To: "+447700900123", From: "FluxKit", Body: strings.Repeat("a", 200), ServiceID: id}); err != nil {
					t.Fatal(err)
				}
				wait(t, f)
				hits := rcv.got()
				parts := f.Accepted()[0].PartIDs
				if len(hits) != 2*len(parts) || len(parts) != 2 {
					t.Fatalf("%d receipts for %d parts, want 2 each", len(hits), len(parts))
				}
				perPart := map[string][]string{}
				for _, h := range hits {
					perPart[h.params.Get("messageId")] = append(perPart[h.params.Get("messageId")], h.params.Get("status"))
					if h.params.Get("client-ref") != id || h.params.Get("msisdn") != "447700900123" || h.query.Get("token") != "tok" {
						t.Errorf("receipt %v (query %v), want client-ref, msisdn and the URL's token", h.params, h.query)
					}
					if wantMethod := map[string]string{"GET": "GET", "POST": "POST", "POST-JSON": "POST"}[format]; h.method != wantMethod {
						t.Errorf("method = %s, want %s", h.method, wantMethod)
					}
					signed := h.params.Has("sig")
					if signed != (method != "") {
						t.Errorf("signed = %v, want %v", signed, method != "")
					}
					if signed && !vonage.CheckSignature(method, "sig-secret", withoutToken(h.params)) {
						t.Errorf("the receipt's sig does not verify: %v", h.params)
					}
				}
				for _, p := range parts {
					if got := strings.Join(perPart[p], ","); got != "accepted,delivered" {
						t.Errorf("part %s: %s, want accepted,delivered", p, got)
					}
				}
			})
		}
	}
}

// TestVonageFakeCallbackAndParts: a message's callback wins over the
// account's URL; Fate can fail one part; status-report-req=0 asks for
// none.
func TestVonageFakeCallbackAndParts(t *testing.T) {
	account, callback := newReceiver(t), newReceiver(t)
	f := providertest.NewVonage(t, providertest.WithVonageDLRURL(account.srv.URL+"/dlr"),
		providertest.WithReceipts(providertest.ReceiptPlan{Fate: func(_ providertest.Accepted, part int) providertest.Fate {
			if part == 1 {
				return providertest.Fate{Outcome: providertest.Undelivered}
			}
			return providertest.Fate{Outcome: providertest.Delivered}
		}}))
	c := vonage.New(vonage.Credentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret},
		vonage.Config{BaseURL: f.URL(), Callback: callback.srv.URL + "/cb"})
	if _, err := c.Send(context.Background(), sms.Message{To: "+447700900123", From: "FluxKit", Body: strings.Repeat("a", 200), ServiceID: sms.NewServiceID()}); err != nil {
		t.Fatal(err)
	}
	wait(t, f)
	if len(account.got()) != 0 || len(callback.got()) != 4 {
		t.Fatalf("account %d, callback %d receipts; want 0 and 4", len(account.got()), len(callback.got()))
	}
	first := f.Accepted()[0].PartIDs[0]
	for _, h := range callback.got() {
		if h.params.Get("messageId") == first && h.params.Get("status") != "accepted" && (h.params.Get("status") != "failed" || h.params.Get("err-code") != "2") {
			t.Errorf("first part's receipt %v, want failed with err-code 2", h.params)
		}
	}
	if got := providertest.Undelivered.RecordStatus("vonage"); got != sms.StatusUndelivered {
		t.Errorf("RecordStatus = %s", got)
	}

	// status-report-req=0: no receipts.
	n := len(account.got())
	resp, err := http.PostForm(f.URL()+"/sms/json", url.Values{"api_key": {providertest.VonageAPIKey}, "api_secret": {providertest.VonageAPISecret},
		"to": {"447700900123"}, "from": {"FluxKit"}, "text": {"hi"}, "status-report-req": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wait(t, f)
	if got := len(account.got()); got != n {
		t.Errorf("status-report-req=0: %d receipts, want none", got-n)
	}
}

func withoutToken(p url.Values) url.Values {
	out := url.Values{}
	for k, v := range p {
		if k != "token" {
			out[k] = v
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "unsigned"
	}
	return s
}
