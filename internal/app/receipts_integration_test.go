package app_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/twilio"
)

const publicURL = "https://sms.example.com"

// receiptsStack is a stack with SMS_PUBLIC_URL and its receipts function.
func receiptsStack(t testing.TB) (*stack, *receipts.Handler) {
	t.Helper()
	s := newStack(t, "SMS_PUBLIC_URL", publicURL)
	h, err := app.LoadReceipts(context.Background(), s.getenv, logging.New(s.logs, -4))
	if err != nil {
		t.Fatalf("cold start: %v", err)
	}
	return s, h
}

// twilioCallback is a callback for the message id, signed as the Twilio
// fake's account signs it.
func twilioCallback(id, sid, status, errorCode string) receipts.Request {
	form := url.Values{"MessageSid": {sid}, "MessageStatus": {status}, "To": {"+14155552671"}, "AccountSid": {providertest.TwilioAccountSID}}
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	signed := publicURL + receipts.TwilioPath + "?ref=" + id
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	hdr.Set("X-Twilio-Signature", twilio.Signature(providertest.TwilioAuthToken, signed, form))
	return receipts.Request{Method: http.MethodPost, Path: receipts.TwilioPath, Query: url.Values{"ref": {id}}, Headers: hdr, Body: []byte(form.Encode())}
}

