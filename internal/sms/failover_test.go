package sms

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// twoRoutes is a failover fixture: a primary and a secondary provider,
// each with its own limiter, on one fake clock.
type twoRoutes struct {
	clock              *fakeClock
	primary, secondary *fakeProvider
	pLimit, sLimit     *fakeLimiter
	logs               *bytes.Buffer
	d                  *Dispatcher
}

func newTwoRoutes(t *testing.T) *twoRoutes {
	t.Helper()
	clock := newFakeClock()
	f := &twoRoutes{
		clock: clock, primary: &fakeProvider{}, secondary: &fakeProvider{},
		pLimit: &fakeLimiter{clock: clock}, sLimit: &fakeLimiter{clock: clock}, logs: &bytes.Buffer{},
	}
	f.d = NewFailoverDispatcher([]Route{
		{Name: "twilio", Provider: f.primary, Limiter: f.pLimit, From: "+15005550006"},
		{Name: "vonage", Provider: f.secondary, Limiter: f.sLimit, From: "FluxKit"},
	}, slog.New(slog.NewJSONHandler(f.logs, nil)), DispatcherConfig{Clock: clock})
	return f
}

// The failures of a provider call, as the provider clients classify them.
var (
	errUnavailable = E(KindTransient, "the SMS provider is temporarily unavailable", ProviderDetail("", "HTTP 503"), FailoverSafe())
	errNotWritten  = E(KindTransient, "the SMS provider could not be reached", FailoverSafe())
	errThrottled   = E(KindTransient, "the SMS provider is throttling this account", ProviderDetail("1", "Throughput Rate Exceeded"), FailoverSafe())
	errAccount     = E(KindProviderAccount, "the SMS provider refused our credentials", ProviderDetail("20003", "Authenticate"), FailoverSafe())
	errRoute       = E(KindProviderAccount, "the SMS provider account may not send to the recipient's region", ProviderDetail("21408", "Permission"), FailoverSafe())
	errServerError = E(KindAmbiguous, "the SMS provider failed while handling the message; it may have been sent", ProviderDetail("", "HTTP 500"))
	errNoAnswer    = E(KindAmbiguous, "the SMS provider did not answer; the message may have been sent")
	errRecipient   = E(KindRejected, "the SMS provider considers the recipient number invalid", ProviderDetail("21211", "invalid"))
	errNoCallReady = E(KindTransient, "the SMS provider could not be reached", Cause(ErrConnNotReady), FailoverSafe())
)

func TestFailoverOnlyWhenNothingCanHaveBeenSent(t *testing.T) {
	tests := []struct {
		name          string
		primary       []error
		wantSecondary bool // the secondary is called
		wantKind      Kind // -1: sent
		wantProvider  string
	}{
		{"primary sends", nil, false, -1, "twilio"},
		// A connection not ready in time is tried again on a new slot, up
		// to maxReadyTries slots.
		{"no connection ready in time on any slot fails over", []error{errNoCallReady, errNoCallReady, errNoCallReady, errNoCallReady}, true, -1, "vonage"},
		{"503 fails over", []error{errUnavailable}, true, -1, "vonage"},
		{"no connection fails over", []error{errNotWritten}, true, -1, "vonage"},
		{"throttled fails over", []error{errThrottled}, true, -1, "vonage"},
		{"an account problem fails over", []error{errAccount}, true, -1, "vonage"},
		{"a refusal about the route fails over", []error{errRoute}, true, -1, "vonage"},
		{"a 500 is ambiguous: no failover", []error{errServerError}, false, KindAmbiguous, "twilio"},
		{"a dropped answer is ambiguous: no failover", []error{errNoAnswer}, false, KindAmbiguous, "twilio"},
		{"an unclassified failure is ambiguous: no failover", []error{errBoom}, false, KindAmbiguous, "twilio"},
		{"a refusal about the recipient: no failover", []error{errRecipient}, false, KindRejected, "twilio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTwoRoutes(t)
			f.primary.errs = tt.primary
			rc, err := f.d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second)
			if got := KindOf(err); got != tt.wantKind {
				t.Fatalf("kind %v (%v), want %v", got, err, tt.wantKind)
			}
			if got := f.secondary.calls; (got > 0) != tt.wantSecondary {
				t.Errorf("secondary called %d times, want called: %v", got, tt.wantSecondary)
			}
			if want := max(len(tt.primary), 1); f.primary.calls != want {
				t.Errorf("primary called %d times, want %d", f.primary.calls, want)
			}
			if rc.Provider != tt.wantProvider {
				t.Errorf("receipt names %q, want %q", rc.Provider, tt.wantProvider)
			}
			if tt.wantSecondary && !strings.Contains(f.logs.String(), `"event":"provider_failover"`) {
				t.Errorf("no provider_failover event logged:\n%s", f.logs)
			}
		})
	}
}

