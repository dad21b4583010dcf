package sms

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// record returns the record of id, failing the test when there is none.
func (s *fakeStatus) record(t *testing.T, id string) Record {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("record %s: %v", id, err)
	}
	return r
}

const (
	testServiceID = "3f1c9a52-7e4b-4d2a-9b61-0c8e5d7f2a14"
	testCaller    = "client-7"
)

// trackedSender is a send path with a status store, a fixed service id and
// a log to inspect.
type trackedSender struct {
	*senderFixture
	status *fakeStatus
	logs   *bytes.Buffer
}

func newTrackedSender(t *testing.T, queueEnabled bool, maxWait time.Duration) *trackedSender {
	t.Helper()
	f := &senderFixture{clock: newFakeClock(), provider: &fakeProvider{}, queue: &fakeQueue{}, ledger: &fakeLedger{}, refresh: &fakeRefresher{}}
	f.limiter = &fakeLimiter{clock: f.clock}
	ts := &trackedSender{senderFixture: f, status: newFakeStatus(f.clock), logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(ts.logs, nil))
	d := NewDispatcher(f.provider, f.limiter, log, DispatcherConfig{Refresher: f.refresh, Clock: f.clock, Name: "twilio"})
	f.sender = NewSender(d, f.queue, f.ledger, SenderConfig{
		DefaultFrom: "FluxKit", QueueEnabled: queueEnabled, MaxWait: maxWait,
		NewID:  func() string { return testServiceID },
		Status: ts.status,
	})
	return ts
}

func TestSenderRecordsStatus(t *testing.T) {
	rejected := E(KindRejected, "not a mobile number", ProviderDetail("21614", ""))
	tests := []struct {
		name       string
		queueOn    bool
		setup      func(f *trackedSender)
		wantStatus Status
		wantMsgID  string
		wantProvID string
		wantError  *Failure
	}{
		{name: "sent", queueOn: true, wantStatus: StatusSent, wantMsgID: "SM" + testTo, wantProvID: "SM" + testTo},
		{name: "queued", queueOn: true, setup: func(f *trackedSender) { f.limiter.refuse = true }, wantStatus: StatusQueued, wantMsgID: testServiceID},
		{name: "queued after an unknown outcome", queueOn: true, setup: func(f *trackedSender) { f.provider.errs = []error{E(KindAmbiguous, "")} },
			wantStatus: StatusQueued, wantMsgID: testServiceID},
		{name: "refused", queueOn: true, setup: func(f *trackedSender) { f.provider.errs = []error{rejected} }, wantStatus: StatusFailed, wantMsgID: testServiceID,
			wantError: &Failure{Code: CodeProviderRejected, Message: "not a mobile number", ProviderCode: "21614"}},
		{name: "account refused", queueOn: true, setup: func(f *trackedSender) {
			f.provider.errs = []error{E(KindProviderAccount, "bad credentials", ProviderDetail("20003", ""))}
		},
			wantStatus: StatusFailed, wantMsgID: testServiceID, wantError: &Failure{Code: CodeProviderError, Message: "bad credentials", ProviderCode: "20003"}},
		{name: "partial", queueOn: true, setup: func(f *trackedSender) {
			f.provider.errs, f.provider.failID = []error{E(KindPartial, "part-way", ProviderDetail("1", ""))}, "part-1"
		}, wantStatus: StatusFailed, wantMsgID: "part-1", wantProvID: "part-1", wantError: &Failure{Code: CodeProviderError, Message: "part-way", ProviderCode: "1"}},
		{name: "unknown", setup: func(f *trackedSender) { f.provider.errs = []error{E(KindAmbiguous, "")} }, wantStatus: StatusUnknown, wantMsgID: testServiceID,
			wantError: &Failure{Code: CodeProviderOutcomeUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTrackedSender(t, tt.queueOn, 250*time.Millisecond)
			if tt.setup != nil {
				tt.setup(f)
			}
			accepted := f.clock.Now()
			res, _ := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "Your code is 482901", ValidFor: 300 * time.Second, Caller: testCaller})
			if res.MessageID != tt.wantMsgID {
				t.Errorf("messageId = %q, want %q", res.MessageID, tt.wantMsgID)
			}
			if len(f.status.writes) != 1 {
				t.Fatalf("status writes = %d, want 1", len(f.status.writes))
			}
			r := f.status.record(t, testServiceID)
			want := Record{
				ServiceID: testServiceID, MessageID: tt.wantMsgID, ProviderMessageID: tt.wantProvID, Status: tt.wantStatus,
				To: testTo, From: "FluxKit", Segments: 1, Encoding: GSM7, CreatedAt: accepted, UpdatedAt: f.clock.Now(),
				ExpiresAt: accepted.Add(300 * time.Second), Error: tt.wantError, Owner: CallerOwner(testCaller),
			}
			if tt.wantProvID != "" {
				want.Provider = "twilio"
			}
			if r.Error != nil && tt.wantError != nil && *r.Error != *tt.wantError || (r.Error == nil) != (tt.wantError == nil) {
				t.Errorf("error = %+v, want %+v", r.Error, tt.wantError)
			}
			r.Error, want.Error = nil, nil
			if len(r.History) != 1 || r.History[0].Status != tt.wantStatus {
				t.Errorf("history = %+v, want one entry %s", r.History, tt.wantStatus)
			}
			r.History = nil
			if !recordsEqual(r, want) {
				t.Errorf("record =\n%+v, want\n%+v", r, want)
			}
			for _, m := range f.provider.sent {
				if m.ServiceID != testServiceID {
					t.Errorf("provider got service id %q, want %q", m.ServiceID, testServiceID)
				}
			}
			for _, qm := range f.queue.msgs {
				if qm.ID != testServiceID || qm.ServiceID != testServiceID || !qm.ValidUntil.Equal(accepted.Add(300*time.Second)) {
					t.Errorf("queued %+v, want id and service id %s and the expiry", qm, testServiceID)
				}
			}
		})
	}
}

