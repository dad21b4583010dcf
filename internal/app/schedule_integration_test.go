package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/scheduler"
	"github.com/fluxkit/sms/internal/sms"
)

// sentMessage is an SQS SendMessage request as the proxy saw it.
type sentMessage struct {
	QueueURL     string `json:"QueueUrl"`
	MessageBody  string `json:"MessageBody"`
	DelaySeconds int    `json:"DelaySeconds"`
}

// captureSends records every SQS SendMessage the stack's functions make.
func (s *stack) captureSends(t *testing.T) func() []sentMessage {
	t.Helper()
	var mu sync.Mutex
	var sent []sentMessage
	s.proxy.SetRewrite(func(op string, body []byte) ([]byte, func(int, []byte) (int, []byte)) {
		if op == "AmazonSQS.SendMessage" {
			var m sentMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Errorf("SendMessage body %s: %v", body, err)
			}
			mu.Lock()
			sent = append(sent, m)
			mu.Unlock()
		}
		return nil, nil
	})
	t.Cleanup(func() { s.proxy.SetRewrite(nil) })
	return func() []sentMessage {
		mu.Lock()
		defer mu.Unlock()
		out := append([]sentMessage(nil), sent...)
		sent = nil
		return out
	}
}

// schedulerCalls counts the Scheduler requests the proxy forwarded since
// its last Reset, by operation.
func (s *stack) schedulerCalls() map[string]int {
	out := map[string]int{}
	for op, n := range s.proxy.Counts() {
		method, path, _ := strings.Cut(op, " ")
		if !strings.HasPrefix(path, "/schedules/") {
			continue
		}
		switch method {
		case http.MethodPost:
			out["CreateSchedule"] += n
		case http.MethodDelete:
			out["DeleteSchedule"] += n
		case http.MethodGet:
			out["GetSchedule"] += n
		}
	}
	return out
}

// shifted is a clock ahead of the real one by d: what the drain sees once
// d has passed.
type shifted time.Duration

func (d shifted) Now() time.Time { return time.Now().Add(time.Duration(d)) }

func (d shifted) Sleep(ctx context.Context, w time.Duration) error {
	return sms.SystemClock{}.Sleep(ctx, w)
}

// drainAt is a drain function whose clock is ahead of the real one by
// ahead.
func (s *stack) drainAt(t *testing.T, ahead time.Duration) *drain.Handler {
	t.Helper()
	f := s.function(t, config.ModeDrain)
	return app.NewDrainHandler(f.Config, f.Parts, f.Queue, f.DLQ, drain.Config{Clock: shifted(ahead)})
}

// deliver hands body to h as one SQS record received receives times and
// reports whether the record is done with.
func deliver(t *testing.T, h *drain.Handler, body string, receives int) bool {
	t.Helper()
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: sms.NewID(), ReceiptHandle: "rh", Body: body, EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receives), "SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)},
	}}})
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	return len(resp.BatchItemFailures) == 0
}

// cancelMessage serves DELETE /messaging/sms/{id} with a token of claims.
func cancelMessage(t testing.TB, h *apigw.Handler, id string, claims map[string]any) answer {
	t.Helper()
	return serveMessage(t, h, http.MethodDelete, id, claims)
}

// record reads a message's status record from the stack's table.
func (s *stack) record(t *testing.T, id string) sms.Record {
	t.Helper()
	f := s.function(t, config.ModeDrain)
	rec, err := f.Parts.Status.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("status record %s: %v", id, err)
	}
	return rec
}

func scheduledBody(sendAt time.Time) string {
	return `{"to":"+14155552671","body":"Your table is ready","sendAt":"` + sendAt.Format(time.RFC3339Nano) + `"}`
}

