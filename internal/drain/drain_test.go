package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
)

type fakeDeliverer struct {
	mu      sync.Mutex
	byBody  map[string]sms.Disposition
	got     []sms.QueuedMessage
	maxWait []time.Duration
}

func (f *fakeDeliverer) Deliver(_ context.Context, m sms.QueuedMessage, maxWait, _ time.Duration) sms.Disposition {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, m)
	f.maxWait = append(f.maxWait, maxWait)
	d, ok := f.byBody[m.Body]
	if !ok {
		d = sms.Disposition{Action: sms.Delivered}
	}
	return d
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type fakeQueue struct {
	mu         sync.Mutex
	requeued   []sms.QueuedMessage
	delays     []time.Duration
	enqueued   []sms.QueuedMessage
	visibility map[string]time.Duration
	requeueErr error
}

func (q *fakeQueue) Requeue(_ context.Context, m sms.QueuedMessage, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.requeueErr != nil {
		return q.requeueErr
	}
	q.requeued = append(q.requeued, m)
	q.delays = append(q.delays, d)
	return nil
}

func (q *fakeQueue) Enqueue(_ context.Context, m sms.QueuedMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.requeueErr != nil {
		return q.requeueErr
	}
	q.enqueued = append(q.enqueued, m)
	return nil
}

func (q *fakeQueue) ChangeVisibility(_ context.Context, h string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.visibility == nil {
		q.visibility = map[string]time.Duration{}
	}
	q.visibility[h] = d
	return nil
}

type fakeDLQ struct {
	mu      sync.Mutex
	reasons map[string]string
	err     error
}

func (d *fakeDLQ) DeadLetter(_ context.Context, raw, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	if d.reasons == nil {
		d.reasons = map[string]string{}
	}
	d.reasons[raw] = reason
	return nil
}

func record(id, body, receives string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: body,
		Attributes: map[string]string{"ApproximateReceiveCount": receives}, EventSource: "aws:sqs"}
}

func msg(body string) string { return `{"to":"+14155552671","body":"` + body + `"}` }

func TestHandleDispositions(t *testing.T) {
	d := &fakeDeliverer{byBody: map[string]sms.Disposition{
		"dup":    {Action: sms.Duplicate},
		"drop":   {Action: sms.Dropped, Kind: sms.KindRejected},
		"retry":  {Action: sms.Retry, Kind: sms.KindTransient},
		"defer":  {Action: sms.Deferred},
		"poison": {Action: sms.Poison, Kind: sms.KindInvalid, PoisonReason: sms.PoisonDuplicateID},
		"sender": {Action: sms.Poison, Kind: sms.KindForbidden, PoisonReason: sms.PoisonSenderNotAllowed},
	}}
	q := &fakeQueue{}
	dlq := &fakeDLQ{}
	h := NewHandler(d, q, dlq, discard(), Config{})
	ev := events.SQSEvent{Records: []events.SQSMessage{
		record("1", msg("ok"), "1"),
		record("2", msg("dup"), "1"),
		record("3", msg("drop"), "1"),
		record("4", msg("retry"), "3"),
		record("5", msg("defer"), "1"),
		record("6", msg("poison"), "1"),
		record("7", `not json`, "1"),
		record("8", `{"to":"+1415","body":"x"}`, "1"),
		record("9", msg("sender"), "1"),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.BatchItemFailures; len(got) != 1 || got[0].ItemIdentifier != "4" {
		t.Errorf("failures = %+v, want only record 4", got)
	}
	if got, want := q.visibility["rh-4"], 20*time.Second; got != want {
		t.Errorf("backoff of record 4 = %v, want %v", got, want)
	}
	if len(q.requeued) != 1 || q.requeued[0].Body != "defer" {
		t.Errorf("requeued = %+v, want the deferred record", q.requeued)
	}
	wantDLQ := map[string]string{msg("poison"): "duplicate_id", msg("sender"): "sender_not_allowed",
		`not json`: "invalid_json", `{"to":"+1415","body":"x"}`: "invalid_to"}
	for body, reason := range wantDLQ {
		if got := dlq.reasons[body]; got != reason {
			t.Errorf("DLQ reason for %s = %q, want %q", body, got, reason)
		}
	}
	if got := len(d.got); got != 7 {
		t.Errorf("deliveries = %d, want 7 (decodable records only)", got)
	}
}

func TestHandleRequeuesHeldRecordWithDelay(t *testing.T) {
	d := &fakeDeliverer{byBody: map[string]sms.Disposition{"held": {Action: sms.HeldElsewhere, Kind: sms.KindConflict}}}
	q := &fakeQueue{}
	h := NewHandler(d, q, &fakeDLQ{}, discard(), Config{BackoffBase: 2 * time.Second})
	body := `{"to":"+14155552671","body":"held","attempt":3}`
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("h", body, "1")}})
	if got := len(resp.BatchItemFailures); got != 0 {
		t.Errorf("failures = %d, want 0: a held record must not burn receive counts", got)
	}
	if len(q.requeued) != 1 || q.requeued[0].Body != "held" {
		t.Fatalf("requeued = %+v, want the held record", q.requeued)
	}
	if got, want := q.delays[0], 8*time.Second; got != want {
		t.Errorf("requeue delay = %v, want %v (backoff by attempt)", got, want)
	}
	if len(q.visibility) != 0 {
		t.Errorf("visibility changed %v, want untouched", q.visibility)
	}
}

