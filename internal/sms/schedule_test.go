package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
)

// scheduleFixture is a send path and a drain path over one clock, one
// queue, one status store and one scheduler.
type scheduleFixture struct {
	clock     *fakeClock
	provider  *fakeProvider
	limiter   *fakeLimiter
	queue     *fakeQueue
	ledger    *fakeLedger
	status    *fakeStatus
	scheduler *fakeScheduler
	sender    *Sender
	deliverer *Deliverer
	canceler  *Canceler
	quotas    *fakeQuotas
	log       *bytes.Buffer
}

// newScheduleFixture builds the fixture; without a scheduler, send times
// beyond the queue's 15 minutes are refused.
func newScheduleFixture(t *testing.T, withScheduler bool) *scheduleFixture {
	t.Helper()
	f := &scheduleFixture{clock: newFakeClock(), provider: &fakeProvider{}, queue: &fakeQueue{}, ledger: &fakeLedger{},
		quotas: &fakeQuotas{}, log: &bytes.Buffer{}}
	f.limiter = &fakeLimiter{clock: f.clock}
	f.status = newFakeStatus(f.clock)
	log := slog.New(slog.NewJSONHandler(f.log, nil))
	d := NewDispatcher(f.provider, f.limiter, log, DispatcherConfig{Clock: f.clock})
	cfg := SenderConfig{DefaultFrom: "FluxKit", QueueEnabled: true, MaxWait: 250 * time.Millisecond, Status: f.status}
	var sched Scheduler
	if withScheduler {
		f.scheduler = &fakeScheduler{}
		cfg.Scheduler, sched = f.scheduler, f.scheduler
	}
	f.sender = NewSender(d, f.queue, f.ledger, cfg)
	f.deliverer = NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit", Status: f.status, Scheduled: f.status})
	f.canceler = NewCanceler(f.status, log, CancelerConfig{Scheduler: sched, Quotas: f.quotas})
	return f
}

// held returns the queue message the send path handed on: to the queue
// or to the scheduler.
func (f *scheduleFixture) held(t *testing.T, id string) QueuedMessage {
	t.Helper()
	for _, m := range f.queue.msgs {
		if m.ID == id {
			return m
		}
	}
	if f.scheduler != nil {
		if m, ok := f.scheduler.held[id]; ok {
			return m
		}
	}
	t.Fatalf("message %s is neither on the queue nor scheduled", id)
	return QueuedMessage{}
}

