package sms

import (
	"context"
	"testing"
	"time"
)

// guardedFixture is a sender fixture whose Sender and Deliverer apply the
// deployment's default rules with smart encoding.
func guardedFixture(t *testing.T, queueEnabled bool) (*senderFixture, *Deliverer) {
	t.Helper()
	f := newSenderFixture(t, queueEnabled)
	cfg := defaultRules()
	cfg.SmartEncoding = true
	g := NewGuard(cfg, discardLog())
	d := NewDispatcher(f.provider, f.limiter, discardLog(), DispatcherConfig{Clock: f.clock})
	f.sender = NewSender(d, f.queue, f.ledger, SenderConfig{DefaultFrom: "FluxKit", Guard: g, QueueEnabled: queueEnabled, MaxWait: 250 * time.Millisecond})
	return f, NewDeliverer(d, f.ledger, DelivererConfig{DefaultFrom: "FluxKit", Guard: g})
}

// TestSenderRefusesBeforeAnythingCosts checks that a refused message takes
// no idempotency claim, no slot, no provider call and no queue place.
func TestSenderRefusesBeforeAnythingCosts(t *testing.T) {
	tests := []struct {
		name string
		req  SendRequest
		code string
	}{
		{"premium rate", SendRequest{To: "+449012345678", Body: "x"}, CodeDestinationNotAllowed},
		{"premium rate with a key", SendRequest{To: "+449012345678", Body: "x", IdempotencyKey: "k1", Caller: "c"}, CodeDestinationNotAllowed},
		{"satellite", SendRequest{To: "+881612345678", Body: "x"}, CodeDestinationNotAllowed},
		{"sender", SendRequest{To: testTo, Body: "x", From: "MyBank", IdempotencyKey: "k2", Caller: "c"}, CodeSenderNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := guardedFixture(t, true)
			f.limiter.refuse = true // a slot would queue it
			_, err := f.sender.Send(context.Background(), tt.req)
			if e := AsError(err); err == nil || e.Kind != KindForbidden || e.Code != tt.code {
				t.Fatalf("Send() = %v, want forbidden %s", err, tt.code)
			}
			if n := len(f.ledger.recs) + len(f.limiter.maxWait) + f.provider.calls + len(f.queue.msgs); n != 0 {
				t.Errorf("claims %d, slots asked %d, provider calls %d, queued %d: want nothing",
					len(f.ledger.recs), len(f.limiter.maxWait), f.provider.calls, len(f.queue.msgs))
			}
		})
	}
}

func TestSenderSmartEncodes(t *testing.T) {
	const body = "It’s “done” – see you…"
	const sent = `It's "done" - see you...`
	t.Run("sent", func(t *testing.T) {
		f, _ := guardedFixture(t, true)
		req := SendRequest{To: testTo, Body: body, IdempotencyKey: "k", Caller: "c"}
		res, err := f.sender.Send(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.provider.sent[0].Body; got != sent {
			t.Errorf("provider got %q, want %q", got, sent)
		}
		if res.Encoding != GSM7 || res.Segments != 1 {
			t.Errorf("result %+v, want 1 GSM-7 segment", res)
		}
		// The key's record is of the request as written: a retry replays.
		again, err := f.sender.Send(context.Background(), req)
		if err != nil || again != res || f.provider.calls != 1 {
			t.Errorf("retry = %+v, %v after %d provider calls; want the first answer, no new call", again, err, f.provider.calls)
		}
	})
	t.Run("queued", func(t *testing.T) {
		f, _ := guardedFixture(t, true)
		f.limiter.refuse = true
		if _, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: body}); err != nil {
			t.Fatal(err)
		}
		if got := f.queue.msgs[0].Body; got != sent {
			t.Errorf("queued %q, want %q", got, sent)
		}
	})
	t.Run("kept when the text stays UCS-2", func(t *testing.T) {
		f, _ := guardedFixture(t, true)
		res, err := f.sender.Send(context.Background(), SendRequest{To: testTo, Body: body + " 😀"})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.provider.sent[0].Body; got != body+" 😀" || res.Encoding != UCS2 {
			t.Errorf("provider got %q as %s, want the text as written in UCS-2", got, res.Encoding)
		}
	})
}

// TestDelivererAppliesGuard checks the drain path: whatever envelope a
// producer wrote, a message the rules refuse is poison before it is
// claimed, and what is sent is smart-encoded.
func TestDelivererAppliesGuard(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		m    Message
		want Disposition
	}{
		{"premium rate", Message{ID: "p1", To: "+449012345678", Body: "x"}, Disposition{Action: Poison, Kind: KindForbidden, PoisonReason: PoisonDestinationNotAllowed}},
		{"international network", Message{ID: "p2", To: "+883510012345", Body: "x"}, Disposition{Action: Poison, Kind: KindForbidden, PoisonReason: PoisonDestinationNotAllowed}},
		{"sender", Message{ID: "p3", To: testTo, Body: "x", From: "MyBank"}, Disposition{Action: Poison, Kind: KindForbidden, PoisonReason: PoisonSenderNotAllowed}},
		{"a number no decoder checked", Message{ID: "p4", To: "+1415", Body: "x"}, Disposition{Action: Poison, Kind: KindInvalid, PoisonReason: CodeInvalidTo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, dl := guardedFixture(t, true)
			got := dl.Deliver(ctx, QueuedMessage{Message: tt.m, Attempt: 1}, time.Second, time.Minute)
			if got != tt.want {
				t.Errorf("disposition = %+v, want %+v", got, tt.want)
			}
			if len(f.ledger.recs) != 0 || f.provider.calls != 0 {
				t.Errorf("claims %d, provider calls %d: want none", len(f.ledger.recs), f.provider.calls)
			}
		})
	}
	t.Run("smart encoding", func(t *testing.T) {
		f, dl := guardedFixture(t, true)
		m := QueuedMessage{Message: Message{ID: "s1", To: testTo, Body: "“hi”"}, Attempt: 1}
		if got := dl.Deliver(ctx, m, time.Second, time.Minute); got.Action != Delivered {
			t.Fatalf("disposition = %+v, want delivered", got)
		}
		if got := f.provider.sent[0].Body; got != `"hi"` {
			t.Errorf("provider got %q, want %q", got, `"hi"`)
		}
		// A redelivery of the same record is recognised as sent.
		if got := dl.Deliver(ctx, m, time.Second, time.Minute); got.Action != Duplicate {
			t.Errorf("redelivery = %+v, want duplicate", got)
		}
	})
}
