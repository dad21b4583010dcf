package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/local/esm"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/testing/tlsproxy"
)

// The shape of a chaos run (docs/chaos.md).
const (
	// defaultMessages is N when CHAOS_N is unset: the quick run of
	// `make test` and CI. `make chaos` runs 2,000.
	defaultMessages = 150
	// providerFaultRate is the share of provider requests that fail, in
	// six equal parts: three of 503 (15 %), one of 429 — Vonage: status 1,
	// throttled — (5 %), one dropped before the provider processed the
	// request (5 %), one dropped after it accepted the message (5 %).
	providerFaultRate = 0.30
	// dynamoFaultRate is the share of DynamoDB requests answered 500.
	dynamoFaultRate = 0.10
	// sqsSendFaultRate is the share of SQS SendMessage requests answered
	// 500 without reaching the queue.
	sqsSendFaultRate = 0.10
	// slowConnShare is the share of new provider connections that open
	// slowConnDelay late (held back by a TLS proxy in front of the fake):
	// far past the margin, so a call on one must not go out on its slot.
	slowConnShare = 0.20
	slowConnDelay = 1500 * time.Millisecond
	// idleClose is how long a provider connection may stay idle before the
	// proxy closes it, as servers close keep-alive connections.
	idleClose = time.Second
	// sendConcurrency is how many send requests are in flight at once,
	// each on its own send function instance, as Lambda runs them.
	sendConcurrency = 8
	// drainInstances is how many drain function instances the event
	// source mapping feeds, each with two concurrent invocations.
	drainInstances = 1
	// rateLimit is SMS_RATE_LIMIT: low enough that the limiter binds at the
	// run's peaks (unbounded, the functions reach about 60 requests a
	// second), so that the check of every 1-second window means something,
	// and high enough that the faults decide most of what gets queued.
	rateLimit = 40
	// rateMargin is SMS_RATE_MARGIN. moto behind the serialising proxy
	// answers tens of milliseconds slower than DynamoDB, and the limiter
	// refuses a slot whose answer arrives more than half the margin late;
	// the largest margin allowed keeps that from deciding the run.
	rateMargin = "0.4"
	// idempotentEvery: every so many requests carry an Idempotency-Key.
	idempotentEvery = 4
	// bodyMarker is in every message body: the log audit looks for it.
	bodyMarker = "chaos code"
	// poisonMessages producers' messages with an invalid number go on the
	// queue at the start: the drain dead-letters them, and their status
	// records must say so.
	poisonMessages = 5
)

// scenario is one configuration of the chaos test.
type scenario struct {
	name     string
	provider string
	// ddbFault is how a DynamoDB fault happens: FailBefore (the write never
	// happened) or FailAfter (it happened; the caller gets a 500).
	ddbFault mototest.Fault
	// always: the scenario runs by default; the others only with
	// CHAOS_SCENARIOS=all. The default pair covers both providers and
	// both DynamoDB modes.
	always bool
}

var scenarios = []scenario{
	{"twilio/dynamodb-fails-before-write", "twilio", mototest.FailBefore, true},
	{"vonage/dynamodb-fails-after-write", "vonage", mototest.FailAfter, true},
	{"vonage/dynamodb-fails-before-write", "vonage", mototest.FailBefore, false},
	{"twilio/dynamodb-fails-after-write", "twilio", mototest.FailAfter, false},
}

