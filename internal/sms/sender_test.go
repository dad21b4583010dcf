package sms

import (
	"context"
	"testing"
	"time"
)

const testTo = "+14155552671"

type senderFixture struct {
	clock    *fakeClock
	provider *fakeProvider
	limiter  *fakeLimiter
	queue    *fakeQueue
	ledger   *fakeLedger
	refresh  *fakeRefresher
	sender   *Sender
}

func newSenderFixture(t *testing.T, queueEnabled bool) *senderFixture {
	t.Helper()
	f := &senderFixture{clock: newFakeClock(), provider: &fakeProvider{}, queue: &fakeQueue{}, ledger: &fakeLedger{}, refresh: &fakeRefresher{}}
	f.limiter = &fakeLimiter{clock: f.clock}
	d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Refresher: f.refresh, Clock: f.clock})
	n := 0
	f.sender = NewSender(d, f.queue, f.ledger, SenderConfig{
		DefaultFrom: "FluxKit", QueueEnabled: queueEnabled,
		Guard:   NewGuard(GuardConfig{DefaultFrom: "FluxKit", AllowedSenders: []string{"Alerts"}}, nil),
		MaxWait: 250 * time.Millisecond,
		NewID:   func() string { n++; return "id-" + string(rune('0'+n)) },
	})
	return f
}

func TestSenderOutcomes(t *testing.T) {
	rejected := E(KindRejected, "not a mobile number", ProviderDetail("21614", ""))
	account := E(KindProviderAccount, "authentication failed", ProviderDetail("20003", ""))
	transient := E(KindTransient, "", ProviderDetail("503", ""))
	ambiguous := E(KindAmbiguous, "")
	partial := E(KindPartial, "", ProviderDetail("1", ""))
	tests := []struct {
		name         string
		queueEnabled bool
		req          SendRequest
		setup        func(f *senderFixture)
		wantStatus   Status
		wantKind     Kind
		wantCode     string // the code narrowing the kind, if any
		wantID       string // the message id of a failed send: the service id unless a part was accepted
		wantQueued   int
		wantSent     int
	}{
		{name: "sent with default sender", queueEnabled: true, req: SendRequest{To: testTo, Body: "code 1"}, wantStatus: StatusSent, wantKind: -1, wantSent: 1},
		{name: "near slot waits then sends", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.limiter.delay = 200 * time.Millisecond }, wantStatus: StatusSent, wantKind: -1, wantSent: 1},
		{name: "no slot queues", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.limiter.refuse = true }, wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "no slot queue off is 429", req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.limiter.refuse = true }, wantKind: KindRateLimited},
		{name: "limiter down queues", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.limiter.err = errBoom }, wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "limiter down queue off is 503", req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.limiter.err = errBoom }, wantKind: KindUnavailable},
		{name: "queue down is 503", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.limiter.refuse = true; f.queue.err = errBoom }, wantKind: KindUnavailable},
		{name: "transient provider queues", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{transient} }, wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "ambiguous provider queues", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{ambiguous} }, wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "transient provider queue off is 503", req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{transient} }, wantKind: KindUnavailable},
		{name: "ambiguous provider queue off is unknown", req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{ambiguous} }, wantStatus: StatusUnknown, wantKind: KindAmbiguous, wantID: "id-1"},
		{name: "ambiguous provider and queue down is unknown", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{ambiguous}; f.queue.err = errBoom }, wantStatus: StatusUnknown, wantKind: KindAmbiguous, wantID: "id-1"},
		{name: "rejected", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{rejected} }, wantStatus: StatusFailed, wantKind: KindRejected, wantID: "id-1"},
		{name: "partial multipart", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs, f.provider.failID = []error{partial}, "part-1" }, wantStatus: StatusFailed, wantKind: KindPartial, wantID: "part-1"},
		{name: "account error without rotation", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{account} }, wantStatus: StatusFailed, wantKind: KindProviderAccount, wantID: "id-1"},
		{name: "account error fixed by rotation", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{account}; f.refresh.changed = true }, wantStatus: StatusSent, wantKind: -1, wantSent: 1},
		{name: "unclassified provider error is ambiguous and queued", queueEnabled: true, req: SendRequest{To: testTo, Body: "x"}, setup: func(f *senderFixture) { f.provider.errs = []error{errBoom} }, wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "invalid to", queueEnabled: true, req: SendRequest{To: "4155552671", Body: "x"}, wantKind: KindInvalid, wantCode: CodeInvalidTo},
		{name: "empty body", queueEnabled: true, req: SendRequest{To: testTo, Body: ""}, wantKind: KindInvalid, wantCode: CodeInvalidBody},
		{name: "sender not allowed", queueEnabled: true, req: SendRequest{To: testTo, Body: "x", From: "Other"}, wantKind: KindForbidden, wantCode: CodeSenderNotAllowed},
		{name: "allowed sender override", queueEnabled: true, req: SendRequest{To: testTo, Body: "x", From: "Alerts"}, wantStatus: StatusSent, wantKind: -1, wantSent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSenderFixture(t, tt.queueEnabled)
			if tt.setup != nil {
				tt.setup(f)
			}
			res, err := f.sender.Send(context.Background(), tt.req)
			if got := KindOf(err); got != tt.wantKind {
				t.Fatalf("kind = %v (err %v), want %v", got, err, tt.wantKind)
			}
			if err != nil {
				if got := AsError(err).Code; got != tt.wantCode {
					t.Errorf("code = %q, want %q", got, tt.wantCode)
				}
			}
			if (res.Status == StatusFailed || res.Status == StatusUnknown) && res.MessageID != tt.wantID {
				t.Errorf("messageId = %q, want %q", res.MessageID, tt.wantID)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", res.Status, tt.wantStatus)
			}
			if got := len(f.queue.msgs); got != tt.wantQueued {
				t.Errorf("queued = %d, want %d", got, tt.wantQueued)
			}
			if got := len(f.provider.sent); got != tt.wantSent {
				t.Errorf("sent = %d, want %d", got, tt.wantSent)
			}
			if res.Status != "" && (res.Channel != Channel || res.To != tt.req.To) {
				t.Errorf("result = %+v, want channel sms and to %s", res, tt.req.To)
			}
			if res.Status == StatusQueued && res.MessageID != f.queue.msgs[0].ID {
				t.Errorf("messageId = %q, want the queued id %q", res.MessageID, f.queue.msgs[0].ID)
			}
		})
	}
}

