package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// TestOptOutsAndTheSuppressionList follows a number that opts out through
// the deployment, against moto and the Twilio fake: Twilio refuses the
// first message with 21610 (422 provider_rejected), which puts the number
// on the suppression list; the next message is refused without a call
// (422 recipient_opted_out), and so is a producer's (acknowledged, not
// dead-lettered); an operator takes the number off the list (204, then
// 404), and messages reach Twilio again.
func TestOptOutsAndTheSuppressionList(t *testing.T) {
	const optedOut = "+14155550177"
	s := newStack(t, "SMS_RECIPIENT_LIMIT", "5/10m")
	s.twilio.FailWhen(func(r providertest.Request) bool { return r.Params.Get("To") == optedOut }, providertest.Fault{Code: 21610})
	f := s.function(t, config.ModeSend)
	h := apigw.NewHandler(f.Auth, app.NewSender(f.Config, f.Parts), f.Parts.Log, apigw.LogCallers(f.Callers),
		apigw.Suppressions(f.Parts.Quota, f.Config.JWTAdminScope))
	msg := func(n int) string { return fmt.Sprintf(`{"to":%q,"body":"Your code is %06d"}`, optedOut, n) }
	calls := func() int {
		n := 0
		for _, r := range s.twilio.Requests() {
			if r.Params.Get("To") == optedOut {
				n++
			}
		}
		return n
	}

	a := post(t, h, msg(1))
	if a.status != 422 || errCode(a) != "provider_rejected" {
		t.Fatalf("first message: %d %s, want 422 provider_rejected", a.status, a.raw)
	}
	a = post(t, h, msg(2), "Idempotency-Key", "opt-2")
	if a.status != 422 || errCode(a) != sms.CodeRecipientOptedOut || calls() != 1 {
		t.Fatalf("second message: %d %s after %d calls, want 422 %s and no second call", a.status, a.raw, calls(), sms.CodeRecipientOptedOut)
	}
	if again := post(t, h, msg(2), "Idempotency-Key", "opt-2"); again.raw != a.raw {
		t.Errorf("replay = %s, want the first answer %s", again.raw, a.raw)
	}

	// A producer's message to the number: acknowledged, recorded as
	// failed in the ledger, not dead-lettered, not sent.
	dh := s.drainHandler(t)
	ev := events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "00000000-0000-4000-8000-000000000177", Body: producerMessage("producer-177", optedOut, "hello"),
		Attributes:     map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": fmt.Sprint(time.Now().UnixMilli())},
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:q",
	}}}
	resp, err := dh.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("drain: %v, failures %v", err, resp.BatchItemFailures)
	}
	if n := s.queueDepth(t, s.dlqURL); n != 0 || calls() != 1 {
		t.Errorf("after the drain: %d dead letters, %d calls; want none and 1", n, calls())
	}

	del := func(token string) answer {
		t.Helper()
		r := apigw.Request{Method: http.MethodDelete, Path: "/messaging/sms/suppressions/%2B" + optedOut[1:], Headers: http.Header{}}
		r.Headers.Set("Authorization", "Bearer "+token)
		out := h.Serve(context.Background(), r)
		return answer{status: out.Status, raw: string(out.Body)}
	}
	if a := del(token(t, nil)); a.status != 403 {
		t.Errorf("DELETE without the admin scope: %d %s, want 403", a.status, a.raw)
	}
	admin := token(t, map[string]any{"scope": "sms:admin"})
	if a := del(admin); a.status != 204 {
		t.Fatalf("DELETE: %d %s, want 204", a.status, a.raw)
	}
	if a := del(admin); a.status != 404 {
		t.Errorf("DELETE again: %d %s, want 404", a.status, a.raw)
	}
	if a := post(t, h, msg(3)); a.status != 422 || errCode(a) != "provider_rejected" || calls() != 2 {
		t.Errorf("after the number left the list: %d %s with %d calls, want 422 provider_rejected from a second call", a.status, a.raw, calls())
	}
	s.assertLogsClean(t, optedOut)
}