// TestChaos sends CHAOS_N messages (default 150) in each scenario through
// the send function and the drain while faults are injected, and checks
// that every accepted message is delivered exactly once — except for the
// extra deliveries that a provider accepting a message and dropping the
// connection before its answer explains — that none is lost, and that
// every answer is 200, 202 or 503. It ends with a log audit. The scenarios
// run in parallel, each on its own moto server: moto's single-threaded
// Python is what bounds the pace.
func TestChaos(t *testing.T) {
	n := envInt(t, "CHAOS_N", defaultMessages)
	seed := uint64(envInt(t, "CHAOS_SEED", 20261))
	all := os.Getenv("CHAOS_SCENARIOS") == "all"
	for i, sc := range scenarios {
		if !sc.always && !all {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			run := runChaos(t, sc, n, seed+uint64(i))
			t.Logf("%s, N=%d, seed %d: sends %v, drained after %v\n%s\n%s",
				sc.name, n, seed+uint64(i), run.sendTook.Round(time.Millisecond), run.total.Round(time.Millisecond), run.report, run.faults())
			r := run.report
			if r.Lost != 0 {
				t.Errorf("lost = %d, want 0", r.Lost)
			}
			if r.DuplicatedOther != 0 {
				t.Errorf("duplicated without an ambiguous provider answer = %d, want 0", r.DuplicatedOther)
			}
			if r.Unexpected != 0 {
				t.Errorf("answers outside 200/202/502/503 = %d, want 0", r.Unexpected)
			}
			if c := r.Statuses[http.StatusConflict]; c != 0 {
				t.Errorf("%d requests answered 409 although no other request held their Idempotency-Key: the request's own claim "+
					"was written, its answer lost, and the SDK's retry took it for another's (TestIdempotencyKeyAfterLostClaimAnswer "+
					"reproduces it alone)", c)
			}
			if r.RefusedDeliveredOther != 0 {
				t.Errorf("answered 503 yet delivered (no ambiguous provider answer) = %d, want 0", r.RefusedDeliveredOther)
			}
			if !r.OK() {
				t.Errorf("offenders:\n%s", strings.Join(r.Offenders, "\n"))
			}
			for _, p := range run.badAnswers {
				t.Errorf("answer: %s", p)
			}
			if got := len(run.deadLetters) - run.poisonDead; got != 0 {
				t.Errorf("dead-letter queue holds %d messages besides the %d poison ones, want 0", got, run.poisonDead)
				for _, dl := range run.deadLetters {
					if strings.HasPrefix(dl.id, poisonPrefix) {
						continue
					}
					t.Errorf("dead-lettered (%s): message id %s, delivered %d times; its history: %s",
						dl.reason, dl.id, run.delivered[dl.text], strings.Join(run.history(dl.id), " | "))
				}
			}
			if run.poisonDead != poisonMessages {
				t.Errorf("dead-lettered poison messages = %d, want %d", run.poisonDead, poisonMessages)
			}
			if r.RecordsWrong != 0 {
				t.Errorf("status records wrong = %d of %d, want 0", r.RecordsWrong, r.Records)
			}
			for _, line := range run.lostHistories(5) {
				t.Errorf("lost: %s", line)
			}
			if run.queueLeft != 0 {
				t.Errorf("queue still holds %d messages after %v, want 0", run.queueLeft, run.total)
			}
			if run.peak > rateLimit {
				t.Errorf("the provider received %d requests in a 1 s window, want at most SMS_RATE_LIMIT = %d", run.peak, rateLimit)
			}
			run.checkFaultsHappened(t, n)
			t.Run("log audit", func(t *testing.T) {
				run.d.auditLogs(t, chaos.Secret{Name: "message body", Value: bodyMarker}, chaos.Secret{Name: "bearer token", Value: run.token})
			})
		})
	}
}

// run is what one scenario produced.
type run struct {
	d           *deployment
	token       string
	report      chaos.Report
	badAnswers  []string
	sendTook    time.Duration
	total       time.Duration
	queueLeft   int
	deadLetters []deadLetter
	answers     []answer
	provider    []providertest.Request
	ddbFaults   *randomFaults
	sqsFaults   *randomFaults
	ddbOps      map[string]int
	sqsOps      map[string]int
	ambiguous   int            // ambiguous_send log events
	delivered   map[string]int // deliveries by body
	poisonDead  int            // poison messages found on the DLQ
	peak        int            // most provider requests in any 1-s window
	slow        tlsproxy.Stats // the provider connections
	notReady    int            // connection_not_ready log events
}

