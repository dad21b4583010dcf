package sms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// ctxProvider records the context of each call and answers from a script
// of errors (nil = accept).
type ctxProvider struct {
	mu    sync.Mutex
	errs  []error
	calls []context.Context
}

func (p *ctxProvider) Send(ctx context.Context, m Message) (Receipt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, ctx)
	if len(p.errs) > 0 {
		err := p.errs[0]
		p.errs = p.errs[1:]
		if err != nil {
			return Receipt{}, err
		}
	}
	return Receipt{ID: "SM1"}, nil
}

// nowClock is a fakeClock reading the wall clock's time, so that context
// deadlines (always on the wall clock) and the clock agree.
func nowClock() *fakeClock {
	c := newFakeClock()
	c.t = time.Now()
	return c
}

// TestDispatchBoundsTheCallByTheDeadline checks that a provider call ends
// a second before the invocation does, leaving room for the bookkeeping
// after it, and that no call is started with too little time left.
func TestDispatchBoundsTheCallByTheDeadline(t *testing.T) {
	const reserve = time.Second // DefaultCallReserve
	tests := []struct {
		name     string
		left     time.Duration // until the context's deadline
		slotIn   time.Duration // the limiter's slot, from now
		wantCall bool
		wantKind Kind // without a call
	}{
		{name: "plenty of time", left: 30 * time.Second, wantCall: true},
		{name: "a few seconds left", left: 3 * time.Second, wantCall: true},
		{name: "a few seconds left after the wait for the slot", left: 3 * time.Second, slotIn: 200 * time.Millisecond, wantCall: true},
		{name: "too little left for a call", left: 1500 * time.Millisecond, wantKind: KindTransient},
		{name: "no slot leaves enough", left: 2500 * time.Millisecond, slotIn: 1200 * time.Millisecond, wantKind: KindRateLimited},
		{name: "deadline passed", left: -time.Second, wantKind: KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := nowClock()
			p := &ctxProvider{}
			d := NewDispatcher(p, &fakeLimiter{clock: clock, delay: tt.slotIn}, discardLog(), DispatcherConfig{Clock: clock})
			deadline := clock.Now().Add(tt.left)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			_, err := d.dispatch(ctx, Message{To: testTo, Body: "x"}, 2*time.Second)
			if !tt.wantCall {
				if len(p.calls) != 0 {
					t.Fatalf("provider called %d times with %v left, want no call", len(p.calls), tt.left)
				}
				if got := KindOf(err); got != tt.wantKind {
					t.Errorf("error kind = %v (%v), want %v: nothing was sent", got, err, tt.wantKind)
				}
				if tt.wantKind == KindTransient && !nothingSent(err) {
					t.Errorf("nothingSent(%v) = false, want true", err)
				}
				return
			}
			if err != nil || len(p.calls) != 1 {
				t.Fatalf("dispatch = %v with %d calls, want one call", err, len(p.calls))
			}
			got, ok := p.calls[0].Deadline()
			if !ok {
				t.Fatalf("the provider call has no deadline, want %v before the invocation's", reserve)
			}
			if want := deadline.Add(-reserve); got.After(want) {
				t.Errorf("provider call deadline = %v after the invocation's, want at most %v", got.Sub(deadline), -reserve)
			}
		})
	}
}

func TestDispatchWithoutDeadlineIsUnbounded(t *testing.T) {
	clock := nowClock()
	p := &ctxProvider{}
	d := NewDispatcher(p, &fakeLimiter{clock: clock}, discardLog(), DispatcherConfig{Clock: clock})
	if _, err := d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, 0); err != nil || len(p.calls) != 1 {
		t.Fatalf("dispatch = %v with %d calls, want one call", err, len(p.calls))
	}
	if dl, ok := p.calls[0].Deadline(); ok {
		t.Errorf("provider call deadline = %v, want none (the provider client's timeout applies)", dl)
	}
}

