package local

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

// waitStatus polls the record of id until it has status want or a few
// seconds passed, and returns the record.
func waitStatus(t *testing.T, s sms.StatusStore, id string, want sms.Status) sms.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := s.Get(context.Background(), id)
		if err == nil && r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("record of %s = %+v, %v; want status %s", id, r, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConsoleReportsDelivery: the console provider reports a message it
// sent delivered about the delay later (undelivered for a number ending
// in 0000), straight into the status store, and prints it; a message
// without a service id (status tracking off) gets no report.
func TestConsoleReportsDelivery(t *testing.T) {
	out := &syncBuffer{}
	c := NewConsole(out, ListConfig{})
	store := memory.NewStatusStore(memory.StatusConfig{})
	c.Report(store, 50*time.Millisecond)
	ctx := context.Background()
	delivered, undelivered := sms.NewServiceID(), sms.NewServiceID()
	start := time.Now()
	rc, err := c.Send(ctx, sms.Message{To: "+14155551234", From: "FluxKit", Body: "hi", ServiceID: delivered})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, sms.Message{To: "+14155550000", From: "FluxKit", Body: "hi", ServiceID: undelivered}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, sms.Message{To: "+14155551234", From: "FluxKit", Body: "untracked"}); err != nil {
		t.Fatal(err)
	}
	r := waitStatus(t, store, delivered, sms.StatusDelivered)
	if time.Since(start) < 50*time.Millisecond {
		t.Errorf("reported after %v, want after the delay", time.Since(start))
	}
	if r.ProviderMessageID != rc.ID {
		t.Errorf("providerMessageId = %q, want the console's id %q", r.ProviderMessageID, rc.ID)
	}
	u := waitStatus(t, store, undelivered, sms.StatusUndelivered)
	if u.Error == nil || u.Error.Code != receipts.CodeUndelivered {
		t.Errorf("undelivered error = %+v, want code %s", u.Error, receipts.CodeUndelivered)
	}
	time.Sleep(100 * time.Millisecond)
	if got := store.Len(); got != 2 {
		t.Errorf("records = %d, want 2 (none for the untracked message)", got)
	}
	if !strings.Contains(out.String(), "receipt id="+rc.ID+": delivered") {
		t.Errorf("console output lacks the receipt:\n%s", out.String())
	}
	if !UndeliveredNumber("+14155550000") || UndeliveredNumber("+14155551234") {
		t.Errorf("UndeliveredNumber disagrees with its rule")
	}
	if providertest.DefaultFate(providertest.Accepted{To: "+14155550000"}, 1).Outcome != providertest.Undelivered ||
		providertest.DefaultFate(providertest.Accepted{To: "+14155551234"}, 1).Outcome != providertest.Delivered {
		t.Errorf("the provider fakes' default fate does not follow the console's rule")
	}
}

// TestServerConsoleReports: make local's console provider reports the
// delivery of a message about a second after it was sent, in the
// server's status store.
func TestServerConsoleReports(t *testing.T) {
	s := startServer(t, nil)
	store := s.st.svc.Parts.Status
	id := sms.NewServiceID()
	start := time.Now()
	if _, err := s.Console().Send(context.Background(), sms.Message{To: "+14155551234", From: "FluxKit", Body: "hi", ServiceID: id}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, store, id, sms.StatusDelivered)
	if d := time.Since(start); d < ReportDelay-50*time.Millisecond || d > ReportDelay+2*time.Second {
		t.Errorf("delivered after %v, want about %v", d, ReportDelay)
	}
}

