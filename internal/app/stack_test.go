package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// testJWTSecret signs the tokens of these tests; it exists only here.
const testJWTSecret = "integration-test-secret-0123456789abcdef"

// stack is a full deployment on loopback: moto behind a counting,
// fault-injecting proxy, the Twilio and Vonage fakes (the secret holds
// both credential sets; SMS_PROVIDER names Twilio unless env says
// otherwise, e.g. "twilio,vonage" for failover), and the environment the
// functions read.
type stack struct {
	moto     *mototest.Server
	proxy    *mototest.Proxy
	twilio   *providertest.Twilio
	vonage   *providertest.Vonage
	env      map[string]string
	queueURL string
	dlqURL   string
	logs     *logging.Buffer
	// deployed names the stack's resources (the schedule group too).
	deployed mototest.Stack
}

var stackSeq int

func newStack(t testing.TB, env ...string) *stack {
	t.Helper()
	stackSeq++
	s := &stack{moto: moto, twilio: providertest.NewTwilio(t), vonage: providertest.NewVonage(t), logs: &logging.Buffer{}}
	s.proxy = mototest.NewProxy(t, s.moto.URL)
	secret, _ := json.Marshal(map[string]string{
		"accountSid": providertest.TwilioAccountSID, "authToken": providertest.TwilioAuthToken,
		"apiKey": providertest.VonageAPIKey, "apiSecret": providertest.VonageAPISecret,
		"jwtSecret": testJWTSecret,
	})
	// The queue redrives after SMS_MAX_RECEIVES receives when the test sets
	// it, as the template ties the two together.
	maxReceives := 0
	for i := 0; i+1 < len(env); i += 2 {
		if env[i] == "SMS_MAX_RECEIVES" {
			fmt.Sscan(env[i+1], &maxReceives)
		}
	}
	st := s.moto.Deploy(t, mototest.StackConfig{Name: fmt.Sprintf("fluxkit-%d", stackSeq), SecretJSON: string(secret),
		VisibilityTimeout: 30 * time.Second, MaxReceiveCount: maxReceives})
	s.queueURL, s.dlqURL, s.deployed = st.QueueURL, st.DLQURL, st
	s.env = map[string]string{
		"AWS_ENDPOINT_URL": s.proxy.URL, "AWS_REGION": mototest.Region,
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"SMS_PROVIDER": "twilio", "SMS_FROM": providertest.TwilioFrom, "SMS_SECRET_ID": st.SecretID,
		"SMS_TABLE_NAME": st.TableName, "SMS_QUEUE_URL": st.QueueURL, "SMS_DLQ_URL": st.DLQURL,
		"TWILIO_API_URL": s.twilio.URL(), "VONAGE_API_URL": s.vonage.URL(),
		"SMS_SCHEDULE_GROUP": st.ScheduleGroup, "SMS_SCHEDULE_ROLE_ARN": st.ScheduleRoleARN, "SMS_QUEUE_ARN": st.QueueARN,
		// These stacks test the paths, not the guard (internal/sms and the
		// abuse battery of internal/e2e/chaos do): it is off, so that any
		// sender, number and text goes through as written, as often as a
		// test sends it.
		"SMS_ALLOWED_SENDERS": "*", "SMS_BLOCKED_NUMBER_TYPES": "none", "SMS_SMART_ENCODING": "false",
		"SMS_RECIPIENT_LIMIT": "off", "SMS_DAILY_SEGMENT_LIMIT": "off",
	}
	for i := 0; i+1 < len(env); i += 2 {
		s.env[env[i]] = env[i+1]
	}
	return s
}

func (s *stack) getenv(k string) string { return s.env[k] }

func (s *stack) function(t testing.TB, mode config.Mode) *app.Service {
	t.Helper()
	log := logging.New(s.logs, -4)
	var with []app.AWSOption
	if mode == config.ModeSend {
		with = append(with, app.WithScheduler) // as functions/send does
	}
	f, err := app.LoadAWS(context.Background(), s.getenv, mode, log, with...)
	if err != nil {
		t.Fatalf("cold start: %v", err)
	}
	return f
}

func (s *stack) sendHandler(t testing.TB) *apigw.Handler {
	t.Helper()
	f := s.function(t, config.ModeSend)
	return app.NewSendHandler(f.Config, f.Parts, f.Auth, f.Callers)
}

func (s *stack) drainHandler(t testing.TB) *drain.Handler {
	t.Helper()
	f := s.function(t, config.ModeDrain)
	return app.NewDrainHandler(f.Config, f.Parts, f.Queue, f.DLQ, drain.Config{BackoffBase: time.Second, BackoffMax: 2 * time.Second})
}

func token(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": "client-1", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	tok, err := auth.Sign([]byte(testJWTSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type answer struct {
	status int
	header map[string]string
	body   map[string]any
	raw    string
}

func post(t testing.TB, h *apigw.Handler, body string, hdr ...string) answer {
	t.Helper()
	r := apigw.Request{Method: http.MethodPost, Path: "/messaging/sms", Headers: http.Header{}, Body: []byte(body)}
	r.Headers.Set("Content-Type", "application/json")
	r.Headers.Set("Authorization", "Bearer "+token(t, nil))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Headers.Set(hdr[i], hdr[i+1])
	}
	resp := h.Serve(context.Background(), r)
	a := answer{status: resp.Status, header: resp.Headers, raw: string(resp.Body)}
	if err := json.Unmarshal(resp.Body, &a.body); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", resp.Status, resp.Body, err)
	}
	return a
}

// queueDepth reports the visible plus in-flight messages of a queue.
func (s *stack) queueDepth(t *testing.T, url string) int {
	t.Helper()
	out, err := s.moto.SQS().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		var k int
		fmt.Sscan(v, &k)
		n += k
	}
	return n
}

// maxInWindow is the largest number of times in any window [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	ts := append([]time.Time(nil), times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

func arrivals(tw *providertest.Twilio) []time.Time {
	var out []time.Time
	for _, r := range tw.Requests() {
		out = append(out, r.At)
	}
	return out
}

// assertLogsClean fails if a log line holds a secret, a token or a body.
func (s *stack) assertLogsClean(t *testing.T, forbidden ...string) {
	t.Helper()
	logs := s.logs.String()
	for _, f := range append(forbidden, testJWTSecret, providertest.TwilioAuthToken, providertest.VonageAPISecret) {
		if f != "" && strings.Contains(logs, f) {
			t.Errorf("logs contain %q", f)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

func loadSend(s *stack) (*app.Service, error) {
	return app.LoadAWS(context.Background(), s.getenv, config.ModeSend, logging.New(s.logs, 0))
}

// claimFingerprint is the fingerprint the deliverer claims m's id with.
func claimFingerprint(t *testing.T, m sms.Message) string {
	t.Helper()
	return sms.Fingerprint(m.To, m.Body, m.From)
}

// jsonLogHas reports whether a JSON log line has key = value.
func jsonLogHas(logs, key, value string) bool {
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec[key] == value {
			return true
		}
	}
	return false
}
