package sms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Refresher re-reads provider credentials (a rotated secret) and rebuilds
// the provider with them. It reports whether anything changed.
type Refresher interface {
	Refresh(ctx context.Context) (changed bool, err error)
}

// Warmer opens provider connections ahead of calls, so that a call finds
// one ready when its slot starts.
type Warmer interface {
	// Warm starts opening a connection to the provider unless one is ready
	// or already being opened, and returns once one is ready or ctx is
	// done; the opening goes on either way.
	Warm(ctx context.Context) error
}

// ErrConnNotReady is the cause a provider client gives for a call whose
// connection was not ready by the time its context's ReadyBy says: the
// request was abandoned before any of it was written, so nothing was sent.
var ErrConnNotReady = errors.New("provider connection not ready within the margin of the slot")

// errNothingSent is the cause of the dispatcher's own failures in which no
// provider call was made: too little time left, or the wait for the slot
// cut short.
var errNothingSent = errors.New("no provider call was made")

type readyByKey struct{}

// WithReadyBy returns ctx carrying t, the time by which a provider call
// made with it must have its connection ready. A provider client that
// cannot have its connection ready by then abandons the call before
// writing anything and fails with ErrConnNotReady.
func WithReadyBy(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, readyByKey{}, t)
}

// ReadyBy reports the time WithReadyBy put in ctx, if any.
func ReadyBy(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(readyByKey{}).(time.Time)
	return t, ok
}

// ReadyWindow is how long after its slot a provider call's connection must
// be ready with a limiter margin of margin: three quarters of the margin's
// seconds. The slot's lateness in the limiter and the wake-up count
// against it too; the last quarter is left for writing the request and for
// clock offsets between instances (docs/rate-limiting.md). Zero margin,
// zero window: no readiness bound.
func ReadyWindow(margin float64) time.Duration {
	return time.Duration(margin * 0.75 * float64(time.Second))
}

// Defaults of a Dispatcher's time keeping.
const (
	// DefaultCallReserve is the time kept free after a provider call for
	// the bookkeeping that follows it (recording the outcome, queueing).
	DefaultCallReserve = time.Second
	// DefaultMinCall is the least time a provider call is started with.
	DefaultMinCall = time.Second
)

// maxReadyTries bounds the slots one dispatch takes when connections keep
// missing their readiness bound.
const maxReadyTries = 4

// Dispatcher performs paced provider calls: it takes a slot from the shared
// limiter, waits for it, calls the provider, and on a provider-account
// failure re-reads the credentials once and tries again with a new slot.
// Both the send path (Sender) and the drain path (Deliverer) use it, so a
// provider call never happens without a slot.
//
// A call is bounded by the time its context has left: it gets a deadline
// CallReserve before the context's, so the invocation is never ended in
// the middle of it, and it is not started at all with less than MinCall
// left. With a readiness bound (ReadyWithin), a call whose connection is
// not ready within that long after its slot is abandoned before anything
// is written and made again on a new slot.
//
// With several providers (NewFailoverDispatcher) each has its own limiter
// and circuit breaker, and a message moves to the next provider only when
// nothing can have been sent (Error.FailoverSafe); see failover.
type Dispatcher struct {
	// routes are the providers in the order they are tried: one, or
	// several with failover (NewFailoverDispatcher).
	routes      []*route
	unit        RateUnit
	refresher   Refresher // nil: no credential refresh
	warmer      Warmer    // nil: no warming
	readyWithin time.Duration
	reserve     time.Duration
	minCall     time.Duration
	clock       Clock
	log         *slog.Logger
}

// DispatcherConfig holds the optional parts of a Dispatcher.
type DispatcherConfig struct {
	// Refresher re-reads the provider credentials after a provider-account
	// failure; nil means the failure stands.
	Refresher Refresher
	// ReadyWithin is how long after its slot a call's connection must be
	// ready (ReadyWindow of the limiter's margin); zero: no bound.
	ReadyWithin time.Duration
	// Warmer opens provider connections while a call waits for its slot;
	// nil: none.
	Warmer Warmer
	// CallReserve is the time kept free after a call when the context has a
	// deadline; zero means DefaultCallReserve.
	CallReserve time.Duration
	// MinCall is the least time left (after CallReserve) to start a call
	// with; zero means DefaultMinCall.
	MinCall time.Duration
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// RateUnit is what a slot stands for (SMS_RATE_UNIT): one message
	// (the zero value), or one segment, so that a message of n segments
	// takes n consecutive slots.
	RateUnit RateUnit
	// Name names the provider of NewDispatcher in receipts and logs
	// ("twilio"); NewFailoverDispatcher takes the names of its routes.
	Name string
	// Breaker tunes the circuit breaker of each route of
	// NewFailoverDispatcher; its Clock defaults to Clock. A Dispatcher with
	// one provider has no breaker.
	Breaker BreakerConfig
}