// TestScheduledThroughTheQueue: a message due in 70 s goes on the queue
// with a delay (no Scheduler call), and the drain never sends it early:
// not the copy that arrives early, nor a redelivered one; once due it is
// sent once, and a late copy is a duplicate.
func TestScheduledThroughTheQueue(t *testing.T) {
	s := newStack(t)
	h := s.sendHandler(t)
	sends := s.captureSends(t)
	s.proxy.Reset()
	sendAt := time.Now().Add(70 * time.Second).Truncate(time.Millisecond)
	a := post(t, h, scheduledBody(sendAt.In(time.FixedZone("CET", 3600))))
	if a.status != 202 || a.body["status"] != "scheduled" || a.body["sendAt"] != sendAt.UTC().Format(time.RFC3339Nano) {
		t.Fatalf("answer = %d %s, want 202 scheduled with sendAt %s", a.status, a.raw, sendAt.UTC().Format(time.RFC3339Nano))
	}
	id := a.body["messageId"].(string)
	if got := s.schedulerCalls(); len(got) != 0 {
		t.Errorf("Scheduler calls = %v, want none within 15 minutes", got)
	}
	queued := sends()
	if len(queued) != 1 || queued[0].DelaySeconds < 69 || queued[0].DelaySeconds > 70 {
		t.Fatalf("SendMessage = %+v, want one delayed 70 s (rounded up)", queued)
	}
	body := queued[0].MessageBody
	if rec := s.record(t, id); rec.Status != sms.StatusScheduled || !rec.OwnedBy(sms.CallerOwner("client-1")) {
		t.Errorf("record = %s owned by %+v, want scheduled, client-1's", rec.Status, rec.Owner)
	}
	out, err := s.moto.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("ReceiveMessage now = %d messages, %v; want none: SQS holds it back", len(out.Messages), err)
	}

	// An early copy (the first receive, then a redelivery): put back, not
	// sent, and no receive burnt.
	now := s.drainAt(t, 0)
	for _, receives := range []int{1, 3} {
		if !deliver(t, now, body, receives) {
			t.Fatalf("early copy (receive %d) failed back to SQS, want it acknowledged", receives)
		}
		back := sends()
		if len(back) != 1 || back[0].DelaySeconds < 60 {
			t.Fatalf("early copy (receive %d): put back %+v, want one copy delayed until it is due", receives, back)
		}
		m, err := queue.Decode([]byte(back[0].MessageBody), "x")
		if err != nil || m.ID != id || m.Attempt != 1 || !m.SendAt.Equal(sendAt) {
			t.Errorf("copy put back = %+v, %v; want %s, attempt 1, due %v", m, err, id, sendAt)
		}
	}
	if n := len(s.twilio.Requests()); n != 0 {
		t.Fatalf("provider calls before sendAt = %d, want 0", n)
	}
	// Due (the drain's clock 71 s on): sent once, handed over first.
	due := s.drainAt(t, 71*time.Second)
	if !deliver(t, due, body, 1) || !deliver(t, due, body, 1) {
		t.Fatal("due copies failed back to SQS")
	}
	if n := len(s.twilio.Requests()); n != 1 {
		t.Errorf("provider calls once due = %d, want 1 (the second copy is a duplicate)", n)
	}
	if rec := s.record(t, id); rec.Status.Rank() < sms.StatusQueued.Rank() {
		t.Errorf("record after the send = %s, want handed over (queued or later)", rec.Status)
	}
	if a := cancelMessage(t, h, id, nil); a.status != 409 || a.header["Retry-After"] != "" {
		t.Errorf("cancel after the hand-over = %d %s (Retry-After %q), want 409 without Retry-After", a.status, a.raw, a.header["Retry-After"])
	}
}

