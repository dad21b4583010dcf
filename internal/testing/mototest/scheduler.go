package mototest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ScheduleRoleARN is the role a test stack's schedules name. moto does not
// check it; EventBridge Scheduler assumes it to send to the queue.
const ScheduleRoleARN = "arn:aws:iam::123456789012:role/sms-scheduler"

// Scheduler returns an EventBridge Scheduler client for this server.
func (s *Server) Scheduler() *scheduler.Client { return scheduler.NewFromConfig(s.Config()) }

// deploySchedules creates the stack's schedule group (named after the
// stack) and names what SMS_SCHEDULE_GROUP, SMS_SCHEDULE_ROLE_ARN and
// SMS_QUEUE_ARN hold.
func deploySchedules(ctx context.Context, cfg aws.Config, sc StackConfig, st *Stack) error {
	out, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(st.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("mototest: queue %s: ARN: %w", sc.QueueName, err)
	}
	st.QueueARN = out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	st.ScheduleGroup, st.ScheduleRoleARN = sc.ScheduleGroup, ScheduleRoleARN
	if st.ScheduleGroup == "" {
		st.ScheduleGroup = sc.Name
	}
	if st.ScheduleGroup == "" {
		st.ScheduleGroup = sc.QueueName
	}
	if _, err := scheduler.NewFromConfig(cfg).CreateScheduleGroup(ctx, &scheduler.CreateScheduleGroupInput{
		Name: aws.String(st.ScheduleGroup),
	}); err != nil {
		return fmt.Errorf("mototest: create schedule group %s: %w", st.ScheduleGroup, err)
	}
	return nil
}

// Firer stands in for EventBridge Scheduler firing the one-time schedules
// of a schedule group, which moto stores but never fires: it reads each
// schedule (GetSchedule), waits for the time of its at() expression, sends
// its target input to its target queue, as Scheduler's SQS target does,
// and deletes it (ActionAfterCompletion DELETE). It is safe for concurrent
// use.
type Firer struct {
	sched *scheduler.Client
	sqs   *sqs.Client
	group string
	now   func() time.Time

	mu    sync.Mutex
	fired []Fired
}

// Fired is a schedule the Firer fired.
type Fired struct {
	Name string
	// Due is the time of its at() expression; At is when it was fired.
	Due, At time.Time
	// Input is what it sent to the queue.
	Input string
}

// NewFirer returns a Firer of the schedules in group, reaching moto
// through cfg.
func NewFirer(cfg aws.Config, group string) *Firer {
	return &Firer{sched: scheduler.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), group: group, now: time.Now}
}

// WithClock makes f judge when a schedule is due by now instead of the
// real time: a clock ahead of it stands for time passing, so that a test
// fires a schedule due in an hour at once.
func (f *Firer) WithClock(now func() time.Time) *Firer {
	f.now = now
	return f
}

// Firer returns a Firer of the schedules of st on this server.
func (s *Server) Firer(st Stack) *Firer { return NewFirer(s.Config(), st.ScheduleGroup) }

// Due reads the schedule name and returns the time of its at()
// expression, in the expression's time zone, and its target.
func (f *Firer) Due(ctx context.Context, name string) (time.Time, *schedtypes.Target, error) {
	out, err := f.sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(f.group)})
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("mototest: get schedule %s: %w", name, err)
	}
	expr := aws.ToString(out.ScheduleExpression)
	inner, ok := strings.CutPrefix(expr, "at(")
	if inner, ok2 := strings.CutSuffix(inner, ")"); ok && ok2 {
		loc := time.UTC
		if tz := aws.ToString(out.ScheduleExpressionTimezone); tz != "" {
			if loc, err = time.LoadLocation(tz); err != nil {
				return time.Time{}, nil, fmt.Errorf("mototest: schedule %s: time zone %q: %w", name, tz, err)
			}
		}
		due, err := time.ParseInLocation("2006-01-02T15:04:05", inner, loc)
		if err != nil {
			return time.Time{}, nil, fmt.Errorf("mototest: schedule %s: expression %q: %w", name, expr, err)
		}
		return due, out.Target, nil
	}
	return time.Time{}, nil, fmt.Errorf("mototest: schedule %s: %q is not a one-time at() expression", name, expr)
}

// Fire waits until the schedule name is due, then sends its target input
// to its target queue and deletes it.
func (f *Firer) Fire(ctx context.Context, name string) error {
	due, target, err := f.Due(ctx, name)
	if err != nil {
		return err
	}
	if wait := due.Sub(f.now()); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		// It may have been deleted while it waited.
		if _, target, err = f.Due(ctx, name); err != nil {
			return err
		}
	}
	queueName := aws.ToString(target.Arn)
	queueName = queueName[strings.LastIndex(queueName, ":")+1:]
	url, err := f.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queueName)})
	if err != nil {
		return fmt.Errorf("mototest: schedule %s: target %s: %w", name, aws.ToString(target.Arn), err)
	}
	at := f.now()
	if _, err := f.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: target.Input}); err != nil {
		return fmt.Errorf("mototest: schedule %s: send to %s: %w", name, queueName, err)
	}
	if _, err := f.sched.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(f.group)}); err != nil {
		return fmt.Errorf("mototest: schedule %s: delete after firing: %w", name, err)
	}
	f.mu.Lock()
	f.fired = append(f.fired, Fired{Name: name, Due: due, At: at, Input: aws.ToString(target.Input)})
	f.mu.Unlock()
	return nil
}

// Delete deletes the schedule name without firing it.
func (f *Firer) Delete(ctx context.Context, name string) error {
	if _, err := f.sched.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(f.group)}); err != nil {
		return fmt.Errorf("mototest: delete schedule %s: %w", name, err)
	}
	return nil
}

// Names lists the schedules of the group.
func (f *Firer) Names(ctx context.Context) ([]string, error) {
	var names []string
	p := scheduler.NewListSchedulesPaginator(f.sched, &scheduler.ListSchedulesInput{GroupName: aws.String(f.group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("mototest: list schedules of %s: %w", f.group, err)
		}
		for _, s := range page.Schedules {
			names = append(names, aws.ToString(s.Name))
		}
	}
	return names, nil
}

// Run fires every schedule of the group when it is due, polling for new
// ones every interval, until ctx is done. A schedule deleted before it is
// due (a canceled message) is not fired.
func (f *Firer) Run(ctx context.Context, interval time.Duration) error {
	started := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, 1)
	for {
		names, err := f.Names(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		for _, name := range names {
			if started[name] {
				continue
			}
			started[name] = true
			wg.Go(func() {
				err := f.Fire(ctx, name)
				var notFound *schedtypes.ResourceNotFoundException
				if err != nil && ctx.Err() == nil && !errors.As(err, &notFound) {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case <-time.After(interval):
		}
	}
}

// RunFirer runs a Firer of st's schedules for the rest of the test,
// polling every 100 ms, and fails the test if firing fails.
func (s *Server) RunFirer(tb testing.TB, st Stack) *Firer {
	tb.Helper()
	f := s.Firer(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Run(ctx, 100*time.Millisecond); err != nil {
			tb.Errorf("mototest: firing the schedules of %s: %v", st.ScheduleGroup, err)
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return f
}

// Fired returns the schedules fired so far, in the order they fired.
func (f *Firer) Fired() []Fired {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Fired(nil), f.fired...)
}
