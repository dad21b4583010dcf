package sms

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeQuota answers Count from verdict (or fails with err) and records
// what it was asked.
type fakeQuota struct {
	mu         sync.Mutex
	verdict    QuotaVerdict // zero Outcome: accepted
	err        error
	counted    []Usage
	givenBack  []Usage
	suppressed []string
	suppErr    error
}

func (q *fakeQuota) Count(_ context.Context, u Usage) (QuotaVerdict, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.counted = append(q.counted, u)
	if q.err != nil {
		return QuotaVerdict{}, q.err
	}
	v := q.verdict
	if v.Outcome == 0 {
		v.Outcome = QuotaAccepted
	}
	return v, nil
}

func (q *fakeQuota) GiveBack(_ context.Context, u Usage, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.givenBack = append(q.givenBack, u)
	return nil
}

func (q *fakeQuota) Suppress(_ context.Context, number string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.suppressed = append(q.suppressed, number)
	return q.suppErr
}

// withQuota rebuilds f's sender with quota (queueing as given).
func (f *senderFixture) withQuota(q QuotaStore, queueEnabled, countsCallers bool) {
	d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Refresher: f.refresh, Clock: f.clock})
	n := 0
	f.sender = NewSender(d, f.queue, f.ledger, SenderConfig{
		DefaultFrom: "FluxKit", QueueEnabled: queueEnabled, MaxWait: 250 * time.Millisecond,
		NewID: func() string { n++; return "id-" + string(rune('0'+n)) },
		Quota: q, CountsCallers: countsCallers,
	})
}

