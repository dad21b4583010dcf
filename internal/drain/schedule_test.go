package drain

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

// scheduledMsg is a queue message due at sendAt.
func scheduledMsg(id, body string, sendAt time.Time, attempt int) string {
	return `{"version":1,"id":"` + id + `","to":"+14155552671","body":"` + body + `","attempt":` + strconv.Itoa(attempt) +
		`,"sendAt":"` + sendAt.UTC().Format(time.RFC3339Nano) + `"}`
}

// TestHandleHoldsRecordsNotDue: a scheduled record that arrives before it
// is due — the queue's 15 minutes were not enough, a schedule fired early,
// SQS redelivered it — is never handed to the deliverer: a copy with the
// same attempt goes back on the queue and the record is acknowledged, so
// no receive count is burnt. Once due, it is delivered.
func TestHandleHoldsRecordsNotDue(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clock := conformance.NewClock(now)
	d := &fakeDeliverer{}
	q := &fakeQueue{}
	dlq := &fakeDLQ{}
	h := NewHandler(d, q, dlq, discard(), Config{Clock: clock})
	ev := events.SQSEvent{Records: []events.SQSMessage{
		record("1", scheduledMsg("a", "due in an hour", now.Add(time.Hour), 1), "1"),
		record("2", scheduledMsg("b", "redelivered a second early", now.Add(time.Second), 3), "4"),
		record("3", scheduledMsg("c", "a millisecond early", now.Add(time.Millisecond), 1), "1"),
		record("4", scheduledMsg("d", "due now", now, 1), "1"),
		record("5", scheduledMsg("e", "overdue", now.Add(-time.Hour), 2), "1"),
		record("6", scheduledMsg("f", "beyond 35 days", now.Add(sms.MaxSendAhead+time.Hour), 1), "1"),
	}}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v; want every record done with", resp, err)
	}
	var delivered []string
	for _, m := range d.got {
		delivered = append(delivered, m.ID)
	}
	if len(delivered) != 2 || !containsAll(delivered, "d", "e") {
		t.Errorf("delivered %v, want only the due ones [d e]", delivered)
	}
	held := map[string]sms.QueuedMessage{}
	for _, m := range q.enqueued {
		held[m.ID] = m
	}
	for id, attempt := range map[string]int{"a": 1, "b": 3, "c": 1} {
		m, ok := held[id]
		if !ok {
			t.Errorf("%s was not put back on the queue", id)
			continue
		}
		if m.Attempt != attempt || m.SendAt.IsZero() {
			t.Errorf("%s put back with attempt %d, sendAt %v; want attempt %d unchanged and its sendAt", id, m.Attempt, m.SendAt, attempt)
		}
	}
	if len(q.enqueued) != 3 || len(q.requeued) != 0 {
		t.Errorf("put back %d, requeued %d; want 3 put back as they were, none requeued", len(q.enqueued), len(q.requeued))
	}
	if reason := dlq.reasons[scheduledMsg("f", "beyond 35 days", now.Add(sms.MaxSendAhead+time.Hour), 1)]; reason != ReasonInvalidSendAt {
		t.Errorf("a message due beyond 35 days: dead-letter reason %q, want %q", reason, ReasonInvalidSendAt)
	}
	// The copies come back when the queue's delay ends; the one due in an
	// hour is held again, the others are due and delivered.
	clock.Advance(time.Second)
	d.got = nil
	var again []events.SQSMessage
	for i, m := range q.enqueued {
		again = append(again, record("x"+strconv.Itoa(i), scheduledMsg(m.ID, m.Body, m.SendAt, m.Attempt), "1"))
	}
	q.enqueued = nil
	if resp, err := h.Handle(context.Background(), events.SQSEvent{Records: again}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle of the copies = %+v, %v", resp, err)
	}
	if len(d.got) != 2 || len(q.enqueued) != 1 || q.enqueued[0].ID != "a" {
		t.Errorf("second pass: delivered %d, held %v; want b and c delivered, a held", len(d.got), q.enqueued)
	}
}

// TestHandleNotDueCopyFails: when the copy cannot be put back, the
// record fails back to SQS (it comes back after its visibility timeout);
// nothing is delivered.
func TestHandleNotDueCopyFails(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	d := &fakeDeliverer{}
	q := &fakeQueue{requeueErr: errors.New("down")}
	h := NewHandler(d, q, &fakeDLQ{}, discard(), Config{Clock: conformance.NewClock(now)})
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		record("1", scheduledMsg("a", "later", now.Add(time.Minute), 1), "1"),
	}})
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "1" {
		t.Errorf("Handle = %+v, %v; want record 1 failed back to SQS", resp, err)
	}
	if len(d.got) != 0 {
		t.Errorf("delivered %d, want none before it is due", len(d.got))
	}
}

// TestHandleCanceledIsAcknowledged: a canceled scheduled message is done
// with.
func TestHandleCanceledIsAcknowledged(t *testing.T) {
	d := &fakeDeliverer{byBody: map[string]sms.Disposition{"canceled": {Action: sms.Canceled}}}
	h := NewHandler(d, &fakeQueue{}, &fakeDLQ{}, discard(), Config{})
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("1", msg("canceled"), "1")}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("Handle = %+v, %v; want the canceled record acknowledged", resp, err)
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
