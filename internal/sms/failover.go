package sms

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Log events of failover (docs/failover.md#logs).
const (
	// EventProviderFailover: a provider failed a message with nothing
	// sent, and the next provider is tried.
	EventProviderFailover = "provider_failover"
	// EventCircuitOpen: a provider's breaker opened; it is skipped without
	// a call until its cool-down has passed.
	EventCircuitOpen = "circuit_open"
	// EventCircuitProbe: an open breaker's cool-down had passed and one
	// message was sent to its provider as a probe; the line comes after
	// the call, with its outcome.
	EventCircuitProbe = "circuit_probe"
	// EventCircuitClosed: a probe succeeded; the provider is used again.
	EventCircuitClosed = "circuit_closed"
)

// Route is one provider a Dispatcher sends through.
type Route struct {
	// Name names the provider in receipts, results, records and logs
	// ("twilio", "vonage").
	Name string
	// Provider is its client.
	Provider Provider
	// Limiter paces its calls: each provider has a rate limit of its own.
	Limiter Limiter
	// From is the provider's default sender, given to a message that names
	// none when it is sent through this provider; empty leaves From as
	// the message has it.
	From string
}

// route is a Route with the circuit breaker the Dispatcher keeps for it.
type route struct {
	Route
	breaker *Breaker // nil: never skipped (a Dispatcher of one provider)
}

// attr names the route's provider in a log line; nothing when it has no
// name.
func (r *route) attr() slog.Attr {
	if r.Name == "" {
		return slog.Attr{}
	}
	return slog.String("provider", r.Name)
}

// NewFailoverDispatcher returns a Dispatcher sending through routes in
// order (at least one), each at the pace of its own limiter and behind a
// circuit breaker of its own (cfg.Breaker), logging to log (nil
// discards). A message goes to the first provider whose breaker lets it
// through; it moves to the next only when nothing can have been sent
// (Error.FailoverSafe). A provider without a slot within the wait is not
// skipped: the message is not sent now (no overflow to the next
// provider), as with one provider.
func NewFailoverDispatcher(routes []Route, log *slog.Logger, cfg DispatcherConfig) *Dispatcher {
	d := newDispatcher(log, cfg)
	bc := cfg.Breaker
	if bc.Clock == nil {
		bc.Clock = d.clock
	}
	for _, r := range routes {
		d.routes = append(d.routes, &route{Route: r, breaker: NewBreaker(bc)})
	}
	return d
}

// Providers names the providers d sends through, in the order they are
// tried.
func (d *Dispatcher) Providers() []string {
	out := make([]string, len(d.routes))
	for i, r := range d.routes {
		out[i] = r.Name
	}
	return out
}

// failsOver reports whether d has several providers: messages that name no
// sender then get each provider's own default (Route.From).
func (d *Dispatcher) failsOver() bool { return len(d.routes) > 1 }

// errCircuitsOpen is the cause of a message no provider was called for:
// every breaker was open.
var errCircuitsOpen = errors.New("every provider's circuit breaker is open")

// failover sends m through the first provider whose breaker allows a call,
// and on a failure after which nothing can have been sent, through the
// next, within one wait of maxWait for the slots. It returns the first
// outcome that ends the attempt: a success; a failure that is not safe to
// fail over (an ambiguous outcome, a refusal about the message, no slot,
// the limiter unreachable, no time left); or, once every provider has
// failed or been skipped, the failure to act on — a transient one when
// there is one (a later try may succeed), else the last. With every
// breaker open it calls nothing and returns a KindTransient error: the
// message is queued or retried as when every provider fails.
func (d *Dispatcher) failover(ctx context.Context, m Message, maxWait time.Duration) (Receipt, error) {
	until := d.clock.Now().Add(max(maxWait, 0))
	type failure struct {
		rc  Receipt
		err error
	}
	var failed []failure
	for i, r := range d.routes {
		ok, probe := r.breaker.Allow()
		if !ok {
			continue
		}
		rc, err := d.dispatchOn(ctx, r, m, until.Sub(d.clock.Now()))
		d.count(ctx, r, probe, err)
		if err == nil || !AsError(err).FailoverSafe {
			return rc, err
		}
		failed = append(failed, failure{rc, err})
		if next := d.nextAllowed(i); next != nil {
			d.log.LogAttrs(ctx, slog.LevelWarn, "provider failed with nothing sent; trying the next provider",
				slog.String("event", EventProviderFailover), slog.String("next", next.Name), providerAttrs(err))
		}
	}
	if len(failed) == 0 {
		return Receipt{}, E(KindTransient, "every SMS provider is failing; retry later",
			RetryAfter(time.Second), Cause(errCircuitsOpen))
	}
	for _, f := range failed {
		if KindOf(f.err) == KindTransient {
			return f.rc, f.err
		}
	}
	last := failed[len(failed)-1]
	return last.rc, last.err
}

// nextAllowed returns the first route after i whose breaker is not open,
// or nil: the one a failover would try next.
func (d *Dispatcher) nextAllowed(i int) *route {
	for _, r := range d.routes[i+1:] {
		if r.breaker.State() != BreakerOpen {
			return r
		}
	}
	return nil
}

// count records the outcome of a call through r in r's breaker and logs a
// change of its state.
func (d *Dispatcher) count(ctx context.Context, r *route, probe bool, err error) {
	outcome := breakerOutcome(err)
	state, changed := r.breaker.Record(probe, outcome)
	if probe && outcome != OutcomeNoCall {
		d.log.LogAttrs(ctx, slog.LevelInfo, "circuit half-open: a message probed the provider",
			slog.String("event", EventCircuitProbe), r.attr(), slog.Bool("succeeded", outcome == OutcomeSuccess))
	}
	if !changed {
		return
	}
	switch state {
	case BreakerOpen:
		d.log.LogAttrs(ctx, slog.LevelWarn, "circuit open: the provider is skipped until its cool-down has passed",
			slog.String("event", EventCircuitOpen), r.attr(), slog.Bool("probe", probe))
	case BreakerClosed:
		d.log.LogAttrs(ctx, slog.LevelInfo, "circuit closed: the provider answered the probe",
			slog.String("event", EventCircuitClosed), r.attr())
	}
}

// breakerOutcome is what a dispatch's outcome says about the provider: it
// is up when it accepted the message or refused it for reasons of the
// message; it failed when it turned the call away, failed while handling
// it, refused the account, or had no connection ready; and nothing was
// learnt when no call was made (no slot, the limiter unreachable, too
// little time).
func breakerOutcome(err error) Outcome {
	switch KindOf(err) {
	case -1, KindRejected, KindPartial:
		return OutcomeSuccess
	case KindTransient, KindAmbiguous, KindProviderAccount:
		if errors.Is(err, errNothingSent) {
			return OutcomeNoCall
		}
		return OutcomeFailure
	}
	return OutcomeNoCall
}

// routeError is a provider's failure with the name of the provider, so
// that the log lines that describe it name the provider (providerAttrs).
type routeError struct {
	provider string
	err      error
}

func (e *routeError) Error() string { return e.provider + ": " + e.err.Error() }

func (e *routeError) Unwrap() error { return e.err }

// failedProvider returns the name of the provider err came from, if any.
func failedProvider(err error) string {
	var re *routeError
	if errors.As(err, &re) {
		return re.provider
	}
	return ""
}