// TestFailoverEachProviderGivesItsSender: a message naming no sender gets
// the default of the provider that sends it; a caller's sender goes as
// given to either.
func TestFailoverEachProviderGivesItsSender(t *testing.T) {
	for _, tt := range []struct {
		name, from   string
		wantP, wantS string
	}{
		{"default", "", "+15005550006", "FluxKit"},
		{"the caller's", "Acme", "Acme", "Acme"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newTwoRoutes(t)
			f.primary.errs = []error{errUnavailable, nil}
			ctx := context.Background()
			if _, err := f.d.dispatch(ctx, Message{To: testTo, Body: "1", From: tt.from}, time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := f.d.dispatch(ctx, Message{To: testTo, Body: "2", From: tt.from}, time.Second); err != nil {
				t.Fatal(err)
			}
			if len(f.secondary.sent) != 1 || f.secondary.sent[0].From != tt.wantS {
				t.Errorf("secondary sent %+v, want one message from %q", f.secondary.sent, tt.wantS)
			}
			if len(f.primary.sent) != 1 || f.primary.sent[0].From != tt.wantP {
				t.Errorf("primary sent %+v, want one message from %q", f.primary.sent, tt.wantP)
			}
		})
	}
}

// TestFailoverNoOverflow: a primary without a slot is not skipped: the
// message is not sent now, and the secondary's limiter is not asked.
func TestFailoverNoOverflow(t *testing.T) {
	f := newTwoRoutes(t)
	f.pLimit.refuse = true
	_, err := f.d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second)
	if KindOf(err) != KindRateLimited {
		t.Fatalf("kind %v (%v), want rate-limited", KindOf(err), err)
	}
	if f.primary.calls+f.secondary.calls != 0 || len(f.sLimit.maxWait) != 0 {
		t.Errorf("calls %d+%d, secondary slots asked %d; want none", f.primary.calls, f.secondary.calls, len(f.sLimit.maxWait))
	}
}

// TestFailoverSharesTheWait: the secondary's slot is waited for only as
// long as the wait has left after the primary's call.
func TestFailoverSharesTheWait(t *testing.T) {
	f := newTwoRoutes(t)
	f.pLimit.delay = 200 * time.Millisecond
	f.primary.errs = []error{errUnavailable}
	if _, err := f.d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, 250*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := f.sLimit.maxWait; len(got) != 1 || got[0] != 50*time.Millisecond {
		t.Errorf("secondary asked for a slot within %v, want [50ms]", got)
	}
}