func TestSenderQuotas(t *testing.T) {
	budget := DailyBudgetError(newFakeClock().Now())
	tests := []struct {
		name          string
		queueEnabled  bool
		countsCallers bool
		setup         func(f *senderFixture, q *fakeQuota)
		wantStatus    Status
		wantKind      Kind
		wantCode      string
		wantRetry     time.Duration
		wantSent      int
		wantQueued    int
		wantGivenBack bool
	}{
		{name: "accepted and sent", queueEnabled: true, wantStatus: StatusSent, wantKind: -1, wantSent: 1},
		{name: "accepted and queued under the id it was counted with", queueEnabled: true,
			setup: func(f *senderFixture, _ *fakeQuota) { f.limiter.refuse = true }, wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "over the recipient limit", queueEnabled: true, setup: func(f *senderFixture, q *fakeQuota) {
			q.verdict = QuotaVerdict{Outcome: QuotaExceeded, Limit: LimitRecipient, RetryAt: f.clock.Now().Add(7*time.Minute + 30*time.Second)}
		}, wantKind: KindRateLimited, wantCode: CodeQuotaExceeded, wantRetry: 7*time.Minute + 30*time.Second},
		{name: "over the caller limit", queueEnabled: true, setup: func(f *senderFixture, q *fakeQuota) {
			q.verdict = QuotaVerdict{Outcome: QuotaExceeded, Limit: LimitCaller, RetryAt: f.clock.Now().Add(time.Hour)}
		}, wantKind: KindRateLimited, wantCode: CodeQuotaExceeded, wantRetry: time.Hour},
		{name: "opted out", queueEnabled: true, setup: func(_ *senderFixture, q *fakeQuota) { q.verdict = QuotaVerdict{Outcome: QuotaOptedOut} },
			wantStatus: StatusFailed, wantKind: KindRejected, wantCode: CodeRecipientOptedOut},
		{name: "no slot and queueing off gives the place back", setup: func(f *senderFixture, _ *fakeQuota) { f.limiter.refuse = true },
			wantKind: KindRateLimited, wantGivenBack: true},
		{name: "limiter down and queueing off gives the place back", setup: func(f *senderFixture, _ *fakeQuota) { f.limiter.err = errBoom },
			wantKind: KindUnavailable, wantGivenBack: true},
		{name: "provider account failure gives the place back", queueEnabled: true, setup: func(f *senderFixture, _ *fakeQuota) {
			f.provider.errs = []error{E(KindProviderAccount, "auth", ProviderDetail("20003", ""))}
		}, wantStatus: StatusFailed, wantKind: KindProviderAccount, wantGivenBack: true},
		{name: "a provider rejection keeps the place", queueEnabled: true, setup: func(f *senderFixture, _ *fakeQuota) {
			f.provider.errs = []error{E(KindRejected, "landline", ProviderDetail("21614", ""))}
		}, wantStatus: StatusFailed, wantKind: KindRejected},
		{name: "daily budget used up: neither sent nor queued", queueEnabled: true, setup: func(f *senderFixture, _ *fakeQuota) { f.limiter.err = budget },
			wantKind: KindRateLimited, wantCode: CodeQuotaExceeded, wantRetry: budget.RetryAfter, wantGivenBack: true},
		{name: "quota store down queues: the drain counts it", queueEnabled: true, setup: func(_ *senderFixture, q *fakeQuota) { q.err = errBoom },
			wantStatus: StatusQueued, wantKind: -1, wantQueued: 1},
		{name: "quota store down with queueing off", setup: func(_ *senderFixture, q *fakeQuota) { q.err = errBoom }, wantKind: KindUnavailable},
		{name: "quota store down while callers are counted", queueEnabled: true, countsCallers: true,
			setup: func(_ *senderFixture, q *fakeQuota) { q.err = errBoom }, wantKind: KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSenderFixture(t, tt.queueEnabled)
			q := &fakeQuota{}
			f.withQuota(q, tt.queueEnabled, tt.countsCallers)
			if tt.setup != nil {
				tt.setup(f, q)
			}
			res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: "code 1", Caller: "client-1"})
			if got := KindOf(err); got != tt.wantKind {
				t.Fatalf("kind = %v (%v), want %v", got, err, tt.wantKind)
			}
			e := AsError(err)
			if err != nil && e.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", e.Code, tt.wantCode)
			}
			if tt.wantRetry != 0 && e.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", res.Status, tt.wantStatus)
			}
			if len(f.provider.sent) != tt.wantSent || len(f.queue.msgs) != tt.wantQueued {
				t.Errorf("sent %d queued %d, want %d and %d", len(f.provider.sent), len(f.queue.msgs), tt.wantSent, tt.wantQueued)
			}
			if len(q.counted) != 1 {
				t.Fatalf("counted %d times, want once", len(q.counted))
			}
			u := q.counted[0]
			if u.MessageID != "id-1" || u.To != testTo || u.Caller != "client-1" {
				t.Errorf("counted %+v, want id-1 to %s by client-1", u, testTo)
			}
			if got := len(q.givenBack) == 1; got != tt.wantGivenBack {
				t.Errorf("given back %v, want %v", q.givenBack, tt.wantGivenBack)
			}
			if tt.wantQueued == 1 && f.queue.msgs[0].ID != u.MessageID {
				t.Errorf("queued under id %q, counted under %q: the drain would count it again", f.queue.msgs[0].ID, u.MessageID)
			}
			if tt.wantCode == CodeRecipientOptedOut && (res.MessageID != "id-1" || f.provider.calls != 0) {
				t.Errorf("opted out: messageId %q, provider calls %d; want the service id and no call", res.MessageID, f.provider.calls)
			}
			if KindOf(err) == KindRateLimited && tt.wantCode == CodeQuotaExceeded && f.provider.calls != 0 {
				t.Errorf("a quota refusal called the provider")
			}
		})
	}
}

