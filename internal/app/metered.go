package app

import (
	"context"
	"errors"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/sms"
)

// meteredProvider records the metrics of every call of a provider
// (docs/observability.md): how long it took and what came of it, with the
// provider's name as the Provider dimension. It only adds to the
// invocation's metrics in memory; they are written once the invocation's
// handler has returned.
type meteredProvider struct {
	name string
	next sms.Provider
}

// meterProvider returns p with its calls metered under name (the
// console provider of local mode when name is empty).
func meterProvider(name string, p sms.Provider) sms.Provider {
	if name == "" {
		name = "console"
	}
	return meteredProvider{name: name, next: p}
}

// Send calls the provider and records the call.
func (p meteredProvider) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	start := time.Now()
	rc, err := p.next.Send(ctx, m)
	prov := metrics.Provider(p.name)
	if errors.Is(err, sms.ErrConnNotReady) {
		// Abandoned before anything was written: not a call.
		metrics.Inc(ctx, metrics.ProviderErrors, prov, metrics.Outcome("not_ready"))
		return rc, err
	}
	metrics.Duration(ctx, metrics.ProviderLatency, time.Since(start), prov)
	switch kind := sms.KindOf(err); {
	case err == nil:
		metrics.Inc(ctx, metrics.Sent, prov)
		metrics.Add(ctx, metrics.Segments, float64(sms.CountSegments(m.Body).Count), prov)
	case kind == sms.KindRejected:
		// Only codes known to be about the message are rejections, so
		// their number is small (docs/provider-codes.md).
		metrics.Inc(ctx, metrics.Rejected, prov, metrics.Outcome(sms.AsError(err).ProviderCode))
	case kind == sms.KindAmbiguous, kind == sms.KindInternal:
		// The dispatcher treats an unclassified failure as ambiguous too.
		metrics.Inc(ctx, metrics.Ambiguous, prov)
	default:
		metrics.Inc(ctx, metrics.ProviderErrors, prov, metrics.Outcome(kind.String()))
	}
	return rc, err
}

// meteredLimiter records, for each slot granted, the time from asking
// for it to its start: the pacing the rate limit imposes.
type meteredLimiter struct{ next sms.Limiter }

// Reserve asks the limiter and records the wait of a granted slot.
func (l meteredLimiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Time, bool, error) {
	return l.ReserveN(ctx, 1, 1, maxWait)
}

// ReserveN asks the limiter for n slots and records the wait of a grant.
func (l meteredLimiter) ReserveN(ctx context.Context, n, segments int, maxWait time.Duration) (time.Time, bool, error) {
	start := time.Now()
	at, ok, err := l.next.ReserveN(ctx, n, segments, maxWait)
	if err == nil && ok {
		metrics.Duration(ctx, metrics.LimiterWait, at.Sub(start))
	}
	return at, ok, err
}

// meterRoutes returns the failover routes with their providers and
// limiters metered under their names.
func meterRoutes(routes []sms.Route) []sms.Route {
	out := make([]sms.Route, len(routes))
	for i, r := range routes {
		r.Provider, r.Limiter = meterProvider(r.Name, r.Provider), meteredLimiter{r.Limiter}
		out[i] = r
	}
	return out
}