func TestFailoverWhenEveryProviderFails(t *testing.T) {
	tests := []struct {
		name               string
		primary, secondary error
		want               error
		wantProvider       string // the receipt names the provider whose failure it is
	}{
		{"both transient: the first", errUnavailable, errThrottled, errUnavailable, "twilio"},
		{"account then transient: the transient", errAccount, errUnavailable, errUnavailable, "vonage"},
		{"transient then account: the transient", errUnavailable, errAccount, errUnavailable, "twilio"},
		{"both account: the last", errRoute, errAccount, errAccount, "vonage"},
		{"transient then ambiguous: the ambiguous", errUnavailable, errServerError, errServerError, "vonage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTwoRoutes(t)
			f.primary.errs, f.secondary.errs = []error{tt.primary}, []error{tt.secondary}
			rc, err := f.d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second)
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if rc.Provider != tt.wantProvider || failedProvider(err) != tt.wantProvider {
				t.Errorf("receipt names %q, error %q; want %q", rc.Provider, failedProvider(err), tt.wantProvider)
			}
		})
	}
}

// TestFailoverSkipsAnOpenProvider walks one provider outage: the primary
// fails five times (each message failing over), its breaker opens and
// later messages go to the secondary without a call to it; after the
// cool-down one message probes it, and once the probe succeeds it is used
// again.
func TestFailoverSkipsAnOpenProvider(t *testing.T) {
	f := newTwoRoutes(t)
	ctx := context.Background()
	send := func() Receipt {
		t.Helper()
		rc, err := f.d.dispatch(ctx, Message{To: testTo, Body: "x"}, time.Second)
		if err != nil {
			t.Fatalf("dispatch: %v", err)
		}
		return rc
	}
	f.primary.errs = []error{errUnavailable, errUnavailable, errUnavailable, errUnavailable, errUnavailable, errUnavailable}
	for range DefaultBreakerFailures {
		if rc := send(); rc.Provider != "vonage" {
			t.Fatalf("sent by %q, want vonage", rc.Provider)
		}
	}
	if f.primary.calls != DefaultBreakerFailures || !strings.Contains(f.logs.String(), `"event":"circuit_open"`) {
		t.Fatalf("primary calls %d, circuit_open logged %v; want %d and the event", f.primary.calls, strings.Contains(f.logs.String(), "circuit_open"), DefaultBreakerFailures)
	}
	for range 20 {
		send()
	}
	if f.primary.calls != DefaultBreakerFailures {
		t.Errorf("primary called %d times while open, want no call", f.primary.calls-DefaultBreakerFailures)
	}
	_ = f.clock.Sleep(ctx, DefaultBreakerCoolDown)
	if rc := send(); rc.Provider != "vonage" || f.primary.calls != DefaultBreakerFailures+1 {
		t.Fatalf("probe: sent by %q after %d primary calls; want the probe to fail over", rc.Provider, f.primary.calls)
	}
	send()
	if f.primary.calls != DefaultBreakerFailures+1 {
		t.Errorf("the failed probe reopened nothing: primary called again")
	}
	_ = f.clock.Sleep(ctx, DefaultBreakerCoolDown)
	if rc := send(); rc.Provider != "twilio" {
		t.Fatalf("second probe sent by %q, want twilio (which is back)", rc.Provider)
	}
	if rc := send(); rc.Provider != "twilio" {
		t.Errorf("after the probe: sent by %q, want twilio", rc.Provider)
	}
	for _, ev := range []string{"circuit_probe", "circuit_closed"} {
		if !strings.Contains(f.logs.String(), `"event":"`+ev+`"`) {
			t.Errorf("no %s event logged", ev)
		}
	}
}

// TestFailoverEveryCircuitOpen: with both breakers open nothing is called,
// and the failure is transient, so that the message is queued (send path)
// or retried with backoff (drain).
func TestFailoverEveryCircuitOpen(t *testing.T) {
	f := newTwoRoutes(t)
	for _, r := range f.d.routes {
		for range DefaultBreakerFailures {
			r.breaker.Allow()
			r.breaker.Record(false, OutcomeFailure)
		}
	}
	_, err := f.d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second)
	if KindOf(err) != KindTransient || !errors.Is(err, errCircuitsOpen) || nothingSent(err) {
		t.Errorf("error %v: want transient, every circuit open, and not a mere deferral", err)
	}
	if f.primary.calls+f.secondary.calls != 0 {
		t.Errorf("calls %d+%d, want none", f.primary.calls, f.secondary.calls)
	}
}