// RateUnit is what one limiter slot stands for (SMS_RATE_UNIT).
type RateUnit int

// The rate units.
const (
	// UnitMessages: a message takes one slot, whatever its length.
	UnitMessages RateUnit = iota
	// UnitSegments: a message of n segments takes n consecutive slots and
	// is sent at the first (docs/rate-limiting.md#segments).
	UnitSegments
)

// NewDispatcher returns a Dispatcher sending through provider at the pace of
// limiter and logging to log (nil discards).
func NewDispatcher(provider Provider, limiter Limiter, log *slog.Logger, cfg DispatcherConfig) *Dispatcher {
	d := newDispatcher(log, cfg)
	d.routes = []*route{{Route: Route{Name: cfg.Name, Provider: provider, Limiter: limiter}}}
	return d
}

// newDispatcher returns a Dispatcher without routes, cfg's defaults
// applied.
func newDispatcher(log *slog.Logger, cfg DispatcherConfig) *Dispatcher {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CallReserve <= 0 {
		cfg.CallReserve = DefaultCallReserve
	}
	if cfg.MinCall <= 0 {
		cfg.MinCall = DefaultMinCall
	}
	return &Dispatcher{
		refresher: cfg.Refresher, warmer: cfg.Warmer,
		readyWithin: max(cfg.ReadyWithin, 0), reserve: cfg.CallReserve, minCall: cfg.MinCall,
		clock: cfg.Clock, log: log, unit: cfg.RateUnit,
	}
}

// errNoSlot is returned by dispatch when no slot is free within maxWait.
var errNoSlot = E(KindRateLimited, "rate limit reached")

// dispatch sends m when a slot starting within maxWait is free. It returns
// errNoSlot when none is, DailyBudgetError's error when the daily segment
// budget is used up, a KindUnavailable error when the limiter cannot
// be reached, a KindExpired error when m's validity ended by the start of
// its slot, a KindTransient error when no call was made for lack of time
// or of a ready connection (nothingSent reports those), and the
// provider's classified error otherwise. With several providers it fails
// over (failover). The receipt names the provider called last.
func (d *Dispatcher) dispatch(ctx context.Context, m Message, maxWait time.Duration) (Receipt, error) {
	if len(d.routes) > 1 {
		return d.failover(ctx, m, maxWait)
	}
	return d.dispatchOn(ctx, d.routes[0], m, maxWait)
}

// dispatchOn sends m through r as dispatch does, re-reading the
// credentials once after a provider-account failure.
func (d *Dispatcher) dispatchOn(ctx context.Context, r *route, m Message, maxWait time.Duration) (Receipt, error) {
	rc, err := d.once(ctx, r, m, maxWait)
	if KindOf(err) != KindProviderAccount || d.refresher == nil {
		return rc, err
	}
	d.log.LogAttrs(ctx, slog.LevelError, "provider refused the account; re-reading credentials",
		slog.String("event", "provider_account_error"), providerAttrs(err))
	changed, rerr := d.refresher.Refresh(ctx)
	if rerr != nil {
		d.log.LogAttrs(ctx, slog.LevelError, "credential refresh failed", slog.String("error", rerr.Error()))
		return rc, err
	}
	if !changed {
		return rc, err
	}
	rc, err2 := d.once(ctx, r, m, maxWait)
	if err2 != nil && (KindOf(err2) == KindRateLimited || nothingSent(err2)) {
		// No call for the retry: report the original account error so the
		// caller does not treat a refused message as merely deferred.
		return rc, err
	}
	if KindOf(err2) == KindProviderAccount {
		d.log.LogAttrs(ctx, slog.LevelError, "provider still refuses the account after refresh",
			slog.String("event", "provider_account_error"), providerAttrs(err2))
	}
	return rc, err2
}

// once makes one call of m, on a new slot each time a connection misses
// its readiness bound, as long as maxWait and maxReadyTries allow.
func (d *Dispatcher) once(ctx context.Context, r *route, m Message, maxWait time.Duration) (Receipt, error) {
	until := d.clock.Now().Add(max(maxWait, 0))
	for try := 1; ; try++ {
		rc, err := d.call(ctx, r, m, until.Sub(d.clock.Now()))
		if !errors.Is(err, ErrConnNotReady) || try == maxReadyTries {
			return rc, err
		}
		d.log.LogAttrs(ctx, slog.LevelInfo, "provider connection not ready within the margin of the slot; taking a new slot",
			slog.String("event", "connection_not_ready"), slog.Int("try", try), r.attr())
		if d.warmer != nil {
			// Wait for a connection before taking the next slot, but not
			// beyond the time a slot may still be waited for.
			wctx, cancel := context.WithTimeout(ctx, max(until.Sub(d.clock.Now()), 0))
			_ = d.warmer.Warm(wctx)
			cancel()
		}
	}
}

