package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/events"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

// receiptsEndpoint is the public URL of the receipt routes on loopback:
// an HTTP server in front of the API Gateway stand-in (local.Gateway) that
// invokes the receipts function. It refuses the first post of a fixed
// share of receipts with 503 before the function sees them, as a cold
// API or a throttle would, so that the provider must post them again.
type receiptsEndpoint struct {
	URL string
	srv *httptest.Server
	// refuseFirst picks the receipts (by message id and status) whose
	// first post is refused.
	refuseFirst func(key string) bool

	mu      sync.Mutex
	next    http.Handler
	seen    map[string]int
	posts   int
	refused int
	answers map[int]int // the function's answers by HTTP status
}

func startReceiptsEndpoint(t *testing.T, refuseFirst func(key string) bool) *receiptsEndpoint {
	t.Helper()
	e := &receiptsEndpoint{refuseFirst: refuseFirst, seen: map[string]int{}, answers: map[int]int{}}
	e.srv = httptest.NewServer(e)
	t.Cleanup(e.srv.Close)
	e.URL = e.srv.URL
	return e
}

// serve makes the endpoint pass what it does not refuse to h.
func (e *receiptsEndpoint) serve(h http.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next = h
}

func (e *receiptsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	key := receiptKey(r, body)
	e.mu.Lock()
	e.posts++
	first := e.seen[key] == 0
	e.seen[key]++
	refuse := first && e.refuseFirst(key)
	if refuse {
		e.refused++
	}
	next := e.next
	e.mu.Unlock()
	if refuse || next == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	next.ServeHTTP(sw, r)
	e.mu.Lock()
	e.answers[sw.status]++
	e.mu.Unlock()
}

// stats returns the posts received, those refused before the function,
// and the function's answers by status.
func (e *receiptsEndpoint) stats() (posts, refused int, answers map[int]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.posts, e.refused, maps.Clone(e.answers)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// receiptKey names a receipt by its message (or part) id and status,
// whichever way it came: a Twilio form, a Vonage query, form or JSON.
func receiptKey(r *http.Request, body []byte) string {
	v := url.Values{}
	maps.Copy(v, r.URL.Query())
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		for k, x := range m {
			v.Set(k, fmt.Sprint(x))
		}
	} else if form, err := url.ParseQuery(string(body)); err == nil {
		maps.Copy(v, form)
	}
	id := v.Get("MessageSid") + v.Get("messageId")
	status := v.Get("MessageStatus") + v.Get("status")
	return id + "/" + status
}

// hashShare reports whether s falls in a 1-in-every share, the same way
// every time.
func hashShare(s string, every uint32) bool { return hash32(s)%every == 0 }

// hash32 is the FNV-1a hash of s.
func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// streamMapping stands in for the event source mapping that feeds the
// publisher function from the table's stream (template.yaml: batches of
// up to 100 records, ReportBatchItemFailures): each round reads what the
// stream gained and hands it over in order; when a batch reports failed
// records, the next round starts again from the first of them, as Lambda
// retries a shard, so that records after it are published again.
type streamMapping struct {
	reader  *mototest.StreamReader
	handler *events.Handler

	mu      sync.Mutex
	pending []lambdaevents.DynamoDBEventRecord
	// all is every record the stream carried.
	all []lambdaevents.DynamoDBEventRecord
	// invocations of the handler, records handed again after a failure,
	// and the batch item failures reported.
	invocations, redelivered, itemFailures int
	// stuck counts the rounds in a row that failed on the record
	// stuckOn.
	stuck   int
	stuckOn string
	// readErrors counts the stream reads that failed, readFails those in
	// a row.
	readErrors, readFails int
}

// errStreamRead says a round could not read the stream; the next round
// tries again, as Lambda's poller does.
var errStreamRead = errors.New("stream read failed")

// maxReadFails bounds the stream reads in a row that may fail.
const maxReadFails = 30

// publisherTimeout is the publisher function's timeout (template.yaml).
const publisherTimeout = 30 * time.Second

// maxStuckRounds bounds the retries of one record before the test gives
// up on it (Lambda would keep trying for 6 hours).
const maxStuckRounds = 20