// poisonPrefix starts the ids of the producers' poison messages.
const poisonPrefix = "chaos-poison-"

// poisonBody is the text of poison message i.
func poisonBody(i int) string { return fmt.Sprintf("Your %s poison %d", bodyMarker, i) }

// lostHistories describes up to max accepted messages that were never
// delivered: the retries the drain logged for each and whether it ended
// on the dead-letter queue.
// history lists what the logs say happened to the queue message id.
func (r *run) history(id string) []string {
	var out []string
	for _, line := range bytes.Split(r.d.logs.Bytes(), []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil || rec["messageId"] != id {
			continue
		}
		out = append(out, fmt.Sprintf("%v %v %v %v", rec["time"], rec["msg"], rec["kind"], rec["error"]))
	}
	return out
}

func (r *run) lostHistories(max int) []string {
	retries := map[string][]string{}
	for _, line := range bytes.Split(r.d.logs.Bytes(), []byte("\n")) {
		var rec struct {
			Msg       string `json:"msg"`
			MessageID string `json:"messageId"`
			Kind      string `json:"kind"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "record will be retried" {
			retries[rec.MessageID] = append(retries[rec.MessageID], rec.Kind)
		}
	}
	dead := map[string]string{}
	for _, dl := range r.deadLetters {
		dead[dl.text] = dl.reason
	}
	var out []string
	for i, a := range r.answers {
		body := chaosBody(i)
		if (a.status != http.StatusOK && a.status != http.StatusAccepted) || r.delivered[body] > 0 {
			continue
		}
		if len(out) == max {
			out = append(out, "...")
			break
		}
		where := "not on the dead-letter queue"
		if reason, ok := dead[body]; ok {
			where = "dead-lettered (" + reason + ")"
		}
		out = append(out, fmt.Sprintf("message %d, answered %d as %s: retried %d times (%s), %s",
			i, a.status, a.id, len(retries[a.id]), strings.Join(retries[a.id], ", "), where))
	}
	return out
}

// fake is what the test needs of either provider fake.
type fake interface {
	SetPlan(providertest.Plan)
	Requests() []providertest.Request
	Accepted() []providertest.Accepted
}

func runChaos(t *testing.T, sc scenario, n int, seed uint64) *run {
	t.Helper()
	d := deploy(t, mototest.Start(t), sc.provider, "SMS_RATE_LIMIT", strconv.Itoa(rateLimit), "SMS_RATE_MARGIN", rateMargin)
	var (
		pf        fake = d.twilio
		bodyParam      = "Body"
		throttled      = providertest.Fault{Status: http.StatusTooManyRequests}
	)
	if sc.provider == "vonage" {
		pf, bodyParam, throttled = d.vonage, "text", providertest.Fault{Code: 1}
	}
	// The functions reach the fake through a proxy that makes some new
	// connections slow.
	urlVar, fakeURL := "TWILIO_API_URL", d.env["TWILIO_API_URL"]
	if sc.provider == "vonage" {
		urlVar, fakeURL = "VONAGE_API_URL", d.env["VONAGE_API_URL"]
	}
	proxy := tlsproxy.Start(t, strings.TrimPrefix(fakeURL, "http://"), tlsproxy.Config{
		Delay: slowConnDelay, SlowShare: slowConnShare, Seed: seed + 3, CloseIdle: idleClose,
	})
	d.env[urlVar] = proxy.URL()
	unavailable := providertest.Fault{Status: http.StatusServiceUnavailable}
	pf.SetPlan(providertest.Plan{Seed: seed, Rate: providerFaultRate, Faults: []providertest.Fault{
		unavailable, unavailable, unavailable, throttled,
		{Drop: providertest.DropBeforeProcessing}, {Drop: providertest.DropAfterAccept},
	}})
	r := &run{
		d:     d,
		token: signToken(t, jwtSecret, nil),
		ddbFaults: newRandomFaults(seed+1, dynamoFaultRate, sc.ddbFault, func(op string) bool {
			return strings.HasPrefix(op, "DynamoDB_")
		}),
		sqsFaults: newRandomFaults(seed+2, sqsSendFaultRate, mototest.FailBefore, func(op string) bool {
			return op == "AmazonSQS.SendMessage"
		}),
	}
	d.ddb.SetFaults(r.ddbFaults.decide)
	d.sqs.SetFaults(r.sqsFaults.decide)

	// Cold starts first: they read the secret, which no fault touches.
	senders := make([]*apigw.Handler, sendConcurrency)
	for i := range senders {
		senders[i] = d.sendHandler(t)
	}
	pollers := make([]*esm.Poller, drainInstances)
	for i := range pollers {
		pollers[i] = d.poller(t)
	}

	// Producers' poison messages, straight to the queue (no fault: the
	// producer is not under test).
	for i := range poisonMessages {
		body, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("%s%d", poisonPrefix, i), "to": "+1415555", "body": poisonBody(i)})
		if _, err := d.moto.SQS().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(d.queueURL), MessageBody: aws.String(string(body))}); err != nil {
			t.Fatalf("enqueue a poison message: %v", err)
		}
	}

	start := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	var drains sync.WaitGroup
	for _, p := range pollers {
		drains.Add(1)
		go func() { defer drains.Done(); p.Run(ctx) }()
	}

	answers := sendAll(senders, r.token, n)
	r.sendTook = time.Since(start)

	// Drain until the queue stays empty, within a generous bound counted
	// from the last answer (the sends' own pace depends on the machine's
	// load, and the drain works while they run): moto, single-threaded,
	// answers every DynamoDB request of the run (about 7 per message with
	// status records) one at a time.
	deadline := time.Now().Add(90*time.Second + time.Duration(n)*150*time.Millisecond)
	r.queueLeft = d.waitEmpty(t, d.queueURL, deadline)
	stop()
	drains.Wait()
	r.total = time.Since(start)
	d.ddb.SetFaults(nil)
	d.sqs.SetFaults(nil)
	r.deadLetters = d.deadLetters(t, d.dlqURL)
	r.ddbOps, r.sqsOps = d.ddb.Counts(), d.sqs.Counts()
	r.provider = pf.Requests()
	r.slow = proxy.Stats()
	arrivals := make([]time.Time, len(r.provider))
	for i, q := range r.provider {
		arrivals[i] = q.At
	}
	r.peak = conformance.MaxInWindow(arrivals, time.Second)

	delivered := map[string]int{}
	for _, a := range pf.Accepted() {
		delivered[a.Body]++
	}
	ambiguous := map[string]int{}
	for _, q := range r.provider {
		if q.Fault != nil && q.Fault.Drop == providertest.DropAfterAccept {
			ambiguous[q.Params.Get(bodyParam)]++
		}
	}
	dead := map[string]bool{}
	for _, dl := range r.deadLetters {
		dead[dl.text] = true
		if strings.HasPrefix(dl.id, poisonPrefix) {
			r.poisonDead++
		}
	}
	records := d.records(t)
	fates := make(map[string]chaos.Fate, n+poisonMessages)
	for i, a := range answers {
		body := chaosBody(i)
		f := chaos.Fate{Status: a.status, Deliveries: delivered[body], Ambiguous: ambiguous[body], DeadLettered: dead[body]}
		if f.Accepted() || f.Status == http.StatusBadGateway {
			f.Record, f.RecordCode, f.RecordWriteFailed = records.of(t, a.id)
		}
		fates[body] = f
		if a.problem != "" && len(r.badAnswers) < 10 {
			r.badAnswers = append(r.badAnswers, fmt.Sprintf("message %d: %s", i, a.problem))
		}
	}
	for i := range poisonMessages {
		f := chaos.Fate{Poison: true, DeadLettered: dead[poisonBody(i)]}
		f.Record, f.RecordCode, f.RecordWriteFailed = records.of(t, fmt.Sprintf("%s%d", poisonPrefix, i))
		fates[poisonBody(i)] = f
	}
	for body := range delivered {
		if f, ok := fates[body]; !ok || f.Poison {
			r.badAnswers = append(r.badAnswers, "the provider delivered a message nobody sent")
		}
	}
	r.report = chaos.Summarize(fates, http.StatusOK, http.StatusAccepted, http.StatusServiceUnavailable, http.StatusBadGateway)
	r.answers = answers
	r.delivered = delivered
	r.ambiguous = bytes.Count(d.logs.Bytes(), []byte(`"event":"ambiguous_send"`))
	r.notReady = bytes.Count(d.logs.Bytes(), []byte(`"event":"connection_not_ready"`))
	return r
}

// chaosBody is message i's body: unique, so deliveries can be matched.
func chaosBody(i int) string {
	return fmt.Sprintf("Your %s %05d is %06d", bodyMarker, i, (i*7919+104729)%1000000)
}

// answer is what a client made of one answer.
type answer struct {
	status   int
	id       string // messageId
	provider string // the provider a 200 names
	problem  string // what is wrong with the answer's shape, if anything
}

// sendOne posts message i and checks the answer's shape.
func sendOne(h *apigw.Handler, token string, i int) answer {
	body, _ := json.Marshal(map[string]string{"to": recipient, "body": chaosBody(i)})
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+token)
	hdr.Set("Content-Type", "application/json")
	if i%idempotentEvery == 0 {
		hdr.Set("Idempotency-Key", fmt.Sprintf("chaos-%d", i))
	}
	resp := h.Serve(context.Background(), apigw.Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: hdr, Body: body})
	a := answer{status: resp.Status}
	var got struct {
		MessageID string `json:"messageId"`
		Status    string `json:"status"`
		To        string `json:"to"`
		Provider  string `json:"provider"`
		Error     *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		a.problem = fmt.Sprintf("%d with a body that is not JSON: %v", resp.Status, err)
		return a
	}
	a.id, a.provider = got.MessageID, got.Provider
	switch resp.Status {
	case http.StatusOK, http.StatusAccepted:
		want := map[int]string{http.StatusOK: "sent", http.StatusAccepted: "queued"}[resp.Status]
		if got.Status != want || got.MessageID == "" || got.To != recipient {
			a.problem = fmt.Sprintf("%d body %s, want status %q, a messageId and to", resp.Status, resp.Body, want)
		}
		if (resp.Status == http.StatusOK) != (got.Provider != "") {
			a.problem = fmt.Sprintf("%d body %s: want the provider named when sent, and only then", resp.Status, resp.Body)
		}
	case http.StatusServiceUnavailable:
		if got.Error == nil || got.Error.Code != "unavailable" || resp.Headers["Retry-After"] == "" {
			a.problem = fmt.Sprintf("503 body %s headers %v, want error code unavailable and Retry-After", resp.Body, resp.Headers)
		}
	case http.StatusBadGateway:
		// The provider's answer was lost and SQS refused the copy for
		// another try: the outcome is unknown, under a service id.
		if got.Status != "unknown" || got.Error == nil || got.Error.Code != "provider_outcome_unknown" || got.MessageID == "" {
			a.problem = fmt.Sprintf("502 body %s, want status unknown, error code provider_outcome_unknown and a messageId", resp.Body)
		}
	}
	return a
}

// randomFaults decides, for a proxy, which AWS requests fail: each request
// whose operation matches fails with probability rate, the same way every
// time. It counts what it injected.
type randomFaults struct {
	match func(op string) bool
	rate  float64
	fault mototest.Fault

	mu       sync.Mutex
	rng      *rand.Rand
	injected map[string]int
}

func newRandomFaults(seed uint64, rate float64, f mototest.Fault, match func(string) bool) *randomFaults {
	return &randomFaults{match: match, rate: rate, fault: f, rng: rand.New(rand.NewPCG(seed, seed*31+7)), injected: map[string]int{}}
}

func (f *randomFaults) decide(op string) mototest.Fault {
	if !f.match(op) {
		return mototest.Pass
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= f.rate {
		return mototest.Pass
	}
	f.injected[op]++
	return f.fault
}

func (f *randomFaults) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.injected)
}

// providerFaults counts the provider requests by the fault they met.
func (r *run) providerFaults() map[string]int {
	out := map[string]int{}
	for _, q := range r.provider {
		switch f := q.Fault; {
		case f == nil:
			out["none"]++
		case f.Drop == providertest.DropBeforeProcessing:
			out["dropped before processing"]++
		case f.Drop == providertest.DropAfterAccept:
			out["dropped after accepting"]++
		case f.Code == 1:
			out["status 1 (throttled)"]++
		default:
			out[strconv.Itoa(f.Status)]++
		}
	}
	return out
}

// faults renders the faults injected and the requests made.
func (r *run) faults() string {
	var b strings.Builder
	fmt.Fprintf(&b, "provider: %d requests:", len(r.provider))
	pf := r.providerFaults()
	for _, k := range slices.Sorted(maps.Keys(pf)) {
		fmt.Fprintf(&b, " %s×%d", k, pf[k])
	}
	fmt.Fprintf(&b, "; ambiguous_send events logged: %d; peak %d requests in 1 s (limit %d)\n", r.ambiguous, r.peak, rateLimit)
	fmt.Fprintf(&b, "provider connections: %d, %d of them slow (%v), %d closed idle; calls abandoned for a connection not ready in time: %d\n",
		r.slow.Conns, r.slow.Slow, slowConnDelay, r.slow.ClosedIdle, r.notReady)
	sum := func(m map[string]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	ddbInjected := r.ddbFaults.counts()
	fmt.Fprintf(&b, "DynamoDB: %d requests, %d answered 500 (%s):", sum(r.ddbOps), sum(ddbInjected), faultName(r.ddbFaults.fault))
	for _, k := range slices.Sorted(maps.Keys(r.ddbOps)) {
		fmt.Fprintf(&b, " %s %d/%d", strings.TrimPrefix(k, "DynamoDB_20120810."), ddbInjected[k], r.ddbOps[k])
	}
	sqsInjected := r.sqsFaults.counts()
	fmt.Fprintf(&b, "\nSQS (functions' requests): %d, SendMessage %d of which %d answered 500 before reaching the queue; dead-lettered %d",
		sum(r.sqsOps), r.sqsOps["AmazonSQS.SendMessage"], sqsInjected["AmazonSQS.SendMessage"], len(r.deadLetters))
	return b.String()
}

func faultName(f mototest.Fault) string {
	if f == mototest.FailAfter {
		return "after the write"
	}
	return "before the write"
}

// checkFaultsHappened fails the run if the faults it promises did not all
// occur (with enough messages for each to be all but certain).
func (r *run) checkFaultsHappened(t *testing.T, n int) {
	t.Helper()
	if n < 100 {
		return
	}
	pf := r.providerFaults()
	for _, k := range []string{"dropped before processing", "dropped after accepting", "503"} {
		if pf[k] == 0 {
			t.Errorf("no provider request met the fault %q", k)
		}
	}
	if pf["429"]+pf["status 1 (throttled)"] == 0 {
		t.Error("no provider request was throttled")
	}
	if r.slow.Slow == 0 || r.notReady == 0 {
		t.Errorf("slow provider connections %d, calls abandoned for one %d: want both", r.slow.Slow, r.notReady)
	}
	ddb := r.ddbFaults.counts()
	for _, op := range []string{"DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.PutItem"} {
		if ddb[op] == 0 {
			t.Errorf("no %s failed", op)
		}
	}
	if r.sqsFaults.counts()["AmazonSQS.SendMessage"] == 0 {
		t.Error("no SQS SendMessage failed")
	}
	if r.report.Statuses[http.StatusOK] == 0 || r.report.Statuses[http.StatusAccepted] == 0 {
		t.Errorf("answers %v: want both sent (200) and queued (202) messages", r.report.Statuses)
	}
}

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// statusRecords reads the messages' status records after a run, straight
// from moto (no fault), and knows from the logs which service ids a
// status write failed for and which service id each sent message has.
type statusRecords struct {
	store  *dynamo.StatusStore
	failed map[string]bool   // service ids named by status_record_failed
	byProv map[string]string // provider id -> service id (the send path's "sent" lines)
}

func (d *deployment) records(t *testing.T) statusRecords {
	t.Helper()
	r := statusRecords{
		store:  dynamo.NewStatusStore(d.moto.DynamoDB(), d.env["SMS_TABLE_NAME"], dynamo.StatusConfig{}),
		failed: map[string]bool{}, byProv: map[string]string{},
	}
	for _, line := range bytes.Split(d.logs.Bytes(), []byte("\n")) {
		var rec struct {
			Msg        string `json:"msg"`
			Event      string `json:"event"`
			ServiceID  string `json:"serviceId"`
			ProviderID string `json:"providerId"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if rec.Event == sms.EventStatusRecordFailed {
			r.failed[rec.ServiceID] = true
		}
		if rec.Msg == "sent" && rec.ProviderID != "" && rec.ServiceID != "" {
			r.byProv[rec.ProviderID] = rec.ServiceID
		}
	}
	return r
}

// of returns the status and error code of the record found by id (the
// answer's messageId, or a producer's id), "" when there is none, and
// whether a failed status write explains a record that lags.
func (r statusRecords) of(t *testing.T, id string) (status, code string, writeFailed bool) {
	t.Helper()
	serviceID := id
	if sid, ok := r.byProv[id]; ok {
		serviceID = sid
	} else if !sms.IsServiceIDShaped(id) {
		serviceID = sms.ServiceIDForProducer(id)
	}
	// moto, loaded by the run, sometimes drops a connection: read again.
	rec, err := r.store.Get(context.Background(), id)
	for try := 1; try < 5 && sms.KindOf(err) == sms.KindUnavailable; try++ {
		time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		rec, err = r.store.Get(context.Background(), id)
	}
	switch {
	case sms.KindOf(err) == sms.KindNotFound:
		return "", "", r.failed[serviceID]
	case err != nil:
		t.Fatalf("status record of %s: %v", id, err)
	}
	if rec.Error != nil {
		code = rec.Error.Code
	}
	return string(rec.Status), code, r.failed[rec.ServiceID] || r.failed[serviceID]
}

// sendAll sends messages 0 to n-1 through the senders, each taking the
// next message as it is free, and returns the answers by message.
func sendAll(senders []*apigw.Handler, token string, n int) []answer {
	answers := make([]answer, n)
	jobs := make(chan int)
	var sends sync.WaitGroup
	for _, h := range senders {
		sends.Go(func() {
			for i := range jobs {
				answers[i] = sendOne(h, token, i)
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	sends.Wait()
	return answers
}

// waitEmpty waits until the queue at url is seen empty twice in a row,
// half a second apart, or deadline passes; it returns the depth last seen.
func (d *deployment) waitEmpty(t *testing.T, url string, deadline time.Time) int {
	t.Helper()
	left := d.depth(t, url)
	for empty := 0; empty < 2 && time.Now().Before(deadline); {
		if left = d.depth(t, url); left == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	return left
}
