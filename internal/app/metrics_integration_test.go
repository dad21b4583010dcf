package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// emfPoints reads EMF lines into "Name{Dim=value,...}" → the sum of the
// values, for every dimension set. Lines that are not EMF fail the test.
func emfPoints(t *testing.T, out string) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var root map[string]any
		if err := json.Unmarshal([]byte(line), &root); err != nil {
			t.Fatalf("metrics line %q is not JSON: %v", line, err)
		}
		meta, _ := root["_aws"].(map[string]any)
		dirs, _ := meta["CloudWatchMetrics"].([]any)
		if len(dirs) == 0 {
			t.Fatalf("metrics line without directives: %s", line)
		}
		for _, d := range dirs {
			dir := d.(map[string]any)
			if dir["Namespace"] != metrics.Namespace {
				t.Errorf("namespace %v, want %s", dir["Namespace"], metrics.Namespace)
			}
			for _, set := range dir["Dimensions"].([]any) {
				var dims []string
				for _, n := range set.([]any) {
					dims = append(dims, n.(string)+"="+root[n.(string)].(string))
				}
				for _, m := range dir["Metrics"].([]any) {
					name := m.(map[string]any)["Name"].(string)
					k := name + "{" + strings.Join(dims, ",") + "}"
					switch v := root[name].(type) {
					case float64:
						got[k] += v
					case []any:
						for _, x := range v {
							got[k] += x.(float64)
						}
					default:
						t.Fatalf("metric %s has value %v", name, root[name])
					}
				}
			}
		}
	}
	return got
}

func pointNames(m map[string]float64) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, k+"="+strconv.FormatFloat(v, 'f', -1, 64))
	}
	sort.Strings(ks)
	return strings.Join(ks, "\n  ")
}

// TestSendMetrics runs the send handler as functions/send does (metrics.Wrap)
// and reads what each answer leaves in the EMF lines: one flush per
// invocation, after the answer, with the provider's name and the outcome
// as dimensions.
func TestSendMetrics(t *testing.T) {
	s := newStack(t, "SMS_ALLOWED_COUNTRIES", "US,CA")
	h := s.sendHandler(t)
	const fn = "stack-SendFunction-1"
	tests := []struct {
		name       string
		fault      *providertest.Fault
		body       string
		wantStatus int
		want       map[string]float64 // points that must be there, with their values
		absent     []string           // points that must not be
	}{
		{name: "sent", body: `{"to":"+14155552671","body":"` + strings.Repeat("a", 200) + `"}`, wantStatus: 200, want: map[string]float64{
			"Requests{Function=" + fn + "}":                 1,
			"Requests{Function=" + fn + ",Outcome=200}":     1,
			"Sent{Function=" + fn + ",Provider=twilio}":     1,
			"Segments{Function=" + fn + ",Provider=twilio}": 2,
		}, absent: []string{"Queued{Function=" + fn + "}", "ServerErrors{Function=" + fn + "}"}},
		{name: "rejected", fault: &providertest.Fault{Code: 21614}, body: okReq, wantStatus: 422, want: map[string]float64{
			"Requests{Function=" + fn + ",Outcome=422}":                   1,
			"Rejected{Function=" + fn + ",Provider=twilio,Outcome=21614}": 1,
			"Rejected{Function=" + fn + "}":                               1,
		}, absent: []string{"Sent{Function=" + fn + "}"}},
		{name: "ambiguous, queued", fault: &providertest.Fault{Drop: providertest.DropAfterAccept}, body: okReq, wantStatus: 202, want: map[string]float64{
			"Requests{Function=" + fn + ",Outcome=202}":      1,
			"Ambiguous{Function=" + fn + ",Provider=twilio}": 1,
			"Queued{Function=" + fn + "}":                    1,
		}},
		{name: "provider unavailable, queued", fault: &providertest.Fault{Status: 503}, body: okReq, wantStatus: 202, want: map[string]float64{
			"ProviderErrors{Function=" + fn + ",Provider=twilio,Outcome=transient}": 1,
			"Queued{Function=" + fn + "}":                                           1,
		}},
		{name: "account refused", fault: &providertest.Fault{Status: 401, Code: 20003}, body: okReq, wantStatus: 502, want: map[string]float64{
			"ProviderErrors{Function=" + fn + ",Provider=twilio,Outcome=provider-account}": 1,
			"ServerErrors{Function=" + fn + "}":                                            1,
			"Requests{Function=" + fn + ",Outcome=502}":                                    1,
		}},
		{name: "destination refused", body: `{"to":"+447911123456","body":"hi"}`, wantStatus: 403, want: map[string]float64{
			"Refusals{Function=" + fn + ",Outcome=destination_not_allowed}": 1,
			"Requests{Function=" + fn + ",Outcome=403}":                     1,
		}, absent: []string{"ProviderLatency{Function=" + fn + "}", "LimiterWait{Function=" + fn + "}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.twilio.ClearFaults()
			if tt.fault != nil {
				s.twilio.FailNext(1, *tt.fault)
			}
			var out bytes.Buffer
			invoke := metrics.Wrap(&out, fn, func(ctx context.Context, r apigw.Request) (apigw.Response, error) {
				resp := h.Serve(ctx, r)
				if out.Len() != 0 {
					t.Errorf("metrics written before the invocation ended: %s", out.String())
				}
				return resp, nil
			})
			r := apigw.Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: http.Header{}, Body: []byte(tt.body)}
			r.Headers.Set("Content-Type", "application/json")
			r.Headers.Set("Authorization", "Bearer "+token(t, nil))
			resp, _ := invoke(context.Background(), r)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", resp.Status, resp.Body, tt.wantStatus)
			}
			got := emfPoints(t, out.String())
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %v, want %v; have\n  %s", k, got[k], want, pointNames(got))
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s recorded, want none", k)
				}
			}
			if tt.wantStatus == 200 || tt.wantStatus == 422 {
				if got["ProviderLatency{Function="+fn+",Provider=twilio}"] <= 0 || got["LimiterWait{Function="+fn+"}"] < 0 {
					t.Errorf("provider latency and limiter wait missing: %s", pointNames(got))
				}
			}
			if strings.Contains(out.String(), "+1415") || strings.Contains(out.String(), "+4479") {
				t.Errorf("metrics carry a phone number: %s", out.String())
			}
		})
		time.Sleep(250 * time.Millisecond) // stay under the default rate
	}
}