// call takes a slot of r's limiter starting within maxWait, waits for it
// and calls r's provider once, within the time ctx has left.
func (d *Dispatcher) call(ctx context.Context, r *route, m Message, maxWait time.Duration) (Receipt, error) {
	deadline, bounded := ctx.Deadline()
	if bounded {
		// The slot must leave room for a call of at least minCall and the
		// bookkeeping after it.
		left := d.left(deadline)
		if left < d.minCall {
			return Receipt{}, tooLate(left)
		}
		maxWait = min(maxWait, left-d.minCall)
	}
	slots, segments := d.slotsOf(m)
	at, ok, err := r.Limiter.ReserveN(ctx, slots, segments, maxWait)
	if err != nil {
		return Receipt{}, classifyDependency(err)
	}
	if !ok {
		return Receipt{}, errNoSlot
	}
	if d.warmer != nil {
		// Open a connection while waiting for the slot; do not wait for it.
		_ = d.warmer.Warm(startOnly)
	}
	if err := d.clock.Sleep(ctx, at.Sub(d.clock.Now())); err != nil {
		return Receipt{}, E(KindTransient, "request ended before its send slot", Cause(fmt.Errorf("%w: %w", errNothingSent, err)))
	}
	if m.Expired(d.clock.Now()) {
		// A message past its validity is never sent.
		return Receipt{}, errExpired
	}
	callCtx := ctx
	if bounded {
		left := d.left(deadline)
		if left < d.minCall {
			// The slot stays taken: capacity lost, never exceeded.
			return Receipt{}, tooLate(left)
		}
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadline(ctx, deadline.Add(-d.reserve))
		defer cancel()
	}
	if d.readyWithin > 0 {
		// Converted to the wall clock the HTTP client reads.
		callCtx = WithReadyBy(callCtx, time.Now().Add(at.Add(d.readyWithin).Sub(d.clock.Now())))
	}
	if m.From == "" {
		m.From = r.From
	}
	rc, err := r.Provider.Send(callCtx, m)
	rc.Provider = r.Name
	if err != nil {
		err = classifyProvider(err)
		if r.Name != "" {
			err = &routeError{provider: r.Name, err: err}
		}
		return rc, err
	}
	return rc, nil
}

// slotsOf returns the slots a call of m takes (one, or one per segment in
// UnitSegments) and the segments it counts against the daily budget.
func (d *Dispatcher) slotsOf(m Message) (slots, segments int) {
	segments = max(CountSegments(m.Body).Count, 1)
	if d.unit == UnitSegments {
		return segments, segments
	}
	return 1, segments
}

// left is the time a call may take before deadline, keeping the reserve
// for the bookkeeping after it.
func (d *Dispatcher) left(deadline time.Time) time.Duration {
	return deadline.Sub(d.clock.Now()) - d.reserve
}

// tooLate is the error of a call not made for lack of time.
func tooLate(left time.Duration) error {
	return E(KindTransient, "too little time left to call the provider", RetryAfter(time.Second),
		Cause(fmt.Errorf("%w: %v left for the call", errNothingSent, left.Round(time.Millisecond))))
}

// nothingSent reports whether err says that nothing reached the provider
// for reasons of time: no call made (too little time left, the wait for
// the slot cut short) or a call abandoned before it was written because
// its connection was not ready in time.
func nothingSent(err error) bool {
	return errors.Is(err, errNothingSent) || errors.Is(err, ErrConnNotReady)
}

// startOnly is a context that is already done: Warm with it only starts opening
// a connection.
var startOnly = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// classifyDependency makes sure a limiter/ledger failure is a kind the
// callers act on; anything unclassified is treated as unavailable.
func classifyDependency(err error) error {
	if e := AsError(err); e.Kind != KindInternal {
		return err
	}
	return E(KindUnavailable, "a dependency is unavailable", Cause(err))
}

// classifyProvider keeps classified provider errors and treats anything
// unclassified as ambiguous: the provider may have accepted the message.
func classifyProvider(err error) error {
	if e := AsError(err); e.Kind != KindInternal {
		return err
	}
	return E(KindAmbiguous, "provider outcome unknown", Cause(err))
}

// providerAttrs describes a provider error for logs with numbers masked and
// nothing secret.
func providerAttrs(err error) slog.Attr {
	e := AsError(err)
	var name slog.Attr
	if p := failedProvider(err); p != "" {
		name = slog.String("name", p)
	}
	return slog.Group("provider", name,
		slog.String("kind", e.Kind.String()),
		slog.String("code", e.ProviderCode),
		slog.String("message", maskDigits(e.ProviderMessage)))
}

// NewID returns a random UUID (version 4) for a message this service
// assigns an id to.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}
