// Package scheduler holds the messages due more than 15 minutes ahead (the
// longest SQS delay) in Amazon EventBridge Scheduler: one one-time schedule
// per message, in the deployment's own schedule group, that sends the queue
// message to the queue at its send time and is deleted once it has fired
// (docs/scheduling.md). It implements sms.Scheduler.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// API is the part of the EventBridge Scheduler API the Scheduler uses.
// *scheduler.Client implements it.
type API interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

// MaxInputChars is the longest target input a schedule takes: the queue
// message of a scheduled message must fit (a body of 1600 characters
// does unless most of them must be escaped in JSON).
const MaxInputChars = 8192

// namePrefix starts the name of every schedule; the rest is the message's
// service id.
const namePrefix = "sms-"

// Config names the deployment's scheduling resources.
type Config struct {
	// Group is the schedule group of the deployment's schedules
	// (SMS_SCHEDULE_GROUP).
	Group string
	// RoleARN is the role EventBridge Scheduler assumes to send to the
	// queue (SMS_SCHEDULE_ROLE_ARN).
	RoleARN string
	// QueueARN is the queue's ARN, the schedules' target (SMS_QUEUE_ARN).
	QueueARN string
}

// Scheduler creates and deletes the one-time schedules of scheduled
// messages. It is safe for concurrent use.
type Scheduler struct {
	api API
	cfg Config
}

// New returns a Scheduler that keeps its schedules in cfg.Group through
// api.
func New(api API, cfg Config) *Scheduler {
	return &Scheduler{api: api, cfg: cfg}
}

// Name is the name of the schedule of the message whose service id is id.
func Name(id string) string { return namePrefix + id }

// Expression is the schedule expression that fires at t: at() in UTC, to
// the second, rounded up so that it never fires before t.
func Expression(t time.Time) string {
	t = t.UTC()
	if r := t.Truncate(time.Second); r.Before(t) {
		t = r.Add(time.Second)
	}
	return "at(" + t.Format("2006-01-02T15:04:05") + ")"
}

// Schedule creates the schedule that sends m, encoded as the queue
// message, to the queue at m.SendAt: a one-time schedule named after m.ID
// (the service id), in UTC, with no flexible window, deleted once it has
// fired. A schedule of that name that exists already is this message's,
// made by an earlier try whose answer was lost: that is success. Failures
// are KindUnavailable *sms.Error values (nothing was scheduled), or
// KindInvalid naming sendAt when the queue message is too long to be a
// schedule's input.
func (s *Scheduler) Schedule(ctx context.Context, m sms.QueuedMessage) error {
	if m.ID == "" || m.SendAt.IsZero() {
		return sms.E(sms.KindInternal, "internal error", sms.Cause(errors.New("scheduler: schedule: the message has no id or no send time")))
	}
	body, err := queue.Encode(m)
	if err != nil {
		return err
	}
	if utf8.RuneCount(body) > MaxInputChars {
		return sms.InvalidField("sendAt", "cannot be more than 15 minutes ahead for this body: written as a queue message it is longer than the schedule's limit")
	}
	_, err = s.api.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(Name(m.ID)),
		GroupName:                  aws.String(s.cfg.Group),
		ScheduleExpression:         aws.String(Expression(m.SendAt)),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      types.ActionAfterCompletionDelete,
		ClientToken:                aws.String(m.ID),
		Target: &types.Target{
			Arn:     aws.String(s.cfg.QueueARN),
			RoleArn: aws.String(s.cfg.RoleARN),
			Input:   aws.String(string(body)),
		},
	})
	var conflict *types.ConflictException
	if err != nil && !errors.As(err, &conflict) {
		return unavailable(fmt.Errorf("scheduler: create schedule: %w", err))
	}
	return nil
}

// Unschedule deletes the schedule of the message whose service id is id.
// A schedule that does not exist (it has fired and was deleted, or the
// message was sent through the queue's own delay) is not an error.
// Failures are KindUnavailable *sms.Error values.
func (s *Scheduler) Unschedule(ctx context.Context, id string) error {
	_, err := s.api.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{
		Name:      aws.String(Name(id)),
		GroupName: aws.String(s.cfg.Group),
	})
	var notFound *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &notFound) {
		return unavailable(fmt.Errorf("scheduler: delete schedule: %w", err))
	}
	return nil
}

func unavailable(err error) error {
	return sms.E(sms.KindUnavailable, "the scheduler is unavailable", sms.RetryAfter(5*time.Second), sms.Cause(err))
}