func TestSenderSchedules(t *testing.T) {
	tests := []struct {
		name          string
		ahead         time.Duration
		withScheduler bool
		wantVia       string // "queue", "scheduler", or "" for a refusal
	}{
		{"a minute ahead: the queue's delay", time.Minute, true, "queue"},
		{"15 minutes ahead: the queue's delay", MaxQueueDelay, true, "queue"},
		{"just over 15 minutes: a schedule", MaxQueueDelay + time.Second, true, "scheduler"},
		{"35 days ahead: a schedule", MaxSendAhead, true, "scheduler"},
		{"15 minutes without a scheduler: the queue's delay", MaxQueueDelay, false, "queue"},
		{"just over 15 minutes without a scheduler: 400", MaxQueueDelay + time.Second, false, ""},
		{"59 seconds: 400", 59 * time.Second, true, ""},
		{"35 days and a second: 400", MaxSendAhead + time.Second, true, ""},
		{"in the past: 400", -time.Hour, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newScheduleFixture(t, tt.withScheduler)
			sendAt := f.clock.Now().Add(tt.ahead).In(time.FixedZone("CET", 3600))
			res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "Your table is ready ✓", SendAt: sendAt, Caller: "alice"})
			if f.provider.calls != 0 || len(f.limiter.maxWait) != 0 {
				t.Errorf("provider calls %d, limiter calls %d; want none: a scheduled message is not sent now", f.provider.calls, len(f.limiter.maxWait))
			}
			if tt.wantVia == "" {
				e := AsError(err)
				if e.Kind != KindInvalid || e.Field != "sendAt" || e.Code != "" || !strings.HasPrefix(e.Message, "sendAt ") {
					t.Errorf("error = %v, want invalid_request naming sendAt", err)
				}
				if len(f.queue.msgs) != 0 || len(f.status.recs) != 0 || (f.scheduler != nil && f.scheduler.scheduled != 0) {
					t.Errorf("refused, yet something was held or recorded")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send error = %v", err)
			}
			want := Result{MessageID: res.MessageID, Status: StatusScheduled, Channel: Channel, To: testTo,
				SendAt: sendAt.UTC(), Segments: 1, Encoding: UCS2}
			if !reflect.DeepEqual(res, want) || !IsServiceIDShaped(res.MessageID) {
				t.Errorf("Result = %+v, want %+v with a service id", res, want)
			}
			m := f.held(t, res.MessageID)
			if !m.SendAt.Equal(sendAt) || m.Attempt != 1 || m.From != "FluxKit" || m.ID != res.MessageID {
				t.Errorf("held message = %+v, want due %v, attempt 1, default sender, the answered id", m, sendAt)
			}
			scheduled := 0
			if f.scheduler != nil {
				scheduled = f.scheduler.scheduled
			}
			if got := map[bool]string{true: "scheduler", false: "queue"}[scheduled == 1]; got != tt.wantVia || len(f.queue.msgs)+scheduled != 1 {
				t.Errorf("held by the %s (queue %d, scheduler %d), want once by the %s", got, len(f.queue.msgs), scheduled, tt.wantVia)
			}
			rec, err := f.status.Get(context.Background(), res.MessageID)
			if err != nil || rec.Status != StatusScheduled || !rec.OwnedBy(CallerOwner("alice")) || rec.MessageID != res.MessageID ||
				rec.Segments != 1 || rec.Encoding != UCS2 || !rec.CreatedAt.Equal(f.clock.Now()) {
				t.Errorf("status record = %+v, %v; want scheduled, owned by alice, with its id, segments and acceptance time", rec, err)
			}
		})
	}
}

func TestSenderScheduleFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("scheduler down: 503, nothing recorded", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		f.scheduler.err = E(KindUnavailable, "the scheduler is unavailable")
		_, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(time.Hour), Caller: "alice"})
		if KindOf(err) != KindUnavailable || AsError(err).RetryAfter <= 0 || len(f.status.recs) != 0 {
			t.Errorf("error = %v, records %d; want unavailable with Retry-After and no record", err, len(f.status.recs))
		}
	})
	t.Run("queue down: 503", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		f.queue.err = errBoom
		_, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(2 * time.Minute), Caller: "alice"})
		if KindOf(err) != KindUnavailable || len(f.status.recs) != 0 {
			t.Errorf("error = %v, records %d; want unavailable and no record", err, len(f.status.recs))
		}
	})
	t.Run("a body too long for a schedule: 400 naming sendAt", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		f.scheduler.err = InvalidField("sendAt", "cannot be more than 15 minutes ahead for this body")
		_, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(time.Hour)})
		if e := AsError(err); e.Kind != KindInvalid || e.Field != "sendAt" {
			t.Errorf("error = %v, want invalid sendAt", err)
		}
	})
	t.Run("the guard runs at acceptance", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		_, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", From: "Stranger", SendAt: f.clock.Now().Add(time.Hour)})
		if AsError(err).Code != CodeSenderNotAllowed || f.scheduler.scheduled != 0 {
			t.Errorf("error = %v, scheduled %d; want sender_not_allowed and nothing scheduled", err, f.scheduler.scheduled)
		}
	})
	t.Run("status write fails: still scheduled, alarmed", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		f.status.err = E(KindUnavailable, "table down")
		res, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(time.Hour)})
		if err != nil || res.Status != StatusScheduled || f.scheduler.scheduled != 1 {
			t.Errorf("Send = %+v, %v; want scheduled (the message is held)", res, err)
		}
		if !strings.Contains(f.log.String(), `"event":"`+EventStatusRecordFailed+`"`) {
			t.Errorf("log lacks event=%s:\n%s", EventStatusRecordFailed, f.log.String())
		}
	})
}

