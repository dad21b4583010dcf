package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// flakyLedger is a fakeLedger whose Complete fails its first failures
// calls, and fails whenever its context is done, as a real table call would.
type flakyLedger struct {
	*fakeLedger
	mu       sync.Mutex
	failures int // calls left to fail; negative fails them all
	calls    int
	// done and deadline say, for each call, whether its context was
	// already done and whether it had a deadline.
	done, deadline []bool
}

func (l *flakyLedger) Complete(ctx context.Context, key, fp string, outcome []byte, keep time.Duration) error {
	l.mu.Lock()
	l.calls++
	_, hasDeadline := ctx.Deadline()
	l.done = append(l.done, ctx.Err() != nil)
	l.deadline = append(l.deadline, hasDeadline)
	fail := l.failures != 0
	if l.failures > 0 {
		l.failures--
	}
	l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if fail {
		return errors.New("dynamo: complete: connection reset")
	}
	return l.fakeLedger.Complete(ctx, key, fp, outcome, keep)
}

// cancelingProvider accepts the message and then cancels the request's
// context: the client went away right after the provider call.
type cancelingProvider struct {
	*fakeProvider
	cancel context.CancelFunc
}

func (p *cancelingProvider) Send(ctx context.Context, m Message) (Receipt, error) {
	rc, err := p.fakeProvider.Send(ctx, m)
	p.cancel()
	return rc, err
}

// recordFixture is a sender whose ledger's Complete is flaky and whose
// log is kept.
type recordFixture struct {
	provider *fakeProvider
	ledger   *flakyLedger
	clock    *fakeClock
	log      bytes.Buffer
	sender   *Sender
}

func newRecordFixture(t *testing.T, failures int, provider Provider) *recordFixture {
	t.Helper()
	f := &recordFixture{ledger: &flakyLedger{fakeLedger: &fakeLedger{}, failures: failures}, clock: newFakeClock()}
	if provider == nil {
		f.provider = &fakeProvider{}
		provider = f.provider
	}
	log := slog.New(slog.NewJSONHandler(&f.log, nil))
	d := NewDispatcher(provider, &fakeLimiter{clock: f.clock}, log, DispatcherConfig{Clock: f.clock})
	f.sender = NewSender(d, &fakeQueue{}, f.ledger, SenderConfig{DefaultFrom: "FluxKit", QueueEnabled: true})
	return f
}

const recordBody = "Your code is 990017"

var recordReq = SendRequest{To: testTo, Body: recordBody, IdempotencyKey: "order-77", Caller: "alice"}

// replay sends recordReq again on a fresh context and reports whether it
// was answered from the record: a result and no new provider call. (A
// pending record answers 409 until its lease lapses, and then the message
// is sent again.)
func replay(t *testing.T, s *Sender, calls func() int) bool {
	t.Helper()
	before := calls()
	_, err := s.Send(context.Background(), recordReq)
	if err != nil && KindOf(err) != KindConflict {
		t.Fatalf("replay: %v", err)
	}
	return err == nil && calls() == before
}

func TestSenderRecordsOutcomeAfterClientLeft(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &cancelingProvider{fakeProvider: &fakeProvider{}, cancel: cancel}
	f := newRecordFixture(t, 0, p)
	res, err := f.sender.Send(ctx, recordReq)
	if err != nil || res.Status != StatusSent {
		t.Fatalf("Send = %+v, %v; want sent", res, err)
	}
	if ctx.Err() == nil {
		t.Fatal("the request context is still live; the test needs it canceled before the record")
	}
	if f.ledger.calls != 1 {
		t.Fatalf("Complete calls = %d, want 1", f.ledger.calls)
	}
	if f.ledger.done[0] {
		t.Errorf("Complete ran on a done context, want one that outlives the request")
	}
	if !f.ledger.deadline[0] {
		t.Errorf("Complete ran without a deadline, want its own timeout")
	}
	second, err := f.sender.Send(context.Background(), recordReq)
	if err != nil || second != res {
		t.Errorf("replay = %+v, %v; want the recorded %+v", second, err, res)
	}
	if got := p.calls; got != 1 {
		t.Errorf("provider calls = %d, want 1: the retry must replay, not send again", got)
	}
}

func TestSenderRetriesRecording(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		wantCalls int
		recorded  bool
	}{
		{"first try", 0, 1, true},
		{"after one failure", 1, 2, true},
		{"after two failures", 2, 3, true},
		{"never", -1, recordAttempts, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRecordFixture(t, tt.failures, nil)
			res, err := f.sender.Send(context.Background(), recordReq)
			if err != nil || res.Status != StatusSent {
				t.Fatalf("Send = %+v, %v; want sent (a failed record does not change the answer)", res, err)
			}
			if f.ledger.calls != tt.wantCalls {
				t.Errorf("Complete calls = %d, want %d", f.ledger.calls, tt.wantCalls)
			}
			// The first sleep is the wait for the send slot.
			backoff := f.clock.slept[1:]
			if got := len(backoff); got != tt.wantCalls-1 {
				t.Errorf("backoff sleeps = %d (%v), want %d", got, backoff, tt.wantCalls-1)
			}
			for i := 1; i < len(backoff); i++ {
				if backoff[i] <= backoff[i-1] {
					t.Errorf("backoff %v, want it to grow", backoff)
				}
			}
			if got := replay(t, f.sender, func() int { return f.provider.calls }); got != tt.recorded {
				t.Errorf("replayed from the record = %v, want %v", got, tt.recorded)
			}
			logged := f.log.String()
			if got := strings.Contains(logged, `"event":"idempotency_record_failed"`); got != !tt.recorded {
				t.Errorf("idempotency_record_failed logged = %v, want %v; log:\n%s", got, !tt.recorded, logged)
			}
		})
	}
}

func TestRecordFailureLogLeaksNothing(t *testing.T) {
	f := newRecordFixture(t, -1, nil)
	res, err := f.sender.Send(context.Background(), recordReq)
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.log.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["event"] == "idempotency_record_failed" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no idempotency_record_failed line in:\n%s", f.log.String())
	}
	if line["level"] != "ERROR" || line["messageId"] != res.MessageID {
		t.Errorf("line = %v, want level ERROR naming messageId %q", line, res.MessageID)
	}
	delete(line, "messageId") // the fake provider's ids hold the number
	text, _ := json.Marshal(line)
	for _, secret := range []string{recordBody, recordReq.IdempotencyKey, recordReq.Caller, testTo[2:]} {
		if strings.Contains(string(text), secret) || secret != testTo[2:] && strings.Contains(f.log.String(), secret) {
			t.Errorf("log holds %q:\n%s", secret, f.log.String())
		}
	}
}
