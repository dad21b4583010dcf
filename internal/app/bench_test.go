package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/sms"
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
	h := app.NewSendHandler(cfg, parts, authn)
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
// DynamoDB write units: one per write request (every item of the table
// stays under 1 KB, which the benchmark checks by scanning it) plus one
// per entry written to the providerMessageId index (a status record that
// learned its provider id). Status tracking is on (the default) unless the
// path says "tracking-off".
func BenchmarkAWSRequestsPerMessage(b *testing.B) {
	off := []string{"SMS_STATUS_TRACKING", "false"}
	paths := []struct {
		name string
		env  []string
		key  bool
		want int
	}{
		{"direct", []string{"SMS_RATE_LIMIT", "1000"}, false, 200},
		{"direct-tracking-off", append([]string{"SMS_RATE_LIMIT", "1000"}, off...), false, 200},
		{"direct-with-key", []string{"SMS_RATE_LIMIT", "1000"}, true, 200},
		{"direct-with-key-tracking-off", append([]string{"SMS_RATE_LIMIT", "1000"}, off...), true, 200},
		{"queued", []string{"SMS_RATE_LIMIT", "0.001", "SMS_MAX_WAIT", "0s"}, false, 202},
		{"queued-tracking-off", append([]string{"SMS_RATE_LIMIT", "0.001", "SMS_MAX_WAIT", "0s"}, off...), false, 202},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			s := newStack(b, p.env...)
			h := s.sendHandler(b)
			if strings.HasPrefix(p.name, "queued") {
				post(b, h, okReq) // the only slot
			}
			before := tableWrites(b, s)
			s.proxy.Reset()
			n := 0
			for b.Loop() {
				n++
				var hdr []string
				if p.key {
					hdr = []string{"Idempotency-Key", fmt.Sprint("bench-", n)}
				}
				if a := post(b, h, okReq, hdr...); a.status != p.want {
					b.Fatalf("status %d %s, want %d", a.status, a.raw, p.want)
				}
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
			after := tableWrites(b, s)
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

// tableState is what the benchmark reads of the table: how many items are
// in the providerMessageId index and the largest item's size.
type tableState struct{ indexed, largest int }

// tableWrites scans the stack's table straight from moto (not counted).
func tableWrites(b *testing.B, s *stack) tableState {
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
// values (strings in UTF-8 bytes, numbers about one byte per two digits
// plus one, maps 3 bytes plus one per element).
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