func TestDispatchReadyBy(t *testing.T) {
	tests := []struct {
		name   string
		within time.Duration
		slotIn time.Duration
	}{
		{name: "no readiness bound", within: 0},
		{name: "slot now", within: ReadyWindow(0.05), slotIn: 0},
		{name: "slot ahead", within: ReadyWindow(0.05), slotIn: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := nowClock()
			p := &ctxProvider{}
			start := time.Now()
			d := NewDispatcher(p, &fakeLimiter{clock: clock, delay: tt.slotIn}, discardLog(), DispatcherConfig{Clock: clock, ReadyWithin: tt.within})
			if _, err := d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second); err != nil {
				t.Fatal(err)
			}
			by, ok := ReadyBy(p.calls[0])
			if tt.within == 0 {
				if ok {
					t.Errorf("ReadyBy = %v, want none with a zero margin", by)
				}
				return
			}
			// The fake clock slept to the slot; the wall clock did not.
			want := start.Add(tt.within)
			if !ok || by.Before(want) || by.After(time.Now().Add(tt.within)) {
				t.Errorf("ReadyBy = %v (ok %v), want %v after the slot on the wall clock (%v)", by, ok, tt.within, want)
			}
		})
	}
}

func TestReadyWindow(t *testing.T) {
	tests := []struct {
		margin float64
		want   time.Duration
	}{{0, 0}, {0.05, 37500 * time.Microsecond}, {0.4, 300 * time.Millisecond}}
	for _, tt := range tests {
		if got := ReadyWindow(tt.margin); got != tt.want {
			t.Errorf("ReadyWindow(%v) = %v, want %v", tt.margin, got, tt.want)
		}
	}
}

// countingWarmer counts Warm calls and whether each could wait.
type countingWarmer struct {
	mu      sync.Mutex
	calls   int
	waiting int // calls whose context was not done yet
}

func (w *countingWarmer) Warm(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if ctx.Err() == nil {
		w.waiting++
	}
	return nil
}

func TestDispatchTakesANewSlotWhenTheConnectionIsNotReady(t *testing.T) {
	notReady := func() error {
		return E(KindTransient, "the SMS provider could not be reached", Cause(fmt.Errorf("twilio: POST host: %w", ErrConnNotReady)))
	}
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   bool
	}{
		{name: "ready on the second slot", errs: []error{notReady()}, wantCalls: 2},
		{name: "never ready", errs: []error{notReady(), notReady(), notReady(), notReady(), notReady()}, wantCalls: maxReadyTries, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := nowClock()
			p := &ctxProvider{errs: tt.errs}
			l := &fakeLimiter{clock: clock}
			w := &countingWarmer{}
			d := NewDispatcher(p, l, discardLog(), DispatcherConfig{Clock: clock, ReadyWithin: ReadyWindow(0.05), Warmer: w})
			_, err := d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, time.Second)
			if got := len(p.calls); got != tt.wantCalls {
				t.Errorf("provider calls = %d, want %d", got, tt.wantCalls)
			}
			if got := len(l.maxWait); got != tt.wantCalls {
				t.Errorf("slots taken = %d, want one per call (%d)", got, tt.wantCalls)
			}
			if tt.wantErr {
				if KindOf(err) != KindTransient || !errors.Is(err, ErrConnNotReady) || !nothingSent(err) {
					t.Errorf("dispatch error = %v, want a transient one wrapping ErrConnNotReady", err)
				}
			} else if err != nil {
				t.Errorf("dispatch error = %v, want none", err)
			}
			// Each call warms while waiting for its slot; each miss waits
			// for a connection before the next slot.
			if w.calls != tt.wantCalls+w.waiting || w.waiting != tt.wantCalls-1 {
				t.Errorf("Warm calls = %d (%d waiting), want %d and %d", w.calls, w.waiting, 2*tt.wantCalls-1, tt.wantCalls-1)
			}
		})
	}
}

func TestDispatchNotReadyStopsAtMaxWait(t *testing.T) {
	clock := nowClock()
	notReady := E(KindTransient, "", Cause(ErrConnNotReady))
	p := &ctxProvider{errs: []error{notReady, notReady}}
	// The second slot would be 300 ms away, beyond the 250 ms left.
	l := &fakeLimiter{clock: clock, delay: 200 * time.Millisecond}
	d := NewDispatcher(p, l, discardLog(), DispatcherConfig{Clock: clock, ReadyWithin: ReadyWindow(0.05)})
	_, err := d.dispatch(context.Background(), Message{To: testTo, Body: "x"}, 250*time.Millisecond)
	if got := KindOf(err); got != KindRateLimited {
		t.Errorf("dispatch error = %v (kind %v), want no slot within the wait", err, got)
	}
	if len(p.calls) != 1 || len(l.maxWait) != 2 || l.maxWait[1] != 50*time.Millisecond {
		t.Errorf("calls %d, Reserve waits %v; want one call and a second Reserve for the 50 ms left", len(p.calls), l.maxWait)
	}
}