func TestHandleFailsRecordWhenDLQUnreachable(t *testing.T) {
	h := NewHandler(&fakeDeliverer{}, &fakeQueue{}, &fakeDLQ{err: errors.New("down")}, discard(), Config{})
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("p", "{", "1")}})
	if got := len(resp.BatchItemFailures); got != 1 {
		t.Errorf("failures = %d, want 1 (poison kept until the DLQ takes it)", got)
	}
}

func TestHandleRequeueFailureFailsRecord(t *testing.T) {
	d := &fakeDeliverer{byBody: map[string]sms.Disposition{"defer": {Action: sms.Deferred}}}
	h := NewHandler(d, &fakeQueue{requeueErr: errors.New("down")}, &fakeDLQ{}, discard(), Config{})
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("d", msg("defer"), "1")}})
	if got := len(resp.BatchItemFailures); got != 1 {
		t.Errorf("failures = %d, want 1", got)
	}
}

func TestHandleBudgetFromDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &fakeDeliverer{}
	q := &fakeQueue{}
	h := NewHandler(d, q, &fakeDLQ{}, discard(), Config{SendBudget: 5 * time.Second, Clock: conformance.NewClock(now)})
	tests := []struct {
		name        string
		left        time.Duration
		wantWait    time.Duration
		wantRequeue int
	}{
		{"plenty of time", 30 * time.Second, 25 * time.Second, 0},
		{"too little time: requeue without delivering", 3 * time.Second, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.got, d.maxWait, q.requeued = nil, nil, nil
			ctx, cancel := context.WithDeadline(context.Background(), now.Add(tt.left))
			defer cancel()
			resp, _ := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{record("1", msg("a"), "1")}})
			if len(resp.BatchItemFailures) != 0 {
				t.Errorf("failures = %v, want none", resp.BatchItemFailures)
			}
			if got := len(q.requeued); got != tt.wantRequeue {
				t.Errorf("requeued = %d, want %d", got, tt.wantRequeue)
			}
			if tt.wantRequeue == 0 && (len(d.maxWait) != 1 || d.maxWait[0] != tt.wantWait) {
				t.Errorf("maxWait = %v, want %v", d.maxWait, tt.wantWait)
			}
		})
	}
}

func TestHandleDefaultSendBudget(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &fakeDeliverer{}
	h := NewHandler(d, &fakeQueue{}, &fakeDLQ{}, discard(), Config{Clock: conformance.NewClock(now)})
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(30*time.Second))
	defer cancel()
	h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{record("1", msg("a"), "1")}})
	if want := 30*time.Second - DefaultSendBudget; len(d.maxWait) != 1 || d.maxWait[0] != want {
		t.Errorf("maxWait = %v, want %v (the deadline less DefaultSendBudget)", d.maxWait, want)
	}
}

func TestBackoff(t *testing.T) {
	h := NewHandler(nil, nil, nil, nil, Config{})
	tests := []struct {
		receives int
		want     time.Duration
	}{{0, 5 * time.Second}, {1, 5 * time.Second}, {2, 10 * time.Second}, {5, 80 * time.Second}, {9, 15 * time.Minute}, {50, 15 * time.Minute}}
	for _, tt := range tests {
		if got := h.backoff(tt.receives); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.receives, got, tt.want)
		}
	}
}

// fakeStatus remembers the hand-offs to the dead-letter queue it was told of.
type fakeStatus struct {
	mu   sync.Mutex
	dead map[string]string // service id -> reason
	ids  map[string]string // service id -> id
}