// round reads the stream and publishes what it holds; it returns how many
// records it read, errStreamRead when it could not read the stream (moto,
// loaded, drops a connection now and then), and any other error when the
// stream cannot be read round after round or a record keeps failing.
func (m *streamMapping) round(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs, err := m.reader.Read(ctx)
	if err != nil {
		m.readErrors++
		if m.readFails++; m.readFails > maxReadFails {
			return 0, fmt.Errorf("%d stream reads in a row failed, the last: %w", m.readFails, err)
		}
		return 0, fmt.Errorf("%w: %v", errStreamRead, err)
	}
	m.readFails = 0
	m.all = append(m.all, recs...)
	m.pending = append(m.pending, recs...)
	for len(m.pending) > 0 {
		batch := m.pending[:min(len(m.pending), 100)]
		// An invocation runs to its own deadline, whatever becomes of the
		// caller.
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publisherTimeout)
		resp, err := m.handler.Handle(ictx, lambdaevents.DynamoDBEvent{Records: slices.Clone(batch)})
		cancel()
		m.invocations++
		if err != nil {
			return len(recs), fmt.Errorf("publisher: %w", err)
		}
		if len(resp.BatchItemFailures) == 0 {
			m.pending = m.pending[len(batch):]
			continue
		}
		m.itemFailures += len(resp.BatchItemFailures)
		from := len(batch)
		for _, f := range resp.BatchItemFailures {
			if i := slices.IndexFunc(batch, func(r lambdaevents.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == f.ItemIdentifier }); i >= 0 {
				from = min(from, i)
			}
		}
		if from == len(batch) {
			return len(recs), fmt.Errorf("publisher: batch item failures %v name no record of the batch", resp.BatchItemFailures)
		}
		m.redelivered += len(batch) - from
		m.pending = m.pending[from:]
		if seq := m.pending[0].Change.SequenceNumber; seq != m.stuckOn {
			m.stuck, m.stuckOn = 0, seq
		}
		if m.stuck++; m.stuck > maxStuckRounds {
			return len(recs), fmt.Errorf("publisher: record %s failed %d rounds in a row", m.pending[0].Change.SequenceNumber, m.stuck)
		}
		break // Lambda retries the shard after a pause: the next round
	}
	return len(recs), nil
}

// settled reports whether every record read has been published.
func (m *streamMapping) settled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending) == 0
}

// moves returns the status changes the stream carried, in stream order,
// and the service ids of the records it showed failed with code
// dead_lettered. The images are read here attribute by attribute, not
// with the publisher's decoding.
func (m *streamMapping) moves() (moves []chaos.Move, deadLettered map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	deadLettered = map[string]bool{}
	for _, rec := range m.all {
		if rec.EventName != "INSERT" && rec.EventName != "MODIFY" {
			continue
		}
		pk, ok := rec.Change.Keys["pk"]
		if !ok || pk.DataType() != lambdaevents.DataTypeString || !strings.HasPrefix(pk.String(), dynamo.StatusKeyPrefix) {
			continue
		}
		id := strings.TrimPrefix(pk.String(), dynamo.StatusKeyPrefix)
		to, toCode := imageStatus(rec.Change.NewImage)
		from, fromCode := imageStatus(rec.Change.OldImage)
		if to == sms.StatusFailed && toCode == sms.CodeDeadLettered {
			deadLettered[id] = true
		}
		if to != "" && to != from {
			moves = append(moves, chaos.Move{ServiceID: id, From: from, FromCode: fromCode, To: to})
		}
	}
	return moves, deadLettered
}

// imageStatus reads a stream image's status and its error's code.
func imageStatus(img map[string]lambdaevents.DynamoDBAttributeValue) (sms.Status, string) {
	st, ok := img["status"]
	if !ok || st.DataType() != lambdaevents.DataTypeString {
		return "", ""
	}
	code := ""
	if e, ok := img["error"]; ok && e.DataType() == lambdaevents.DataTypeMap {
		if c, ok := e.Map()["code"]; ok && c.DataType() == lambdaevents.DataTypeString {
			code = c.String()
		}
	}
	return sms.Status(st.String()), code
}

// counts returns the mapping's invocations, redelivered records, batch
// item failures and failed stream reads.
func (m *streamMapping) counts() (invocations, redelivered, itemFailures, readErrors int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.invocations, m.redelivered, m.itemFailures, m.readErrors
}

// eventTap is an event bus with a rule sending every status event to an
// SQS queue, as mototest.CreateEventTap makes, except that the rule's
// target has an input transformer that delivers the whole event
// (<aws.events.event.json>) with a single input path. moto builds a
// JSONPath parser for every input path of every event it routes, eight
// by default: about 230 ms an event against about 50 ms with one, which
// decides how long a run with hundreds of events takes.
type eventTap struct {
	bus, queueURL string
	sqs           *sqs.Client
}