// TestSenderQuotaAfterTheClaim: with an Idempotency-Key, only a claimed
// request counts; a replay, a request in progress and a refused key count
// nothing, a quota refusal frees the key, and an opt-out is kept.
func TestSenderQuotaAfterTheClaim(t *testing.T) {
	f := newSenderFixture(t, true)
	q := &fakeQuota{}
	f.withQuota(q, true, false)
	ctx := context.Background()
	req := SendRequest{To: testTo, Body: "code 1", IdempotencyKey: "k1", Caller: "client-1"}
	if _, err := f.sender.Send(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sender.Send(ctx, req); err != nil { // a replay
		t.Fatal(err)
	}
	if len(q.counted) != 1 {
		t.Errorf("a request and its replay counted %d times, want 1", len(q.counted))
	}
	// Held by another request: 409, nothing counted.
	key := idempotencyRecordKey("client-1", "k2")
	f.ledger.recs[key] = &fakeRec{fp: Fingerprint(testTo, "code 2", "")}
	if _, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "code 2", IdempotencyKey: "k2", Caller: "client-1"}); KindOf(err) != KindConflict {
		t.Fatalf("held key: err = %v", err)
	}
	// Ledger down: 503, nothing counted.
	f.ledger.err = errBoom
	if _, err := f.sender.Send(ctx, SendRequest{To: testTo, Body: "code 3", IdempotencyKey: "k3", Caller: "client-1"}); KindOf(err) != KindUnavailable {
		t.Fatalf("ledger down: err = %v", err)
	}
	f.ledger.err = nil
	if len(q.counted) != 1 {
		t.Errorf("after a 409 and a 503: counted %d times, want 1", len(q.counted))
	}
	// A quota refusal frees the key: the retry runs (and counts) again.
	q.verdict = QuotaVerdict{Outcome: QuotaExceeded, Limit: LimitRecipient, RetryAt: f.clock.Now().Add(time.Minute)}
	r4 := SendRequest{To: testTo, Body: "code 4", IdempotencyKey: "k4", Caller: "client-1"}
	if _, err := f.sender.Send(ctx, r4); AsError(err).Code != CodeQuotaExceeded {
		t.Fatalf("over quota: err = %v", err)
	}
	q.verdict = QuotaVerdict{}
	if res, err := f.sender.Send(ctx, r4); err != nil || res.Status != StatusSent {
		t.Fatalf("retry after the window: %+v, %v; want sent", res, err)
	}
	// An opt-out is final: kept under the key and replayed.
	q.verdict = QuotaVerdict{Outcome: QuotaOptedOut}
	r5 := SendRequest{To: testTo, Body: "code 5", IdempotencyKey: "k5", Caller: "client-1"}
	first, err1 := f.sender.Send(ctx, r5)
	q.verdict = QuotaVerdict{}
	again, err2 := f.sender.Send(ctx, r5)
	if AsError(err1).Code != CodeRecipientOptedOut || AsError(err2).Code != CodeRecipientOptedOut || again.MessageID != first.MessageID {
		t.Errorf("opt-out and its replay: %+v %v / %+v %v", first, err1, again, err2)
	}
	if got := len(q.counted); got != 4 {
		t.Errorf("counted %d times, want 4 (k1, k4 twice, k5)", got)
	}
}