func (s *fakeStatus) DeadLettered(_ context.Context, m sms.QueuedMessage, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead == nil {
		s.dead, s.ids = map[string]string{}, map[string]string{}
	}
	s.dead[m.ServiceID] = reason
	s.ids[m.ServiceID] = m.ID
}

func TestHandleRecordsDeadLetters(t *testing.T) {
	d := &fakeDeliverer{byBody: map[string]sms.Disposition{
		"retry":  {Action: sms.Retry, Kind: sms.KindProviderAccount},
		"sender": {Action: sms.Poison, Kind: sms.KindForbidden, PoisonReason: sms.PoisonSenderNotAllowed},
	}}
	st := &fakeStatus{}
	h := NewHandler(d, &fakeQueue{}, &fakeDLQ{}, discard(), Config{Status: st, MaxReceives: 5})
	ev := events.SQSEvent{Records: []events.SQSMessage{
		record("1", `{"to":"+1415","body":"x","id":"order-1"}`, "1"),                                // poison with its id
		record("2", `{"to":"+14155552671","body":"sender","id":"order-2"}`, "1"),                    // refused by the deliverer
		record("3", `{"to":"+14155552671","body":"retry","id":"order-3"}`, "4"),                     // retried: not the last receive
		record("4", `{"to":"+14155552671","body":"retry","id":"order-4"}`, "5"),                     // the last receive
		record("5", `{"to":"+14155552671","body":"ok","id":"order-5"}`, "5"),                        // delivered on its last receive
		record("6", `not json`, "1"),                                                                // no id to record
		record("7", `{"to":"+14155552671","body":"x","expiresAt":"yesterday","id":"order-7"}`, "1"), // poison expiry
	}}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.BatchItemFailures); got != 2 {
		t.Errorf("batch item failures = %d, want 2 (both retries)", got)
	}
	want := map[string]string{
		sms.ServiceIDForProducer("order-1"): "invalid_to",
		sms.ServiceIDForProducer("order-2"): sms.PoisonSenderNotAllowed,
		sms.ServiceIDForProducer("order-4"): ReasonMaxReceives,
		sms.ServiceIDForProducer("order-7"): "invalid_expiresAt",
	}
	if len(st.dead) != len(want) {
		t.Errorf("recorded %v, want %v", st.dead, want)
	}
	for id, reason := range want {
		if st.dead[id] != reason {
			t.Errorf("service id %s: reason %q, want %q", id, st.dead[id], reason)
		}
	}
	if got := st.ids[sms.ServiceIDForProducer("order-1")]; got != "order-1" {
		t.Errorf("poison message id = %q, want order-1", got)
	}
}

func TestHandleLastReceiveWhenDLQUnreachable(t *testing.T) {
	st := &fakeStatus{}
	h := NewHandler(&fakeDeliverer{}, &fakeQueue{}, &fakeDLQ{err: errors.New("down")}, discard(), Config{Status: st, MaxReceives: 3})
	ev := events.SQSEvent{Records: []events.SQSMessage{
		record("1", `{"to":"+1415","body":"x","id":"order-1"}`, "2"),
		record("2", `{"to":"+1415","body":"x","id":"order-2"}`, "3"),
	}}
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	// The first comes back and is dead-lettered then; SQS itself moves the
	// second, which had its last receive.
	want := map[string]string{sms.ServiceIDForProducer("order-2"): ReasonMaxReceives}
	if len(st.dead) != 1 || st.dead[sms.ServiceIDForProducer("order-2")] != ReasonMaxReceives {
		t.Errorf("recorded %v, want %v", st.dead, want)
	}
}

func TestHandleAcknowledgesExpired(t *testing.T) {
	d := &fakeDeliverer{byBody: map[string]sms.Disposition{"late": {Action: sms.Expired, Kind: sms.KindExpired}}}
	q := &fakeQueue{}
	h := NewHandler(d, q, &fakeDLQ{}, discard(), Config{})
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("1", msg("late"), "1")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 || len(q.requeued) != 0 || len(q.visibility) != 0 {
		t.Errorf("failures %v, requeued %d, hidden %d; want the record acknowledged", resp.BatchItemFailures, len(q.requeued), len(q.visibility))
	}
}