// recordsEqual compares records field by field, times with Equal.
func recordsEqual(a, b Record) bool {
	ta := []time.Time{a.CreatedAt, a.UpdatedAt, a.ExpiresAt}
	tb := []time.Time{b.CreatedAt, b.UpdatedAt, b.ExpiresAt}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.CreatedAt, a.UpdatedAt, a.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	b.CreatedAt, b.UpdatedAt, b.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	a.Error, b.Error = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestSenderRecordsNothingItDidNotAccept(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *trackedSender)
		req   SendRequest
	}{
		{"invalid", nil, SendRequest{To: "4155552671", Body: "x", Caller: testCaller}},
		{"queue down", func(f *trackedSender) { f.limiter.refuse = true; f.queue.err = errBoom }, SendRequest{To: testTo, Body: "x", Caller: testCaller}},
		{"no slot, queueing off", func(f *trackedSender) { f.limiter.refuse = true; f.sender.cfg.QueueEnabled = false }, SendRequest{To: testTo, Body: "x", Caller: testCaller}},
		{"validity out of range", nil, SendRequest{To: testTo, Body: "x", ValidFor: 19 * time.Second, Caller: testCaller}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTrackedSender(t, true, 250*time.Millisecond)
			if tt.setup != nil {
				tt.setup(f)
			}
			if _, err := f.sender.Send(context.Background(), tt.req); err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if len(f.status.writes) != 0 {
				t.Errorf("status writes = %+v, want none", f.status.writes)
			}
		})
	}
}