func TestSenderWaitsForItsSlot(t *testing.T) {
	f := newSenderFixture(t, true)
	f.limiter.delay = 180 * time.Millisecond
	if _, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.clock.slept, []time.Duration{180 * time.Millisecond}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("slept %v, want %v", got, want)
	}
	if got, want := f.limiter.maxWait[0], 250*time.Millisecond; got != want {
		t.Errorf("maxWait = %v, want %v", got, want)
	}
}

func TestSenderUsesDefaultAndOverrideSender(t *testing.T) {
	f := newSenderFixture(t, true)
	ctx := context.Background()
	if _, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "b", From: "Alerts"}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.provider.sent[0].From, "FluxKit"; got != want {
		t.Errorf("default from = %q, want %q", got, want)
	}
	if got, want := f.provider.sent[1].From, "Alerts"; got != want {
		t.Errorf("override from = %q, want %q", got, want)
	}
}

func TestSenderIdempotency(t *testing.T) {
	ctx := context.Background()
	req := SendRequest{To: testTo, Body: "code 42", IdempotencyKey: "k1", Caller: "alice"}

	t.Run("repeat returns first result and sends once", func(t *testing.T) {
		f := newSenderFixture(t, true)
		first, err := f.sender.Send(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.sender.Send(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if second != first {
			t.Errorf("second = %+v, want %+v", second, first)
		}
		if got := f.provider.calls; got != 1 {
			t.Errorf("provider calls = %d, want 1", got)
		}
	})
	t.Run("keys are scoped to the caller", func(t *testing.T) {
		f := newSenderFixture(t, true)
		if _, err := f.sender.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
		other := req
		other.Caller = "bob"
		if _, err := f.sender.Send(ctx, other); err != nil {
			t.Fatal(err)
		}
		if got := f.provider.calls; got != 2 {
			t.Errorf("provider calls = %d, want 2", got)
		}
	})
	t.Run("different request is a mismatch", func(t *testing.T) {
		f := newSenderFixture(t, true)
		if _, err := f.sender.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
		other := req
		other.Body = "code 43"
		_, err := f.sender.Send(ctx, other)
		if got := AsError(err).Code; got != CodeIdempotencyMismatch {
			t.Errorf("code = %q, want %q", got, CodeIdempotencyMismatch)
		}
	})
	t.Run("in progress is a conflict", func(t *testing.T) {
		f := newSenderFixture(t, true)
		if _, err := f.ledger.Claim(ctx, idempotencyRecordKey(req.Caller, req.IdempotencyKey), Fingerprint(req.To, req.Body, req.From), time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err := f.sender.Send(ctx, req)
		if got := KindOf(err); got != KindConflict {
			t.Errorf("kind = %v, want %v", got, KindConflict)
		}
	})
	t.Run("rejection is replayed", func(t *testing.T) {
		f := newSenderFixture(t, true)
		f.provider.errs = []error{E(KindRejected, "opted out", ProviderDetail("21610", ""))}
		r1, err1 := f.sender.Send(ctx, req)
		r2, err2 := f.sender.Send(ctx, req)
		if KindOf(err1) != KindRejected || KindOf(err2) != KindRejected {
			t.Fatalf("kinds = %v, %v, want rejected twice", KindOf(err1), KindOf(err2))
		}
		if r2.Status != StatusFailed || AsError(err2).ProviderCode != "21610" || AsError(err2).Message != "opted out" {
			t.Errorf("replayed result = %+v, %v; want failed, opted out, provider code 21610", r2, err2)
		}
		if r1.Status != r2.Status || f.provider.calls != 1 {
			t.Errorf("provider calls = %d, want 1", f.provider.calls)
		}
	})
	t.Run("unavailable outcome releases the key", func(t *testing.T) {
		f := newSenderFixture(t, false)
		f.limiter.refuse = true
		if _, err := f.sender.Send(ctx, req); KindOf(err) != KindRateLimited {
			t.Fatalf("kind = %v, want rate limited", KindOf(err))
		}
		f.limiter.refuse = false
		if _, err := f.sender.Send(ctx, req); err != nil {
			t.Fatalf("retry after 429: %v", err)
		}
		if got := f.provider.calls; got != 1 {
			t.Errorf("provider calls = %d, want 1", got)
		}
	})
	t.Run("unknown outcome is kept under the key", func(t *testing.T) {
		f := newSenderFixture(t, false)
		f.provider.errs = []error{E(KindAmbiguous, "the SMS provider did not answer", ProviderDetail("", "HTTP 504"))}
		r1, err1 := f.sender.Send(ctx, req)
		r2, err2 := f.sender.Send(ctx, req)
		if KindOf(err1) != KindAmbiguous || KindOf(err2) != KindAmbiguous {
			t.Fatalf("kinds = %v, %v, want ambiguous twice", KindOf(err1), KindOf(err2))
		}
		if r1.Status != StatusUnknown || r1.MessageID == "" || r2 != r1 {
			t.Errorf("results = %+v, %+v; want status unknown with an id, replayed unchanged", r1, r2)
		}
		if got := f.provider.calls; got != 1 {
			t.Errorf("provider calls = %d, want 1: the replay sends nothing", got)
		}
	})
	t.Run("ledger down with a key is 503 and accepts nothing", func(t *testing.T) {
		f := newSenderFixture(t, true)
		f.ledger.err = errBoom
		res, err := f.sender.Send(ctx, req)
		if KindOf(err) != KindUnavailable || AsError(err).RetryAfter <= 0 {
			t.Fatalf("got %+v, %v; want unavailable with a Retry-After", res, err)
		}
		if len(f.queue.msgs) != 0 || f.provider.calls != 0 {
			t.Errorf("queued %d, provider calls %d; want nothing accepted", len(f.queue.msgs), f.provider.calls)
		}
	})
	t.Run("ledger down without a key still sends or queues", func(t *testing.T) {
		f := newSenderFixture(t, true)
		f.ledger.err = errBoom
		f.limiter.refuse = true
		noKey := req
		noKey.IdempotencyKey = ""
		res, err := f.sender.Send(ctx, noKey)
		if err != nil || res.Status != StatusQueued {
			t.Fatalf("got %+v, %v; want queued", res, err)
		}
	})
}

func TestDeliverer(t *testing.T) {
	ctx := context.Background()
	qm := QueuedMessage{Message: Message{ID: "m1", To: testTo, Body: "hello", From: "FluxKit"}, Attempt: 1}
	newD := func(f *senderFixture) *Deliverer {
		d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Refresher: f.refresh, Clock: f.clock})
		return NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit", Guard: NewGuard(GuardConfig{DefaultFrom: "FluxKit", AllowedSenders: []string{"Alerts"}}, nil)})
	}
	tests := []struct {
		name     string
		setup    func(f *senderFixture)
		want     Disposition
		wantSent int
	}{
		{name: "delivered", want: Disposition{Action: Delivered}, wantSent: 1},
		{name: "no slot in time is deferred", setup: func(f *senderFixture) { f.limiter.refuse = true }, want: Disposition{Action: Deferred, Kind: KindRateLimited}},
		{name: "transient retries", setup: func(f *senderFixture) { f.provider.errs = []error{E(KindTransient, "")} }, want: Disposition{Action: Retry, Kind: KindTransient}},
		{name: "ambiguous retries", setup: func(f *senderFixture) { f.provider.errs = []error{E(KindAmbiguous, "")} }, want: Disposition{Action: Retry, Kind: KindAmbiguous}},
		{name: "account error retries", setup: func(f *senderFixture) { f.provider.errs = []error{E(KindProviderAccount, "")} }, want: Disposition{Action: Retry, Kind: KindProviderAccount}},
		{name: "rejected is dropped", setup: func(f *senderFixture) { f.provider.errs = []error{E(KindRejected, "")} }, want: Disposition{Action: Dropped, Kind: KindRejected}},
		{name: "ledger down is deferred", setup: func(f *senderFixture) { f.ledger.err = errBoom }, want: Disposition{Action: Deferred, Kind: KindUnavailable}},
		{name: "limiter down is deferred", setup: func(f *senderFixture) { f.limiter.err = errBoom }, want: Disposition{Action: Deferred, Kind: KindUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSenderFixture(t, true)
			if tt.setup != nil {
				tt.setup(f)
			}
			got := newD(f).Deliver(ctx, qm, time.Second, time.Minute)
			if got != tt.want {
				t.Errorf("disposition = %v, want %v", got, tt.want)
			}
			if n := len(f.provider.sent); n != tt.wantSent {
				t.Errorf("sent = %d, want %d", n, tt.wantSent)
			}
		})
	}

	t.Run("redelivery after send is a duplicate", func(t *testing.T) {
		f := newSenderFixture(t, true)
		d := newD(f)
		if got := d.Deliver(ctx, qm, time.Second, time.Minute).Action; got != Delivered {
			t.Fatalf("first = %v, want delivered", got)
		}
		if got := d.Deliver(ctx, qm, time.Second, time.Minute).Action; got != Duplicate {
			t.Errorf("second = %v, want duplicate", got)
		}
		if got := f.provider.calls; got != 1 {
			t.Errorf("provider calls = %d, want 1", got)
		}
	})
	t.Run("retry after transient sends once", func(t *testing.T) {
		f := newSenderFixture(t, true)
		f.provider.errs = []error{E(KindTransient, "")}
		d := newD(f)
		if got := d.Deliver(ctx, qm, time.Second, time.Minute).Action; got != Retry {
			t.Fatalf("first = %v, want retry", got)
		}
		if got := d.Deliver(ctx, qm, time.Second, time.Minute).Action; got != Delivered {
			t.Fatalf("second = %v, want delivered", got)
		}
		if got := len(f.provider.sent); got != 1 {
			t.Errorf("sent = %d, want 1", got)
		}
	})
	t.Run("same id different message is poison", func(t *testing.T) {
		f := newSenderFixture(t, true)
		d := newD(f)
		d.Deliver(ctx, qm, time.Second, time.Minute)
		other := qm
		other.Body = "different"
		got := d.Deliver(ctx, other, time.Second, time.Minute)
		if got.Action != Poison || got.PoisonReason != PoisonDuplicateID {
			t.Errorf("disposition = %+v, want poison with reason %s", got, PoisonDuplicateID)
		}
	})
	t.Run("sender rules", func(t *testing.T) {
		cases := []struct {
			from     string
			want     Disposition
			wantFrom string
		}{
			{"", Disposition{Action: Delivered}, "FluxKit"},
			{"Alerts", Disposition{Action: Delivered}, "Alerts"},
			{"FluxKit", Disposition{Action: Delivered}, "FluxKit"},
			{"Other", Disposition{Action: Poison, Kind: KindForbidden, PoisonReason: PoisonSenderNotAllowed}, ""},
		}
		for _, c := range cases {
			f := newSenderFixture(t, true)
			m := qm
			m.ID, m.From = "s-"+c.from, c.from
			got := newD(f).Deliver(ctx, m, time.Second, time.Minute)
			if got != c.want {
				t.Errorf("from %q: disposition = %+v, want %+v", c.from, got, c.want)
			}
			if c.want.Action == Delivered && f.provider.sent[0].From != c.wantFrom {
				t.Errorf("from %q: sent with %q, want %q", c.from, f.provider.sent[0].From, c.wantFrom)
			}
		}
	})
	t.Run("held by another worker waits", func(t *testing.T) {
		f := newSenderFixture(t, true)
		f.ledger.Claim(ctx, "msg#m1", Fingerprint(qm.To, qm.Body, qm.From), time.Minute)
		if got := newD(f).Deliver(ctx, qm, time.Second, time.Minute); got.Action != HeldElsewhere {
			t.Errorf("disposition = %+v, want held elsewhere", got)
		}
	})
}

func TestNewIDIsUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := NewID()
		if len(id) != 36 || id[14] != '4' || id[8] != '-' || id[19] < '8' || id[19] > 'b' {
			t.Fatalf("id %q is not a UUIDv4", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}
