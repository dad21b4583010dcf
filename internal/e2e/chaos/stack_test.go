package chaos_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
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
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/local/esm"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/testing/tlsproxy"
)

// jwtSecret signs the tokens of these tests; it exists only here.
const jwtSecret = "chaos-test-jwt-secret-5f1d0c9a7b3e2d4c6a8b"

// recipient is the number every test message goes to.
const recipient = "+14155552671"

// moto is the moto server the package's tests share unless they need
// one of their own; each deployment gets its own table, queues and
// secret on it.
var moto *mototest.Server

func TestMain(m *testing.M) {
	// The provider fakes are reached through TLS proxies (tlsproxy) in the
	// tests that make new connections slow.
	if err := tlsproxy.TrustCA(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mototest.Main(m, &moto)
}

// deployment is one deployment of the service on loopback: a table,
// a queue with its dead-letter queue and redrive policy as template.yaml
// sets them up, the secret, a provider fake, and a fault-injecting proxy
// in front of moto for DynamoDB and another for SQS.
type deployment struct {
	moto     *mototest.Server
	provider string
	env      map[string]string
	queueURL string
	dlqURL   string
	ddb      *mototest.Proxy
	sqs      *mototest.Proxy
	twilio   *providertest.Twilio
	vonage   *providertest.Vonage
	logs     *logging.Buffer
}

var deploySeq atomic.Int64

// failoverProviders is SMS_PROVIDER of a failover deployment: Twilio
// first, then Vonage.
const failoverProviders = config.ProviderTwilio + "," + config.ProviderVonage

// deploy sets up a deployment for provider ("twilio", "vonage", or
// failoverProviders with both fakes, both credential sets and a sender
// each) on moto; env adds or overrides variables, as key, value pairs.
func deploy(t *testing.T, moto *mototest.Server, provider string, env ...string) *deployment {
	t.Helper()
	name := fmt.Sprintf("chaos-%d-%d", os.Getpid(), deploySeq.Add(1))
	d := &deployment{
		moto:     moto,
		provider: provider,
		ddb:      mototest.NewProxy(t, moto.URL),
		sqs:      mototest.NewProxy(t, moto.URL),
		logs:     &logging.Buffer{},
	}
	secret := map[string]string{"jwtSecret": jwtSecret}
	d.env = map[string]string{
		// Secrets Manager straight to moto; DynamoDB and SQS through the
		// fault proxies.
		"AWS_ENDPOINT_URL":          moto.URL,
		"AWS_ENDPOINT_URL_DYNAMODB": d.ddb.URL,
		"AWS_ENDPOINT_URL_SQS":      d.sqs.URL,
		"AWS_REGION":                mototest.Region,
		"AWS_ACCESS_KEY_ID":         "testing",
		"AWS_SECRET_ACCESS_KEY":     "testing",
		"SMS_PROVIDER":              provider,
		// The guard is off: these deployments test delivery under faults,
		// and the abuse and pumping batteries, which test the guard, set
		// their own rules.
		"SMS_ALLOWED_SENDERS":      "*",
		"SMS_BLOCKED_NUMBER_TYPES": "none",
		"SMS_SMART_ENCODING":       "false",
		"SMS_RECIPIENT_LIMIT":      "off",
		"SMS_DAILY_SEGMENT_LIMIT":  "off",
	}
	switch provider {
	case config.ProviderTwilio:
		d.twilio = providertest.NewTwilio(t)
		secret["accountSid"], secret["authToken"] = providertest.TwilioAccountSID, providertest.TwilioAuthToken
		d.env["SMS_FROM"], d.env["TWILIO_API_URL"] = providertest.TwilioFrom, d.twilio.URL()
	case config.ProviderVonage:
		d.vonage = providertest.NewVonage(t)
		secret["apiKey"], secret["apiSecret"] = providertest.VonageAPIKey, providertest.VonageAPISecret
		d.env["SMS_FROM"], d.env["VONAGE_API_URL"] = "FluxKit", d.vonage.URL()
	case failoverProviders:
		d.twilio, d.vonage = providertest.NewTwilio(t), providertest.NewVonage(t)
		secret["accountSid"], secret["authToken"] = providertest.TwilioAccountSID, providertest.TwilioAuthToken
		secret["apiKey"], secret["apiSecret"] = providertest.VonageAPIKey, providertest.VonageAPISecret
		d.env["SMS_FROM"] = "twilio=" + providertest.TwilioFrom + ",vonage=FluxKit"
		d.env["TWILIO_API_URL"], d.env["VONAGE_API_URL"] = d.twilio.URL(), d.vonage.URL()
	default:
		t.Fatalf("unknown provider %q", provider)
	}
	raw, _ := json.Marshal(secret)
	// The queue redrives as template.yaml's does; its visibility timeout is
	// six times the drain invocations' timeout, as the template sets it
	// for the real function.
	st := moto.Deploy(t, mototest.StackConfig{Name: name, SecretJSON: string(raw), VisibilityTimeout: 6 * drainTimeout})
	d.queueURL, d.dlqURL = st.QueueURL, st.DLQURL
	d.env["SMS_TABLE_NAME"], d.env["SMS_QUEUE_URL"], d.env["SMS_DLQ_URL"] = st.TableName, st.QueueURL, st.DLQURL
	d.env["SMS_SECRET_ID"] = st.SecretID
	for i := 0; i+1 < len(env); i += 2 {
		d.env[env[i]] = env[i+1]
	}
	return d
}

func (d *deployment) getenv(k string) string { return d.env[k] }

// function cold-starts one instance of a function, logging to d.logs.
func (d *deployment) function(t *testing.T, mode config.Mode) *app.Service {
	t.Helper()
	f, err := app.LoadAWS(context.Background(), d.getenv, mode, logging.New(d.logs, -4))
	if err != nil {
		t.Fatalf("cold start: %v", err)
	}
	return f
}

// sendHandler cold-starts a send function instance.
func (d *deployment) sendHandler(t *testing.T) *apigw.Handler {
	t.Helper()
	f := d.function(t, config.ModeSend)
	return app.NewSendHandler(f.Config, f.Parts, f.Auth, f.Callers)
}

// Drain timing of the tests: invocations last at most drainTimeout, of
// which drainSendBudget is kept for the provider call (longer than
// app.ProviderTimeout) and the bookkeeping, so a record waits up to 2 s
// for a slot and holds its claim for 14 s. Failed records back off 1 s,
// 2 s, 4 s, then 8 s.
const (
	drainTimeout    = 8 * time.Second
	drainSendBudget = 6 * time.Second
)

// poller cold-starts a drain function instance behind an event source
// mapping over d's queue (receives go straight to moto: the mapping is
// AWS's, not the function's).
func (d *deployment) poller(t *testing.T) *esm.Poller {
	t.Helper()
	f := d.function(t, config.ModeDrain)
	h := app.NewDrainHandler(f.Config, f.Parts, f.Queue, f.DLQ, drain.Config{
		SendBudget: drainSendBudget, BackoffBase: time.Second, BackoffMax: 8 * time.Second,
	})
	src := esm.NewSQSSource(d.moto.SQS(), d.queueURL, esm.SQSSourceConfig{ARN: "arn:aws:sqs:" + mototest.Region + ":123456789012:chaos", Region: mototest.Region, WaitSeconds: 1})
	return esm.New(src, h.Handle, esm.Config{BatchSize: 10, MaxConcurrency: 2, Timeout: drainTimeout}, logging.New(d.logs, -4))
}

// depth is the number of messages in a queue of d: visible, in flight and
// delayed.
func (d *deployment) depth(t *testing.T, url string) int {
	t.Helper()
	out, err := d.moto.SQS().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		t.Fatalf("queue attributes: %v", err)
	}
	n := 0
	for _, v := range out.Attributes {
		var k int
		if _, err := fmt.Sscan(v, &k); err != nil {
			t.Fatalf("queue attribute %q: %v", v, err)
		}
		n += k
	}
	return n
}

