package app_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// failoverEnv configures a stack for failover: Twilio first, then Vonage,
// each with its own default sender.
var failoverEnv = []string{
	"SMS_PROVIDER", "twilio,vonage",
	"SMS_FROM", "twilio=" + providertest.TwilioFrom + ",vonage=FluxKit",
}

// limiterItems lists the pk of every limiter item in the stack's table.
func (s *stack) limiterItems(t *testing.T) []string {
	t.Helper()
	out, err := s.moto.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{
		TableName:        aws.String(s.env["SMS_TABLE_NAME"]),
		FilterExpression: aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":p": &ddbtypes.AttributeValueMemberS{Value: "limiter#"},
		},
	})
	if err != nil {
		t.Fatalf("scan the table: %v", err)
	}
	var pks []string
	for _, it := range out.Items {
		if pk, ok := it["pk"].(*ddbtypes.AttributeValueMemberS); ok && !slices.Contains(pks, pk.Value) {
			pks = append(pks, pk.Value)
		}
	}
	slices.Sort(pks)
	return pks
}

// TestFailoverSendPath sends through Twilio then Vonage: the answer and the
// logs name the provider that sent, each provider gives its own sender,
// and a message moves to Vonage only when nothing can have reached Twilio.
func TestFailoverSendPath(t *testing.T) {
	s := newStack(t, failoverEnv...)
	tests := []struct {
		name         string
		fault        providertest.Fault
		wantStatus   int
		wantProvider string
		wantVonage   int // messages Vonage accepts
	}{
		{"twilio sends", providertest.Fault{}, 200, "twilio", 0},
		{"503 fails over", providertest.Fault{Status: 503}, 200, "vonage", 1},
		{"429 fails over", providertest.Fault{Status: 429}, 200, "vonage", 1},
		{"credentials refused fail over", providertest.Fault{Status: 401, Code: 20003}, 200, "vonage", 1},
		{"region not enabled fails over", providertest.Fault{Code: 21408}, 200, "vonage", 1},
		{"unreachable from the sender fails over", providertest.Fault{Code: 21612}, 200, "vonage", 1},
		{"500 is ambiguous: queued, not failed over", providertest.Fault{Status: 500}, 202, "", 0},
		{"dropped after accepting: queued, not failed over", providertest.Fault{Drop: providertest.DropAfterAccept}, 202, "", 0},
		{"not a mobile number: refused, not failed over", providertest.Fault{Code: 21614}, 422, "twilio", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An instance of its own: a breaker of its own.
			h := s.sendHandler(t)
			s.twilio.ClearFaults()
			if tt.fault != (providertest.Fault{}) {
				s.twilio.FailNext(1, tt.fault)
			}
			before := len(s.vonage.Accepted())
			a := post(t, h, okReq)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", a.status, a.raw, tt.wantStatus)
			}
			if got, _ := a.body["provider"].(string); got != tt.wantProvider {
				t.Errorf("answer names provider %q, want %q: %s", got, tt.wantProvider, a.raw)
			}
			acc := s.vonage.Accepted()[before:]
			if len(acc) != tt.wantVonage {
				t.Fatalf("Vonage accepted %d messages, want %d", len(acc), tt.wantVonage)
			}
			if len(acc) == 1 && acc[0].From != "FluxKit" {
				t.Errorf("Vonage sent from %q, want its own default sender", acc[0].From)
			}
		})
		time.Sleep(150 * time.Millisecond) // under the default rate
	}
	for _, q := range s.twilio.Requests() {
		if got := q.Params.Get("From"); got != providertest.TwilioFrom {
			t.Errorf("Twilio got From %q, want its own default sender", got)
		}
	}
	if !jsonLogHas(s.logs.String(), "event", sms.EventProviderFailover) {
		t.Error("no provider_failover event logged")
	}
	if got, want := s.limiterItems(t), []string{"limiter#sms", "limiter#sms#vonage"}; !slices.Equal(got, want) {
		t.Errorf("limiter items %q, want %q: the first provider keeps the deployment's", got, want)
	}
	s.assertLogsClean(t, "Your verification code")
}

// TestFailoverSkipsTheDownProvider: with Twilio answering 503 to every
// call, its breaker opens after five and later messages go to Vonage
// without a call to Twilio.
func TestFailoverSkipsTheDownProvider(t *testing.T) {
	s := newStack(t, failoverEnv...)
	h := s.sendHandler(t)
	s.twilio.FailWhen(func(providertest.Request) bool { return true }, providertest.Fault{Status: 503})
	for i := range 12 {
		if a := post(t, h, okReq); a.status != 200 || a.body["provider"] != "vonage" {
			t.Fatalf("message %d: %d %s, want 200 sent by vonage", i, a.status, a.raw)
		}
	}
	if got := s.twilio.Count(); got != sms.DefaultBreakerFailures {
		t.Errorf("Twilio got %d calls, want %d: then its breaker skips it", got, sms.DefaultBreakerFailures)
	}
	if !jsonLogHas(s.logs.String(), "event", sms.EventCircuitOpen) {
		t.Error("no circuit_open event logged")
	}
}