// ddbCounts returns the DynamoDB requests the proxy saw since the last
// Reset, by operation, and resets it.
func (s *stack) ddbCounts() map[string]int {
	out := map[string]int{}
	for op, c := range s.proxy.Counts() {
		if name, ok := strings.CutPrefix(op, "DynamoDB_20120810."); ok {
			out[name] += c
		}
	}
	s.proxy.Reset()
	return out
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// TestReceiptsFunctionRecordsInDynamoDB: the receipts function's wiring
// (LoadReceipts) reads the secret, verifies a callback signed with its
// authToken and records it in the table, with UpdateItem only: the role's
// one table action.
func TestReceiptsFunctionRecordsInDynamoDB(t *testing.T) {
	s, h := receiptsStack(t)
	store := dynamo.NewStatusStore(s.moto.DynamoDB(), s.env["SMS_TABLE_NAME"], dynamo.StatusConfig{})
	id := sms.NewServiceID()
	s.proxy.Reset()
	for _, st := range []string{"sent", "delivered"} {
		if resp := h.Serve(context.Background(), twilioCallback(id, "SM0123456789abcdef0123456789abcdef", st, "")); resp.Status != http.StatusOK {
			t.Fatalf("%s: answer = %d %s", st, resp.Status, resp.Body)
		}
	}
	counts := s.ddbCounts()
	if len(counts) != 1 || counts["UpdateItem"] != 2 {
		t.Errorf("DynamoDB requests = %v, want 2 UpdateItem and nothing else", counts)
	}
	rec, err := store.Get(context.Background(), id)
	if err != nil || rec.Status != sms.StatusDelivered || rec.ProviderMessageID != "SM0123456789abcdef0123456789abcdef" {
		t.Errorf("record = %+v, %v; want delivered", rec, err)
	}
	forged := twilioCallback(id, "SM0123456789abcdef0123456789abcdef", "failed", "30008")
	forged.Headers.Set("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if resp := h.Serve(context.Background(), forged); resp.Status != http.StatusForbidden {
		t.Errorf("forged: answer = %d, want 403", resp.Status)
	}
	if n := total(s.ddbCounts()); n != 0 {
		t.Errorf("a refused receipt made %d DynamoDB requests, want 0", n)
	}
	s.assertLogsClean(t)
}

// TestRequestsPerReceipt measures the DynamoDB requests each receipt
// costs through the counting proxy, in the situations receipts meet: in
// order, duplicated, reordered, ahead of the send path's write, and about
// another part of a multipart message. None may cost more than two.
func TestRequestsPerReceipt(t *testing.T) {
	s := newStack(t, "SMS_PUBLIC_URL", publicURL)
	cfg, err := config.Load(s.getenv, config.ModeReceipts)
	if err != nil {
		t.Fatal(err)
	}
	clients := s.awsClients(t)
	store := dynamo.NewStatusStore(clients.DynamoDB, cfg.TableName, dynamo.StatusConfig{})
	keys := config.Secrets{Twilio: config.TwilioCredentials{AuthToken: providertest.TwilioAuthToken}, Vonage: config.VonageCredentials{ReceiptsToken: "tok-0123456789"}}
	h, err := app.BuildReceipts(context.Background(), cfg, app.ReceiptsOptions{AWS: clients, Secrets: app.FixedSecrets(keys)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const sid = "SM0123456789abcdef0123456789abcdef"
	sendPath := func(id, providerID, provider string) {
		if _, err := store.Record(ctx, id, sms.Change{Status: sms.StatusSent, MessageID: providerID, ProviderMessageID: providerID,
			Provider: provider, To: "+14155552671", Segments: 2, Encoding: sms.GSM7, CreatedAt: time.Now(), Owner: sms.CallerOwner("client-1")}); err != nil {
			t.Fatal(err)
		}
	}
	vonageDLR := func(id, part, status, errCode string) receipts.Request {
		q := url.Values{"messageId": {part}, "status": {status}, "err-code": {errCode}, "client-ref": {id}, "msisdn": {"14155552671"}, "token": {"tok-0123456789"}}
		return receipts.Request{Method: http.MethodGet, Path: receipts.VonagePath, Query: q, Headers: http.Header{}}
	}
	type step struct {
		name string
		req  func(id string) receipts.Request
	}
	twilioStep := func(st, code string) step {
		return step{"twilio " + st, func(id string) receipts.Request { return twilioCallback(id, sid, st, code) }}
	}
	scenarios := []struct {
		name     string
		sendPath string // "", "before" or "after" the receipts
		provider string
		steps    []step
	}{
		{"in order", "before", "twilio", []step{twilioStep("sent", ""), twilioStep("delivered", "")}},
		{"duplicated", "before", "twilio", []step{twilioStep("sent", ""), twilioStep("sent", ""), twilioStep("delivered", ""), twilioStep("delivered", "")}},
		{"reordered", "before", "twilio", []step{twilioStep("delivered", ""), twilioStep("sent", "")}},
		{"failed then late sent", "before", "twilio", []step{twilioStep("undelivered", "30003"), twilioStep("sent", "")}},
		{"ahead of the send path", "after", "twilio", []step{twilioStep("sent", ""), twilioStep("delivered", "")}},
		// The late sent finds a record that is ahead of it and lacks its
		// history entry: the merge costs the second request.
		{"reordered ahead of the send path", "after", "twilio", []step{twilioStep("delivered", ""), twilioStep("sent", ""), twilioStep("sent", "")}},
		{"multipart", "before", "vonage", []step{
			{"vonage part 2 delivered", func(id string) receipts.Request { return vonageDLR(id, "0A02", "delivered", "0") }},
			{"vonage part 1 accepted", func(id string) receipts.Request { return vonageDLR(id, "0A01", "accepted", "0") }},
			{"vonage part 1 delivered", func(id string) receipts.Request { return vonageDLR(id, "0A01", "delivered", "0") }},
			{"vonage part 1 delivered again", func(id string) receipts.Request { return vonageDLR(id, "0A01", "delivered", "0") }},
		}},
	}
	var costs []int
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			id := sms.NewServiceID()
			providerID := sid
			if sc.provider == "vonage" {
				providerID = "0A01"
			}
			if sc.sendPath == "before" {
				sendPath(id, providerID, sc.provider)
			}
			s.proxy.Reset()
			for _, st := range sc.steps {
				if resp := h.Serve(ctx, st.req(id)); resp.Status != http.StatusOK {
					t.Fatalf("%s: answer = %d %s", st.name, resp.Status, resp.Body)
				}
				counts := s.ddbCounts()
				n := total(counts)
				costs = append(costs, n)
				t.Logf("%s: %d DynamoDB requests %v", st.name, n, counts)
				if n < 1 || n > 2 || counts["UpdateItem"] != n {
					t.Errorf("%s: %d requests %v, want 1 or 2 UpdateItem", st.name, n, counts)
				}
			}
			if sc.sendPath == "after" {
				sendPath(id, providerID, sc.provider)
			}
			rec, err := store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := sms.StatusDelivered
			if strings.Contains(sc.name, "failed") {
				want = sms.StatusUndelivered
			}
			if rec.Status != want || rec.Segments != 2 {
				t.Errorf("record = %s (segments %d), want %s with the send path's fields", rec.Status, rec.Segments, want)
			}
		})
	}
	sort.Ints(costs)
	sum := 0
	for _, c := range costs {
		sum += c
	}
	t.Logf("requests per receipt over %d receipts: mean %.2f, max %d", len(costs), float64(sum)/float64(len(costs)), costs[len(costs)-1])
}

