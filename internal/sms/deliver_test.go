package sms

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDelivererDefersWhenNothingWasSent checks that trouble which is not the
// message's — the limiter or the ledger unreachable or contended, no time
// or no ready connection for a call — defers the record (a fresh copy
// later) instead of leaving it to SQS, which would burn its receive count.
func TestDelivererDefersWhenNothingWasSent(t *testing.T) {
	contended := E(KindUnavailable, "rate limiter unavailable", Cause(errors.New("dynamo: reserve slot: item changed under 4 requests")))
	notReady := E(KindTransient, "the SMS provider could not be reached", Cause(ErrConnNotReady))
	tests := []struct {
		name  string
		setup func(f *senderFixture) context.Context
		want  Disposition
	}{
		{name: "limiter contended", setup: func(f *senderFixture) context.Context { f.limiter.err = contended; return nil },
			want: Disposition{Action: Deferred, Kind: KindUnavailable}},
		{name: "limiter unreachable", setup: func(f *senderFixture) context.Context { f.limiter.err = errBoom; return nil },
			want: Disposition{Action: Deferred, Kind: KindUnavailable}},
		{name: "ledger unreachable", setup: func(f *senderFixture) context.Context { f.ledger.err = errBoom; return nil },
			want: Disposition{Action: Deferred, Kind: KindUnavailable}},
		{name: "connection never ready", setup: func(f *senderFixture) context.Context {
			f.provider.errs = []error{notReady, notReady, notReady, notReady}
			return nil
		}, want: Disposition{Action: Deferred, Kind: KindTransient}},
		{name: "too little time left", setup: func(f *senderFixture) context.Context {
			f.clock.t = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, want: Disposition{Action: Deferred, Kind: KindTransient}},
		{name: "a provider's 503 is retried through SQS", setup: func(f *senderFixture) context.Context {
			f.provider.errs = []error{E(KindTransient, "", ProviderDetail("503", ""))}
			return nil
		}, want: Disposition{Action: Retry, Kind: KindTransient}},
	}
	qm := QueuedMessage{Message: Message{ID: "m1", To: testTo, Body: "hello", From: "FluxKit"}, Attempt: 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSenderFixture(t, true)
			ctx := tt.setup(f)
			if ctx == nil {
				ctx = context.Background()
			}
			d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Clock: f.clock, ReadyWithin: ReadyWindow(0.05)})
			dl := NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit"})
			if got := dl.Deliver(ctx, qm, time.Second, time.Minute); got != tt.want {
				t.Errorf("disposition = %+v, want %+v", got, tt.want)
			}
			if len(f.provider.sent) != 0 {
				t.Errorf("sent %d, want none", len(f.provider.sent))
			}
			// The claim was given back: a fresh copy can take it at once.
			if f.ledger.err == nil {
				if c, _ := f.ledger.Claim(context.Background(), "msg#m1", Fingerprint(qm.To, qm.Body, qm.From), time.Minute); c.State != Claimed {
					t.Errorf("claim after deferral = %v, want the key free", c.State)
				}
			}
		})
	}
}