func createEventTap(t *testing.T, cfg aws.Config, bus string) *eventTap {
	t.Helper()
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatalf("create event bus: %v", err)
	}
	tap := &eventTap{bus: bus, sqs: sqs.NewFromConfig(cfg)}
	q, err := tap.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(bus + "-tap")})
	if err != nil {
		t.Fatalf("create the tap queue: %v", err)
	}
	tap.queueURL = aws.ToString(q.QueueUrl)
	attrs, err := tap.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("tap queue ARN: %v", err)
	}
	rule := bus + "-tap"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(mototest.StatusEventPattern)}); err != nil {
		t.Fatalf("tap rule: %v", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(rule), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{
			Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
			InputTransformer: &ebtypes.InputTransformer{InputPathsMap: map[string]string{"id": "$.id"}, InputTemplate: aws.String("<aws.events.event.json>")},
		}},
	}); err != nil {
		t.Fatalf("tap target: %v", err)
	}
	return tap
}

// take receives and deletes every event on the tap's queue; on an error
// it returns the events it took before it with the error.
func (tap *eventTap) take(ctx context.Context) ([]mototest.TappedEvent, error) {
	var out []mototest.TappedEvent
	for {
		got, err := tap.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(tap.queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 120})
		if err != nil {
			return out, fmt.Errorf("receive events: %w", err)
		}
		if len(got.Messages) == 0 {
			return out, nil
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range got.Messages {
			var ev mototest.TappedEvent
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				return out, fmt.Errorf("event %q: %w", aws.ToString(m.Body), err)
			}
			out = append(out, ev)
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		// A failed delete leaves the events to come again after the
		// visibility timeout: duplicates, never gaps.
		if _, err := tap.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(tap.queueURL), Entries: del}); err != nil {
			return out, fmt.Errorf("delete events: %w", err)
		}
	}
}

// everyNth fails every n-th request of one operation through a proxy
// with fault.
type everyNth struct {
	op    string
	n     int
	fault mototest.Fault

	mu        sync.Mutex
	seen, hit int
}

func (e *everyNth) decide(op string) mototest.Fault {
	if op != e.op {
		return mototest.Pass
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen++; e.seen%e.n != 0 {
		return mototest.Pass
	}
	e.hit++
	return e.fault
}

// injected is how many requests it failed.
func (e *everyNth) injected() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hit
}

// collect takes the tap's events as they arrive, keeping the queue short:
// moto's ReceiveMessage looks at every message of the queue, so a queue
// of thousands of events takes seconds a request. It returns what it
// took when ctx ends.
func (tap *eventTap) collect(ctx context.Context, every time.Duration) (events []mototest.TappedEvent, failures int) {
	for {
		got, err := tap.take(context.WithoutCancel(ctx))
		events = append(events, got...)
		if err != nil {
			failures++
		}
		select {
		case <-ctx.Done():
			return events, failures
		case <-time.After(every):
		}
	}
}

// putEventsOp is the proxy's name of EventBridge's PutEvents.
const putEventsOp = "AWSEvents.PutEvents"

// flakyBus rewrites PutEvents requests on their way to moto so that
// EventBridge reports some entries failed (FailedEntryCount, an
// ErrorCode per entry) without taking them: the i-th event the bus sees
// (counting from 0, by its detail: a change published again is the same
// event) fails its first failures(i) requests.
type flakyBus struct {
	failures func(i int) int

	mu     sync.Mutex
	order  map[string]int // each event's i
	seen   map[string]int // requests that carried it
	failed int            // entries reported failed
}

func newFlakyBus(failures func(i int) int) *flakyBus {
	return &flakyBus{failures: failures, order: map[string]int{}, seen: map[string]int{}}
}

func (f *flakyBus) rewrite(op string, body []byte) ([]byte, func(int, []byte) (int, []byte)) {
	if op != putEventsOp {
		return nil, nil
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil
	}
	entries, _ := req["Entries"].([]any)
	var keep []any
	failAt := map[int]bool{}
	f.mu.Lock()
	for i, e := range entries {
		detail, _ := e.(map[string]any)["Detail"].(string)
		nth, ok := f.order[detail]
		if !ok {
			nth = len(f.order)
			f.order[detail] = nth
		}
		if f.seen[detail] < f.failures(nth) {
			failAt[i] = true
			f.failed++
		} else {
			keep = append(keep, e)
		}
		f.seen[detail]++
	}
	f.mu.Unlock()
	if len(failAt) == 0 {
		return nil, nil
	}
	req["Entries"] = keep
	if len(keep) == 0 {
		// moto refuses an empty request: it gets one event no rule
		// matches, and its answer is replaced.
		req["Entries"] = []any{map[string]any{"Source": "proxy.noop", "DetailType": "noop", "Detail": "{}"}}
	}
	forward, _ := json.Marshal(req)
	answer := func(status int, body []byte) (int, []byte) {
		var got struct{ Entries []any }
		if len(keep) > 0 && (status != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Entries) != len(keep)) {
			return status, body
		}
		res := make([]any, 0, len(entries))
		for i, j := 0, 0; i < len(entries); i++ {
			if failAt[i] {
				res = append(res, map[string]any{"ErrorCode": "ThrottlingException", "ErrorMessage": "injected: rate exceeded"})
				continue
			}
			res = append(res, got.Entries[j])
			j++
		}
		b, _ := json.Marshal(map[string]any{"FailedEntryCount": len(failAt), "Entries": res})
		return http.StatusOK, b
	}
	return forward, answer
}

