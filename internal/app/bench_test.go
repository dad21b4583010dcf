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
// path costs, through the counting proxy in front of moto. The failover
// paths (SMS_PROVIDER=twilio,vonage) cost what the direct one does while
// the first provider answers, and again once its breaker skips it.
func BenchmarkAWSRequestsPerMessage(b *testing.B) {
	failover := []string{"SMS_PROVIDER", "twilio,vonage", "SMS_RATE_LIMIT", "1000"}
	paths := []struct {
		name  string
		env   []string
		key   bool
		want  int
		setup func(*stack)
	}{
		{"direct", []string{"SMS_RATE_LIMIT", "1000"}, false, 200, nil},
		{"direct-with-key", []string{"SMS_RATE_LIMIT", "1000"}, true, 200, nil},
		{"queued", []string{"SMS_RATE_LIMIT", "0.001", "SMS_MAX_WAIT", "0s"}, false, 202, nil},
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
			h := s.sendHandler(b)
			if p.name == "queued" {
				post(b, h, okReq) // the only slot
			}
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
			ddb, sq := 0, 0
			for op, c := range s.proxy.Counts() {
				switch {
				case strings.HasPrefix(op, "DynamoDB"):
					ddb += c
				case strings.HasPrefix(op, "AmazonSQS"):
					sq += c
				}
			}
			b.ReportMetric(float64(ddb)/float64(n), "ddb-req/msg")
			b.ReportMetric(float64(sq)/float64(n), "sqs-req/msg")
		})
	}
}