// TestProviderAsksForReceipts: with SMS_PUBLIC_URL the provider clients
// ask for each message's receipts: Twilio with StatusCallback and the
// service id as ref; Vonage with a callback only when the secret has a
// signatureSecret (otherwise the operator set the account's receipt URL).
func TestProviderAsksForReceipts(t *testing.T) {
	id := sms.NewServiceID()
	m := sms.Message{To: "+14155552671", From: providertest.TwilioFrom, Body: "hi", ServiceID: id}

	tw := providertest.NewTwilio(t)
	cfg := config.Config{Provider: config.ProviderTwilio, TwilioAPIURL: tw.URL(), PublicURL: publicURL}
	p, err := app.NewProvider(cfg, config.Secrets{Twilio: config.TwilioCredentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got, want := tw.Requests()[0].Params.Get("StatusCallback"), publicURL+receipts.TwilioPath+"?ref="+id; got != want {
		t.Errorf("StatusCallback = %q, want %q", got, want)
	}

	for _, tt := range []struct {
		name   string
		secret config.VonageCredentials
		want   string
	}{
		{"signed", config.VonageCredentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret, SignatureSecret: "sig"}, publicURL + receipts.VonagePath},
		{"token", config.VonageCredentials{APIKey: providertest.VonageAPIKey, APISecret: providertest.VonageAPISecret, ReceiptsToken: "tok"}, ""},
	} {
		vf := providertest.NewVonage(t)
		cfg := config.Config{Provider: config.ProviderVonage, VonageAPIURL: vf.URL(), PublicURL: publicURL}
		p, err := app.NewProvider(cfg, config.Secrets{Vonage: tt.secret}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Send(context.Background(), sms.Message{To: "+14155552671", From: "FluxKit", Body: "hi", ServiceID: id}); err != nil {
			t.Fatal(err)
		}
		q := vf.Requests()[0].Params
		if got := q.Get("callback"); got != tt.want {
			t.Errorf("%s: callback = %q, want %q", tt.name, got, tt.want)
		}
		if q.Get("client-ref") != id || q.Get("status-report-req") != "1" {
			t.Errorf("%s: client-ref, status-report-req = %q, %q; want the service id and 1", tt.name, q.Get("client-ref"), q.Get("status-report-req"))
		}
	}
}

// awsClients are the clients the functions of s use (through the proxy).
func (s *stack) awsClients(t testing.TB) *app.Clients {
	t.Helper()
	env, err := awsenv.Load(s.getenv)
	if err != nil {
		t.Fatal(err)
	}
	return app.NewClients(env)
}

// BenchmarkReceiptRequests is the cost of the receipts of one message in
// DynamoDB requests, through the counting proxy: the send path's sent
// (not counted), then Twilio's sent and delivered callbacks and a
// duplicate of the delivered one, as a provider retrying would send it.
func BenchmarkReceiptRequests(b *testing.B) {
	s, h := receiptsStack(b)
	store := dynamo.NewStatusStore(s.moto.DynamoDB(), s.env["SMS_TABLE_NAME"], dynamo.StatusConfig{})
	const sid = "SM0123456789abcdef0123456789abcdef"
	ctx := context.Background()
	receiptsSent, requests := 0, 0
	for b.Loop() {
		id := sms.NewServiceID()
		if _, err := store.Record(ctx, id, sms.Change{Status: sms.StatusSent, ProviderMessageID: sid, Provider: "twilio", To: "+14155552671"}); err != nil {
			b.Fatal(err)
		}
		s.proxy.Reset()
		for _, st := range []string{"sent", "delivered", "delivered"} {
			if resp := h.Serve(ctx, twilioCallback(id, sid, st, "")); resp.Status != http.StatusOK {
				b.Fatalf("%s: answer = %d %s", st, resp.Status, resp.Body)
			}
			receiptsSent++
		}
		requests += total(s.ddbCounts())
	}
	b.ReportMetric(float64(requests)/float64(receiptsSent), "ddb-req/receipt")
}