func TestSenderStatusWriteFailureNeverFailsTheSend(t *testing.T) {
	f := newTrackedSender(t, true, 250*time.Millisecond)
	f.status.err = E(KindUnavailable, "storage unavailable")
	res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "Your code is 482901", Caller: testCaller})
	if err != nil || res.Status != StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	if got := len(f.status.writes); got != statusWriteAttempts {
		t.Errorf("status write tries = %d, want %d", got, statusWriteAttempts)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"event":"`+EventStatusRecordFailed+`"`) || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("logs lack an error with event %s:\n%s", EventStatusRecordFailed, logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		// (The fake provider's ids contain the number; the event's line
		// must not.)
		if strings.Contains(line, EventStatusRecordFailed) && (strings.Contains(line, "482901") || strings.Contains(line, testTo)) {
			t.Errorf("the event's line contains the body or the unmasked number: %s", line)
		}
	}
	if strings.Contains(logs, "482901") {
		t.Errorf("logs contain the body:\n%s", logs)
	}
}

func TestSenderWithoutTracking(t *testing.T) {
	f := newSenderFixture(t, true)
	if _, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "x"}); err != nil {
		t.Fatal(err)
	}
	f.limiter.refuse = true
	res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "y"})
	if err != nil || res.Status != StatusQueued {
		t.Fatalf("Send = %+v, %v; want queued", res, err)
	}
	if got := f.provider.sent[0].ServiceID; got != "" {
		t.Errorf("provider got service id %q, want none without tracking", got)
	}
	if qm := f.queue.msgs[0]; qm.ID != res.MessageID || qm.ID == "" || qm.ServiceID != "" {
		t.Errorf("queued %+v: want the answered id and no service id", qm)
	}
}

func TestSenderValidity(t *testing.T) {
	t.Run("the provider gets the expiry", func(t *testing.T) {
		f := newTrackedSender(t, true, 250*time.Millisecond)
		now := f.clock.Now()
		if _, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "x", ValidFor: 20 * time.Second, Caller: testCaller}); err != nil {
			t.Fatal(err)
		}
		if got := f.provider.sent[0].ValidUntil; !got.Equal(now.Add(20 * time.Second)) {
			t.Errorf("ValidUntil = %v, want %v", got, now.Add(20*time.Second))
		}
	})
	t.Run("expired while waiting for its slot is not sent", func(t *testing.T) {
		// Only a clock that jumps makes a slot wait outlast 20 s; the fake
		// limiter grants one 25 s away.
		f := newTrackedSender(t, true, 30*time.Second)
		f.limiter.delay = 25 * time.Second
		_, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "x", ValidFor: 20 * time.Second, Caller: testCaller})
		if KindOf(err) != KindUnavailable {
			t.Errorf("err = %v, want unavailable (nothing accepted)", err)
		}
		if len(f.provider.sent) != 0 || len(f.queue.msgs) != 0 || len(f.status.writes) != 0 {
			t.Errorf("sent %d, queued %d, status writes %d; want none", len(f.provider.sent), len(f.queue.msgs), len(f.status.writes))
		}
	})
	t.Run("bounds", func(t *testing.T) {
		for _, d := range []time.Duration{19 * time.Second, 36001 * time.Second, 20500 * time.Millisecond, -time.Second} {
			err := CheckValidFor(d)
			if e := AsError(err); err == nil || e.Kind != KindInvalid || e.Field != "validFor" {
				t.Errorf("CheckValidFor(%v) = %v, want invalid validFor", d, err)
			}
		}
		for _, d := range []time.Duration{0, 20 * time.Second, 36000 * time.Second} {
			if err := CheckValidFor(d); err != nil {
				t.Errorf("CheckValidFor(%v) = %v, want nil", d, err)
			}
		}
	})
	t.Run("an idempotent repeat with another validity is another request", func(t *testing.T) {
		f := newTrackedSender(t, true, 250*time.Millisecond)
		r := SendRequest{To: testTo, Body: "x", ValidFor: 60 * time.Second, IdempotencyKey: "k-1", Caller: testCaller}
		if _, err := f.sender.Send(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		r.ValidFor = 120 * time.Second
		_, err := f.sender.Send(context.Background(), r)
		if AsError(err).Code != CodeIdempotencyMismatch {
			t.Errorf("err = %v, want %s", err, CodeIdempotencyMismatch)
		}
		if requestFingerprint(SendRequest{To: testTo, Body: "x"}) != Fingerprint(testTo, "x", "") {
			t.Error("the fingerprint of a request without validFor changed: stored keys would no longer match")
		}
	})
}

// trackedDeliverer is a drain path with a status store.
type trackedDeliverer struct {
	*senderFixture
	status *fakeStatus
	dl     *Deliverer
}

func newTrackedDeliverer(t *testing.T, tracking bool) *trackedDeliverer {
	t.Helper()
	f := newSenderFixture(t, true)
	td := &trackedDeliverer{senderFixture: f, status: newFakeStatus(f.clock)}
	d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Clock: f.clock, Name: "vonage"})
	cfg := DelivererConfig{DefaultFrom: "FluxKit"}
	if tracking {
		cfg.Status = td.status
	}
	td.dl = NewDeliverer(d, f.ledger, cfg)
	return td
}

func TestDelivererRecordsStatus(t *testing.T) {
	producerID := "order-1"
	fromProducer := QueuedMessage{Message: Message{ID: producerID, ServiceID: ServiceIDForProducer(producerID), To: testTo, Body: "hello"}, Attempt: 1}
	fromSend := QueuedMessage{Message: Message{ID: testServiceID, ServiceID: testServiceID, To: testTo, Body: "hello"}, Attempt: 1}
	tests := []struct {
		name       string
		m          QueuedMessage
		setup      func(f *trackedDeliverer)
		wantAction Action
		wantStatus Status
		wantError  string
	}{
		{"a producer's message sent", fromProducer, nil, Delivered, StatusSent, ""},
		{"a queued API message sent", fromSend, nil, Delivered, StatusSent, ""},
		{"refused", fromProducer, func(f *trackedDeliverer) { f.provider.errs = []error{E(KindRejected, "opted out")} }, Dropped, StatusFailed, CodeProviderRejected},
		{"partial", fromSend, func(f *trackedDeliverer) { f.provider.errs = []error{E(KindPartial, "part-way")} }, Dropped, StatusFailed, CodeProviderError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTrackedDeliverer(t, true)
			if tt.setup != nil {
				tt.setup(f)
			}
			m := tt.m
			m.EnqueuedAt = f.clock.Now().Add(-time.Minute)
			if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != tt.wantAction {
				t.Fatalf("action = %v, want %v", d.Action, tt.wantAction)
			}
			r := f.status.record(t, m.ServiceID)
			if r.Status != tt.wantStatus || r.To != testTo || !r.CreatedAt.Equal(m.EnqueuedAt) || r.Segments != 1 {
				t.Errorf("record = %+v, want status %s, to, createdAt %v, 1 segment", r, tt.wantStatus, m.EnqueuedAt)
			}
			if got := ""; r.Error != nil {
				got = r.Error.Code
				if got != tt.wantError {
					t.Errorf("error code = %q, want %q", got, tt.wantError)
				}
			} else if tt.wantError != "" {
				t.Errorf("no error, want code %q", tt.wantError)
			}
			if m.FromProducer() {
				if r.ProducerID != producerID || r.Owner != ProducerOwner("") || r.MessageID != "" {
					t.Errorf("record = %+v, want producer id %q, a producer owner, no messageId", r, producerID)
				}
			} else if r.MessageID != testServiceID || !r.Owner.IsZero() || r.ProducerID != "" {
				t.Errorf("record = %+v, want messageId %s and no owner (the send path's write names it)", r, testServiceID)
			}
			if tt.wantStatus == StatusSent && (r.ProviderMessageID != "SM"+testTo || r.Provider != "vonage") {
				t.Errorf("record = %+v, want the provider's id and name", r)
			}
		})
	}
}

func TestDelivererExpiry(t *testing.T) {
	m := QueuedMessage{Message: Message{ID: "order-2", ServiceID: ServiceIDForProducer("order-2"), To: testTo, Body: "hello"}, Attempt: 1}
	t.Run("past its expiry: recorded, never sent", func(t *testing.T) {
		f := newTrackedDeliverer(t, true)
		m := m
		m.ValidUntil = f.clock.Now()
		if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != Expired {
			t.Fatalf("action = %v, want expired", d.Action)
		}
		if len(f.provider.sent) != 0 || f.provider.calls != 0 {
			t.Errorf("provider called %d times, want 0", f.provider.calls)
		}
		if r := f.status.record(t, m.ServiceID); r.Status != StatusExpired || !r.ExpiresAt.Equal(m.ValidUntil) {
			t.Errorf("record = %+v, want expired with expiresAt", r)
		}
		// A copy delivered again is a duplicate: the id is done.
		if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != Duplicate {
			t.Errorf("second delivery: action = %v, want duplicate", d.Action)
		}
	})
	t.Run("expired while waiting for its slot", func(t *testing.T) {
		f := newTrackedDeliverer(t, true)
		m := m
		m.ValidUntil = f.clock.Now().Add(20 * time.Second)
		f.limiter.delay = 30 * time.Second
		if d := f.dl.Deliver(context.Background(), m, time.Minute, 2*time.Minute); d.Action != Expired {
			t.Fatalf("action = %v, want expired", d.Action)
		}
		if f.provider.calls != 0 {
			t.Errorf("provider called %d times, want 0", f.provider.calls)
		}
		if r := f.status.record(t, m.ServiceID); r.Status != StatusExpired {
			t.Errorf("record status = %s, want expired", r.Status)
		}
	})
	t.Run("a copy of a message sent in time is a duplicate, not expired", func(t *testing.T) {
		f := newTrackedDeliverer(t, true)
		m := m
		m.ValidUntil = f.clock.Now().Add(time.Minute)
		if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != Delivered {
			t.Fatalf("action = %v, want delivered", d.Action)
		}
		_ = f.clock.Sleep(context.Background(), 2*time.Minute)
		if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != Duplicate {
			t.Errorf("late copy: action = %v, want duplicate", d.Action)
		}
		if r := f.status.record(t, m.ServiceID); r.Status != StatusSent {
			t.Errorf("record status = %s, want sent", r.Status)
		}
	})
}

func TestDelivererDeadLettered(t *testing.T) {
	f := newTrackedDeliverer(t, true)
	ctx := context.Background()
	m := QueuedMessage{Message: Message{ID: "order-3", ServiceID: ServiceIDForProducer("order-3")}}
	f.dl.DeadLettered(ctx, m, "invalid_to")
	r := f.status.record(t, m.ServiceID)
	if r.Status != StatusFailed || r.Error == nil || *r.Error != (Failure{Code: CodeDeadLettered, Message: "invalid_to"}) || r.ProducerID != "order-3" {
		t.Errorf("record = %+v, want failed/dead_lettered invalid_to for producer id order-3", r)
	}

	// A duplicate_id message's record is another message's: untouched.
	sent := QueuedMessage{Message: Message{ID: "order-4", ServiceID: ServiceIDForProducer("order-4"), To: testTo, Body: "a"}, Attempt: 1}
	if d := f.dl.Deliver(ctx, sent, time.Second, time.Minute); d.Action != Delivered {
		t.Fatalf("action = %v, want delivered", d.Action)
	}
	other := sent
	other.Body = "another message under the same id"
	d := f.dl.Deliver(ctx, other, time.Second, time.Minute)
	if d.Action != Poison || d.PoisonReason != PoisonDuplicateID {
		t.Fatalf("disposition = %+v, want poison duplicate_id", d)
	}
	f.dl.DeadLettered(ctx, other, d.PoisonReason)
	if r := f.status.record(t, sent.ServiceID); r.Status != StatusSent {
		t.Errorf("record of the sent message = %s, want sent (a duplicate id does not touch it)", r.Status)
	}

	// No id: nothing to record.
	n := len(f.status.writes)
	f.dl.DeadLettered(ctx, QueuedMessage{}, "invalid_json")
	if len(f.status.writes) != n {
		t.Errorf("a message without ids was recorded")
	}
}

func TestDelivererWithoutTracking(t *testing.T) {
	f := newTrackedDeliverer(t, false)
	m := QueuedMessage{Message: Message{ID: "order-5", ServiceID: ServiceIDForProducer("order-5"), To: testTo, Body: "a"}, Attempt: 1}
	if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != Delivered {
		t.Fatalf("action = %v, want delivered", d.Action)
	}
	f.dl.DeadLettered(context.Background(), m, "invalid_to")
	if len(f.status.writes) != 0 {
		t.Errorf("status writes = %d, want none without tracking", len(f.status.writes))
	}
	if got := f.provider.sent[0].ServiceID; got != "" {
		t.Errorf("provider got service id %q, want none without tracking", got)
	}
}

// TestOptedOutIsRecorded: a message refused because its recipient is on
// the suppression list was accepted and answered failed, so its record
// says failed with the code recipient_opted_out, on the send path (under
// the id the quotas counted it with) and on the drain path alike.
func TestOptedOutIsRecorded(t *testing.T) {
	optedOut := QuotaVerdict{Outcome: QuotaOptedOut}
	t.Run("send path", func(t *testing.T) {
		f := newTrackedSender(t, true, 250*time.Millisecond)
		q := &fakeQuota{verdict: optedOut}
		f.sender.cfg.Quota = q
		res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "Your code is 482901", Caller: testCaller})
		if AsError(err).Code != CodeRecipientOptedOut || res.MessageID != testServiceID {
			t.Fatalf("Send = %+v, %v; want failed %s under %s", res, err, CodeRecipientOptedOut, testServiceID)
		}
		if len(q.counted) != 1 || q.counted[0].MessageID != testServiceID {
			t.Errorf("counted %+v, want the message under %s", q.counted, testServiceID)
		}
		r := f.status.record(t, testServiceID)
		if r.Status != StatusFailed || r.Error == nil || r.Error.Code != CodeRecipientOptedOut || r.Owner != CallerOwner(testCaller) || r.MessageID != testServiceID {
			t.Errorf("record = %+v (error %+v), want failed %s owned by the caller", r, r.Error, CodeRecipientOptedOut)
		}
		if f.provider.calls != 0 {
			t.Errorf("provider called %d times, want 0", f.provider.calls)
		}
	})
	t.Run("drain path", func(t *testing.T) {
		f := newTrackedDeliverer(t, true)
		f.dl.quota = &fakeQuota{verdict: optedOut}
		m := QueuedMessage{Message: Message{ID: "order-9", ServiceID: ServiceIDForProducer("order-9"), To: testTo, Body: "hello"}, Attempt: 1}
		if d := f.dl.Deliver(context.Background(), m, time.Second, time.Minute); d.Action != Dropped {
			t.Fatalf("action = %v, want dropped", d.Action)
		}
		r := f.status.record(t, m.ServiceID)
		if r.Status != StatusFailed || r.Error == nil || r.Error.Code != CodeRecipientOptedOut || r.ProducerID != "order-9" {
			t.Errorf("record = %+v (error %+v), want failed %s for producer id order-9", r, r.Error, CodeRecipientOptedOut)
		}
	})
}