// failedEntries is how many entries the bus reported failed.
func (f *flakyBus) failedEntries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// storeFault is what a dynamoFront does with one request.
type storeFault int

const (
	// storePasses: nothing.
	storePasses storeFault = iota
	// storeFailsBefore: the request is answered 500 without reaching the
	// table.
	storeFailsBefore
	// storeFailsAfter: the request reaches the table and is answered 500.
	storeFailsAfter
)

// dynamoFront stands between one function's DynamoDB client and the
// proxy that serialises every function's requests to moto, and fails the
// requests decide picks. It adds no serialisation of its own, so that
// every function's requests meet at the proxy on equal terms.
type dynamoFront struct {
	URL    string
	next   http.Handler
	decide func(op string, body []byte, h http.Header) storeFault
}

func startDynamoFront(t *testing.T, target string, decide func(op string, body []byte, h http.Header) storeFault) *dynamoFront {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// A writer that gives up on a slow request (the send path's status
	// writes have a deadline) is no news: the writer logs it.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	f := &dynamoFront{next: rp, decide: decide}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// storeError is DynamoDB's answer to a request that failed on its side.
const storeError = `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected: status store failure"}`

func (f *dynamoFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	fault := f.decide(r.Header.Get("X-Amz-Target"), body, r.Header)
	if fault == storeFailsAfter {
		f.next.ServeHTTP(httptest.NewRecorder(), r)
	}
	if fault != storePasses {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(storeError))
		return
	}
	f.next.ServeHTTP(w, r)
}

// statusWriteFaults picks status writes to fail, the same ones every run:
// for each (record, status), pick says what happens to the first call
// that writes that status to that record (the AWS SDK names a call's
// attempts by one invocation id): storeFailsBefore fails every attempt of
// it, so that the writer's call fails; storeFailsAfter fails its first
// attempt after the write, and the retry finds the write done.
type statusWriteFaults struct {
	pick func(key string) storeFault

	mu    sync.Mutex
	first map[string]string // the first call's invocation id, by key
	// failedBefore counts the calls failed before the table and their
	// requests; failedAfter the requests answered 500 after it.
	failedBefore, beforeRequests, failedAfter int
}

func newStatusWriteFaults(pick func(key string) storeFault) *statusWriteFaults {
	return &statusWriteFaults{pick: pick, first: map[string]string{}}
}

// decide is a dynamoFront's decision for a request: its operation, body
// and headers (Amz-Sdk-Invocation-Id, and Amz-Sdk-Request:
// "attempt=1; max=3").
func (f *statusWriteFaults) decide(op string, body []byte, h http.Header) storeFault {
	invocation := h.Get("Amz-Sdk-Invocation-Id")
	if op != "DynamoDB_20120810.UpdateItem" || invocation == "" {
		return storePasses
	}
	var req struct {
		Key                      map[string]map[string]string
		ExpressionAttributeNames map[string]string
	}
	if json.Unmarshal(body, &req) != nil || !strings.HasPrefix(req.Key["pk"]["S"], dynamo.StatusKeyPrefix) {
		return storePasses
	}
	// A status write names one history entry: h_<the status written>.
	entry := ""
	for _, v := range req.ExpressionAttributeNames {
		if strings.HasPrefix(v, "h_") {
			entry = v
		}
	}
	key := req.Key["pk"]["S"] + "/" + entry
	fault := storePasses
	if entry != "" {
		fault = f.pick(key)
	}
	if fault == storePasses {
		return storePasses
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	first, seen := f.first[key]
	if !seen {
		first = invocation
		f.first[key] = first
		if fault == storeFailsBefore {
			f.failedBefore++
		}
	}
	switch {
	case invocation != first:
		return storePasses
	case fault == storeFailsBefore:
		f.beforeRequests++
		return storeFailsBefore
	case strings.HasPrefix(h.Get("Amz-Sdk-Request"), "attempt=1;"):
		f.failedAfter++
		return storeFailsAfter
	}
	return storePasses
}

// counts returns the calls failed before the table, their requests, and
// the requests answered 500 after it.
func (f *statusWriteFaults) counts() (failedBefore, beforeRequests, failedAfter int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failedBefore, f.beforeRequests, f.failedAfter
}
