package sms

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"
)

// fakeClock advances only when Sleep is called.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
	c.slept = append(c.slept, d)
	return ctx.Err()
}

// fakeProvider answers from a script of errors (nil = accept). A failure
// comes with a receipt for failID (the accepted part of a partial send).
type fakeProvider struct {
	mu     sync.Mutex
	errs   []error
	failID string
	sent   []Message
	calls  int
}

func (p *fakeProvider) Send(_ context.Context, m Message) (Receipt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if len(p.errs) > 0 {
		err := p.errs[0]
		p.errs = p.errs[1:]
		if err != nil {
			return Receipt{ID: p.failID}, err
		}
	}
	p.sent = append(p.sent, m)
	return Receipt{ID: "SM" + m.To}, nil
}

// fakeLimiter grants slots at a fixed offset, refuses, or fails.
type fakeLimiter struct {
	clock   *fakeClock
	delay   time.Duration // grant time = now + delay
	refuse  bool
	err     error
	maxWait []time.Duration
	slots   [][2]int // the slots and segments of each ReserveN
}

func (l *fakeLimiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Time, bool, error) {
	return l.ReserveN(ctx, 1, 1, maxWait)
}

func (l *fakeLimiter) ReserveN(_ context.Context, n, segments int, maxWait time.Duration) (time.Time, bool, error) {
	l.maxWait = append(l.maxWait, maxWait)
	l.slots = append(l.slots, [2]int{n, segments})
	if l.err != nil {
		return time.Time{}, false, l.err
	}
	if l.refuse || l.delay > maxWait {
		return time.Time{}, false, nil
	}
	return l.clock.Now().Add(l.delay), true, nil
}

type fakeQueue struct {
	err  error
	msgs []QueuedMessage
}

func (q *fakeQueue) Enqueue(_ context.Context, m QueuedMessage) error {
	if q.err != nil {
		return q.err
	}
	q.msgs = append(q.msgs, m)
	return nil
}

// fakeLedger is a minimal in-test ledger without expiry.
type fakeLedger struct {
	mu   sync.Mutex
	err  error
	recs map[string]*fakeRec
}

type fakeRec struct {
	fp      string
	done    bool
	outcome []byte
}

func (l *fakeLedger) Claim(_ context.Context, key, fp string, _ time.Duration) (Claim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return Claim{}, l.err
	}
	if l.recs == nil {
		l.recs = map[string]*fakeRec{}
	}
	r, ok := l.recs[key]
	switch {
	case !ok:
		l.recs[key] = &fakeRec{fp: fp}
		return Claim{State: Claimed}, nil
	case r.fp != fp:
		return Claim{State: Mismatch}, nil
	case r.done:
		return Claim{State: Done, Outcome: r.outcome}, nil
	}
	return Claim{State: Held}, nil
}

func (l *fakeLedger) Complete(_ context.Context, key, fp string, outcome []byte, _ time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs[key] = &fakeRec{fp: fp, done: true, outcome: outcome}
	return nil
}

func (l *fakeLedger) Release(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.recs[key]; ok && !r.done {
		delete(l.recs, key)
	}
	return nil
}

type fakeRefresher struct {
	changed bool
	calls   int
	onCall  func()
}

func (r *fakeRefresher) Refresh(context.Context) (bool, error) {
	r.calls++
	if r.onCall != nil {
		r.onCall()
	}
	return r.changed, nil
}

var errBoom = errors.New("boom")

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