// TestFailoverLogsNameTheProvider: the provider's failure detail in the
// logs says which provider it was.
func TestFailoverLogsNameTheProvider(t *testing.T) {
	f := newTwoRoutes(t)
	f.primary.errs = []error{errUnavailable}
	if _, err := f.d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second); err != nil {
		t.Fatal(err)
	}
	want := `"next":"vonage","provider":{"name":"twilio","kind":"transient"`
	if !strings.Contains(f.logs.String(), want) {
		t.Errorf("logs lack %s:\n%s", want, f.logs)
	}
}

// TestFailoverBothPaths: the send path answers with the provider that
// sent, and the drain acknowledges a message the secondary sent and backs
// off only when every provider failed.
func TestFailoverBothPaths(t *testing.T) {
	ctx := context.Background()
	t.Run("send", func(t *testing.T) {
		f := newTwoRoutes(t)
		f.primary.errs = []error{errUnavailable}
		s := NewSender(f.d, &fakeQueue{}, nil, SenderConfig{DefaultFrom: "+15005550006", QueueEnabled: true, MaxWait: time.Second})
		res, err := s.Send(ctx, SendRequest{To: testTo, Body: "x"})
		if err != nil || res.Status != StatusSent || res.Provider != "vonage" {
			t.Errorf("result %+v, %v; want sent by vonage", res, err)
		}
		if got := f.secondary.sent[0].From; got != "FluxKit" {
			t.Errorf("sent from %q, want the secondary's default", got)
		}
	})
	t.Run("send queues without a sender when both fail", func(t *testing.T) {
		f := newTwoRoutes(t)
		f.primary.errs, f.secondary.errs = []error{errUnavailable}, []error{errUnavailable}
		q := &fakeQueue{}
		s := NewSender(f.d, q, nil, SenderConfig{DefaultFrom: "+15005550006", QueueEnabled: true, MaxWait: time.Second})
		res, err := s.Send(ctx, SendRequest{To: testTo, Body: "x"})
		if err != nil || res.Status != StatusQueued || res.Provider != "" {
			t.Fatalf("result %+v, %v; want queued, no provider", res, err)
		}
		if len(q.msgs) != 1 || q.msgs[0].From != "" {
			t.Errorf("queued %+v, want one message without a sender (each provider gives its own)", q.msgs)
		}
	})
	for _, tt := range []struct {
		name               string
		primary, secondary []error
		want               Action
	}{
		{"the secondary sends", []error{errUnavailable}, nil, Delivered},
		{"every provider fails", []error{errUnavailable}, []error{errUnavailable}, Retry},
		{"ambiguous: no failover, retried", []error{errServerError}, nil, Retry},
		{"the recipient refused: dropped", []error{errRecipient}, nil, Dropped},
	} {
		t.Run("drain/"+tt.name, func(t *testing.T) {
			f := newTwoRoutes(t)
			f.primary.errs, f.secondary.errs = tt.primary, tt.secondary
			ledger := &fakeLedger{}
			dl := NewDeliverer(f.d, ledger, DelivererConfig{DefaultFrom: "+15005550006"})
			qm := QueuedMessage{Message: Message{ID: "m-1", To: testTo, Body: "x"}, Attempt: 1}
			if got := dl.Deliver(ctx, qm, time.Second, time.Minute); got.Action != tt.want {
				t.Errorf("action %v (%v), want %v", got.Action, got.Kind, tt.want)
			}
			// The claim's fingerprint names the first provider's default,
			// as it did with one provider.
			if r, ok := ledger.recs["msg#m-1"]; ok && r.fp != Fingerprint(testTo, "x", "+15005550006") {
				t.Errorf("claim fingerprint %s, want the one naming the default sender", r.fp)
			}
		})
	}
}
