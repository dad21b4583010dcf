package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

// moto is the emulator the package's tests share.
var moto *mototest.Server

func TestMain(m *testing.M) { mototest.Main(m, &moto) }

var stackSeq atomic.Int64

// deploy creates a fresh stack (queue, schedule group) on the emulator.
func deploy(t *testing.T) (mototest.Stack, *Scheduler) {
	t.Helper()
	st := moto.Deploy(t, mototest.StackConfig{Name: fmt.Sprintf("sched-%d", stackSeq.Add(1))})
	return st, New(moto.Scheduler(), Config{Group: st.ScheduleGroup, RoleARN: st.ScheduleRoleARN, QueueARN: st.QueueARN})
}

func scheduled(sendAt time.Time) sms.QueuedMessage {
	id := sms.NewServiceID()
	return sms.QueuedMessage{
		Message: sms.Message{ID: id, ServiceID: id, To: "+14155552671", Body: "Your table is ready at 19:30", From: "MyApp"},
		Attempt: 1, EnqueuedAt: time.Now().UTC(), SendAt: sendAt,
	}
}

func TestExpression(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), "at(2026-12-01T09:00:00)"},
		// Rounded up: a schedule never fires before its message is due.
		{time.Date(2026, 12, 1, 9, 0, 0, 1, time.UTC), "at(2026-12-01T09:00:01)"},
		{time.Date(2026, 12, 31, 23, 59, 59, 500_000_000, time.UTC), "at(2027-01-01T00:00:00)"},
		// In UTC, whatever the zone it was given in.
		{time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600)), "at(2026-12-01T09:00:00)"},
	}
	for _, tt := range tests {
		if got := Expression(tt.in); got != tt.want {
			t.Errorf("Expression(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestScheduleCreatesOneTimeSchedule checks every field of the schedule
// against what docs/scheduling.md promises, reading it back with
// GetSchedule.
func TestScheduleCreatesOneTimeSchedule(t *testing.T) {
	st, s := deploy(t)
	ctx := context.Background()
	m := scheduled(time.Date(2026, 12, 24, 17, 30, 0, 250_000_000, time.UTC))
	if err := s.Schedule(ctx, m); err != nil {
		t.Fatalf("Schedule error = %v", err)
	}
	out, err := moto.Scheduler().GetSchedule(ctx, &awsscheduler.GetScheduleInput{Name: aws.String(Name(m.ID)), GroupName: aws.String(st.ScheduleGroup)})
	if err != nil {
		t.Fatalf("GetSchedule(%s) error = %v", Name(m.ID), err)
	}
	for _, c := range []struct{ field, got, want string }{
		{"Name", aws.ToString(out.Name), "sms-" + m.ID},
		{"GroupName", aws.ToString(out.GroupName), st.ScheduleGroup},
		{"ScheduleExpression", aws.ToString(out.ScheduleExpression), "at(2026-12-24T17:30:01)"},
		{"ScheduleExpressionTimezone", aws.ToString(out.ScheduleExpressionTimezone), "UTC"},
		{"FlexibleTimeWindow.Mode", string(out.FlexibleTimeWindow.Mode), "OFF"},
		{"ActionAfterCompletion", string(out.ActionAfterCompletion), "DELETE"},
		{"Target.Arn", aws.ToString(out.Target.Arn), st.QueueARN},
		{"Target.RoleArn", aws.ToString(out.Target.RoleArn), st.ScheduleRoleARN},
	} {
		if c.got != c.want {
			t.Errorf("schedule %s = %q, want %q", c.field, c.got, c.want)
		}
	}
	got, err := queue.Decode([]byte(aws.ToString(out.Target.Input)), "")
	if err != nil {
		t.Fatalf("the schedule's input is not a queue message: %v", err)
	}
	if got.ID != m.ID || got.To != m.To || got.Body != m.Body || got.From != m.From || !got.SendAt.Equal(m.SendAt) || got.Attempt != 1 {
		t.Errorf("the schedule's input decodes to %+v, want the message %+v", got, m)
	}
	// Scheduling the same message again (a retry whose first answer was
	// lost) finds its schedule: success.
	if err := s.Schedule(ctx, m); err != nil {
		t.Errorf("Schedule of an already scheduled message: error = %v, want none", err)
	}
}

// TestScheduleFiresOnTime fires the schedule as EventBridge Scheduler
// would (mototest.Firer): the queue message arrives at its time, not
// before, and the schedule is gone afterwards.
func TestScheduleFiresOnTime(t *testing.T) {
	st, s := deploy(t)
	ctx := context.Background()
	m := scheduled(time.Now().Add(1500 * time.Millisecond))
	if err := s.Schedule(ctx, m); err != nil {
		t.Fatal(err)
	}
	f := moto.Firer(st)
	if err := f.Fire(ctx, Name(m.ID)); err != nil {
		t.Fatalf("Fire error = %v", err)
	}
	fired := f.Fired()
	if len(fired) != 1 || fired[0].At.Before(m.SendAt) {
		t.Fatalf("fired = %+v, want one firing at or after %v", fired, m.SendAt)
	}
	rcv, err := moto.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.QueueURL), MaxNumberOfMessages: 10})
	if err != nil || len(rcv.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %d messages, %v; want the scheduled one", len(rcv.Messages), err)
	}
	got, err := queue.Decode([]byte(aws.ToString(rcv.Messages[0].Body)), aws.ToString(rcv.Messages[0].MessageId))
	if err != nil || got.ID != m.ID || !got.SendAt.Equal(m.SendAt) {
		t.Errorf("queued message = %+v, %v; want %s due %v", got, err, m.ID, m.SendAt)
	}
	_, err = moto.Scheduler().GetSchedule(ctx, &awsscheduler.GetScheduleInput{Name: aws.String(Name(m.ID)), GroupName: aws.String(st.ScheduleGroup)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("GetSchedule after firing: error = %v, want ResourceNotFoundException (deleted after completion)", err)
	}
}

func TestUnschedule(t *testing.T) {
	st, s := deploy(t)
	ctx := context.Background()
	m := scheduled(time.Now().Add(time.Hour))
	if err := s.Schedule(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Unschedule(ctx, m.ID); err != nil {
		t.Fatalf("Unschedule error = %v", err)
	}
	f := moto.Firer(st)
	if names, err := f.Names(ctx); err != nil || len(names) != 0 {
		t.Errorf("schedules after Unschedule = %v, %v; want none", names, err)
	}
	// A schedule that is gone (fired, or never made for a message the
	// queue held) is not an error.
	if err := s.Unschedule(ctx, m.ID); err != nil {
		t.Errorf("Unschedule of a deleted schedule: error = %v, want none", err)
	}
	if err := s.Unschedule(ctx, sms.NewServiceID()); err != nil {
		t.Errorf("Unschedule of a schedule never made: error = %v, want none", err)
	}
}

func TestScheduleFailures(t *testing.T) {
	ctx := context.Background()
	_, s := deploy(t)
	// Nothing was scheduled, and the caller may retry (503).
	unreachable := New(awsscheduler.NewFromConfig(aws.Config{Region: mototest.Region, BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: moto.Config().Credentials, RetryMaxAttempts: 1}), Config{Group: "g", RoleARN: "r", QueueARN: "q"})
	if err := unreachable.Schedule(ctx, scheduled(time.Now().Add(time.Hour))); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Schedule with Scheduler unreachable: error = %v, want kind unavailable", err)
	}
	if err := unreachable.Unschedule(ctx, sms.NewServiceID()); sms.KindOf(err) != sms.KindUnavailable {
		t.Errorf("Unschedule with Scheduler unreachable: error = %v, want kind unavailable", err)
	}
	// A body whose queue message is longer than a schedule's input.
	long := scheduled(time.Now().Add(time.Hour))
	long.Body = strings.Repeat("\u0001", sms.MaxBodyChars)
	if err := s.Schedule(ctx, long); sms.KindOf(err) != sms.KindInvalid || sms.AsError(err).Field != "sendAt" {
		t.Errorf("Schedule of a message too long for a schedule: error = %v, want invalid sendAt", err)
	}
	if err := s.Schedule(ctx, sms.QueuedMessage{Message: sms.Message{To: "+14155552671", Body: "x"}}); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Schedule without id or send time: error = %v, want kind internal", err)
	}
}