// TestSenderScheduleIdempotency: a retry with the key replays the first
// answer (even once the send time is nearer than a minute), schedules
// nothing again; another sendAt under the same key is another request.
func TestSenderScheduleIdempotency(t *testing.T) {
	f := newScheduleFixture(t, true)
	ctx := context.Background()
	sendAt := f.clock.Now().Add(time.Hour)
	req := SendRequest{To: testTo, Body: "x", SendAt: sendAt, Caller: "alice", IdempotencyKey: "k-1"}
	first, err := f.sender.Send(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Sleep(ctx, time.Hour-30*time.Second)
	again, err := f.sender.Send(ctx, req)
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Errorf("replay = %+v, %v; want %+v", again, err, first)
	}
	if f.scheduler.scheduled != 1 {
		t.Errorf("scheduled %d times, want once", f.scheduler.scheduled)
	}
	other := req
	other.SendAt = sendAt.Add(time.Minute)
	if _, err := f.sender.Send(ctx, other); AsError(err).Code != CodeIdempotencyMismatch {
		t.Errorf("same key, other sendAt: error = %v, want %s", err, CodeIdempotencyMismatch)
	}
	// Without sendAt, the fingerprint is the one keys had before sendAt
	// existed.
	if got, want := requestFingerprint(SendRequest{To: testTo, Body: "x", From: "A"}), Fingerprint(testTo, "x", "A"); got != want {
		t.Errorf("fingerprint without sendAt = %s, want %s", got, want)
	}
	// A refused send time frees the key for a corrected retry.
	bad := SendRequest{To: testTo, Body: "y", SendAt: f.clock.Now().Add(time.Second), Caller: "alice", IdempotencyKey: "k-2"}
	if _, err := f.sender.Send(ctx, bad); AsError(err).Field != "sendAt" {
		t.Fatalf("error = %v, want invalid sendAt", err)
	}
	bad.SendAt = f.clock.Now().Add(2 * time.Minute)
	if res, err := f.sender.Send(ctx, bad); err != nil || res.Status != StatusScheduled {
		t.Errorf("corrected retry with the same key = %+v, %v; want scheduled", res, err)
	}
}