func TestHandleProducerMessageCreatedWhenSQSTookIt(t *testing.T) {
	d := &fakeDeliverer{}
	h := NewHandler(d, &fakeQueue{}, &fakeDLQ{}, discard(), Config{})
	rec := record("1", msg("ok"), "1")
	rec.Attributes["SentTimestamp"] = "1764579600123"
	if _, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}}); err != nil {
		t.Fatal(err)
	}
	if want := time.UnixMilli(1764579600123); len(d.got) != 1 || !d.got[0].EnqueuedAt.Equal(want) {
		t.Errorf("delivered %+v, want EnqueuedAt %v (SentTimestamp)", d.got, want)
	}
}

// TestHandleDefersWithGrowingDelay checks that a record deferred for
// reasons that are not its own — no slot, the limiter or the ledger
// unreachable, its id held elsewhere, too little time left — goes back on
// the queue as a fresh copy (no receive count burnt) after a delay that
// grows with its attempt count, up to SQS's 15 minutes.
func TestHandleDefersWithGrowingDelay(t *testing.T) {
	tests := []struct {
		name    string
		d       sms.Disposition
		attempt int
		want    time.Duration
	}{
		{"no slot, first copy", sms.Disposition{Action: sms.Deferred}, 1, 5 * time.Second},
		{"no slot, third copy", sms.Disposition{Action: sms.Deferred}, 3, 20 * time.Second},
		{"limiter unavailable", sms.Disposition{Action: sms.Deferred, Kind: sms.KindUnavailable}, 2, 10 * time.Second},
		{"held elsewhere", sms.Disposition{Action: sms.HeldElsewhere, Kind: sms.KindConflict}, 4, 40 * time.Second},
		{"delay capped at SQS's maximum", sms.Disposition{Action: sms.Deferred}, 12, 15 * time.Minute},
		{"producer's message without an attempt count", sms.Disposition{Action: sms.Deferred}, 0, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDeliverer{byBody: map[string]sms.Disposition{"x": tt.d}}
			q := &fakeQueue{}
			dlq := &fakeDLQ{}
			h := NewHandler(d, q, dlq, discard(), Config{BackoffMax: time.Hour})
			body := fmt.Sprintf(`{"to":"+14155552671","body":"x","attempt":%d}`, tt.attempt)
			if tt.attempt == 0 {
				body = msg("x")
			}
			resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("r", body, "1")}})
			if len(resp.BatchItemFailures) != 0 {
				t.Errorf("failures = %v, want none: a deferred record must not burn its receive count", resp.BatchItemFailures)
			}
			if len(q.requeued) != 1 {
				t.Fatalf("requeued %d copies, want 1", len(q.requeued))
			}
			if got := q.delays[0]; got != tt.want {
				t.Errorf("requeue delay = %v, want %v", got, tt.want)
			}
			if len(q.visibility) != 0 || len(dlq.reasons) != 0 {
				t.Errorf("visibility %v, dead letters %v; want neither", q.visibility, dlq.reasons)
			}
		})
	}
}

// TestHandleRequeueLimit checks that the requeue loop is bounded: a record
// that already went on the queue RequeueLimit times goes to the DLQ with
// reason requeue_limit instead of another copy.
func TestHandleRequeueLimit(t *testing.T) {
	for _, action := range []sms.Action{sms.Deferred, sms.HeldElsewhere} {
		for _, attempt := range []int{DefaultRequeueLimit - 1, DefaultRequeueLimit, DefaultRequeueLimit + 5} {
			d := &fakeDeliverer{byBody: map[string]sms.Disposition{"x": {Action: action}}}
			q := &fakeQueue{}
			dlq := &fakeDLQ{}
			h := NewHandler(d, q, dlq, discard(), Config{})
			body := fmt.Sprintf(`{"to":"+14155552671","body":"x","attempt":%d}`, attempt)
			resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{record("r", body, "1")}})
			if len(resp.BatchItemFailures) != 0 {
				t.Errorf("%v, attempt %d: failures = %v, want none", action, attempt, resp.BatchItemFailures)
			}
			if attempt < DefaultRequeueLimit {
				if len(q.requeued) != 1 || len(dlq.reasons) != 0 {
					t.Errorf("%v, attempt %d: requeued %d, dead-lettered %v; want one copy", action, attempt, len(q.requeued), dlq.reasons)
				}
				continue
			}
			if len(q.requeued) != 0 || dlq.reasons[body] != ReasonRequeueLimit {
				t.Errorf("%v, attempt %d: requeued %d, dead-lettered %v; want the record on the DLQ with reason %s",
					action, attempt, len(q.requeued), dlq.reasons, ReasonRequeueLimit)
			}
		}
	}
}
