package invoketest

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

// The variables of the env file that name the scheduled send's resources.
const (
	envScheduleGroup = "SMS_SCHEDULE_GROUP"
	envQueueARN      = "SMS_QUEUE_ARN"
)

// SeedScheduledID is the scheduled message Launch writes for the DELETE
// event of events/send: a status record in status scheduled, owned by the
// events' caller (the tokens' sub, events-test).
const SeedScheduledID = "2c7e9a41-5f3b-4d8e-9a6c-0b1d2e3f4a5b"

// seedScheduled writes the record of the DELETE event through the DynamoDB
// status store, as the send function would have when it scheduled the
// message.
func seedScheduled(ctx context.Context, store *dynamo.StatusStore) error {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ch := sms.Change{Status: sms.StatusScheduled, At: created, MessageID: SeedScheduledID, To: "+14155552671", From: "+15005550006",
		Segments: 1, Encoding: sms.GSM7, CreatedAt: created, Owner: sms.CallerOwner("events-test")}
	if _, err := store.Record(ctx, SeedScheduledID, ch); err != nil {
		return fmt.Errorf("invoketest: seed the status record %s: %w", SeedScheduledID, err)
	}
	return nil
}

// sendAtRE finds the send time in the request body of a send event (a
// JSON string inside the event's JSON).
var sendAtRE = regexp.MustCompile(`(\\"sendAt\\"\s*:\s*\\")([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)(\\")`)

// sendAtLead is how far ahead FreshSendAt moves a send time: beyond the
// queue's 15 minutes, so that the message goes to EventBridge Scheduler.
const sendAtLead = time.Hour

// FreshSendAt returns a send event with its sendAt, if it has one, moved
// to an hour after now: a fixed time in a file would leave the 60 s to 35
// days a send time must be ahead. The value keeps its width (seconds,
// UTC), so that the event's content-length stays right.
func FreshSendAt(event []byte, now time.Time) []byte {
	at := now.Add(sendAtLead).UTC().Format("2006-01-02T15:04:05Z")
	return sendAtRE.ReplaceAll(event, []byte("${1}"+at+"${3}"))
}

// schedules lists and deletes the schedules of the stack's group, so that
// each invocation is observed from an empty group.
func (s *Stack) schedules(ctx context.Context) ([]string, error) {
	if s.firer == nil {
		return nil, nil
	}
	names, err := s.firer.Names(ctx)
	if err != nil {
		return nil, fmt.Errorf("invoketest: %w", err)
	}
	for _, n := range names {
		if err := s.firer.Delete(ctx, n); err != nil {
			return nil, fmt.Errorf("invoketest: %w", err)
		}
	}
	return names, nil
}

// newFirer reads the group's schedules for Observe.
func newFirer(s *Stack, st mototest.Stack) *mototest.Firer {
	cfg := s.Moto.Config()
	return mototest.NewFirer(cfg, st.ScheduleGroup)
}
