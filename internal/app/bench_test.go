package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// instantProvider accepts every message at once: the benchmark measures
// this service, not a provider.
type instantProvider struct{}

func (instantProvider) Send(_ context.Context, m sms.Message) (sms.Receipt, error) {
	return sms.Receipt{ID: "SM0123456789abcdef0123456789abcdef"}, nil
}

// BenchmarkHandlerInProcess is the in-process cost of one accepted request:
// JWT verification, strict decoding, validation, segment counting, a slot
// from the in-memory limiter, the (instant) provider, and the JSON answer.
func BenchmarkHandlerInProcess(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := config.Config{From: "FluxKit", QueueEnabled: true, MaxWait: 250 * time.Millisecond}
	limiter, err := memory.NewLimiter(memory.LimiterConfig{Rate: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	queue, err := memory.NewQueue(memory.QueueConfig{Capacity: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	parts := app.Parts{
		Provider: instantProvider{},
		Limiter:  limiter,
		Ledger:   memory.NewLedger(memory.LedgerConfig{}),
		Queue:    queue,
		Log:      log,
	}
	authn, err := app.NewCredentials(context.Background(), cfg, app.Sources{Provider: app.FixedSecrets(config.Secrets{JWTSecret: testJWTSecret})}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	h := apigw.NewHandler(authn, app.NewSender(cfg, parts), log)
	tok := token(b, nil)
	for _, tc := range []struct {
		name string
		key  bool
	}{{"direct", false}, {"idempotency-key", true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			hdr := http.Header{}
			hdr.Set("Authorization", "Bearer "+tok)
			hdr.Set("Content-Type", "application/json")
			r := apigw.Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: hdr, Body: []byte(okReq)}
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if tc.key {
					i++
					r.Headers = hdr.Clone()
					r.Headers.Set("Idempotency-Key", fmt.Sprint("k", i))
				}
				if resp := h.Serve(ctx, r); resp.Status != 200 {
					b.Fatalf("status %d: %s", resp.Status, resp.Body)
				}
			}
		})
	}
}

// BenchmarkAWSRequestsPerMessage counts the DynamoDB and SQS requests each
// path costs, through the counting proxy in front of moto, and the
// DynamoDB write units: one per write request, every item of the table
// staying under 1 KB (checked by scanning it). Each message goes to a
// number of its own, as one-time codes do. The paths run with the guard's
// quotas off (as the test stacks do) and, with "-guard", with their
// defaults: the recipient limit (5/10m), whose count is one more write,
// and the daily budget, counted in the limiter's own write. "drained" is
// the drain taking producers' messages off the queue. The failover paths
// (SMS_PROVIDER=twilio,vonage) cost what the direct one does while the
// first provider answers, and again once its breaker skips it. Status
// tracking is on (the default) unless the path says "tracking-off"; a
// status record that learned its provider id costs one more write unit,
// for its entry in the providerMessageId index.
func BenchmarkAWSRequestsPerMessage(b *testing.B) {
	guard := []string{"SMS_RECIPIENT_LIMIT", "5/10m", "SMS_DAILY_SEGMENT_LIMIT", "10000"}
	off := []string{"SMS_STATUS_TRACKING", "false"}
	with := func(env ...[]string) []string { return slices.Concat(env...) }
	// A wide margin: a slot whose answer comes back later than half the
	// margin is dropped and another taken, which a loaded machine's
	// emulator would turn into queued messages; the counts are what is
	// measured here.
	direct := []string{"SMS_RATE_LIMIT", "1000", "SMS_RATE_MARGIN", "0.45"}
	queued := []string{"SMS_RATE_LIMIT", "0.001", "SMS_MAX_WAIT", "0s"}
	failover := with(direct, []string{"SMS_PROVIDER", "twilio,vonage"})
	paths := []struct {
		name  string
		env   []string
		key   bool
		want  int // the send path's answer; 0: the drain
		setup func(*stack)
	}{
		{"direct", direct, false, 200, nil},
		{"direct-tracking-off", with(direct, off), false, 200, nil},
		{"direct-guard", with(direct, guard), false, 200, nil},
		{"direct-with-key", direct, true, 200, nil},
		{"direct-with-key-tracking-off", with(direct, off), true, 200, nil},
		{"direct-with-key-guard", with(direct, guard), true, 200, nil},
		{"queued", queued, false, 202, nil},
		{"queued-tracking-off", with(queued, off), false, 202, nil},
		{"queued-guard", with(queued, guard), false, 202, nil},
		{"drained", direct, false, 0, nil},
		{"drained-tracking-off", with(direct, off), false, 0, nil},
		{"drained-guard", with(direct, guard), false, 0, nil},
		{"direct-failover", failover, false, 200, nil},
		{"direct-failover-first-down", failover, false, 200, func(s *stack) {
			s.twilio.FailWhen(func(providertest.Request) bool { return true }, providertest.Fault{Status: 503})
		}},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			s := newStack(b, p.env...)
			if p.setup != nil {
				p.setup(s)
			}
			run := s.benchSend(b, p.key, p.want)
			if p.want == 0 {
				run = s.benchDrain(b)
			}
			if strings.HasPrefix(p.name, "queued") {
				post(b, s.sendHandler(b), okReq) // the only slot
			}
			before := scanTable(b, s)
			s.proxy.Reset()
			n := 0
			for b.Loop() {
				n++
				run(n)
			}
			ddb, writes, sq := 0, 0, 0
			for op, c := range s.proxy.Counts() {
				switch {
				case strings.HasPrefix(op, "DynamoDB"):
					ddb += c
					if strings.HasSuffix(op, ".UpdateItem") || strings.HasSuffix(op, ".PutItem") || strings.HasSuffix(op, ".DeleteItem") {
						writes += c
					}
				case strings.HasPrefix(op, "AmazonSQS"):
					sq += c
				}
			}
			after := scanTable(b, s)
			if after.largest > 1024 {
				b.Fatalf("an item of %d bytes: over 1 KB, a write of it costs more than one unit", after.largest)
			}
			b.ReportMetric(float64(ddb)/float64(n), "ddb-req/msg")
			b.ReportMetric(float64(writes+after.indexed-before.indexed)/float64(n), "ddb-wcu/msg")
			b.ReportMetric(float64(sq)/float64(n), "sqs-req/msg")
			b.ReportMetric(float64(after.largest), "max-item-B")
		})
	}
}

