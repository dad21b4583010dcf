package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/local/esm"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// The shape of the failover run (docs/chaos.md#failover).
const (
	// failoverMinMessages is the least N of the failover run: with fewer,
	// too few messages are sent after every instance's breaker has opened
	// to measure how many avoided the down provider.
	failoverMinMessages = 300
	// primaryRecoveredFaultRate is the share of the primary's answers that
	// are 503 once it is back.
	primaryRecoveredFaultRate = 0.30
	// secondaryFaultRate is the share of the secondary's requests that
	// fail, in three equal parts: 503, throttled (Vonage status 1), and
	// dropped after accepting the message (the ambiguous fault).
	secondaryFaultRate = 0.06
	// minSkipShare is the least share of the messages sent while the
	// primary is down, after every breaker has opened and probes left
	// out, that must go without a call to it.
	minSkipShare = 0.95
)

// TestChaosFailover runs SMS_PROVIDER=twilio,vonage through the send
// function and the drain while Twilio, the primary, is down (every answer
// 503) for the first third of the messages and then answers 30 % of its
// calls with 503; Vonage fails a few calls, some of them ambiguously. It
// checks what TestChaos checks — nothing lost, no duplicate outside the
// ambiguous class, every answer 200, 202 or 503 — with each provider's
// 1-second windows under SMS_RATE_LIMIT, and that once every instance's
// breaker had opened, at least 95 % of the messages sent while Twilio was
// down (probes left out) went without a call to it.
func TestChaosFailover(t *testing.T) {
	n := max(envInt(t, "CHAOS_N", defaultMessages), failoverMinMessages)
	seed := uint64(envInt(t, "CHAOS_SEED", 20261)) + 100
	d := deploy(t, mototest.Start(t), failoverProviders, "SMS_RATE_LIMIT", strconv.Itoa(rateLimit), "SMS_RATE_MARGIN", rateMargin)
	primary, secondary := d.twilio, d.vonage
	primary.FailWhen(func(providertest.Request) bool { return true }, providertest.Fault{Status: http.StatusServiceUnavailable})
	secondary.SetPlan(providertest.Plan{Seed: seed, Rate: secondaryFaultRate, Faults: []providertest.Fault{
		{Status: http.StatusServiceUnavailable}, {Code: 1}, {Drop: providertest.DropAfterAccept},
	}})
	token := signToken(t, jwtSecret, nil)

	// Cold starts first, each instance logging under its own name.
	var instances []string
	senders := make([]*apigw.Handler, sendConcurrency)
	for i := range senders {
		name := fmt.Sprintf("send-%d", i)
		f := d.instance(t, config.ModeSend, name)
		senders[i] = apigw.NewHandler(f.Auth, app.NewSender(f.Config, f.Parts), f.Parts.Log, apigw.LogCallers(f.Callers))
		instances = append(instances, name)
	}
	pollers := make([]*esm.Poller, drainInstances)
	for i := range pollers {
		name := fmt.Sprintf("drain-%d", i)
		pollers[i] = d.instancePoller(t, name)
		instances = append(instances, name)
	}

	start := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	var drains sync.WaitGroup
	for _, p := range pollers {
		drains.Go(func() { p.Run(ctx) })
	}
	answers := make([]answer, n)
	var answered atomic.Int64
	jobs := make(chan int)
	var sends sync.WaitGroup
	for _, h := range senders {
		sends.Go(func() {
			for i := range jobs {
				answers[i] = sendOne(h, token, i)
				answered.Add(1)
			}
		})
	}
	// The primary is down for the first third of the run — until a third
	// of the messages have been both answered and delivered, whichever
	// comes later — then back, answering 30 % of its calls with 503.
	recoveredCh := make(chan time.Time, 1)
	go func() {
		for (answered.Load() < int64(n/3) || len(primary.Accepted())+len(secondary.Accepted()) < n/3) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		primary.ClearFaults()
		primary.SetPlan(providertest.Plan{Seed: seed + 1, Rate: primaryRecoveredFaultRate, Faults: []providertest.Fault{
			{Status: http.StatusServiceUnavailable},
		}})
		recoveredCh <- time.Now()
	}()
	for i := range n {
		jobs <- i
	}
	close(jobs)
	sends.Wait()
	sendTook := time.Since(start)
	deadline := start.Add(90*time.Second + time.Duration(n)*100*time.Millisecond)
	queueLeft := 0
	for empty := 0; empty < 2 && time.Now().Before(deadline); {
		if queueLeft = d.depth(t, d.queueURL); queueLeft == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop()
	drains.Wait()
	total := time.Since(start)
	recovered := <-recoveredCh

	// What became of each message, over both providers.
	delivered, ambiguous := map[string]int{}, map[string]int{}
	var sent []chaos.Delivery
	firstSent := map[string]time.Time{}
	for _, pf := range []struct {
		accepted []providertest.Accepted
		requests []providertest.Request
		body     string
	}{
		{primary.Accepted(), primary.Requests(), "Body"},
		{secondary.Accepted(), secondary.Requests(), "text"},
	} {
		for _, a := range pf.accepted {
			delivered[a.Body]++
			if t0, ok := firstSent[a.Body]; !ok || a.At.Before(t0) {
				firstSent[a.Body] = a.At
			}
		}
		for _, q := range pf.requests {
			if q.Fault != nil && q.Fault.Drop == providertest.DropAfterAccept {
				ambiguous[q.Params.Get(pf.body)]++
			}
		}
	}
	for body, at := range firstSent {
		sent = append(sent, chaos.Delivery{Body: body, At: at})
	}
	fates := make(map[string]chaos.Fate, n)
	var badAnswers []string
	records := d.records(t)
	for i, a := range answers {
		body := chaosBody(i)
		f := chaos.Fate{Status: a.status, Deliveries: delivered[body], Ambiguous: ambiguous[body]}
		if f.Accepted() {
			f.Record, f.RecordCode, f.RecordWriteFailed = records.of(t, a.id)
		}
		fates[body] = f
		if a.problem != "" && len(badAnswers) < 10 {
			badAnswers = append(badAnswers, fmt.Sprintf("message %d: %s", i, a.problem))
		}
	}
	report := chaos.Summarize(fates, http.StatusOK, http.StatusAccepted, http.StatusServiceUnavailable)

	// How well the breakers kept calls away from the primary while it was
	// down.
	logs := d.logs.Bytes()
	var downCalls []chaos.Delivery
	var primaryAt, secondaryAt []time.Time
	for _, q := range primary.Requests() {
		downCalls = append(downCalls, chaos.Delivery{Body: q.Params.Get("Body"), At: q.At})
		primaryAt = append(primaryAt, q.At)
	}
	for _, q := range secondary.Requests() {
		secondaryAt = append(secondaryAt, q.At)
	}
	opened := chaos.FirstPerInstance(chaos.Events(logs, sms.EventCircuitOpen, config.ProviderTwilio))
	skips, skipErr := chaos.Skips(instances, opened, recovered, sent, downCalls, chaos.Events(logs, sms.EventCircuitProbe, config.ProviderTwilio))
	peakP, peakS := conformance.MaxInWindow(primaryAt, time.Second), conformance.MaxInWindow(secondaryAt, time.Second)

	byProvider := map[string]int{}
	for _, a := range answers {
		if a.provider != "" {
			byProvider[a.provider]++
		}
	}
	t.Logf("failover, N=%d, seed %d: primary down until %d messages were answered and delivered (%v), then %.0f %% of its answers 503; sends %v, drained after %v\n%s",
		n, seed, n/3, recovered.Sub(start).Round(time.Millisecond), 100*primaryRecoveredFaultRate, sendTook.Round(time.Millisecond), total.Round(time.Millisecond), report)
	t.Logf("answered 200 by provider: %v; deliveries: twilio %d, vonage %d", byProvider, len(primary.Accepted()), len(secondary.Accepted()))
	t.Logf("twilio: %d requests %v, peak %d in 1 s; vonage: %d requests %v, peak %d in 1 s (limit %d each)",
		len(primaryAt), requestOutcomes(primary.Requests()), peakP, len(secondaryAt), requestOutcomes(secondary.Requests()), peakS, rateLimit)
	t.Logf("log events: provider_failover %d, circuit_open %d, circuit_probe %d, circuit_closed %d, ambiguous_send %d; every instance's breaker open %v after the start",
		countEvent(logs, sms.EventProviderFailover), countEvent(logs, sms.EventCircuitOpen), countEvent(logs, sms.EventCircuitProbe),
		countEvent(logs, sms.EventCircuitClosed), countEvent(logs, "ambiguous_send"), skips.From.Sub(start).Round(time.Millisecond))
	t.Logf("while twilio was down: %s", skips)

	if report.Lost != 0 {
		t.Errorf("lost = %d, want 0", report.Lost)
	}
	if report.DuplicatedOther != 0 {
		t.Errorf("duplicated without an ambiguous provider answer = %d, want 0", report.DuplicatedOther)
	}
	if report.Unexpected != 0 || report.RefusedDeliveredOther != 0 {
		t.Errorf("answers outside 200/202/503 = %d, refused yet delivered = %d; want 0 and 0", report.Unexpected, report.RefusedDeliveredOther)
	}
	if !report.OK() {
		t.Errorf("offenders:\n%s", strings.Join(report.Offenders, "\n"))
	}
	for _, p := range badAnswers {
		t.Errorf("answer: %s", p)
	}
	for body := range delivered {
		if _, ok := fates[body]; !ok {
			t.Errorf("a provider delivered a message nobody sent")
		}
	}
	if queueLeft != 0 {
		t.Errorf("queue still holds %d messages after %v, want 0", queueLeft, total)
	}
	if dl := d.deadLetters(t, d.dlqURL); len(dl) != 0 {
		t.Errorf("dead-letter queue holds %d messages, want 0", len(dl))
	}
	if peakP > rateLimit || peakS > rateLimit {
		t.Errorf("peak requests in a 1 s window: twilio %d, vonage %d; want each at most SMS_RATE_LIMIT = %d", peakP, peakS, rateLimit)
	}
	if skipErr != nil {
		t.Errorf("breakers: %v", skipErr)
	} else if skips.Messages-skips.Probes < 20 || skips.Share() < minSkipShare {
		t.Errorf("while twilio was down, after every breaker had opened: %s; want at least 20 messages, %.0f %% of them without a call", skips, 100*minSkipShare)
	}
	if byProvider[config.ProviderVonage] == 0 {
		t.Errorf("answers by provider %v: want messages sent by vonage", byProvider)
	}
	// Once back, the primary is probed when a breaker's cool-down has
	// passed, and used again when the probe succeeds.
	if back := total - recovered.Sub(start); back > sms.DefaultBreakerCoolDown+10*time.Second && len(primary.Accepted()) == 0 {
		t.Errorf("twilio delivered nothing in the %v it was back", back.Round(time.Second))
	}
	t.Run("log audit", func(t *testing.T) {
		d.auditLogs(t, chaos.Secret{Name: "message body", Value: bodyMarker}, chaos.Secret{Name: "bearer token", Value: token})
	})
}

// instance cold-starts one function instance whose log lines carry
// instance=name.
func (d *deployment) instance(t *testing.T, mode config.Mode, name string) *app.Service {
	t.Helper()
	f, err := app.LoadAWS(context.Background(), d.getenv, mode, logging.New(d.logs, -4, slog.String("instance", name)))
	if err != nil {
		t.Fatalf("cold start of %s: %v", name, err)
	}
	return f
}

// instancePoller is d.poller with a drain instance named name.
func (d *deployment) instancePoller(t *testing.T, name string) *esm.Poller {
	t.Helper()
	f := d.instance(t, config.ModeDrain, name)
	h := app.NewDrainHandler(f.Config, f.Parts, f.Queue, f.DLQ, drain.Config{
		SendBudget: drainSendBudget, BackoffBase: time.Second, BackoffMax: 8 * time.Second,
	})
	src := esm.NewSQSSource(d.moto.SQS(), d.queueURL, esm.SQSSourceConfig{ARN: "arn:aws:sqs:" + mototest.Region + ":123456789012:chaos", Region: mototest.Region, WaitSeconds: 1})
	return esm.New(src, h.Handle, esm.Config{BatchSize: 10, MaxConcurrency: 2, Timeout: drainTimeout}, f.Parts.Log)
}

// requestOutcomes counts a fake's requests by the fault they met.
func requestOutcomes(reqs []providertest.Request) map[string]int {
	out := map[string]int{}
	for _, q := range reqs {
		switch f := q.Fault; {
		case f == nil:
			out["ok"]++
		case f.Drop == providertest.DropAfterAccept:
			out["dropped after accepting"]++
		case f.Code == 1:
			out["status 1"]++
		default:
			out[strconv.Itoa(f.Status)]++
		}
	}
	return out
}

// countEvent counts the log lines with event.
func countEvent(logs []byte, event string) int {
	return bytes.Count(logs, []byte(`"event":"`+event+`"`))
}
