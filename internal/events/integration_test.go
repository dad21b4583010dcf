package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

// moto is the emulator the package's integration tests share.
var moto *mototest.Server

func TestMain(m *testing.M) { mototest.Main(m, &moto) }

// esmBatchSize is the event source mapping's BatchSize in template.yaml.
const esmBatchSize = 100

// putEventsOp is the proxy's name of EventBridge's PutEvents.
const putEventsOp = "AWSEvents.PutEvents"

var rigSeq atomic.Int64

// rig is the pipeline of template.yaml on moto: the table with its
// stream, the status store writing to it, a reader of the stream standing
// in for the event source mapping, the publisher's handler reaching
// EventBridge through a proxy, and a rule sending every status event on
// the bus to an SQS queue.
type rig struct {
	table   string
	store   *dynamo.StatusStore
	ddb     *dynamodb.Client
	reader  *mototest.StreamReader
	proxy   *mototest.Proxy
	tap     *mototest.EventTap
	handler *Handler
}

func newRig(t testing.TB) *rig {
	t.Helper()
	ctx := context.Background()
	n := rigSeq.Add(1)
	r := &rig{table: moto.CreateTable(t, fmt.Sprintf("events-%d", n)), ddb: moto.DynamoDB()}
	arn, err := mototest.EnableStream(ctx, r.ddb, r.table)
	if err != nil {
		t.Fatal(err)
	}
	r.reader = mototest.NewStreamReader(moto.Config(), arn)
	r.store = dynamo.NewStatusStore(r.ddb, r.table, dynamo.StatusConfig{})
	if r.tap, err = mototest.CreateEventTap(ctx, moto.Config(), fmt.Sprintf("sms-events-%d", n), fmt.Sprintf("sms-events-tap-%d", n), mototest.StatusEventPattern); err != nil {
		t.Fatal(err)
	}
	r.proxy = mototest.NewProxy(t, moto.URL)
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(r.proxy.URL)
	pub := NewPublisher(eventbridge.NewFromConfig(cfg), r.tap.Bus, PublisherConfig{Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	r.handler = NewHandler(pub, nil)
	return r
}

// record writes ch through the status store.
func (r *rig) record(t testing.TB, id string, ch sms.Change) {
	t.Helper()
	if _, err := r.store.Record(context.Background(), id, ch); err != nil {
		t.Fatalf("Record(%s, %s): %v", id, ch.Status, err)
	}
}

// pump hands what the stream holds since the last pump to the handler in
// batches of esmBatchSize records, as the event source mapping does, and
// returns the records and the batch item failures.
func (r *rig) pump(t testing.TB) (records []lambdaevents.DynamoDBEventRecord, failures []string) {
	t.Helper()
	ctx := context.Background()
	records, err := r.reader.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range mototest.Batches(records, esmBatchSize) {
		resp, err := r.handler.Handle(ctx, ev)
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		for _, f := range resp.BatchItemFailures {
			failures = append(failures, f.ItemIdentifier)
		}
	}
	return records, failures
}

// received takes the events the rule delivered, as "serviceId prev>status"
// sorted, and their details.
func (r *rig) received(t testing.TB) ([]string, []Detail, []mototest.TappedEvent) {
	t.Helper()
	evs, err := r.tap.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var details []Detail
	for _, ev := range evs {
		if ev.Source != Source || ev.DetailType != DetailType {
			t.Errorf("event source %q, detail-type %q; want %q, %q", ev.Source, ev.DetailType, Source, DetailType)
		}
		var d Detail
		dec := json.NewDecoder(strings.NewReader(string(ev.Detail)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("event detail %s: %v", ev.Detail, err)
		}
		details = append(details, d)
		keys = append(keys, changeKey(d.ServiceID, d.PreviousStatus, d.Status))
	}
	sort.Strings(keys)
	return keys, details, evs
}

func changeKey(id string, prev, st sms.Status) string { return fmt.Sprintf("%s %s>%s", id, prev, st) }

// written is what scenario wrote: the changes that moved a record (the
// events expected, sorted), and the service ids of the messages whose last
// write moved their record.
type written struct {
	want     []string
	settled  []string
	messages int
}

// scenario writes the status changes of a few messages along the paths of
// docs/status.md, with the duplicates and reorderings receipts bring.
func scenario(t *testing.T, r *rig) written {
	t.Helper()
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	direct, queued, outran, redriven := sms.NewServiceID(), sms.NewServiceID(), sms.NewServiceID(), sms.NewServiceID()
	owner := sms.CallerOwner("app-1")
	msg := sms.Change{To: "+14155550100", From: "+15005550006", Segments: 1, Encoding: sms.GSM7, CreatedAt: at, Owner: owner}
	with := func(ch sms.Change, f func(*sms.Change)) sms.Change { f(&ch); return ch }

	// A direct send, then its receipts: Twilio's "sent" (nothing new) and
	// "delivered", the latter twice.
	r.record(t, direct, with(msg, func(c *sms.Change) {
		c.Status, c.At, c.MessageID, c.ProviderMessageID, c.Provider = sms.StatusSent, at, "SMdirect", "SMdirect", "twilio"
	}))
	r.record(t, direct, sms.Change{Status: sms.StatusSent, At: at.Add(time.Second), ProviderCode: "sent", ProviderMessageID: "SMdirect"})
	r.record(t, direct, sms.Change{Status: sms.StatusDelivered, At: at.Add(2 * time.Second), ProviderCode: "delivered"})
	r.record(t, direct, sms.Change{Status: sms.StatusDelivered, At: at.Add(2 * time.Second), ProviderCode: "delivered"})

	// A queued message: queued, the drain's sent, an undelivered receipt,
	// then a late "sent" receipt that only enters the history.
	r.record(t, queued, with(msg, func(c *sms.Change) { c.Status, c.At, c.MessageID = sms.StatusQueued, at, queued }))
	r.record(t, queued, sms.Change{Status: sms.StatusSent, At: at.Add(time.Second), ProviderMessageID: "SMqueued", Provider: "twilio"})
	r.record(t, queued, sms.Change{Status: sms.StatusUndelivered, At: at.Add(3 * time.Second), ProviderCode: "30003",
		Error: &sms.Failure{Code: "undelivered", Message: "unreachable handset", ProviderCode: "30003"}})
	r.record(t, queued, sms.Change{Status: sms.StatusSent, At: at.Add(500 * time.Millisecond), ProviderCode: "sent"})

	// A receipt that outran the send path: delivered first, then the send
	// path's sent merges without moving the record.
	r.record(t, outran, sms.Change{Status: sms.StatusDelivered, At: at.Add(2 * time.Second), ProviderCode: "delivered", ProviderMessageID: "SMoutran", Provider: "twilio"})
	r.record(t, outran, with(msg, func(c *sms.Change) {
		c.Status, c.At, c.MessageID, c.ProviderMessageID, c.Provider = sms.StatusSent, at, "SMoutran", "SMoutran", "twilio"
	}))

	// Dead-lettered, then sent after a redrive.
	r.record(t, redriven, with(msg, func(c *sms.Change) { c.Status, c.At, c.MessageID = sms.StatusQueued, at, redriven }))
	r.record(t, redriven, sms.Change{Status: sms.StatusFailed, At: at.Add(time.Second), Error: &sms.Failure{Code: sms.CodeDeadLettered, Message: "requeue_limit"}})
	r.record(t, redriven, sms.Change{Status: sms.StatusSent, At: at.Add(2 * time.Second), ProviderMessageID: "SMredriven", Provider: "twilio"})

	// Items of other kinds share the table and its stream.
	for _, item := range []map[string]ddbtypes.AttributeValue{
		{"pk": &ddbtypes.AttributeValueMemberS{Value: "limiter#sms"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "shard#0"}, "next": &ddbtypes.AttributeValueMemberN{Value: "1"}},
		{"pk": &ddbtypes.AttributeValueMemberS{Value: "ledger#msg#" + queued}, "sk": &ddbtypes.AttributeValueMemberS{Value: "ledger"}, "state": &ddbtypes.AttributeValueMemberS{Value: "done"}},
	} {
		if _, err := r.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}

	want := []string{
		changeKey(direct, "", sms.StatusSent), changeKey(direct, sms.StatusSent, sms.StatusDelivered),
		changeKey(queued, "", sms.StatusQueued), changeKey(queued, sms.StatusQueued, sms.StatusSent), changeKey(queued, sms.StatusSent, sms.StatusUndelivered),
		changeKey(outran, "", sms.StatusDelivered),
		changeKey(redriven, "", sms.StatusQueued), changeKey(redriven, sms.StatusQueued, sms.StatusFailed), changeKey(redriven, sms.StatusFailed, sms.StatusSent),
	}
	sort.Strings(want)
	return written{want: want, settled: []string{direct, redriven}, messages: 4}
}

// TestEventsFromTheStream: every status change written through the
// DynamoDB store reaches a rule's SQS target on the bus exactly once (no
// fault), and nothing else does: no duplicate receipt, no merge that
// leaves the status, no item of another kind.
func TestEventsFromTheStream(t *testing.T) {
	r := newRig(t)
	w := scenario(t, r)
	records, failures := r.pump(t)
	if len(failures) != 0 {
		t.Errorf("batch item failures = %v, want none", failures)
	}
	got, details, _ := r.received(t)
	if !slices.Equal(got, w.want) {
		t.Errorf("events =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(w.want, "\n  "))
	}
	t.Logf("%d messages, %d stream records, %d events, %d PutEvents requests", w.messages, len(records), len(got), r.proxy.Counts()[putEventsOp])

	// The event of a message's last move carries its record as the store
	// reads it, without history and owner.
	for _, id := range w.settled {
		rec, err := r.store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(details, func(d Detail) bool { return d.ServiceID == id && d.Status == rec.Status })
		if i < 0 {
			t.Errorf("no event of %s reaching %s", id, rec.Status)
			continue
		}
		if want := NewDetail(Change{Record: rec, Previous: details[i].PreviousStatus}); !sameDetail(details[i], want) {
			t.Errorf("event detail of %s =\n  %+v\nwant the record's\n  %+v", id, details[i], want)
		}
	}
}

// sameDetail compares two details, their errors by value.
func sameDetail(a, b Detail) bool {
	ae, be := a.Error, b.Error
	a.Error, b.Error = nil, nil
	if a != b {
		return false
	}
	return (ae == nil) == (be == nil) && (ae == nil || *ae == *be)
}

// failingBus rewrites PutEvents requests on the proxy: an entry it fails
// is taken out of the request moto gets and reported failed in the answer
// with its ErrorCode, as EventBridge reports entries it did not take.
type failingBus struct {
	mu     sync.Mutex
	fail   func(detail string, seen int) bool // seen: earlier requests carrying the detail
	seen   map[string]int
	failed int // entries reported failed
}

func newFailingBus(fail func(detail string, seen int) bool) *failingBus {
	return &failingBus{fail: fail, seen: map[string]int{}}
}

func (f *failingBus) rewrite(op string, body []byte) ([]byte, func(int, []byte) (int, []byte)) {
	if op != putEventsOp {
		return nil, nil
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil
	}
	entries, _ := req["Entries"].([]any)
	f.mu.Lock()
	var keep []any
	failAt := map[int]bool{}
	for i, e := range entries {
		detail, _ := e.(map[string]any)["Detail"].(string)
		if f.fail(detail, f.seen[detail]) {
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
		if len(keep) > 0 && (status != 200 || json.Unmarshal(body, &got) != nil || len(got.Entries) != len(keep)) {
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
		return 200, b
	}
	return forward, answer
}

// TestFailedEntriesAreRetried: PutEvents reports some entries failed (the
// proxy takes them out of the request moto gets); the publisher sends them
// again within the invocation, and every event arrives exactly once.
func TestFailedEntriesAreRetried(t *testing.T) {
	r := newRig(t)
	want := scenario(t, r).want
	// Fail the first two attempts of every other event.
	var n atomic.Int64
	fb := newFailingBus(func(_ string, seen int) bool { return seen < 2 && n.Add(1)%2 == 1 })
	r.proxy.SetRewrite(fb.rewrite)
	_, failures := r.pump(t)
	if len(failures) != 0 {
		t.Errorf("batch item failures = %v, want none (the retries succeed)", failures)
	}
	got, _, _ := r.received(t)
	if !slices.Equal(got, want) {
		t.Errorf("events =\n  %s\nwant each change once\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if fb.failed == 0 {
		t.Fatal("the proxy failed no entry")
	}
	if calls := r.proxy.Counts()[putEventsOp]; calls < 3 {
		t.Errorf("PutEvents requests = %d, want the first and the retries (>= 3)", calls)
	}
	t.Logf("%d entries reported failed, %d PutEvents requests, %d events", fb.failed, r.proxy.Counts()[putEventsOp], len(got))
}

// TestEntriesStillFailingAreReported: an event that keeps failing makes
// its stream record a batch item failure; when Lambda hands the batch
// again from that record (once the fault is gone), every change has
// reached the bus: none is lost, some are repeated.
func TestEntriesStillFailingAreReported(t *testing.T) {
	r := newRig(t)
	want := scenario(t, r).want
	records, err := r.reader.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Every event of the undelivered change fails, whatever the attempt.
	fb := newFailingBus(func(detail string, _ int) bool { return strings.Contains(detail, `"status":"undelivered"`) })
	r.proxy.SetRewrite(fb.rewrite)
	ev := lambdaevents.DynamoDBEvent{Records: records}
	resp, err := r.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var failedSeq []string
	for _, f := range resp.BatchItemFailures {
		failedSeq = append(failedSeq, f.ItemIdentifier)
	}
	var undelivered []string
	for _, rec := range records {
		if ch, ok, _ := ChangeOf(rec); ok && ch.Record.Status == sms.StatusUndelivered {
			undelivered = append(undelivered, rec.Change.SequenceNumber)
		}
	}
	if len(undelivered) != 1 || !slices.Equal(failedSeq, undelivered) {
		t.Fatalf("batch item failures = %v, want the undelivered change's record %v", failedSeq, undelivered)
	}
	if got := fb.failed; got != DefaultAttempts {
		t.Errorf("failed attempts of the event = %d, want %d (Attempts)", got, DefaultAttempts)
	}
	first, _, _ := r.received(t)

	// Lambda retries from the failed record: it and every later one.
	r.proxy.SetRewrite(nil)
	from := slices.IndexFunc(records, func(rec lambdaevents.DynamoDBEventRecord) bool { return rec.Change.SequenceNumber == failedSeq[0] })
	resp, err = r.handler.Handle(context.Background(), lambdaevents.DynamoDBEvent{Records: records[from:]})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %v, %v; want no failure", resp.BatchItemFailures, err)
	}
	second, _, _ := r.received(t)
	all := append(slices.Clone(first), second...)
	for _, w := range want {
		if !slices.Contains(all, w) {
			t.Errorf("change %s never published", w)
		}
	}
	if slices.Contains(first, undeliveredKey(want)) {
		t.Errorf("the failing event reached the bus on the first try")
	}
	t.Logf("first try %d events, retry %d (the failed one and those after it)", len(first), len(second))
}

func undeliveredKey(keys []string) string {
	for _, k := range keys {
		if strings.HasSuffix(k, ">undelivered") {
			return k
		}
	}
	return ""
}

// TestPublishAgainFromGetRecords follows docs/runbook.md's way of
// publishing a given-up batch again: the records as DynamoDB Streams'
// GetRecords answers them (its JSON, not the SDK's types), without their
// creation time, handed to the handler as its event. Every change of the
// batch reaches the bus.
func TestPublishAgainFromGetRecords(t *testing.T) {
	r := newRig(t)
	want := scenario(t, r).want
	ctx := context.Background()
	st := dynamodbstreams.NewFromConfig(moto.Config())
	tables, err := st.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String(r.table)})
	if err != nil || len(tables.Streams) != 1 {
		t.Fatalf("ListStreams = %v, %v", tables, err)
	}
	desc, err := st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: tables.Streams[0].StreamArn})
	if err != nil || len(desc.StreamDescription.Shards) != 1 {
		t.Fatalf("DescribeStream = %v, %v", desc, err)
	}
	shard := desc.StreamDescription.Shards[0]
	it, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn: tables.Streams[0].StreamArn, ShardId: shard.ShardId,
		ShardIteratorType: streamtypes.ShardIteratorTypeAtSequenceNumber, SequenceNumber: shard.SequenceNumberRange.StartingSequenceNumber,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{"ShardIterator": aws.ToString(it.ShardIterator), "Limit": 100})
	hreq, _ := http.NewRequest(http.MethodPost, moto.URL, bytes.NewReader(req))
	hreq.Header.Set("Content-Type", "application/x-amz-json-1.0")
	hreq.Header.Set("X-Amz-Target", "DynamoDBStreams_20120810.GetRecords")
	hreq.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260301/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Records []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GetRecords: %d, %v", resp.StatusCode, err)
	}
	// jq '{Records: [.Records[] | del(.dynamodb.ApproximateCreationDateTime)]}'
	for _, rec := range page.Records {
		delete(rec["dynamodb"].(map[string]any), "ApproximateCreationDateTime")
	}
	payload, _ := json.Marshal(map[string]any{"Records": page.Records})
	var ev lambdaevents.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("the records do not decode as the publisher's event: %v", err)
	}
	out, err := r.handler.Handle(ctx, ev)
	if err != nil || len(out.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %v, %v; want no failure", out.BatchItemFailures, err)
	}
	if got, _, _ := r.received(t); !slices.Equal(got, want) {
		t.Errorf("events =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