// deadLetter is a message on a dead-letter queue.
type deadLetter struct {
	// reason is the poison reason, or "redrive" for a message SQS moved
	// there after maxReceiveCount receives.
	reason string
	// text is the message body it carries (the SMS text), if it has one.
	text string
	// id is the queue message's id, if it can be told (queue.Decode).
	id string
}

// deadLetters reads the messages on a dead-letter queue of d.
func (d *deployment) deadLetters(t *testing.T, url string) []deadLetter {
	t.Helper()
	var out []deadLetter
	for {
		got, err := d.moto.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60,
		})
		if err != nil {
			t.Fatalf("receive from the DLQ: %v", err)
		}
		if len(got.Messages) == 0 {
			return out
		}
		for _, m := range got.Messages {
			dl := deadLetter{reason: "redrive"}
			if a, ok := m.MessageAttributes[queue.PoisonReasonAttribute]; ok {
				dl.reason = aws.ToString(a.StringValue)
			}
			qm, err := queue.Decode([]byte(aws.ToString(m.Body)), aws.ToString(m.MessageId))
			dl.text, dl.id = qm.Body, qm.ID // a poison message holds its id only
			if err != nil {
				var raw struct {
					Body string `json:"body"`
				}
				_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &raw)
				dl.text = raw.Body
			}
			out = append(out, dl)
		}
	}
}

// signToken returns an HS256 token for sub valid for an hour; claims add
// to or (nil values) remove from the defaults.
func signToken(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": "chaos-client", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	tok, err := auth.Sign([]byte(secret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// secrets are the values of d that no log line may contain, plus extra.
func (d *deployment) secrets(extra ...chaos.Secret) []chaos.Secret {
	basic := base64.StdEncoding.EncodeToString([]byte(providertest.TwilioAccountSID + ":" + providertest.TwilioAuthToken))
	return append([]chaos.Secret{
		{Name: "JWT secret", Value: jwtSecret},
		{Name: "Twilio auth token", Value: providertest.TwilioAuthToken},
		{Name: "Twilio Basic credentials", Value: basic},
		{Name: "Vonage API secret", Value: providertest.VonageAPISecret},
	}, extra...)
}

// auditLogs fails t for every leak in d's logs.
func (d *deployment) auditLogs(t *testing.T, extra ...chaos.Secret) {
	t.Helper()
	logs := d.logs.Bytes()
	if len(bytes.TrimSpace(logs)) == 0 {
		t.Fatal("no logs captured: the audit would prove nothing")
	}
	lines := strings.Split(string(logs), "\n")
	leaks := chaos.Audit(logs, d.secrets(extra...)...)
	for i, l := range leaks {
		if i == 10 {
			t.Errorf("... and %d more leaks", len(leaks)-i)
			break
		}
		t.Errorf("log line %d: %s", l.Line, l.What)
		if l.What == "unmasked phone number" || l.What == "not a JSON object" {
			t.Logf("  %s", lines[l.Line-1])
		}
	}
	t.Logf("log audit: %d lines, %d leaks", len(lines)-1, len(leaks))
}