// benchTo is the n-th message's recipient: a number of its own.
func benchTo(n int) string { return fmt.Sprintf("+1415555%04d", n%10000) }

// benchSend returns a step that posts the n-th message and checks the
// answer.
func (s *stack) benchSend(b *testing.B, key bool, want int) func(n int) {
	h := s.sendHandler(b)
	return func(n int) {
		var hdr []string
		if key {
			hdr = []string{"Idempotency-Key", fmt.Sprint("bench-", n)}
		}
		body := fmt.Sprintf(`{"to":%q,"body":"Your code is %06d"}`, benchTo(n), n)
		if a := post(b, h, body, hdr...); a.status != want {
			b.Fatalf("status %d %s, want %d", a.status, a.raw, want)
		}
	}
}

// benchDrain returns a step that hands the drain one producer's message
// (as the event source mapping would: the SQS requests of receiving and
// deleting it are not counted) and checks that it was sent.
func (s *stack) benchDrain(b *testing.B) func(n int) {
	h := s.drainHandler(b)
	return func(n int) {
		body := producerMessage(fmt.Sprint("bench-", n), benchTo(n), fmt.Sprintf("Your code is %06d", n))
		ev := events.SQSEvent{Records: []events.SQSMessage{{
			MessageId: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), Body: body,
			Attributes:     map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": fmt.Sprint(time.Now().UnixMilli())},
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:q",
		}}}
		resp, err := h.Handle(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("drain: %v, failures %v", err, resp.BatchItemFailures)
		}
	}
}

// tableState is what the benchmark reads of the table: how many items are
// in the providerMessageId index and the largest item's size.
type tableState struct{ indexed, largest int }

// scanTable scans the stack's table straight from moto (not counted).
func scanTable(b *testing.B, s *stack) tableState {
	b.Helper()
	var st tableState
	var start map[string]ddbtypes.AttributeValue
	for {
		out, err := s.moto.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(s.env["SMS_TABLE_NAME"]), ExclusiveStartKey: start})
		if err != nil {
			b.Fatal(err)
		}
		for _, item := range out.Items {
			if _, ok := item["providerMessageId"]; ok {
				st.indexed++
			}
			st.largest = max(st.largest, itemSize(item))
		}
		if len(out.LastEvaluatedKey) == 0 {
			return st
		}
		start = out.LastEvaluatedKey
	}
}

// itemSize is an item's size as DynamoDB bills it: attribute names plus
// values (strings and set elements in UTF-8 bytes, numbers about one byte
// per two digits plus one, maps and sets 3 bytes plus their elements).
func itemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v ddbtypes.AttributeValue) int {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		digits := len(strings.TrimLeft(strings.TrimPrefix(v.Value, "-"), "0"))
		return (digits+1)/2 + 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 3
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += len(k) + valueSize(e) + 1
		}
		return n
	case *ddbtypes.AttributeValueMemberB:
		return len(v.Value)
	}
	return 1
}