// TestScheduledThroughEventBridgeScheduler: a message due in 20 minutes
// is one CreateSchedule and no SQS write; the schedule (read back with
// GetSchedule) fires at its time into the queue; the drain holds the
// copy that arrives early and sends the one that is due.
func TestScheduledThroughEventBridgeScheduler(t *testing.T) {
	s := newStack(t)
	h := s.sendHandler(t)
	sends := s.captureSends(t)
	s.proxy.Reset()
	sendAt := time.Now().Add(20 * time.Minute)
	a := post(t, h, scheduledBody(sendAt))
	if a.status != 202 || a.body["status"] != "scheduled" {
		t.Fatalf("answer = %d %s, want 202 scheduled", a.status, a.raw)
	}
	id := a.body["messageId"].(string)
	if got := s.schedulerCalls(); got["CreateSchedule"] != 1 || len(got) != 1 {
		t.Errorf("Scheduler calls = %v, want exactly one CreateSchedule", got)
	}
	if q := sends(); len(q) != 0 {
		t.Errorf("SendMessage = %+v, want none: the schedule holds the message", q)
	}
	f := s.moto.Firer(s.deployed).WithClock(shifted(20*time.Minute + time.Second).Now)
	dueAt, target, err := f.Due(context.Background(), scheduler.Name(id))
	if err != nil {
		t.Fatal(err)
	}
	if want := sendAt.UTC().Truncate(time.Second).Add(time.Second); !dueAt.Equal(want) {
		t.Errorf("schedule due %v, want %v (sendAt rounded up to the second)", dueAt, want)
	}
	if aws.ToString(target.Arn) != s.deployed.QueueARN || aws.ToString(target.RoleArn) != s.deployed.ScheduleRoleARN {
		t.Errorf("schedule target %s as %s, want the queue %s as %s", aws.ToString(target.Arn), aws.ToString(target.RoleArn), s.deployed.QueueARN, s.deployed.ScheduleRoleARN)
	}
	if err := f.Fire(context.Background(), scheduler.Name(id)); err != nil {
		t.Fatalf("firing: %v", err)
	}
	out, err := s.moto.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage after firing = %d messages, %v; want the scheduled one", len(out.Messages), err)
	}
	body := aws.ToString(out.Messages[0].Body)
	if names, _ := f.Names(context.Background()); len(names) != 0 {
		t.Errorf("schedules after firing = %v, want none (deleted after completion)", names)
	}
	// A schedule that fires (or a copy that arrives) early: held.
	if !deliver(t, s.drainAt(t, 0), body, 1) || len(s.twilio.Requests()) != 0 {
		t.Fatalf("early copy: provider calls %d, want it held and none", len(s.twilio.Requests()))
	}
	if back := sends(); len(back) != 1 || back[0].DelaySeconds != int(queue.MaxDelay/time.Second) {
		t.Errorf("early copy put back = %+v, want one delayed 900 s (the longest hop)", back)
	}
	if !deliver(t, s.drainAt(t, 20*time.Minute+time.Second), body, 1) || len(s.twilio.Requests()) != 1 {
		t.Errorf("due copy: provider calls %d, want 1", len(s.twilio.Requests()))
	}
}

// TestCancelScheduled: the owner cancels (the schedule is deleted, the
// record canceled, again the same answer); another caller gets 404, the
// admin scope cancels anyone's; a copy of a canceled message that reaches
// the drain is never sent.
func TestCancelScheduled(t *testing.T) {
	s := newStack(t)
	h := s.sendHandler(t)
	sends := s.captureSends(t)
	f := s.moto.Firer(s.deployed)

	far := post(t, h, scheduledBody(time.Now().Add(time.Hour)))
	id := far.body["messageId"].(string)
	_, target, err := f.Due(context.Background(), scheduler.Name(id))
	if err != nil {
		t.Fatal(err)
	}
	if a := cancelMessage(t, h, id, map[string]any{"sub": "client-2"}); a.status != 404 {
		t.Errorf("another caller's cancel = %d %s, want 404", a.status, a.raw)
	}
	s.proxy.Reset()
	a := cancelMessage(t, h, id, nil)
	if a.status != 200 || a.body["status"] != "canceled" || a.body["channel"] != "sms" || a.body["serviceId"] != id {
		t.Fatalf("cancel = %d %s, want 200 with the canceled record", a.status, a.raw)
	}
	if got := s.schedulerCalls(); got["DeleteSchedule"] != 1 {
		t.Errorf("Scheduler calls = %v, want one DeleteSchedule", got)
	}
	if names, _ := f.Names(context.Background()); len(names) != 0 {
		t.Errorf("schedules after the cancel = %v, want none", names)
	}
	if again := cancelMessage(t, h, id, nil); again.status != 200 || again.raw != a.raw {
		t.Errorf("repeated cancel = %d %s, want the same 200", again.status, again.raw)
	}
	// Had the schedule fired anyway: the drain drops the canceled message.
	if !deliver(t, s.drainAt(t, time.Hour+time.Second), aws.ToString(target.Input), 1) || len(s.twilio.Requests()) != 0 {
		t.Errorf("a canceled message reached the drain: provider calls %d, want none", len(s.twilio.Requests()))
	}

	// Within 15 minutes: canceled too; its delayed SQS copy is dropped.
	sends()
	near := post(t, h, scheduledBody(time.Now().Add(5*time.Minute)))
	nearID := near.body["messageId"].(string)
	copies := sends()
	if a := cancelMessage(t, h, nearID, map[string]any{"sub": "ops", "scope": "sms:admin"}); a.status != 200 || a.body["status"] != "canceled" {
		t.Fatalf("admin cancel = %d %s, want 200 canceled", a.status, a.raw)
	}
	if len(copies) != 1 || !deliver(t, s.drainAt(t, 5*time.Minute+time.Second), copies[0].MessageBody, 1) || len(s.twilio.Requests()) != 0 {
		t.Errorf("the canceled message's queued copy: provider calls %d, want none", len(s.twilio.Requests()))
	}
	if rec := s.record(t, nearID); rec.Status != sms.StatusCanceled {
		t.Errorf("record = %s, want canceled", rec.Status)
	}
}

