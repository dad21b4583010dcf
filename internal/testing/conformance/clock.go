// Package conformance holds test suites that every implementation of a
// domain port must pass, so that the in-memory and the DynamoDB
// implementations keep exactly the same semantics. Each suite takes a
// factory that builds a fresh implementation reading time from a clock the
// suite controls.
package conformance

import (
	"context"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Clock is a manual sms.Clock for tests: it reads the same time until
// moved, and Sleep moves it instead of waiting. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until moved.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock forward by d (when positive) and returns at once,
// or returns ctx.Err() without moving it when ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.Advance(d)
	}
	return nil
}

var _ sms.Clock = (*Clock)(nil)

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// epoch is where suites start their clocks: a whole second, so that
// implementations storing milliseconds or nanoseconds see the same times.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
