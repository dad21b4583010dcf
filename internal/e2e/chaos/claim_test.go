package chaos_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

// firstWriteAnswerLost makes the first DynamoDB PutItem through d's proxy
// reach the table and answer 500, as a connection reset after the write
// would: the SDK retries it. Every other request passes.
func firstWriteAnswerLost(d *deployment) {
	var once sync.Once
	d.ddb.SetFaults(func(op string) mototest.Fault {
		f := mototest.Pass
		if op == "DynamoDB_20120810.PutItem" {
			once.Do(func() { f = mototest.FailAfter })
		}
		return f
	})
}

// The chaos test's "DynamoDB fails after the write" scenario answers some
// requests 409 and dead-letters some records. These two tests reproduce
// the cause alone: a claim (dynamo.Ledger.Claim, one conditional PutItem)
// whose write reached the table but whose answer was lost is retried by
// the SDK, and the retry's condition fails on the caller's own pending
// record, which Claim reports as Held — by another caller. They pass once
// a claim recognises its own record (for example a random claim token
// stored with it and compared on a failed condition).

func TestIdempotencyKeyAfterLostClaimAnswer(t *testing.T) {
	d := deploy(t, moto, "twilio")
	h := d.sendHandler(t)
	firstWriteAnswerLost(d)
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+signToken(t, jwtSecret, nil))
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Idempotency-Key", "order-lost-answer")
	resp := h.Serve(context.Background(), apigw.Request{Method: http.MethodPost, Path: sendPath, Headers: hdr, Body: validBody()})
	if resp.Status != http.StatusOK {
		t.Errorf("status = %d %s, want 200: the request's own claim, written but unanswered, was taken for "+
			"another request's, and the key stays blocked until the claim's 30 s lease lapses", resp.Status, resp.Body)
	}
	if got := len(d.twilio.Accepted()); got != 1 {
		t.Errorf("provider accepted %d messages, want 1", got)
	}
}

func TestDrainAfterLostClaimAnswer(t *testing.T) {
	d := deploy(t, moto, "twilio")
	body, _ := json.Marshal(map[string]string{"id": "lost-claim-answer-1", "to": recipient, "body": "Your " + abuseMarker + " is 7"})
	if _, err := d.moto.SQS().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(d.queueURL), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
	p := d.poller(t)
	firstWriteAnswerLost(d)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	start := time.Now()
	// The record is received at once and retried after BackoffBase (1 s);
	// anything beyond a few seconds means it waited for its own lease.
	for len(d.twilio.Accepted()) == 0 && time.Since(start) < 5*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	stop()
	<-done
	if len(d.twilio.Accepted()) == 0 {
		t.Errorf("not delivered within %v: the drain took its own claim, written but unanswered, for another worker's "+
			"and waits for the claim's lease (%v here, the function timeout plus 8 s deployed), burning receives towards maxReceiveCount",
			took.Round(time.Millisecond), drainTimeout+drainSendBudget)
	}
}