// TestCancelRacesTheDueTimeOnDynamoDB races a cancel with the drain
// taking the due message up, on the DynamoDB status store: each round
// either cancels (never sent) or answers 409 (sent once).
func TestCancelRacesTheDueTimeOnDynamoDB(t *testing.T) {
	s := newStack(t)
	h := s.sendHandler(t)
	f := s.moto.Firer(s.deployed)
	d := s.drainAt(t, time.Hour+time.Second)
	outcomes := map[string]int{}
	for round := range 12 {
		a := post(t, h, scheduledBody(time.Now().Add(time.Hour)))
		id := a.body["messageId"].(string)
		_, target, err := f.Due(context.Background(), scheduler.Name(id))
		if err != nil {
			t.Fatal(err)
		}
		before := len(s.twilio.Requests())
		var wg sync.WaitGroup
		var canceled answer
		start := make(chan struct{})
		wg.Go(func() { <-start; canceled = cancelMessage(t, h, id, nil) })
		// The drain starts a little later each round, so that the race
		// falls on either side of the cancel's read and write.
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(round) * 2 * time.Millisecond)
			deliver(t, d, aws.ToString(target.Input), 1)
		})
		close(start)
		wg.Wait()
		sent := len(s.twilio.Requests()) - before
		switch {
		case canceled.status == 200 && sent == 0:
			outcomes["canceled, never sent"]++
		case canceled.status == 409 && sent == 1:
			outcomes["409, sent once"]++
		default:
			t.Fatalf("round %d: cancel %d %s, sent %d; want 200 and none sent, or 409 and one", round, canceled.status, canceled.raw, sent)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestCancelGivesQuotaPlacesBack, on the DynamoDB quota store: with one
// message per number per window, a scheduled message takes the number's
// place when it is accepted; canceling it gives the place back.
func TestCancelGivesQuotaPlacesBack(t *testing.T) {
	s := newStack(t, "SMS_RECIPIENT_LIMIT", "1/10m")
	h := s.sendHandler(t)
	first := post(t, h, scheduledBody(time.Now().Add(time.Hour)))
	if first.status != 202 {
		t.Fatalf("first = %d %s, want 202 scheduled", first.status, first.raw)
	}
	if again := post(t, h, scheduledBody(time.Now().Add(2*time.Hour))); again.status != 429 || again.body["error"].(map[string]any)["code"] != "quota_exceeded" {
		t.Fatalf("second to the number = %d %s, want 429 quota_exceeded (the first took the place)", again.status, again.raw)
	}
	if c := cancelMessage(t, h, first.body["messageId"].(string), nil); c.status != 200 {
		t.Fatalf("cancel = %d %s, want 200", c.status, c.raw)
	}
	if after := post(t, h, scheduledBody(time.Now().Add(2*time.Hour))); after.status != 202 {
		t.Errorf("after the cancel = %d %s, want 202: the canceled message gave its place back", after.status, after.raw)
	}
}
