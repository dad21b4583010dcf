package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/local/esm"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

func (s *stack) enqueueRaw(t *testing.T, body string) {
	t.Helper()
	if _, err := s.moto.SQS().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(s.queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

func producerMessage(id, to, body string) string {
	b, _ := json.Marshal(map[string]string{"id": id, "to": to, "body": body})
	return string(b)
}

// poller starts the event source mapping over the stack's queue with a
// fresh drain function (a cold start of its own).
func (s *stack) poller(t *testing.T) *esm.Poller {
	t.Helper()
	h := s.drainHandler(t)
	src := esm.NewSQSSource(s.moto.SQS(), s.queueURL, esm.SQSSourceConfig{ARN: "arn:aws:sqs:us-east-1:123456789012:q", Region: mototest.Region, WaitSeconds: 1})
	return esm.New(src, h.Handle, esm.Config{BatchSize: 10, MaxConcurrency: 2, Timeout: 30 * time.Second}, logging.New(s.logs, 0))
}

// runUntil runs pollers until cond holds or the timeout passes, and
// reports how long it took.
func runUntil(t *testing.T, timeout time.Duration, cond func() bool, pollers ...*esm.Poller) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(pollers))
	start := time.Now()
	for _, p := range pollers {
		go func() { p.Run(ctx); done <- struct{}{} }()
	}
	for !cond() && time.Since(start) < timeout {
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	for range pollers {
		<-done
	}
	return took
}

func acceptedBy(tw *providertest.Twilio) map[string]int {
	out := map[string]int{}
	for _, a := range tw.Accepted() {
		out[a.Body]++
	}
	return out
}

func TestDrainBacklogAtTheRate(t *testing.T) {
	s := newStack(t, "SMS_RATE_LIMIT", "5")
	const n = 30
	for i := range n {
		s.enqueueRaw(t, producerMessage(fmt.Sprintf("bk-%d", i), "+14155552671", fmt.Sprintf("backlog %d", i)))
	}
	took := runUntil(t, 20*time.Second, func() bool { return len(s.twilio.Accepted()) >= n }, s.poller(t))
	times := arrivals(s.twilio)
	if got := len(s.twilio.Accepted()); got != n {
		t.Fatalf("delivered %d, want %d", got, n)
	}
	for body, c := range acceptedBy(s.twilio) {
		if c != 1 {
			t.Errorf("%q delivered %d times", body, c)
		}
	}
	peak := maxInWindow(times, time.Second)
	if peak > 5 {
		t.Errorf("peak %d calls in a 1-s window, want at most 5", peak)
	}
	span := times[len(times)-1].Sub(times[0])
	rate := float64(n-1) / span.Seconds()
	if rate < 0.9*5 {
		t.Errorf("throughput %.2f/s, want at least 90%% of 5/s", rate)
	}
	t.Logf("drained %d at limit 5 in %v (first to last send %v, %.2f/s), peak window %d", n, took.Round(time.Millisecond), span.Round(time.Millisecond), rate, peak)
	if d := s.queueDepth(t, s.queueURL); d != 0 {
		t.Errorf("queue depth %d after drain, want 0", d)
	}
}

func TestDrainTwoInstancesShareTheLimit(t *testing.T) {
	s := newStack(t, "SMS_RATE_LIMIT", "5")
	const n = 20
	for i := range n {
		s.enqueueRaw(t, producerMessage(fmt.Sprintf("two-%d", i), "+14155552671", fmt.Sprintf("two %d", i)))
	}
	runUntil(t, 20*time.Second, func() bool { return len(s.twilio.Accepted()) >= n }, s.poller(t), s.poller(t))
	if got := len(s.twilio.Accepted()); got != n {
		t.Fatalf("delivered %d, want %d", got, n)
	}
	if peak := maxInWindow(arrivals(s.twilio), time.Second); peak > 5 {
		t.Errorf("peak %d calls in a 1-s window across two instances, want at most 5", peak)
	}
}

func TestDrainFailures(t *testing.T) {
	s := newStack(t, "SMS_RATE_LIMIT", "20")
	ctx := context.Background()

	// A transient failure is retried and then sent exactly once.
	failedOnce := false
	s.twilio.FailWhen(func(r providertest.Request) bool {
		if r.Params.Get("Body") != "transient" || failedOnce {
			return false
		}
		failedOnce = true
		return true
	}, providertest.Fault{Status: 503})
	s.enqueueRaw(t, producerMessage("f-transient", "+14155552671", "transient"))
	// A permanent rejection is not retried.
	s.twilio.FailWhen(func(r providertest.Request) bool { return r.Params.Get("Body") == "rejected" }, providertest.Fault{Code: 21610})
	s.enqueueRaw(t, producerMessage("f-rejected", "+14155552671", "rejected"))
	// Poison goes to the DLQ with its reason.
	s.enqueueRaw(t, `{"to":"+14155552671","body":`)
	s.enqueueRaw(t, `{"to":14155552671,"body":"x"}`)
	// An SNS-wrapped record is sent.
	inner := producerMessage("f-sns", "+14155552671", "via sns")
	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "2f8a2f5e-0000-4000-8000-000000000001", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": inner})
	s.enqueueRaw(t, string(sns))
	// A record that was already sent is skipped when redelivered.
	s.enqueueRaw(t, producerMessage("f-dup", "+14155552671", "dup"))
	s.enqueueRaw(t, producerMessage("f-dup", "+14155552671", "dup"))

	p := s.poller(t)
	runUntil(t, 20*time.Second, func() bool {
		a := acceptedBy(s.twilio)
		return a["transient"] == 1 && a["via sns"] == 1 && a["dup"] == 1 && s.queueDepth(t, s.queueURL) == 0
	}, p)
	got := acceptedBy(s.twilio)
	for body, want := range map[string]int{"transient": 1, "via sns": 1, "dup": 1, "rejected": 0} {
		if got[body] != want {
			t.Errorf("%q delivered %d times, want %d", body, got[body], want)
		}
	}
	rejectedCalls, transientCalls := 0, 0
	for _, r := range s.twilio.Requests() {
		switch r.Params.Get("Body") {
		case "rejected":
			rejectedCalls++
		case "transient":
			transientCalls++
		}
	}
	if rejectedCalls != 1 {
		t.Errorf("rejected message sent %d times, want 1 (never retried)", rejectedCalls)
	}
	if transientCalls < 2 {
		t.Errorf("transient message tried %d times, want a retry", transientCalls)
	}
	if d := s.queueDepth(t, s.queueURL); d != 0 {
		t.Errorf("queue depth %d, want 0", d)
	}
	out, err := s.moto.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.dlqURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, m := range out.Messages {
		reasons[aws.ToString(m.MessageAttributes[queue.PoisonReasonAttribute].StringValue)] = true
	}
	for _, want := range []string{"invalid_json", "wrong_type:to"} {
		if !reasons[want] {
			t.Errorf("DLQ reasons %v lack %q", reasons, want)
		}
	}
	s.assertLogsClean(t, "via sns")
}

func TestDrainLapsedClaimIsSent(t *testing.T) {
	s := newStack(t)
	// A worker claimed the id and died before sending: its lease lapses.
	ledger := dynamo.NewLedger(s.moto.DynamoDB(), s.env["SMS_TABLE_NAME"], dynamo.LedgerConfig{})
	// The drain applies the default sender before claiming.
	m := sms.Message{ID: "crashed-1", To: "+14155552671", Body: "after crash", From: providertest.TwilioFrom}
	key := "msg#" + m.ID
	if c, err := ledger.Claim(context.Background(), key, claimFingerprint(t, m), 2*time.Second); err != nil || c.State != sms.Claimed {
		t.Fatalf("pre-claim: %+v, %v", c, err)
	}
	s.enqueueRaw(t, producerMessage(m.ID, m.To, m.Body))
	runUntil(t, 15*time.Second, func() bool { return len(s.twilio.Accepted()) == 1 }, s.poller(t))
	if got := acceptedBy(s.twilio)["after crash"]; got != 1 {
		t.Errorf("delivered %d times, want 1 once the lease lapsed", got)
	}
}

func TestDrainAccountErrorsKeepTheBacklog(t *testing.T) {
	s := newStack(t)
	// Wrong credentials in the secret: the provider refuses every send.
	bad, _ := json.Marshal(map[string]string{"accountSid": providertest.TwilioAccountSID, "authToken": "0000000000000000000000000000dead", "jwtSecret": testJWTSecret})
	if _, err := s.moto.SecretsManager().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.env["SMS_SECRET_ID"]), SecretString: aws.String(string(bad))}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.enqueueRaw(t, producerMessage(fmt.Sprintf("acct-%d", i), "+14155552671", fmt.Sprintf("acct %d", i)))
	}
	runUntil(t, 3*time.Second, func() bool { return false }, s.poller(t))
	if got := len(s.twilio.Accepted()); got != 0 {
		t.Fatalf("accepted %d with bad credentials", got)
	}
	if got := s.queueDepth(t, s.queueURL); got != 3 {
		t.Fatalf("queue depth %d, want the 3 records kept", got)
	}
	if dlq := s.queueDepth(t, s.dlqURL); dlq != 0 {
		t.Errorf("DLQ depth %d, want 0", dlq)
	}
	// The operator fixes the secret; a new instance (cold start) drains it.
	good, _ := json.Marshal(map[string]string{"accountSid": providertest.TwilioAccountSID, "authToken": providertest.TwilioAuthToken, "jwtSecret": testJWTSecret})
	if _, err := s.moto.SecretsManager().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.env["SMS_SECRET_ID"]), SecretString: aws.String(string(good))}); err != nil {
		t.Fatal(err)
	}
	runUntil(t, 15*time.Second, func() bool { return len(s.twilio.Accepted()) == 3 }, s.poller(t))
	if got := len(s.twilio.Accepted()); got != 3 {
		t.Errorf("accepted %d after the fix, want 3", got)
	}
	if !jsonLogHas(s.logs.String(), "event", "provider_account_error") {
		t.Error("no provider_account_error event logged (the alarm's metric filter needs it)")
	}
	s.assertLogsClean(t, "0000000000000000000000000000dead")
}
