package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// costLatency is the provider's round trip the cost sheet is priced at.
const costLatency = 300 * time.Millisecond

// costBatch is the drain's batch in BenchmarkCostPerMessage: the event
// source mapping's BatchSize, full as under load.
const costBatch = 10

// byteCounter counts what is written to it.
type byteCounter struct{ bytes, lines atomic.Int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.bytes.Add(int64(len(p)))
	c.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// logSince counts the bytes and lines logged to buf after offset, leaving
// out debug lines: the functions log at info.
func logSince(buf []byte, offset int) (n, lines int) {
	for _, l := range strings.Split(string(buf[offset:]), "\n") {
		if l == "" || strings.Contains(l, `"level":"DEBUG"`) {
			continue
		}
		n += len(l) + 1
		lines++
	}
	return n, lines
}

// BenchmarkCostPerMessage measures, for each path a message takes, what
// the cost sheet of docs/benchmarks.md prices (scripts/costsheet.py), in
// two passes over the same stack:
//
//   - the benchmark's iterations, through mototest.Meter, with a provider
//     that answers at once: DynamoDB requests and the write and read units
//     on-demand DynamoDB would bill for them (from the items' sizes), the
//     function's own SQS requests, and the bytes and lines it logs at the
//     deployed level (JSON logs and the metrics' EMF lines). The drain
//     works on one record at a time here: several workers contending for
//     the limiter's items retry conditional writes, more so with the
//     meter's own reads slowing each request, which would count the
//     contention of this shared machine rather than the path's cost;
//   - then costRuns invocations without the meter, the provider answering
//     in costLatency and the drain with its default workers: the median
//     invocation's duration per message (lambda-ms/msg), what Lambda
//     bills.
//
// Status tracking is on (the default) unless the path says tracking-off;
// the guard (its rules and quotas) is off (newStack) unless it says guard. A drain
// iteration is one full batch of costBatch records; every figure is per
// message.
func BenchmarkCostPerMessage(b *testing.B) {
	// A wide margin: the limiter retries a slot whose answer came later
	// than half the margin (25 ms by default), which moto on a loaded
	// machine sometimes is and DynamoDB rarely; the margin changes no
	// request of a path.
	fast := []string{"SMS_RATE_LIMIT", "1000", "SMS_RATE_MARGIN", "0.4"}
	off := []string{"SMS_STATUS_TRACKING", "false"}
	queued := []string{"SMS_RATE_LIMIT", "0.001", "SMS_MAX_WAIT", "0s", "SMS_RATE_MARGIN", "0.4"}
	// The guard's defaults: the rules, and the quotas the test stacks turn
	// off (the recipient limit; the daily budget rides in the limiter's
	// write). Each message goes to a number of its own (costInvoker).
	guard := []string{"SMS_ALLOWED_SENDERS", "", "SMS_BLOCKED_NUMBER_TYPES", "", "SMS_SMART_ENCODING", "true",
		"SMS_RECIPIENT_LIMIT", "5/10m", "SMS_DAILY_SEGMENT_LIMIT", "10000"}
	paths := []struct {
		name  string
		env   []string
		key   bool
		drain bool
		want  int
	}{
		{"direct-tracking-off", slices.Concat(fast, off), false, false, 200},
		{"direct-with-key-tracking-off", slices.Concat(fast, off), true, false, 200},
		{"direct-guard-tracking-off", slices.Concat(fast, off, guard), false, false, 200},
		{"direct", fast, false, false, 200},
		{"queued-tracking-off", slices.Concat(queued, off), false, false, 202},
		{"queued", queued, false, false, 202},
		{"drain-tracking-off", slices.Concat(fast, off), false, true, 0},
		{"drain", fast, false, true, 0},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			s := newStack(b, p.env...)
			direct := s.env["AWS_ENDPOINT_URL"]
			meter := mototest.NewMeter(b, s.proxy.URL, s.moto.URL)
			s.env["AWS_ENDPOINT_URL"] = meter.URL
			var emf byteCounter
			invoke, msgsPer := costInvoker(b, s, p.drain, p.key, p.want, 1, &emf)
			invoke() // a warm function, the limiter's items in place: the steady state
			emf = byteCounter{}
			msgs := 0
			meter.Reset()
			s.proxy.Reset()
			logOffset := len(s.logs.Bytes())
			for b.Loop() {
				invoke()
				msgs += msgsPer
			}
			b.StopTimer()
			n := float64(msgs)
			c := meter.Capacity()
			sq := 0
			for op, k := range s.proxy.Counts() {
				if strings.HasPrefix(op, "AmazonSQS") {
					sq += k
				}
			}
			logBytes, logLines := logSince(s.logs.Bytes(), logOffset)
			b.ReportMetric(float64(c.Requests)/n, "ddb-req/msg")
			b.ReportMetric(c.WriteUnits/n, "ddb-wcu/msg")
			b.ReportMetric(c.ReadUnits/n, "ddb-rcu/msg")
			b.ReportMetric(float64(sq)/n, "sqs-req/msg")
			b.ReportMetric(float64(int64(logBytes)+emf.bytes.Load())/n, "log-B/msg")
			b.ReportMetric(float64(int64(logLines)+emf.lines.Load())/n, "log-lines/msg")

			// The duration, without the meter, at the provider's latency.
			s.env["AWS_ENDPOINT_URL"] = direct
			s.twilio.FailWhen(func(providertest.Request) bool { return true }, providertest.Fault{Delay: costLatency})
			invoke, msgsPer = costInvoker(b, s, p.drain, p.key, p.want, 0, &byteCounter{})
			invoke() // a warm function: connections open
			took := make([]time.Duration, costRuns)
			for i := range took {
				start := time.Now()
				invoke()
				took[i] = time.Since(start)
			}
			slices.Sort(took) // the median: this machine is shared
			b.ReportMetric(float64(took[costRuns/2].Microseconds())/1000/float64(msgsPer), "lambda-ms/msg")
		})
	}
}

