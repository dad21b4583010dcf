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

// Clock is the time source of the domain services; tests inject a fake.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dispatcher performs paced provider calls: it takes a slot from the shared
// limiter, waits for it, calls the provider, and on a provider-account
// failure re-reads the credentials once and tries again with a new slot.
// Both the send path (Sender) and the drain path (Deliverer) use it, so a
// provider call never happens without a slot.
type Dispatcher struct {
	Provider  Provider
	Limiter   Limiter
	Refresher Refresher // optional
	Clock     Clock
	Log       *slog.Logger
}

// errNoSlot is returned by dispatch when no slot is free within maxWait.
var errNoSlot = &Error{Kind: KindRateLimited, Code: CodeRateLimited, Message: "rate limit reached"}

// dispatch sends m when a slot starting within maxWait is free. It returns
// errNoSlot when none is, a KindUnavailable error when the limiter cannot
// be reached, and the provider's classified error otherwise.
func (d *Dispatcher) dispatch(ctx context.Context, m Message, maxWait time.Duration) (Receipt, error) {
	rc, err := d.once(ctx, m, maxWait)
	if KindOf(err) != KindProviderAccount || d.Refresher == nil {
		return rc, err
	}
	d.Log.LogAttrs(ctx, slog.LevelError, "provider refused the account; re-reading credentials",
		slog.String("event", "provider_account_error"), providerAttrs(err))
	changed, rerr := d.Refresher.Refresh(ctx)
	if rerr != nil {
		d.Log.LogAttrs(ctx, slog.LevelError, "credential refresh failed", slog.String("error", rerr.Error()))
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
		d.Log.LogAttrs(ctx, slog.LevelError, "provider still refuses the account after refresh",
			slog.String("event", "provider_account_error"), providerAttrs(err2))
	}
	return rc, err2
}

func (d *Dispatcher) once(ctx context.Context, m Message, maxWait time.Duration) (Receipt, error) {
	at, ok, err := d.Limiter.Reserve(ctx, maxWait)
	if err != nil {
		return Receipt{}, classifyDependency(err)
	}
	if !ok {
		return Receipt{}, errNoSlot
	}
	if err := d.Clock.Sleep(ctx, at.Sub(d.Clock.Now())); err != nil {
		return Receipt{}, &Error{Kind: KindTransient, Message: "request ended before its send slot", Err: err}
	}
	rc, err := d.Provider.Send(ctx, m)
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
	return &Error{Kind: KindUnavailable, Message: "a dependency is unavailable", Err: err}
}

// classifyProvider keeps classified provider errors and treats anything
// unclassified as ambiguous: the provider may have accepted the message.
func classifyProvider(err error) error {
	if e := AsError(err); e.Kind != KindInternal {
		return err
	}
	return &Error{Kind: KindAmbiguous, Message: "provider outcome unknown", Err: err}
}

// providerAttrs describes a provider error for logs with numbers masked and
// nothing secret.
func providerAttrs(err error) slog.Attr {
	e := AsError(err)
	return slog.Group("provider",
		slog.String("kind", e.Kind.String()),
		slog.String("code", e.ProviderCode),
		slog.String("message", MaskDigits(e.ProviderMessage)))
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