// TestGatewayServesOtherRoutes: a route added with Route is invoked with
// its own route key; the send route keeps its function; a method the
// route was not added for is API Gateway's 404.
func TestGatewayServesOtherRoutes(t *testing.T) {
	send, other := &recorder{answer: okAnswer}, &recorder{answer: okAnswer}
	gw := NewGateway(send, nil, GatewayConfig{})
	gw.Route(http.MethodGet, receipts.VonagePath, other)
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for _, tt := range []struct {
		method, path string
		to           *recorder
		key          string
	}{
		{"GET", receipts.VonagePath + "?status=delivered", other, "GET " + receipts.VonagePath},
		{"POST", "/messaging/sms", send, "POST /messaging/sms"},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(tt.to.events) != 1 {
			t.Fatalf("%s %s: invoked %d times, want 1", tt.method, tt.path, len(tt.to.events))
		}
		ev := tt.to.events[0]
		if ev.RouteKey != tt.key || ev.RequestContext.RouteKey != tt.key {
			t.Errorf("%s %s: route key %q/%q, want %q", tt.method, tt.path, ev.RouteKey, ev.RequestContext.RouteKey, tt.key)
		}
	}
	if ev := other.events[0]; ev.RawQueryString != "status=delivered" {
		t.Errorf("query = %q, want status=delivered", ev.RawQueryString)
	}
	resp, err := http.Post(srv.URL+receipts.VonagePath, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST to a route added for GET only: %d, want 404", resp.StatusCode)
	}
}

// TestServerReceiptRoutes: the local server serves the receipt routes
// with the receipts handler: the provider fakes' signed callbacks and
// DLRs, posted to it, are verified with the keys of the environment
// (TWILIO_AUTH_TOKEN, VONAGE_RECEIPTS_TOKEN) against SMS_PUBLIC_URL and
// recorded in its status store; a forged one is refused.
func TestServerReceiptRoutes(t *testing.T) {
	port, err := mototest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	tw, vf := providertest.NewTwilio(t), providertest.NewVonage(t, providertest.WithVonageDLRURL(base+receipts.VonagePath+"?token=local-token"))
	s := startServer(t, map[string]string{
		"SMS_PROVIDER": "twilio", "SMS_FROM": providertest.TwilioFrom, "TWILIO_API_URL": tw.URL(),
		"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID, "TWILIO_AUTH_TOKEN": providertest.TwilioAuthToken,
		"VONAGE_RECEIPTS_TOKEN": "local-token", "SMS_PUBLIC_URL": base,
	}, func(o *Options) { o.Addr = fmt.Sprintf("127.0.0.1:%d", port) })
	store := s.st.svc.Parts.Status
	ctx := context.Background()

	twc := twilio.New(twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken},
		twilio.Config{BaseURL: tw.URL(), StatusCallback: base + receipts.TwilioPath})
	twID := sms.NewServiceID()
	if _, err := twc.Send(ctx, sms.Message{To: "+14155551234", From: providertest.TwilioFrom, Body: "hi", ServiceID: twID}); err != nil {
		t.Fatal(err)
	}
	vc := vonage.New(vonage.Credentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret}, vonage.Config{BaseURL: vf.URL()})
	vID := sms.NewServiceID()
	if _, err := vc.Send(ctx, sms.Message{To: "+14155550000", From: "FluxKit", Body: "hi", ServiceID: vID}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []interface{ WaitReceipts(context.Context) error }{tw, vf} {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := f.WaitReceipts(wctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	waitStatus(t, store, twID, sms.StatusDelivered)
	waitStatus(t, store, vID, sms.StatusUndelivered)
	for _, r := range append(tw.Receipts(), vf.Receipts()...) {
		if !r.Acked || r.Attempts != 1 {
			t.Errorf("receipt %+v, want acknowledged at once", r)
		}
	}

	forged, err := http.Post(base+receipts.TwilioPath+"?ref="+twID, "application/x-www-form-urlencoded", strings.NewReader("MessageStatus=failed&MessageSid=SM1"))
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusForbidden {
		t.Errorf("forged callback: %d, want 403", forged.StatusCode)
	}
	if r, _ := store.Get(ctx, twID); r.Status != sms.StatusDelivered {
		t.Errorf("after a forged callback: %s, want delivered", r.Status)
	}
}