// TestDrainMetrics runs the drain handler as functions/drain does over a
// batch of a queued message, a producer's message and a poison one.
func TestDrainMetrics(t *testing.T) {
	s := newStack(t)
	h := s.drainHandler(t)
	const fn = "stack-DrainFunction-1"
	enqueued := time.Now().Add(-3 * time.Second)
	envelope, err := queue.Encode(sms.QueuedMessage{
		Message: sms.Message{ID: sms.NewID(), To: "+14155552671", Body: "code 1", From: providertest.TwilioFrom},
		Attempt: 1, EnqueuedAt: enqueued,
	})
	if err != nil {
		t.Fatal(err)
	}
	sentAt := strconv.FormatInt(time.Now().Add(-5*time.Second).UnixMilli(), 10)
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m-1", Body: string(envelope), Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": sentAt}},
		{MessageId: "m-2", Body: producerMessage("producer-1", "+14155552672", "code 2"), Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": sentAt}},
		{MessageId: "m-3", Body: `{"to":`, Attributes: map[string]string{"ApproximateReceiveCount": "1"}},
	}}
	var out bytes.Buffer
	resp, err := metrics.Wrap(&out, fn, h.Handle)(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %v, %v; want every record done with", resp, err)
	}
	got := emfPoints(t, out.String())
	for k, want := range map[string]float64{
		"Records{Function=" + fn + ",Outcome=delivered}":         2,
		"Records{Function=" + fn + ",Outcome=poison}":            1,
		"Records{Function=" + fn + "}":                           3,
		"Sent{Function=" + fn + ",Provider=twilio}":              2,
		"DeadLettered{Function=" + fn + ",Outcome=invalid_json}": 1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v; have\n  %s", k, got[k], want, pointNames(got))
		}
	}
	// Queue age: about 3 s for the queued message (its enqueuedAt), about
	// 5 s for the producer's (SQS's SentTimestamp).
	if age := got["QueueAge{Function="+fn+"}"]; age < 8000 || age > 20000 {
		t.Errorf("QueueAge sum = %v ms, want about 8000 (3 s + 5 s)", age)
	}
	if strings.Count(out.String(), "\n") > 4 {
		t.Errorf("one batch wrote %d lines, want a few:\n%s", strings.Count(out.String(), "\n"), out.String())
	}
}
