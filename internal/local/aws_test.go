package local

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

// TestAWSMode runs the local server on DynamoDB, SQS and Secrets Manager
// emulated by moto: a burst over the limit is queued in SQS and delivered
// by the drain loop, the secret's jwtSecret is honoured next to the
// development secret, and DynamoDB holds the limiter and ledger records.
func TestAWSMode(t *testing.T) {
	moto := mototest.Start(t)
	moto.Setenv(t) // the AWS SDK's configuration chain reads the process environment
	st := moto.Deploy(t, mototest.StackConfig{Name: "sms-local", SecretJSON: `{"jwtSecret":"` + userSecret + `"}`, VisibilityTimeout: 30 * time.Second})
	env := map[string]string{
		"AWS_ENDPOINT_URL": moto.URL,
		"SMS_TABLE_NAME":   st.TableName,
		"SMS_QUEUE_URL":    st.QueueURL,
		"SMS_DLQ_URL":      st.DLQURL,
		"SMS_SECRET_ID":    st.SecretID,
		"SMS_RATE_LIMIT":   "2",
	}

	t.Run("missing table", func(t *testing.T) {
		bad := withEnv(env, "SMS_TABLE_NAME", "no-such-table")
		_, err := New(context.Background(), Options{Getenv: envOf(bad), Addr: "127.0.0.1:0"})
		if err == nil || !strings.Contains(err.Error(), "SMS_TABLE_NAME") || !strings.Contains(err.Error(), "no-such-table") {
			t.Errorf("New with a missing table: %v, want an error naming SMS_TABLE_NAME and the table", err)
		}
	})

	s := startServer(t, env)
	if got, want := s.Mode(), ModeAWS; got != want {
		t.Fatalf("mode = %q, want %q", got, want)
	}
	if s.Queued() != -1 || s.DeadLetters() != nil {
		t.Errorf("Queued = %d, DeadLetters = %v: want no in-memory queue or dead letters in AWS mode", s.Queued(), s.DeadLetters())
	}

	const n = 5
	tok := devToken(t)
	queued := burst(t, s, tok, n, `{"to":"+14155551234","body":"aws %d"}`)
	if queued == 0 {
		t.Errorf("none of %d queued, want the burst over 2/s to go through SQS", n)
	}
	waitFor(t, 20*time.Second, "the drain loop to deliver the queued messages from SQS", func() bool { return s.Console().Count() == n })

	own, err := auth.Sign([]byte(userSecret), map[string]any{"sub": "svc", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if r := send(t, s, own, curlBody, "Idempotency-Key: k-1"); r.status != 200 && r.status != 202 {
		t.Errorf("token signed with the secret's jwtSecret: %d %s, want 200 or 202", r.status, r.body)
	}
	out, err := moto.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(st.TableName)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count < 2 {
		t.Errorf("table holds %d items, want the limiter's and the ledger's", out.Count)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	rep := s.Shutdown(ctx, time.Second)
	if !rep.DrainStopped || rep.Queued != -1 || !strings.Contains(rep.String(), "stay in SQS") {
		t.Errorf("report = %+v (%s), want the drain stopped and SQS keeping the rest", rep, rep)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v, want the SQS long poll cut short", d)
	}
}

func TestAWSModeNeedsARegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	env := map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "SMS_TABLE_NAME": "sms", "SMS_QUEUE_URL": "http://127.0.0.1:1/000000000000/q"}
	_, err := New(context.Background(), Options{Getenv: envOf(env), Addr: "127.0.0.1:0"})
	var se *config.SettingError
	if !errors.As(err, &se) || se.Setting != "AWS_REGION" {
		t.Errorf("New without a region: %v, want a setting error naming AWS_REGION", err)
	}
}
