package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"
)

// Refresher re-reads provider credentials (a rotated secret) and rebuilds
// the provider with them. It reports whether anything changed.
type Refresher interface {
	Refresh(ctx context.Context) (changed bool, err error)
}

// Dispatcher performs paced provider calls: it takes a slot from the shared
// limiter, waits for it, calls the provider, and on a provider-account
// failure re-reads the credentials once and tries again with a new slot.
// Both the send path (Sender) and the drain path (Deliverer) use it, so a
// provider call never happens without a slot.
type Dispatcher struct {
	provider  Provider
	limiter   Limiter
	refresher Refresher // nil: no credential refresh
	clock     Clock
	log       *slog.Logger
}

// DispatcherConfig holds the optional parts of a Dispatcher.
type DispatcherConfig struct {
	// Refresher re-reads the provider credentials after a provider-account
	// failure; nil means the failure stands.
	Refresher Refresher
	// Clock is the time source; nil means SystemClock.
	Clock Clock
}

// NewDispatcher returns a Dispatcher sending through provider at the pace of
// limiter and logging to log (nil discards).
func NewDispatcher(provider Provider, limiter Limiter, log *slog.Logger, cfg DispatcherConfig) *Dispatcher {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{provider: provider, limiter: limiter, refresher: cfg.Refresher, clock: cfg.Clock, log: log}
}

// errNoSlot is returned by dispatch when no slot is free within maxWait.
var errNoSlot = E(KindRateLimited, "rate limit reached")

// dispatch sends m when a slot starting within maxWait is free. It returns
// errNoSlot when none is, a KindUnavailable error when the limiter cannot
// be reached, a KindExpired error when m's validity ended by the start of
// its slot, and the provider's classified error otherwise.
func (d *Dispatcher) dispatch(ctx context.Context, m Message, maxWait time.Duration) (Receipt, error) {
	rc, err := d.once(ctx, m, maxWait)
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
	rc, err2 := d.once(ctx, m, maxWait)
	if err2 != nil && KindOf(err2) == KindRateLimited {
		// No slot for the retry: report the original account error so the
		// caller does not treat a refused message as merely rate limited.
		return rc, err
	}
	if KindOf(err2) == KindProviderAccount {
		d.log.LogAttrs(ctx, slog.LevelError, "provider still refuses the account after refresh",
			slog.String("event", "provider_account_error"), providerAttrs(err2))
	}
	return rc, err2
}

func (d *Dispatcher) once(ctx context.Context, m Message, maxWait time.Duration) (Receipt, error) {
	at, ok, err := d.limiter.Reserve(ctx, maxWait)
	if err != nil {
		return Receipt{}, classifyDependency(err)
	}
	if !ok {
		return Receipt{}, errNoSlot
	}
	if err := d.clock.Sleep(ctx, at.Sub(d.clock.Now())); err != nil {
		return Receipt{}, E(KindTransient, "request ended before its send slot", Cause(err))
	}
	if m.Expired(d.clock.Now()) {
		// A message past its validity is never sent.
		return Receipt{}, errExpired
	}
	rc, err := d.provider.Send(ctx, m)
	if err != nil {
		return rc, classifyProvider(err)
	}
	return rc, nil
}

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
	return slog.Group("provider",
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
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
