package sms

import (
	"sync"
	"time"
)

// Defaults of a Breaker (docs/failover.md#the-circuit-breaker).
const (
	// DefaultBreakerFailures is the least number of failures within the
	// window that opens a breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerWindow is how far back failures are counted.
	DefaultBreakerWindow = 10 * time.Second
	// DefaultBreakerRatio is the least share of the window's calls that
	// must have failed for the breaker to open: a provider that answers
	// most calls is not skipped for the few it fails, which fail over one
	// by one anyway.
	DefaultBreakerRatio = 0.5
	// DefaultBreakerCoolDown is how long an open breaker skips its
	// provider before it lets one probe call through.
	DefaultBreakerCoolDown = 30 * time.Second
)

// breakerBuckets is how many buckets a breaker's window is counted in.
const breakerBuckets = 10

// BreakerState is the state of a Breaker.
type BreakerState int

// The states of a Breaker.
const (
	// BreakerClosed: calls go through and their outcomes are counted.
	BreakerClosed BreakerState = iota
	// BreakerOpen: the provider is skipped without a call until the
	// cool-down has passed.
	BreakerOpen
	// BreakerHalfOpen: the cool-down has passed; one probe call is let
	// through, and its outcome closes the breaker or opens it again.
	BreakerHalfOpen
)

var breakerStateNames = [...]string{"closed", "open", "half-open"}

// String names the state for logs.
func (s BreakerState) String() string {
	if int(s) >= 0 && int(s) < len(breakerStateNames) {
		return breakerStateNames[s]
	}
	return "unknown"
}

// Outcome is what became of a call a Breaker allowed.
type Outcome int

// The outcomes a Breaker counts.
const (
	// OutcomeSuccess: the provider answered the call; an accepted message,
	// or a refusal about the message itself, says it is up.
	OutcomeSuccess Outcome = iota + 1
	// OutcomeFailure: the provider failed the call (429, 503, 5xx, no
	// connection, an account problem).
	OutcomeFailure
	// OutcomeNoCall: no call was made after all (no slot, too little
	// time): nothing is counted, and a probe's turn is given back.
	OutcomeNoCall
)

// BreakerConfig tunes a Breaker; zero fields take the defaults.
type BreakerConfig struct {
	// Failures is the least number of failures within Window that opens
	// the breaker (DefaultBreakerFailures).
	Failures int
	// Window is how far back failures count (DefaultBreakerWindow).
	Window time.Duration
	// Ratio is the least share of the window's counted calls that must
	// have failed (DefaultBreakerRatio); it must be in (0, 1].
	Ratio float64
	// CoolDown is how long the breaker stays open before a probe
	// (DefaultBreakerCoolDown).
	CoolDown time.Duration
	// Clock is the time source; nil means SystemClock.
	Clock Clock
}

// Breaker is the circuit breaker of one provider in one process. Closed,
// it lets every call through and counts their outcomes; after Failures
// failures within Window, making up at least Ratio of the calls counted
// there, it opens. Open, it lets no call through for CoolDown; then it is
// half-open and lets exactly one call through, the probe: a probe that
// succeeds closes it (with a fresh count), one that fails opens it again
// for another CoolDown, and one that made no call gives its turn to the
// next caller. It is safe for concurrent use.
type Breaker struct {
	cfg      BreakerConfig
	bucket   time.Duration
	mu       sync.Mutex
	state    BreakerState
	openedAt time.Time
	probing  bool // a probe is under way (half-open)
	counts   [breakerBuckets]breakerCount
}

// breakerCount counts the outcomes of one bucket of the window.
type breakerCount struct {
	epoch           int64 // the bucket's index since the Unix epoch
	calls, failures int
}

// NewBreaker returns a closed Breaker.
func NewBreaker(cfg BreakerConfig) *Breaker {
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultBreakerFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultBreakerWindow
	}
	if cfg.Ratio <= 0 || cfg.Ratio > 1 {
		cfg.Ratio = DefaultBreakerRatio
	}
	if cfg.CoolDown <= 0 {
		cfg.CoolDown = DefaultBreakerCoolDown
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	return &Breaker{cfg: cfg, bucket: max(cfg.Window/breakerBuckets, time.Nanosecond)}
}

// Allow reports whether a call may be made now (ok) and whether it is the
// half-open probe. Every allowed call must be followed by exactly one
// Record with the same probe value.
func (b *Breaker) Allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		if b.cfg.Clock.Now().Sub(b.openedAt) < b.cfg.CoolDown {
			return false, false
		}
		b.state = BreakerHalfOpen
	}
	if b.probing {
		return false, false
	}
	b.probing = true
	return true, true
}

// Record counts the outcome of a call Allow let through and returns the
// state after it and whether this outcome changed it. The outcome of a
// call allowed while closed that ends after the breaker opened changes
// nothing.
func (b *Breaker) Record(probe bool, o Outcome) (BreakerState, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Clock.Now()
	if probe {
		b.probing = false
		switch o {
		case OutcomeSuccess:
			b.state = BreakerClosed
			b.counts = [breakerBuckets]breakerCount{}
			return b.state, true
		case OutcomeFailure:
			b.state, b.openedAt = BreakerOpen, now
			return b.state, true
		}
		return b.state, false
	}
	if b.state != BreakerClosed || o == OutcomeNoCall {
		return b.state, false
	}
	epoch := now.UnixNano() / int64(b.bucket)
	c := &b.counts[epoch%breakerBuckets]
	if c.epoch != epoch {
		*c = breakerCount{epoch: epoch}
	}
	c.calls++
	if o != OutcomeFailure {
		return b.state, false
	}
	c.failures++
	calls, failures := 0, 0
	for _, c := range b.counts {
		if epoch-c.epoch < breakerBuckets {
			calls += c.calls
			failures += c.failures
		}
	}
	if failures >= b.cfg.Failures && float64(failures) >= b.cfg.Ratio*float64(calls) {
		b.state, b.openedAt = BreakerOpen, now
		return b.state, true
	}
	return b.state, false
}

// State reports the breaker's state. An open breaker whose cool-down has
// passed reports BreakerHalfOpen: its next Allow grants the probe.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.cfg.Clock.Now().Sub(b.openedAt) >= b.cfg.CoolDown {
		return BreakerHalfOpen
	}
	return b.state
}
