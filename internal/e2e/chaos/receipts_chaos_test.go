package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/app/publisher"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/events"
	"github.com/fluxkit/sms/internal/local"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// The shape of a receipts chaos run (docs/chaos.md).
const (
	// receiptsProviderFaultRate is the share of provider requests answered
	// 503 (three quarters) or throttled (a quarter): the send path queues
	// those messages and the drain sends them, so receipts meet both
	// paths' writes. No fault here leaves the provider's acceptance in
	// doubt: every accepted message is taken exactly once, and its
	// receipts are the only story of its delivery.
	receiptsProviderFaultRate = 0.20
	// receiptsDynamoFaultRate is the share of the send and drain
	// functions' DynamoDB requests answered 500 after the write reached
	// the table. The receipts function meets faults of its own
	// (storeFaultEvery), the same ones every run.
	receiptsDynamoFaultRate = 0.05
	// storeFaultEvery: of every so many (record, status) pairs, by hash,
	// two have the receipts function's first call writing that status to
	// that record fail before reaching the table (every attempt of it:
	// the function answers 503 and the provider posts the receipt again),
	// and one has its first attempt answered 500 after the write (the
	// retry finds the write done).
	storeFaultEvery = 16
	// receiptDuplicate is the share of receipts the fake posts twice;
	// receiptReorder the share of messages whose final receipt comes
	// before the intermediate one.
	receiptDuplicate = 0.2
	receiptReorder   = 0.3
	// receiptRefuseEvery: one receipt in every so many (by message id and
	// status) has its first post answered 503 before the receipts
	// function sees it.
	receiptRefuseEvery = 5
	// receiptRetryDelay is the fake's wait before posting a refused
	// receipt again.
	receiptRetryDelay = 100 * time.Millisecond
	// putEventsFailAfterEvery: one PutEvents request in every so many is
	// answered 500 after EventBridge took its events: the SDK sends them
	// again, and the bus gets them twice.
	putEventsFailAfterEvery = 20
	// entryFailEvery: one event in every so many (in the order the bus
	// first sees them) is reported failed by PutEvents on its first
	// request; entryStubbornEvery: one in every so many on its first
	// events.DefaultAttempts requests, so that the publisher gives up on
	// it within the invocation and reports its record as a batch item
	// failure, and the next invocation publishes again the records from
	// there on.
	entryFailEvery     = 8
	entryStubbornEvery = 60
	// vonageSignatureSecret signs the Vonage fake's receipts.
	vonageSignatureSecret = "chaos-vonage-signature-secret-7e2a9c41"
)

// receiptsScenario is one provider's receipts run.
type receiptsScenario struct {
	name     string
	provider string
}

var receiptsScenarios = []receiptsScenario{
	{"twilio", "twilio"},
	{"vonage/signed", "vonage"},
}

// TestChaosReceipts sends CHAOS_N messages (default 150) per provider
// through the send function and the drain while the provider fake posts
// each message's receipts — delivered, undelivered with carrier codes,
// failed, expired; some twice, some out of order, some refused on their
// first post — to the receipts function behind an HTTP endpoint, and the
// publisher turns the table's change stream into EventBridge events under
// injected PutEvents failures. It checks that every accepted message's
// record ends in the outcome its provider reported, that no record ever
// moved backwards, and that every recorded status change reached the bus
// (duplicates allowed). The scenarios run in parallel, each on its own
// moto servers.
func TestChaosReceipts(t *testing.T) {
	n := envInt(t, "CHAOS_N", defaultMessages)
	seed := uint64(envInt(t, "CHAOS_SEED", 20271))
	for i, sc := range receiptsScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			r := runReceiptsChaos(t, sc, n, seed+uint64(i))
			t.Logf("%s, N=%d, seed %d: %s", sc.name, n, seed+uint64(i), r.line())
			r.check(t, n)
			t.Run("log audit", func(t *testing.T) {
				r.d.auditLogs(t, chaos.Secret{Name: "message body", Value: bodyMarker}, chaos.Secret{Name: "bearer token", Value: r.token},
					chaos.Secret{Name: "Vonage signature secret", Value: vonageSignatureSecret})
			})
		})
	}
}