func TestSenderQuotaRefusalLogsRegion(t *testing.T) {
	var buf bytes.Buffer
	f := newSenderFixture(t, true)
	d := NewDispatcher(f.provider, f.limiter, slog.New(slog.NewJSONHandler(&buf, nil)), DispatcherConfig{Clock: f.clock})
	q := &fakeQuota{verdict: QuotaVerdict{Outcome: QuotaExceeded, Limit: LimitRecipient, RetryAt: f.clock.Now().Add(time.Minute)}}
	s := NewSender(d, f.queue, f.ledger, SenderConfig{DefaultFrom: "FluxKit", QueueEnabled: true, Quota: q})
	if _, err := s.Send(context.Background(), SendRequest{To: "+447400123456", Body: "hi"}); AsError(err).Code != CodeQuotaExceeded {
		t.Fatalf("err = %v", err)
	}
	logs := buf.String()
	for _, want := range []string{`"event":"quota_exceeded"`, `"limit":"recipient"`, `"region":"GB"`, `"to":"+44******3456"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "+447400123456") {
		t.Errorf("log holds the number:\n%s", logs)
	}
}

func TestDelivererQuotas(t *testing.T) {
	budget := DailyBudgetError(newFakeClock().Now())
	tests := []struct {
		name          string
		setup         func(f *senderFixture, q *fakeQuota)
		want          Disposition
		wantSent      int
		wantLedger    string // the claim's record afterwards: "", "pending", "sent", "failed"
		wantGivenBack bool
	}{
		{name: "accepted and sent", want: Disposition{Action: Delivered}, wantSent: 1, wantLedger: "sent"},
		{name: "over the recipient limit is dead-lettered and counts nothing", setup: func(f *senderFixture, q *fakeQuota) {
			q.verdict = QuotaVerdict{Outcome: QuotaExceeded, Limit: LimitRecipient, RetryAt: f.clock.Now().Add(time.Minute)}
		}, want: Disposition{Action: Poison, Kind: KindRateLimited, PoisonReason: PoisonQuotaExceeded}},
		{name: "opted out is acknowledged, not dead-lettered", setup: func(_ *senderFixture, q *fakeQuota) { q.verdict = QuotaVerdict{Outcome: QuotaOptedOut} },
			want: Disposition{Action: Dropped, Kind: KindRejected}, wantLedger: "failed"},
		{name: "quota store down defers", setup: func(_ *senderFixture, q *fakeQuota) { q.err = errBoom },
			want: Disposition{Action: Deferred, Kind: KindUnavailable}},
		{name: "daily budget used up is dead-lettered and gives the place back", setup: func(f *senderFixture, _ *fakeQuota) { f.limiter.err = budget },
			want: Disposition{Action: Poison, Kind: KindRateLimited, PoisonReason: PoisonDailyBudget}, wantGivenBack: true},
		{name: "no slot defers and keeps the place", setup: func(f *senderFixture, _ *fakeQuota) { f.limiter.refuse = true },
			want: Disposition{Action: Deferred, Kind: KindRateLimited}},
	}
	qm := QueuedMessage{Message: Message{ID: "m1", To: testTo, Body: "hello", From: "FluxKit"}, Attempt: 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSenderFixture(t, true)
			q := &fakeQuota{}
			if tt.setup != nil {
				tt.setup(f, q)
			}
			d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Clock: f.clock})
			dl := NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit", Quota: q})
			if got := dl.Deliver(context.Background(), qm, time.Second, time.Minute); got != tt.want {
				t.Errorf("disposition = %+v, want %+v", got, tt.want)
			}
			if len(f.provider.sent) != tt.wantSent {
				t.Errorf("sent %d, want %d", len(f.provider.sent), tt.wantSent)
			}
			if len(q.counted) != 1 || q.counted[0] != (Usage{MessageID: "m1", To: testTo}) {
				t.Errorf("counted %+v, want m1 to %s once, without a caller", q.counted, testTo)
			}
			if got := len(q.givenBack) == 1; got != tt.wantGivenBack {
				t.Errorf("given back %v, want %v", q.givenBack, tt.wantGivenBack)
			}
			rec := f.ledger.recs["msg#m1"]
			got := ""
			switch {
			case rec == nil:
			case !rec.done:
				got = "pending"
			case string(rec.outcome) == "failed":
				got = "failed"
			default:
				got = "sent"
			}
			if got != tt.wantLedger {
				t.Errorf("claim record = %q, want %q", got, tt.wantLedger)
			}
		})
	}
}

// TestDelivererCountsAfterTheClaim: a copy of a message already sent is
// a duplicate and counts nothing.
func TestDelivererCountsAfterTheClaim(t *testing.T) {
	f := newSenderFixture(t, true)
	q := &fakeQuota{}
	d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Clock: f.clock})
	dl := NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit", Quota: q})
	qm := QueuedMessage{Message: Message{ID: "m1", To: testTo, Body: "hello", From: "FluxKit"}, Attempt: 1}
	for _, want := range []Action{Delivered, Duplicate} {
		if got := dl.Deliver(context.Background(), qm, time.Second, time.Minute); got.Action != want {
			t.Fatalf("Deliver = %v, want %v", got.Action, want)
		}
	}
	if len(q.counted) != 1 {
		t.Errorf("counted %d times, want once", len(q.counted))
	}
}

func TestOptOutsFeedTheSuppressionList(t *testing.T) {
	optedOut := E(KindRejected, "opted out", ProviderDetail("21610", ""), RecipientOptedOut())
	landline := E(KindRejected, "landline", ProviderDetail("21614", ""))
	tests := []struct {
		name     string
		err      error
		suppErr  error
		wantSupp bool
	}{
		{name: "an opt-out", err: optedOut, wantSupp: true},
		{name: "an opt-out the list cannot take", err: optedOut, suppErr: errBoom, wantSupp: true},
		{name: "another rejection", err: landline},
		{name: "accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{errs: []error{tt.err}}
			q := &fakeQuota{suppErr: tt.suppErr}
			var buf bytes.Buffer
			_, err := OptOuts(p, q, slog.New(slog.NewJSONHandler(&buf, nil))).Send(context.Background(), Message{To: testTo, Body: "x"})
			if !errors.Is(err, tt.err) && !(err == nil && tt.err == nil) {
				t.Errorf("err = %v, want the provider's %v unchanged", err, tt.err)
			}
			if got := len(q.suppressed) == 1; got != tt.wantSupp {
				t.Fatalf("suppressed %v, want %v", q.suppressed, tt.wantSupp)
			}
			if tt.wantSupp && q.suppressed[0] != testTo {
				t.Errorf("suppressed %q, want %q", q.suppressed[0], testTo)
			}
			if tt.wantSupp && !strings.Contains(buf.String(), `"event":"recipient_suppressed"`) {
				t.Errorf("log lacks event recipient_suppressed:\n%s", buf.String())
			}
			if strings.Contains(buf.String(), testTo) {
				t.Errorf("log holds the number:\n%s", buf.String())
			}
		})
	}
}

func TestDispatcherRateUnit(t *testing.T) {
	long := strings.Repeat("a", 400) // 3 GSM-7 segments
	tests := []struct {
		unit RateUnit
		body string
		want [2]int
	}{
		{UnitMessages, "short", [2]int{1, 1}},
		{UnitMessages, long, [2]int{1, 3}},
		{UnitSegments, "short", [2]int{1, 1}},
		{UnitSegments, long, [2]int{3, 3}},
		{UnitSegments, strings.Repeat("é", 71), [2]int{1, 1}}, // é is GSM-7
		{UnitSegments, strings.Repeat("ж", 71), [2]int{2, 2}}, // UCS-2: 70 a part
	}
	for _, tt := range tests {
		clock := newFakeClock()
		l := &fakeLimiter{clock: clock}
		d := NewDispatcher(&fakeProvider{}, l, discardLog(), DispatcherConfig{Clock: clock, RateUnit: tt.unit})
		if _, err := d.dispatch(context.Background(), Message{To: testTo, Body: tt.body}, 0); err != nil {
			t.Fatal(err)
		}
		if len(l.slots) != 1 || l.slots[0] != tt.want {
			t.Errorf("unit %v, body of %d characters: ReserveN(slots, segments) = %v, want %v", tt.unit, len([]rune(tt.body)), l.slots, tt.want)
		}
	}
}

func TestLimitWindows(t *testing.T) {
	tests := []struct {
		limit      Limit
		at         time.Time
		start, end time.Time
		str        string
	}{
		{Limit{5, 10 * time.Minute}, time.Date(2026, 3, 1, 12, 7, 59, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC), "5/10m"},
		{Limit{10000, 24 * time.Hour}, time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), "10000/24h"},
		{Limit{3, 90 * time.Second}, time.Date(2026, 3, 1, 0, 1, 31, 0, time.UTC), time.Date(2026, 3, 1, 0, 1, 30, 0, time.UTC), time.Date(2026, 3, 1, 0, 3, 0, 0, time.UTC), "3/1m30s"},
	}
	for _, tt := range tests {
		start, end := tt.limit.WindowOf(tt.at)
		if !start.Equal(tt.start) || !end.Equal(tt.end) {
			t.Errorf("%v.WindowOf(%v) = [%v, %v), want [%v, %v)", tt.limit, tt.at, start, end, tt.start, tt.end)
		}
		if got := tt.limit.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
	}
	if got := (Limit{}).String(); got != "off" {
		t.Errorf("zero Limit String() = %q, want off", got)
	}
	if got, want := NextUTCDay(time.Date(2026, 3, 1, 23, 59, 0, 0, time.FixedZone("X", 3600))), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("NextUTCDay = %v, want %v (days are UTC)", got, want)
	}
}