// TestResultJSON: the 202 body of a scheduled message, field by field.
func TestScheduledResultJSON(t *testing.T) {
	res := Result{MessageID: "3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f", Status: StatusScheduled, Channel: Channel, To: testTo,
		SendAt: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Segments: 1, Encoding: GSM7}
	b, _ := json.Marshal(res)
	want := `{"messageId":"3f2b8c1d-9e4a-4b7c-8d6e-2a1b0c9d8e7f","status":"scheduled","channel":"sms","to":"` + testTo +
		`","sendAt":"2026-12-01T08:00:00Z","segments":1,"encoding":"GSM-7"}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	sent, _ := json.Marshal(Result{MessageID: "SM1", Status: StatusSent, Channel: Channel, To: testTo})
	if strings.Contains(string(sent), "sendAt") {
		t.Errorf("a result without a send time writes sendAt: %s", sent)
	}
}

// schedule accepts a message for an hour from now and returns its id.
func (f *scheduleFixture) schedule(t *testing.T, caller string, ahead time.Duration) string {
	t.Helper()
	res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "Reminder", SendAt: f.clock.Now().Add(ahead), Caller: caller})
	if err != nil {
		t.Fatalf("Send error = %v", err)
	}
	return res.MessageID
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	t.Run("scheduled: canceled, schedule deleted, places given back", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		id := f.schedule(t, "alice", time.Hour)
		f.clock.Sleep(ctx, time.Minute)
		rec, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"})
		if err != nil || rec.Status != StatusCanceled || rec.ServiceID != id {
			t.Fatalf("Cancel = %+v, %v; want the canceled record", rec, err)
		}
		if h := rec.History; len(h) != 2 || h[1].Status != StatusCanceled || !h[1].At.Equal(f.clock.Now()) {
			t.Errorf("history = %+v, want scheduled then canceled now", h)
		}
		if !reflect.DeepEqual(f.scheduler.unscheduled, []string{id}) || len(f.scheduler.held) != 0 {
			t.Errorf("unscheduled %v, still held %d; want its schedule deleted", f.scheduler.unscheduled, len(f.scheduler.held))
		}
		if !reflect.DeepEqual(f.quotas.returned, []string{id}) {
			t.Errorf("places given back for %v, want %s", f.quotas.returned, id)
		}
		// Again: the same answer, nothing done twice.
		again, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"})
		if err != nil || !reflect.DeepEqual(again, rec) || len(f.scheduler.unscheduled) != 1 || len(f.quotas.returned) != 1 {
			t.Errorf("repeated Cancel = %+v, %v; want the same record, nothing done again", again, err)
		}
	})
	t.Run("the admin scope cancels anyone's", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		id := f.schedule(t, "alice", 2*time.Minute)
		if rec, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "ops", Admin: true}); err != nil || rec.Status != StatusCanceled {
			t.Errorf("admin Cancel = %s, %v; want canceled", rec.Status, err)
		}
	})
	t.Run("others, unknown ids, no records: 404", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		id := f.schedule(t, "alice", time.Hour)
		for _, r := range []CancelRequest{{ID: id, Caller: "mallory"}, {ID: id, Caller: "producer"}, {ID: NewServiceID(), Caller: "alice"}} {
			if _, err := f.canceler.Cancel(ctx, r); KindOf(err) != KindNotFound {
				t.Errorf("Cancel(%+v) error = %v, want not found", r, err)
			}
		}
		if _, err := NewCanceler(nil, nil, CancelerConfig{}).Cancel(ctx, CancelRequest{ID: id, Caller: "alice"}); KindOf(err) != KindNotFound {
			t.Errorf("Cancel without status records: error = %v, want not found", err)
		}
		if rec, _ := f.status.Get(ctx, id); rec.Status != StatusScheduled || len(f.scheduler.unscheduled) != 0 {
			t.Errorf("record %s, unscheduled %v; want it untouched", rec.Status, f.scheduler.unscheduled)
		}
	})
	t.Run("handed over or sent: 409", func(t *testing.T) {
		for _, st := range []Status{StatusQueued, StatusSent, StatusDelivered, StatusFailed} {
			f := newScheduleFixture(t, true)
			id := f.schedule(t, "alice", time.Hour)
			if _, err := f.status.Record(ctx, id, Change{Status: st}); err != nil {
				t.Fatal(err)
			}
			_, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"})
			if e := AsError(err); e.Kind != KindConflict || !strings.Contains(e.Message, string(st)) {
				t.Errorf("Cancel of a %s message: error = %v, want conflict naming its status", st, err)
			}
			if len(f.scheduler.unscheduled) != 0 || len(f.quotas.returned) != 0 {
				t.Errorf("Cancel of a %s message deleted its schedule or gave places back", st)
			}
		}
	})
	t.Run("status store down: 503", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		id := f.schedule(t, "alice", time.Hour)
		f.status.err = E(KindUnavailable, "table down")
		if _, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"}); KindOf(err) != KindUnavailable {
			t.Errorf("error = %v, want unavailable", err)
		}
	})
	t.Run("schedule deletion and places fail: still canceled", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		id := f.schedule(t, "alice", time.Hour)
		f.scheduler.err = errBoom
		f.quotas.err = errBoom
		if rec, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"}); err != nil || rec.Status != StatusCanceled {
			t.Errorf("Cancel = %s, %v; want canceled", rec.Status, err)
		}
	})
}

// TestDelivererHandsOver: a due scheduled message's record moves from
// scheduled to queued before the id is claimed; a canceled one is never
// sent.
func TestDelivererHandsOver(t *testing.T) {
	ctx := context.Background()
	due := func(f *scheduleFixture, id string) QueuedMessage {
		m := f.held(t, id)
		f.clock.Sleep(ctx, m.SendAt.Sub(f.clock.Now()))
		return m
	}
	t.Run("due: handed over and sent", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		m := due(f, f.schedule(t, "alice", time.Hour))
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Delivered || len(f.provider.sent) != 1 {
			t.Fatalf("Deliver = %+v, sent %d; want delivered once", d, len(f.provider.sent))
		}
		if rec, _ := f.status.Get(ctx, m.ID); rec.Status != StatusSent || rec.History[len(rec.History)-2].Status != StatusQueued {
			t.Errorf("record = %s (history %+v), want sent after queued (the hand-over, then the drain's write after the provider call)", rec.Status, rec.History)
		}
		// The cancel comes too late.
		if _, err := f.canceler.Cancel(ctx, CancelRequest{ID: m.ID, Caller: "alice"}); KindOf(err) != KindConflict {
			t.Errorf("Cancel after the hand-over: error = %v, want conflict", err)
		}
	})
	t.Run("canceled: never sent", func(t *testing.T) {
		f := newScheduleFixture(t, false)
		id := f.schedule(t, "alice", 10*time.Minute)
		if _, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"}); err != nil {
			t.Fatal(err)
		}
		m := due(f, id)
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Canceled {
			t.Errorf("Deliver = %+v, want canceled", d)
		}
		if f.provider.calls != 0 || len(f.limiter.maxWait) != 0 || len(f.ledger.recs) != 0 {
			t.Errorf("provider %d, limiter %d, ledger %d; want nothing touched", f.provider.calls, len(f.limiter.maxWait), len(f.ledger.recs))
		}
	})
	t.Run("a second copy after the hand-over is sent once", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		m := due(f, f.schedule(t, "alice", time.Hour))
		first := f.deliverer.Deliver(ctx, m, time.Second, time.Minute)
		second := f.deliverer.Deliver(ctx, m, time.Second, time.Minute)
		if first.Action != Delivered || second.Action != Duplicate || len(f.provider.sent) != 1 {
			t.Errorf("copies = %v, %v, sent %d; want delivered, duplicate, sent once", first.Action, second.Action, len(f.provider.sent))
		}
	})
	t.Run("no record: sent", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		m := due(f, f.schedule(t, "alice", time.Hour))
		delete(f.status.recs, m.ID)
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Delivered {
			t.Errorf("Deliver without a record = %+v, want delivered (nothing accepted is lost)", d)
		}
	})
	t.Run("status store down: deferred, nothing sent", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		m := due(f, f.schedule(t, "alice", time.Hour))
		f.status.err = errBoom
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Deferred || d.Kind != KindUnavailable || f.provider.calls != 0 {
			t.Errorf("Deliver = %+v, provider calls %d; want deferred (unavailable), nothing sent", d, f.provider.calls)
		}
	})
	t.Run("not scheduled: the record is not read", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		m := QueuedMessage{Message: Message{ID: NewServiceID(), To: testTo, Body: "now"}, Attempt: 1}
		m.ServiceID = m.ID
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Delivered || f.status.transitions != 0 {
			t.Errorf("Deliver = %+v, transitions %d; want delivered without a status request", d, f.status.transitions)
		}
	})
}

// TestCancelRacesDueTime cancels scheduled messages at the moment the
// drain takes them up, many times: each message is either canceled and
// never sent, or the cancel answers 409 and the message is sent exactly
// once — never both, never neither.
func TestCancelRacesDueTime(t *testing.T) {
	ctx := context.Background()
	f := newScheduleFixture(t, true)
	outcomes := map[string]int{}
	for round := range 200 {
		id := f.schedule(t, "alice", 20*time.Minute)
		m := f.held(t, id)
		sentBefore := len(f.provider.sent)
		var (
			wg        sync.WaitGroup
			cancelErr error
			d         Disposition
		)
		start := make(chan struct{})
		wg.Go(func() { <-start; _, cancelErr = f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"}) })
		wg.Go(func() {
			<-start
			// A second copy races too (a schedule firing twice).
			d = f.deliverer.Deliver(ctx, m, time.Second, time.Minute)
			_ = f.deliverer.Deliver(ctx, m, time.Second, time.Minute)
		})
		close(start)
		wg.Wait()
		sent := len(f.provider.sent) - sentBefore
		rec, _ := f.status.Get(ctx, id)
		switch {
		case cancelErr == nil:
			if sent != 0 || d.Action != Canceled || rec.Status != StatusCanceled {
				t.Fatalf("round %d: cancel won, yet sent %d, drain %v, record %s", round, sent, d.Action, rec.Status)
			}
			outcomes["canceled"]++
		case KindOf(cancelErr) == KindConflict:
			if sent != 1 || d.Action != Delivered || rec.Status != StatusSent {
				t.Fatalf("round %d: cancel answered 409, yet sent %d, drain %v, record %s", round, sent, d.Action, rec.Status)
			}
			outcomes["409, sent once"]++
		default:
			t.Fatalf("round %d: cancel error = %v", round, cancelErr)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestScheduledMetrics: a scheduled message counts Scheduled by where it
// waits, a cancel counts Canceled.
func TestScheduledMetrics(t *testing.T) {
	f := newScheduleFixture(t, true)
	set := metrics.NewSet("send")
	ctx := metrics.NewContext(context.Background(), set)
	for _, ahead := range []time.Duration{2 * time.Minute, time.Hour} {
		if _, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(ahead), Caller: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	id := f.schedule(t, "alice", time.Hour)
	if _, err := f.canceler.Cancel(ctx, CancelRequest{ID: id, Caller: "alice"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := set.Flush(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Scheduled":1`, `"Outcome":"queue"`, `"Outcome":"scheduler"`, `"Canceled":1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, out.String())
		}
	}
}

// withQuota rebuilds the fixture's send path and drain with the quota
// store q.
func (f *scheduleFixture) withQuota(q QuotaStore) {
	d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Clock: f.clock})
	cfg := SenderConfig{DefaultFrom: "FluxKit", QueueEnabled: true, MaxWait: 250 * time.Millisecond, Status: f.status, Quota: q}
	if f.scheduler != nil {
		cfg.Scheduler = f.scheduler
	}
	f.sender = NewSender(d, f.queue, f.ledger, cfg)
	f.deliverer = NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit", Status: f.status, Scheduled: f.status, Quota: q})
}

// TestScheduledQuotas: a scheduled message is counted against the quotas
// once, at acceptance, under the id it is answered and held with; the
// drain does not count it again when it is due (hours later, in another
// window); a producer's scheduled message is counted by the drain; and
// with the quota store unreachable nothing is scheduled.
func TestScheduledQuotas(t *testing.T) {
	ctx := context.Background()
	t.Run("counted once, at acceptance", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		q := &fakeQuota{}
		f.withQuota(q)
		res, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(3 * time.Hour), Caller: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if len(q.counted) != 1 || q.counted[0].MessageID != res.MessageID || q.counted[0].Caller != "alice" {
			t.Fatalf("counted %+v, want the scheduled message once, under its id %s", q.counted, res.MessageID)
		}
		m := f.held(t, res.MessageID)
		f.clock.Sleep(ctx, m.SendAt.Sub(f.clock.Now()))
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Delivered {
			t.Fatalf("Deliver = %+v, want delivered", d)
		}
		if len(q.counted) != 1 {
			t.Errorf("counted %d times, want once: the drain must not count it again when due", len(q.counted))
		}
	})
	t.Run("a producer's scheduled message is counted by the drain", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		q := &fakeQuota{}
		f.withQuota(q)
		id := "order-7"
		m := QueuedMessage{Message: Message{ID: id, ServiceID: ServiceIDForProducer(id), To: testTo, Body: "x"}, Attempt: 1, SendAt: f.clock.Now()}
		if d := f.deliverer.Deliver(ctx, m, time.Second, time.Minute); d.Action != Delivered || len(q.counted) != 1 {
			t.Errorf("Deliver = %+v, counted %d; want delivered and counted by the drain", d, len(q.counted))
		}
	})
	t.Run("quota store down: 503, nothing scheduled", func(t *testing.T) {
		f := newScheduleFixture(t, true)
		f.withQuota(&fakeQuota{err: E(KindUnavailable, "table down")})
		for _, ahead := range []time.Duration{2 * time.Minute, time.Hour} {
			_, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(ahead), Caller: "alice"})
			if KindOf(err) != KindUnavailable {
				t.Errorf("sendAt %v ahead: error = %v, want unavailable", ahead, err)
			}
		}
		if len(f.queue.msgs) != 0 || f.scheduler.scheduled != 0 {
			t.Errorf("queued %d, scheduled %d; want nothing accepted", len(f.queue.msgs), f.scheduler.scheduled)
		}
	})
	t.Run("a refused send time gives the place back", func(t *testing.T) {
		f := newScheduleFixture(t, false)
		q := &fakeQuota{}
		f.withQuota(q)
		if _, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "x", SendAt: f.clock.Now().Add(time.Hour), Caller: "alice"}); AsError(err).Field != "sendAt" {
			t.Fatalf("error = %v, want invalid sendAt (no scheduler)", err)
		}
		if len(q.counted) != 1 || len(q.givenBack) != 1 || q.givenBack[0].MessageID != q.counted[0].MessageID {
			t.Errorf("counted %+v, given back %+v; want the place given back", q.counted, q.givenBack)
		}
	})
}

// TestScheduledValidity: a scheduled message's validity counts from its
// send time; the held message and its record carry the expiry, and the
// drain never sends it past that.
func TestScheduledValidity(t *testing.T) {
	ctx := context.Background()
	f := newScheduleFixture(t, true)
	sendAt := f.clock.Now().Add(time.Hour)
	res, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "Your table is ready", SendAt: sendAt, ValidFor: 60 * time.Second, Caller: "alice"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	wantUntil := sendAt.Add(60 * time.Second)
	m := f.held(t, res.MessageID)
	if !m.ValidUntil.Equal(wantUntil) {
		t.Errorf("held message valid until %v, want %v (the send time and 60 s)", m.ValidUntil, wantUntil)
	}
	if rec, err := f.status.Get(ctx, res.MessageID); err != nil || !rec.ExpiresAt.Equal(wantUntil) {
		t.Errorf("record expiresAt = %v, %v; want %v", rec.ExpiresAt, err, wantUntil)
	}
	// Due, but the drain takes it up only after its validity ended.
	f.clock.Sleep(ctx, wantUntil.Sub(f.clock.Now()))
	set := metrics.NewSet("drain")
	if d := f.deliverer.Deliver(metrics.NewContext(ctx, set), m, time.Second, time.Minute); d.Action != Expired || f.provider.calls != 0 {
		t.Errorf("Deliver = %+v, provider calls %d; want expired, nothing sent", d, f.provider.calls)
	}
	var out bytes.Buffer
	if err := set.Flush(&out, time.Now()); err != nil || !strings.Contains(out.String(), `"Expired":1`) {
		t.Errorf("metrics = %s, %v; want Expired 1", out.String(), err)
	}
	if rec, _ := f.status.Get(ctx, res.MessageID); rec.Status != StatusExpired {
		t.Errorf("record status = %s, want expired", rec.Status)
	}
}