// receiptsRun is what one receipts scenario produced.
type receiptsRun struct {
	d        *deployment
	provider string
	token    string
	// When the sends were answered, the queue was empty, the last receipt
	// was posted, and the publisher had caught up, from the start.
	sent, drained, receipted, took time.Duration

	answers    map[int]int // HTTP answers to the sends
	badAnswers []string
	queueLeft  int
	dead       int // messages on the dead-letter queue

	// The provider's side: deliveries per accepted message (want 1 each)
	// and the receipts it posted.
	accepted, lost, duplicated int
	receipts                   []providertest.Receipt
	reordered                  int // messages whose final receipt came first
	notAcked                   int // receipts the provider gave up on
	posts, refusedFirst        int // posts to the receipt routes, refused before the function
	routeAnswers               map[int]int

	report chaos.ReceiptsReport
	events chaos.EventTally

	// The publisher's side.
	invocations, redelivered, itemFailures int
	putEvents, putFailAfter, failedEntries int
	ddbRequests, ddbFailAfter              int
	// The receipts function's status writes failed before the table
	// (calls, and their requests), and requests answered 500 after it.
	storeBefore, storeBeforeRequests, storeAfter int
	streamReadErrors, tapFailures                int
	streamErr                                    error
}

func runReceiptsChaos(t *testing.T, sc receiptsScenario, n int, seed uint64) *receiptsRun {
	t.Helper()
	ctx := context.Background()
	// EventBridge gets a moto server of its own (its routing of events to
	// the tap's queue is slow, and would otherwise hold up the table),
	// started meanwhile.
	type launched struct {
		s   *mototest.Server
		err error
	}
	evLaunch := make(chan launched, 1)
	go func() { s, err := mototest.Launch(); evLaunch <- launched{s, err} }()
	moto := mototest.Start(t)
	d := deploy(t, moto, sc.provider, "SMS_RATE_LIMIT", strconv.Itoa(rateLimit), "SMS_RATE_MARGIN", rateMargin)
	r := &receiptsRun{d: d, provider: sc.provider, token: signToken(t, jwtSecret, nil)}

	// The receipt routes' public URL, known before the functions start.
	ep := startReceiptsEndpoint(t, func(key string) bool { return hashShare(key, receiptRefuseEvery) })
	d.env["SMS_PUBLIC_URL"] = ep.URL

	plan := providertest.ReceiptPlan{
		Fate: receiptsFate(sc.provider), Duplicate: receiptDuplicate, Reorder: receiptReorder,
		Seed: seed + 5, RetryDelay: receiptRetryDelay,
	}
	var pf receiptsFake
	throttled := providertest.Fault{Status: http.StatusTooManyRequests}
	switch sc.provider {
	case "twilio":
		d.twilio.SetReceipts(plan)
		pf = d.twilio
	case "vonage":
		// Signed receipts: the secret gains the signature secret, and the
		// fake signs with it; calls then carry the callback.
		secret, _ := json.Marshal(map[string]string{
			"jwtSecret": jwtSecret, "apiKey": providertest.VonageAPIKey, "apiSecret": providertest.VonageAPISecret,
			"signatureSecret": vonageSignatureSecret, "signatureMethod": "sha256",
		})
		if _, err := moto.SecretsManager().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(d.env["SMS_SECRET_ID"]), SecretString: aws.String(string(secret)),
		}); err != nil {
			t.Fatal(err)
		}
		d.vonage = providertest.NewVonage(t, providertest.WithVonageSignature(vonageSignatureSecret, "sha256"), providertest.WithReceipts(plan))
		d.env["VONAGE_API_URL"] = d.vonage.URL()
		pf, throttled = d.vonage, providertest.Fault{Code: 1}
	}
	unavailable := providertest.Fault{Status: http.StatusServiceUnavailable}
	pf.SetPlan(providertest.Plan{Seed: seed, Rate: receiptsProviderFaultRate, Faults: []providertest.Fault{unavailable, unavailable, unavailable, throttled}})

	// The table's stream, read from the start.
	arn, err := mototest.EnableStream(ctx, moto.DynamoDB(), d.env["SMS_TABLE_NAME"])
	if err != nil {
		t.Fatal(err)
	}
	// The event bus, behind a proxy that fails PutEvents requests and
	// entries.
	ev := <-evLaunch
	if ev.err != nil {
		t.Fatal(ev.err)
	}
	evMoto := ev.s
	t.Cleanup(evMoto.Stop)
	bus := "sms-events"
	tap := createEventTap(t, evMoto.Config(), bus)
	ebProxy := mototest.NewProxy(t, evMoto.URL)
	putFaults := &everyNth{op: putEventsOp, n: putEventsFailAfterEvery, fault: mototest.FailAfter}
	ebProxy.SetFaults(putFaults.decide)
	flaky := newFlakyBus(func(i int) int {
		switch {
		case i%entryStubbornEvery == entryStubbornEvery-1:
			return events.DefaultAttempts
		case i%entryFailEvery == entryFailEvery-1:
			return 1
		}
		return 0
	})
	ebProxy.SetRewrite(flaky.rewrite)
	pubEnv := map[string]string{
		"SMS_EVENT_BUS": bus, "AWS_REGION": mototest.Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_ENDPOINT_URL_EVENTBRIDGE": ebProxy.URL,
	}
	pub, err := publisher.Load(func(k string) string { return pubEnv[k] }, logging.New(d.logs, -4))
	if err != nil {
		t.Fatalf("publisher cold start: %v", err)
	}
	mapping := &streamMapping{reader: mototest.NewStreamReader(moto.Config(), arn), handler: pub}

	// Every function reaches DynamoDB through a front that fails some of
	// its requests, in front of the proxy that serialises them all: the
	// send and drain functions' at random, the receipts function's status
	// writes by record and status.
	ddbFaults := newRandomFaults(seed+1, receiptsDynamoFaultRate, mototest.FailAfter, func(op string) bool { return strings.HasPrefix(op, "DynamoDB_") })
	var ddbFaultsOff atomic.Bool
	sendDDB := startDynamoFront(t, d.ddb.URL, func(op string, _ []byte, _ http.Header) storeFault {
		if !ddbFaultsOff.Load() && ddbFaults.decide(op) == mototest.FailAfter {
			return storeFailsAfter
		}
		return storePasses
	})
	d.env["AWS_ENDPOINT_URL_DYNAMODB"] = sendDDB.URL
	writeFaults := newStatusWriteFaults(func(key string) storeFault {
		switch hash32(key) % storeFaultEvery {
		case 0, 1:
			return storeFailsBefore
		case 2:
			return storeFailsAfter
		}
		return storePasses
	})
	store := startDynamoFront(t, d.ddb.URL, writeFaults.decide)

	// Cold starts: the receipts function behind the API Gateway stand-in,
	// the send function instances and the drain.
	receiptsEnv := func(k string) string {
		if k == "AWS_ENDPOINT_URL_DYNAMODB" {
			return store.URL
		}
		return d.getenv(k)
	}
	rh, err := app.LoadReceipts(ctx, receiptsEnv, logging.New(d.logs, -4))
	if err != nil {
		t.Fatalf("receipts cold start: %v", err)
	}
	gw := local.NewGateway(rh, nil, local.GatewayConfig{FunctionARN: "arn:aws:lambda:local:000000000000:function:receipts"})
	for _, route := range local.ReceiptRoutes {
		gw.Route(route.Method, route.Path, rh)
	}
	ep.serve(gw)
	senders := make([]*apigw.Handler, sendConcurrency)
	for i := range senders {
		senders[i] = d.sendHandler(t)
	}
	poller := d.poller(t)

	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); poller.Run(runCtx) }()
	streamErr := make(chan error, 1)
	go func() {
		defer bg.Done()
		for runCtx.Err() == nil {
			if _, err := mapping.round(runCtx); err != nil && !errors.Is(err, errStreamRead) && runCtx.Err() == nil {
				streamErr <- err
				return
			}
			select {
			case <-runCtx.Done():
			case <-time.After(time.Second): // the mapping's batching window
			}
		}
	}()
	tapCtx, stopTap := context.WithCancel(ctx)
	var (
		tapped        []mototest.TappedEvent
		tapFailures   int
		tapCollecting sync.WaitGroup
	)
	tapCollecting.Add(1)
	go func() { defer tapCollecting.Done(); tapped, tapFailures = tap.collect(tapCtx, time.Second) }()
	defer stopTap()

	answers := sendAll(senders, r.token, n)
	r.sent = time.Since(start)

	// The queue drains, then the last receipts arrive. The bounds are
	// generous, and count from the end of the sends: moto answers every
	// DynamoDB request of the run one at a time, about 12 per message
	// here, and on a loaded machine most messages are queued.
	deadline := time.Now().Add(120*time.Second + time.Duration(n)*300*time.Millisecond)
	r.queueLeft = d.waitEmpty(t, d.queueURL, deadline)
	r.drained = time.Since(start)
	wctx, cancel := context.WithDeadline(ctx, deadline.Add(60*time.Second))
	if err := pf.WaitReceipts(wctx); err != nil {
		t.Errorf("receipts: %v", err)
	}
	cancel()
	r.receipted = time.Since(start)
	stop()
	bg.Wait()
	select {
	case r.streamErr = <-streamErr:
	default:
	}
	ddbFaultsOff.Store(true)

	// The publisher catches up with the stream: until a round finds
	// nothing new and nothing left to publish, twice.
	for quiet := 0; quiet < 2 && r.streamErr == nil && time.Now().Before(deadline.Add(120*time.Second)); {
		got, err := mapping.round(ctx)
		switch {
		case errors.Is(err, errStreamRead):
			quiet = 0
		case err != nil:
			r.streamErr = err
		case got == 0 && mapping.settled():
			quiet++
		default:
			quiet = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.took = time.Since(start)
	if !mapping.settled() && r.streamErr == nil {
		r.streamErr = fmt.Errorf("the publisher had not caught up with the stream after %v", r.took)
	}
	r.invocations, r.redelivered, r.itemFailures, r.streamReadErrors = mapping.counts()
	ebCounts, ddbCounts := ebProxy.Counts(), d.ddb.Counts()
	r.putEvents, r.putFailAfter, r.failedEntries = ebCounts[putEventsOp], putFaults.injected(), flaky.failedEntries()
	for op, c := range ddbCounts {
		if strings.HasPrefix(op, "DynamoDB_") {
			r.ddbRequests += c
		}
	}
	for _, c := range ddbFaults.counts() {
		r.ddbFailAfter += c
	}
	r.storeBefore, r.storeBeforeRequests, r.storeAfter = writeFaults.counts()
	r.dead = len(d.deadLetters(t, d.dlqURL))

	// What the provider took and reported, message by message.
	r.answers = map[int]int{}
	byBody := map[string][]providertest.Accepted{}
	for _, a := range pf.Accepted() {
		byBody[a.Body] = append(byBody[a.Body], a)
	}
	r.receipts = pf.Receipts()
	byMessage := map[string][]providertest.Receipt{}
	for _, rc := range r.receipts {
		byMessage[rc.MessageID] = append(byMessage[rc.MessageID], rc)
		if !rc.Acked {
			r.notAcked++
		}
	}
	r.posts, r.refusedFirst, r.routeAnswers = ep.stats()
	records := dynamo.NewStatusStore(moto.DynamoDB(), d.env["SMS_TABLE_NAME"], dynamo.StatusConfig{})
	moves, deadLettered := mapping.moves()
	var tracked []chaos.Tracked
	for i, a := range answers {
		r.answers[a.status]++
		if a.problem != "" && len(r.badAnswers) < 10 {
			r.badAnswers = append(r.badAnswers, fmt.Sprintf("message %d: %s", i, a.problem))
		}
		if a.status != http.StatusOK && a.status != http.StatusAccepted {
			continue
		}
		r.accepted++
		took := byBody[chaosBody(i)]
		switch {
		case len(took) == 0:
			r.lost++
			continue
		case len(took) > 1:
			r.duplicated++
		}
		rcs := byMessage[took[0].ID]
		tr, problem := trackMessage(ctx, t, records, sc.provider, a, took[0], rcs)
		if problem != "" && len(r.badAnswers) < 10 {
			r.badAnswers = append(r.badAnswers, fmt.Sprintf("message %d: %s", i, problem))
		}
		tr.DeadLettered = deadLettered[tr.ServiceID]
		tracked = append(tracked, tr)
		if finalFirst(rcs) {
			r.reordered++
		}
	}
	r.report = chaos.SummarizeReceipts(tracked, moves)

	// Every event is on the bus once the publisher has caught up: the last
	// ones are taken until a take finds none, without an error.
	stopTap()
	tapCollecting.Wait()
	r.tapFailures = tapFailures
	for try := 0; ; try++ {
		evs, err := tap.take(ctx)
		tapped = append(tapped, evs...)
		if err == nil && len(evs) == 0 {
			break
		}
		if try == 20 {
			t.Fatalf("the tap's queue: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	got := make([]chaos.Event, 0, len(tapped))
	for _, ev := range tapped {
		var detail struct {
			ServiceID      string     `json:"serviceId"`
			Status         sms.Status `json:"status"`
			PreviousStatus sms.Status `json:"previousStatus"`
		}
		if ev.Source != events.Source || ev.DetailType != events.DetailType || json.Unmarshal(ev.Detail, &detail) != nil {
			r.badAnswers = append(r.badAnswers, fmt.Sprintf("event %s %q: not a status event: %s", ev.Source, ev.DetailType, ev.Detail))
			continue
		}
		got = append(got, chaos.Event{EventKey: chaos.EventKey{ServiceID: detail.ServiceID, Status: detail.Status}, Previous: detail.PreviousStatus})
	}
	r.events = chaos.TallyEvents(moves, got)
	return r
}

// receiptsFake is what the test needs of a provider fake that posts
// receipts.
type receiptsFake interface {
	fake
	Receipts() []providertest.Receipt
	WaitReceipts(ctx context.Context) error
}

// receiptsFate decides each message's delivery by its number (its body):
// 60 % delivered, 20 % undelivered with one of several carrier codes,
// 10 % failed, 10 % expired.
func receiptsFate(provider string) func(a providertest.Accepted, part int) providertest.Fate {
	undelivered := []string{"30003", "30005", "30006", "30007"}
	failed := []string{"30008", "30004"}
	if provider == "vonage" {
		undelivered = []string{"2", "5", "7", "12"} // err-codes of failed receipts
		failed = []string{"6", "14"}                // err-codes of rejected ones
	}
	return func(a providertest.Accepted, part int) providertest.Fate {
		var i int
		if _, err := fmt.Sscanf(a.Body, "Your "+bodyMarker+" %d", &i); err != nil {
			return providertest.Fate{Outcome: providertest.Delivered}
		}
		switch i % 10 {
		case 6, 7:
			return providertest.Fate{Outcome: providertest.Undelivered, Code: undelivered[(i/10)%len(undelivered)]}
		case 8:
			return providertest.Fate{Outcome: providertest.Failed, Code: failed[(i/10)%len(failed)]}
		case 9:
			return providertest.Fate{Outcome: providertest.Expired}
		}
		return providertest.Fate{Outcome: providertest.Delivered}
	}
}

// trackMessage puts together what the provider reported of an accepted
// message (its receipts rcs) and what its status record says, and
// returns what is wrong with the ids, if anything.
func trackMessage(ctx context.Context, t *testing.T, store *dynamo.StatusStore, provider string, a answer, took providertest.Accepted, rcs []providertest.Receipt) (chaos.Tracked, string) {
	t.Helper()
	var tr chaos.Tracked
	problem := ""
	for _, rc := range rcs {
		o, ok := chaos.ReceiptOutcome(provider, rc.Status, rc.Code)
		if !ok {
			problem = fmt.Sprintf("the fake posted the status %q, which the service ignores", rc.Status)
			continue
		}
		if tr.ServiceID == "" {
			tr.ServiceID = rc.Ref
		} else if rc.Ref != tr.ServiceID {
			problem = fmt.Sprintf("receipts of %s carry the service ids %s and %s", rc.MessageID, tr.ServiceID, rc.Ref)
		}
		if rc.Final {
			tr.Want = o
		}
		if rc.Acked {
			tr.Reported = append(tr.Reported, o)
		}
	}
	switch {
	case len(rcs) == 0:
		return tr, fmt.Sprintf("the provider took it as %s and posted no receipt", took.ID)
	case tr.ServiceID == "":
		return tr, "its receipts carry no service id"
	case a.status == http.StatusAccepted && a.id != tr.ServiceID:
		problem = fmt.Sprintf("answered 202 as %s, its receipts name %s", a.id, tr.ServiceID)
	case a.status == http.StatusOK && a.id != took.ID:
		problem = fmt.Sprintf("answered 200 as %s, the provider's id is %s", a.id, took.ID)
	}
	// moto, loaded by the run, sometimes drops a connection: read again.
	rec, err := store.Get(ctx, tr.ServiceID)
	for try := 1; try < 5 && sms.KindOf(err) == sms.KindUnavailable; try++ {
		time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		rec, err = store.Get(ctx, tr.ServiceID)
	}
	switch {
	case sms.KindOf(err) == sms.KindNotFound:
		return tr, problem
	case err != nil:
		t.Fatalf("status record of %s: %v", tr.ServiceID, err)
	}
	tr.Found, tr.History = true, rec.History
	tr.Got = chaos.Outcome{Status: rec.Status}
	if rec.Error != nil {
		tr.Got.Code, tr.Got.ProviderCode = rec.Error.Code, rec.Error.ProviderCode
	}
	return tr, problem
}

// finalFirst reports whether a message's final receipt was posted before
// another of its receipts.
func finalFirst(rcs []providertest.Receipt) bool {
	for i, rc := range rcs {
		if rc.Final {
			return slices.ContainsFunc(rcs[i+1:], func(o providertest.Receipt) bool { return !o.Final })
		}
	}
	return false
}

// receiptCounts counts the receipts planned, posted more than once, and
// posted twice by the plan (a duplicate follows its original).
func (r *receiptsRun) receiptCounts() (planned, retried, duplicates int) {
	for i, rc := range r.receipts {
		if rc.Attempts > 1 {
			retried++
		}
		if i > 0 {
			p := r.receipts[i-1]
			if p.MessageID == rc.MessageID && p.Status == rc.Status {
				duplicates++
			}
		}
	}
	return len(r.receipts), retried, duplicates
}

// line is the run's one-line report.
func (r *receiptsRun) line() string {
	planned, retried, dups := r.receiptCounts()
	var b strings.Builder
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	fmt.Fprintf(&b, "sent %v, drained %v, receipts posted %v, events published %v; messages: answers", ms(r.sent), ms(r.drained), ms(r.receipted), ms(r.took))
	for _, s := range slices.Sorted(maps.Keys(r.answers)) {
		fmt.Fprintf(&b, " %d×%d", s, r.answers[s])
	}
	fmt.Fprintf(&b, ", accepted %d, lost %d, duplicated %d; receipts: %d (%d duplicates, %d messages reordered), %d posts, %d retried (%d refused first), %d given up; route answers",
		r.accepted, r.lost, r.duplicated, planned, dups, r.reordered, r.posts, retried, r.refusedFirst, r.notAcked)
	for _, s := range slices.Sorted(maps.Keys(r.routeAnswers)) {
		fmt.Fprintf(&b, " %d×%d", s, r.routeAnswers[s])
	}
	fmt.Fprintf(&b, "; %s", r.report)
	e := r.events
	fmt.Fprintf(&b, "\nevents: expected %d, received %d (%d duplicated), lost %d, unexpected %d, wrong previousStatus %d; publisher: %d invocations, %d batch item failures, %d records handed again; PutEvents %d, %d answered 500 after the write, %d entries reported failed; DynamoDB %d requests, %d answered 500 after the write, receipts function: %d status writes failed before the table (%d requests), %d requests answered 500 after it; stream reads failed %d, tap reads failed %d; dead-lettered %d",
		e.Expected, e.Received, e.Duplicated, len(e.Lost), len(e.Unexpected), len(e.WrongPrevious), r.invocations, r.itemFailures, r.redelivered,
		r.putEvents, r.putFailAfter, r.failedEntries, r.ddbRequests, r.ddbFailAfter, r.storeBefore, r.storeBeforeRequests, r.storeAfter, r.streamReadErrors, r.tapFailures, r.dead)
	return b.String()
}

// check fails t for every guarantee the run broke.
func (r *receiptsRun) check(t *testing.T, n int) {
	t.Helper()
	if r.streamErr != nil {
		t.Errorf("stream: %v", r.streamErr)
	}
	for _, p := range r.badAnswers {
		t.Errorf("%s", p)
	}
	for s, c := range r.answers {
		if s != http.StatusOK && s != http.StatusAccepted && s != http.StatusServiceUnavailable {
			t.Errorf("%d answers %d, want only 200, 202 or 503", c, s)
		}
	}
	if r.lost != 0 || r.duplicated != 0 {
		t.Errorf("accepted messages the provider never took = %d, took more than once = %d; want 0 (no fault of this run is ambiguous)", r.lost, r.duplicated)
	}
	if r.queueLeft != 0 || r.dead != 0 {
		t.Errorf("queue holds %d, dead-letter queue %d at the end; want 0", r.queueLeft, r.dead)
	}
	if r.notAcked != 0 {
		t.Errorf("%d receipts were refused on every post: the provider gave up on them", r.notAcked)
	}
	for s, c := range r.routeAnswers {
		if s >= 400 && s < 500 {
			t.Errorf("the receipts function answered %d to %d receipts, want none refused (a 403 is a signature the function could not check)", s, c)
		}
	}
	rep := r.report
	if rep.Messages != r.accepted-r.lost {
		t.Errorf("records checked = %d, want %d (every accepted message the provider took)", rep.Messages, r.accepted-r.lost)
	}
	if rep.Wrong != 0 {
		t.Errorf("records not in the outcome their provider reported = %d of %d, want 0", rep.Wrong, rep.Messages)
	}
	if rep.Regressions != 0 {
		t.Errorf("regressions = %d, want 0", rep.Regressions)
	}
	if rep.HistoryMissing != 0 {
		t.Errorf("records whose history lacks an acknowledged receipt's status = %d, want 0", rep.HistoryMissing)
	}
	if !rep.OK() {
		t.Errorf("offenders:\n  %s", strings.Join(rep.Offenders, "\n  "))
	}
	e := r.events
	if len(e.Lost) != 0 {
		t.Errorf("status changes without an event = %d of %d, want 0; first: %v", len(e.Lost), e.Expected, e.Lost[:min(len(e.Lost), 5)])
	}
	if len(e.WrongPrevious) != 0 {
		t.Errorf("events whose previousStatus is not the status the change left = %d, want 0; first: %v", len(e.WrongPrevious), e.WrongPrevious[:min(len(e.WrongPrevious), 5)])
	}
	if len(e.Unexpected) != 0 {
		t.Errorf("events for no recorded change = %d, want 0; first: %v", len(e.Unexpected), e.Unexpected[:min(len(e.Unexpected), 5)])
	}
	if n < 100 {
		return
	}
	// Every fault the run promises happened, and every outcome was
	// reported.
	planned, retried, dups := r.receiptCounts()
	for _, c := range []struct {
		what string
		got  int
	}{
		{"messages sent at once (200)", r.answers[http.StatusOK]},
		{"messages queued (202)", r.answers[http.StatusAccepted]},
		{"receipts", planned},
		{"duplicated receipts", dups},
		{"messages with their receipts out of order", r.reordered},
		{"receipts refused on their first post", r.refusedFirst},
		{"receipts posted again", retried},
		{"PutEvents answered 500 after the write", r.putFailAfter},
		{"event entries reported failed", r.failedEntries},
		{"batch item failures", r.itemFailures},
		{"duplicated events", e.Duplicated},
		{"DynamoDB requests answered 500 after the write", r.ddbFailAfter},
		{"receipts' status writes failed before reaching the table", r.storeBefore},
		{"receipts' status writes answered 500 after it", r.storeAfter},
		{"receipts the receipts function could not record (5xx)", fiveXX(r.routeAnswers)},
	} {
		if c.got == 0 {
			t.Errorf("no %s: the run did not test what it claims", c.what)
		}
	}
	for _, s := range []sms.Status{sms.StatusDelivered, sms.StatusUndelivered, sms.StatusExpired} {
		if rep.Final[s] == 0 {
			t.Errorf("no record ended %s", s)
		}
	}
	if r.provider == "twilio" && rep.Final[sms.StatusFailed] == 0 {
		t.Error("no record ended failed")
	}
}

// fiveXX sums the 5xx answers of answers (by status).
func fiveXX(answers map[int]int) int {
	n := 0
	for s, c := range answers {
		if s >= 500 {
			n += c
		}
	}
	return n
}