// TestRecipientLimitAcrossThePaths: the send path counts a message when
// it queues it, and the drain, which counts every message it takes,
// recognises it: the number's fifth message is queued and sent, its
// sixth refused, and no queued message is dead-lettered for the limit.
func TestRecipientLimitAcrossThePaths(t *testing.T) {
	s := newStack(t, "SMS_RECIPIENT_LIMIT", "5/10m", "SMS_RATE_LIMIT", "1000", "SMS_RATE_MARGIN", "0.45")
	h := s.sendHandler(t)
	const to = "+14155550178"
	for i := range 6 {
		if i == 1 {
			// Twilio turns the next four away: they are queued.
			s.twilio.FailNext(4, providertest.Fault{Status: 503})
		}
		a := post(t, h, fmt.Sprintf(`{"to":%q,"body":"n%d"}`, to, i))
		switch {
		case i == 0 && a.status != 200, i > 0 && i < 5 && a.status != 202:
			t.Fatalf("message %d: %d %s, want sent then queued", i+1, a.status, a.raw)
		case i == 5 && (a.status != 429 || errCode(a) != sms.CodeQuotaExceeded):
			t.Fatalf("sixth message: %d %s, want 429 %s", a.status, a.raw, sms.CodeQuotaExceeded)
		case i == 5 && (a.header["Retry-After"] == "" || a.header["Retry-After"] == "0"):
			t.Errorf("sixth message: Retry-After %q, want the seconds to the window's end", a.header["Retry-After"])
		}
	}
	p := s.poller(t)
	runUntil(t, 30*time.Second, func() bool { return len(s.twilio.Accepted()) == 5 }, p)
	if got := len(s.twilio.Accepted()); got != 5 {
		t.Errorf("provider accepted %d, want 5", got)
	}
	if n := s.queueDepth(t, s.dlqURL); n != 0 {
		t.Errorf("%d dead letters, want none: the drain counted again messages the send path had counted", n)
	}
}

// errCode is the error code of an answer.
func errCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestQuotaMetrics reads the metrics the quotas leave (metrics.Wrap, as
// functions/send runs the handler): the refusals by code and the share of
// the daily budget used, which DailyBudgetAlarm watches.
func TestQuotaMetrics(t *testing.T) {
	// At most 500 a second: one limiter shard, which holds the whole budget
	// (with several, each reports its own part's share).
	s := newStack(t, "SMS_RECIPIENT_LIMIT", "1/10m", "SMS_DAILY_SEGMENT_LIMIT", "4", "SMS_RATE_LIMIT", "400", "SMS_RATE_MARGIN", "0.45")
	h := s.sendHandler(t)
	const fn = "stack-SendFunction-quota"
	steps := []struct {
		body       string
		wantStatus int
		want       map[string]float64
	}{
		{`{"to":"+14155550181","body":"one"}`, 200, map[string]float64{"DailyBudgetUsedPercent{Function=" + fn + "}": 25}},
		{`{"to":"+14155550181","body":"two"}`, 429, map[string]float64{"Refusals{Function=" + fn + ",Outcome=quota_exceeded}": 1}},
		{`{"to":"+14155550182","body":"` + strings.Repeat("a", 300) + `"}`, 200, map[string]float64{"DailyBudgetUsedPercent{Function=" + fn + "}": 75}},
		{`{"to":"+14155550183","body":"` + strings.Repeat("a", 300) + `"}`, 429, map[string]float64{"Refusals{Function=" + fn + ",Outcome=daily_budget}": 1}},
	}
	for i, st := range steps {
		var out bytes.Buffer
		invoke := metrics.Wrap(&out, fn, func(ctx context.Context, r apigw.Request) (apigw.Response, error) { return h.Serve(ctx, r), nil })
		r := apigw.Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: http.Header{}, Body: []byte(st.body)}
		r.Headers.Set("Content-Type", "application/json")
		r.Headers.Set("Authorization", "Bearer "+token(t, nil))
		resp, _ := invoke(context.Background(), r)
		if resp.Status != st.wantStatus {
			t.Fatalf("step %d: status %d %s, want %d", i+1, resp.Status, resp.Body, st.wantStatus)
		}
		got := emfPoints(t, out.String())
		for k, want := range st.want {
			if got[k] != want {
				t.Errorf("step %d: %s = %v, want %v; have\n  %s", i+1, k, got[k], want, pointNames(got))
			}
		}
	}
}