// TestFailoverDrainPath: a queued message that Twilio turns away is sent
// by Vonage at once; one that both turn away is retried with backoff and
// sent on its next receive.
func TestFailoverDrainPath(t *testing.T) {
	s := newStack(t, failoverEnv...)
	s.twilio.FailWhen(func(r providertest.Request) bool { return r.Params.Get("Body") == "to vonage" }, providertest.Fault{Status: 503})
	failedBoth := false
	s.twilio.FailWhen(func(r providertest.Request) bool {
		if r.Params.Get("Body") != "both down" || failedBoth {
			return false
		}
		failedBoth = true
		return true
	}, providertest.Fault{Status: 503})
	s.vonage.FailWhen(func(r providertest.Request) bool { return r.Params.Get("text") == "both down" }, providertest.Fault{Code: 1})
	s.enqueueRaw(t, producerMessage("fo-1", "+14155552671", "to vonage"))
	s.enqueueRaw(t, producerMessage("fo-2", "+14155552671", "both down"))
	p := s.poller(t)
	runUntil(t, 20*time.Second, func() bool {
		return len(s.vonage.Accepted()) == 1 && acceptedBy(s.twilio)["both down"] == 1
	}, p)
	if acc := s.vonage.Accepted(); len(acc) != 1 || acc[0].Body != "to vonage" || acc[0].From != "FluxKit" {
		t.Fatalf("Vonage accepted %+v, want the first message from its default sender", acc)
	}
	if got := acceptedBy(s.twilio); got["both down"] != 1 || got["to vonage"] != 0 {
		t.Errorf("Twilio delivered %v, want only the second message, once (on its retry)", got)
	}
	if !jsonLogHas(s.logs.String(), "provider", "vonage") {
		t.Error("the drain's sent line does not name vonage")
	}
	if !strings.Contains(s.logs.String(), "record will be retried") {
		t.Error("the message both providers turned away was not retried with backoff")
	}
}

// TestFailoverColdStartNeedsBothCredentialSets: a secret without Vonage's
// credentials stops a failover deployment at its cold start, naming them.
func TestFailoverColdStartNeedsBothCredentialSets(t *testing.T) {
	s := newStack(t, failoverEnv...)
	secret, _ := json.Marshal(map[string]string{
		"accountSid": providertest.TwilioAccountSID, "authToken": providertest.TwilioAuthToken, "jwtSecret": testJWTSecret,
	})
	s.env["SMS_SECRET_ID"] = s.moto.CreateSecret(t, "failover-twilio-only-"+s.env["SMS_TABLE_NAME"], string(secret))
	_, err := loadSend(s)
	if err == nil || !strings.Contains(err.Error(), "apiKey") || !strings.Contains(err.Error(), "apiSecret") {
		t.Errorf("cold start error %v, want one naming apiKey and apiSecret", err)
	}
}

// TestOneProviderAsBefore: with one provider there is one limiter item,
// named as before failover existed, and no breaker: a provider down for
// every call is called for every message.
func TestOneProviderAsBefore(t *testing.T) {
	s := newStack(t)
	f := s.function(t, config.ModeSend)
	if len(f.Parts.Failover) != 0 || f.Parts.ProviderName != "twilio" {
		t.Fatalf("parts: failover %v, provider %q; want none and twilio", f.Parts.Failover, f.Parts.ProviderName)
	}
	h := s.sendHandler(t)
	if a := post(t, h, okReq); a.status != 200 || a.body["provider"] != "twilio" {
		t.Fatalf("answer %d %s, want 200 naming twilio", a.status, a.raw)
	}
	s.twilio.FailWhen(func(providertest.Request) bool { return true }, providertest.Fault{Status: 503})
	for i := range 8 {
		if a := post(t, h, okReq); a.status != 202 {
			t.Fatalf("message %d: %d, want 202", i, a.status)
		}
		time.Sleep(120 * time.Millisecond) // under the default rate
	}
	if got := s.twilio.Count(); got != 9 {
		t.Errorf("Twilio got %d calls, want 9: one provider is never skipped", got)
	}
	if got, want := s.limiterItems(t), []string{"limiter#sms"}; !slices.Equal(got, want) {
		t.Errorf("limiter items %q, want %q", got, want)
	}
	if jsonLogHas(s.logs.String(), "event", sms.EventCircuitOpen) {
		t.Error("a breaker opened with one provider")
	}
}