// costRuns is how many invocations the duration of a path is the median
// of.
const costRuns = 7

// costInvoker builds the function of a path on s (a cold start) and
// returns one invocation as functions/send or functions/drain runs it
// (metrics.Wrap, the EMF lines going to emf), and how many messages an
// invocation carries. workers is the drain's (0: its default).
func costInvoker(b *testing.B, s *stack, drainPath, key bool, want, workers int, emf *byteCounter) (func(), int) {
	b.Helper()
	if drainPath {
		f := s.function(b, config.ModeDrain)
		h := app.NewDrainHandler(f.Config, f.Parts, f.Queue, f.DLQ, drain.Config{Workers: workers})
		handle := metrics.Wrap(emf, "drain", h.Handle)
		return func() {
			resp, err := handle(context.Background(), drainBatch(b, costBatch))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				b.Fatalf("drain = %v, %v", resp, err)
			}
		}, costBatch
	}
	h := s.sendHandler(b)
	if want == http.StatusAccepted {
		post(b, h, okReq) // takes the only slot
	}
	serve := metrics.Wrap(emf, "send", func(ctx context.Context, r apigw.Request) (apigw.Response, error) { return h.Serve(ctx, r), nil })
	i := 0
	return func() {
		i++
		// A number of its own per message, as one-time codes go, so that
		// the recipient limit never refuses one.
		body := fmt.Sprintf(`{"to":"+1415555%04d","body":"Your code is 482901"}`, i%10000)
		r := apigw.Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: http.Header{}, Body: []byte(body)}
		r.Headers.Set("Content-Type", "application/json")
		r.Headers.Set("Authorization", "Bearer "+token(b, nil))
		if key {
			r.Headers.Set("Idempotency-Key", fmt.Sprint("cost-", time.Now().UnixNano(), "-", i))
		}
		if resp, _ := serve(context.Background(), r); resp.Status != want {
			b.Fatalf("status %d %s, want %d", resp.Status, resp.Body, want)
		}
	}, 1
}

// drainBatch is an SQS event of n messages the send function queued a
// second ago, each with a new id.
func drainBatch(b testing.TB, n int) events.SQSEvent {
	b.Helper()
	var ev events.SQSEvent
	for i := range n {
		body, err := queue.Encode(sms.QueuedMessage{
			Message: sms.Message{ID: sms.NewID(), To: "+14155552671", Body: "Your verification code is 482901", From: providertest.TwilioFrom},
			Attempt: 1, EnqueuedAt: time.Now().Add(-time.Second),
		})
		if err != nil {
			b.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("cost-", i), Body: string(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	return ev
}
