// Package app wires the service together: configuration and secrets, the
// provider, the limiter, ledger and queue, and the handlers of both
// functions. Build is the one wiring: the functions' main packages call it
// through LoadAWS, and the local runner calls it with Options that replace
// the parts it runs differently. It runs once per cold start; nothing here
// runs per request.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/twilio"
	"github.com/fluxkit/sms/internal/vonage"
)

// ProviderTimeout bounds one provider call. The send function's timeout
// (10 s) and the drain's send budget leave room for it.
const ProviderTimeout = 5 * time.Second

// Parts are the adapters the domain services run on: AWS ones in Lambda,
// in-memory ones in local mode.
type Parts struct {
	Provider  sms.Provider
	Refresher sms.Refresher // may be nil
	Warmer    sms.Warmer    // opens provider connections ahead of calls; may be nil
	Limiter   sms.Limiter
	Ledger    sms.Ledger
	Queue     sms.Queue
	// Status keeps the messages' status records; nil when
	// SMS_STATUS_TRACKING=false.
	Status sms.StatusStore
	// Quota counts messages against the recipient and caller limits and
	// keeps the suppression list; nil counts nothing and suppresses no one.
	Quota QuotaStore
	Log   *slog.Logger
}

// QuotaStore counts messages against the quotas and keeps the suppression
// list (dynamo.QuotaStore, memory.QuotaStore).
type QuotaStore interface {
	sms.QuotaStore
	sms.Suppressor
	// Unsuppress takes a number off the list and reports whether it was on
	// it.
	Unsuppress(ctx context.Context, number string) (bool, error)
}

// NewSender builds the send path's domain service.
func NewSender(cfg config.Config, p Parts) *sms.Sender {
	return sms.NewSender(dispatcher(cfg, p), p.Queue, p.Ledger, sms.SenderConfig{
		DefaultFrom:  cfg.From,
		Guard:        NewGuard(cfg, p.Log),
		QueueEnabled: cfg.QueueEnabled,
		MaxWait:      cfg.MaxWait,
		Quota:        quota(p),
		// Only the send path counts callers: a message it cannot count is
		// refused rather than queued.
		CountsCallers: cfg.CallerLimit.On(),
	})
}

// quota is p's quota store as the domain takes it: nil when there is none.
func quota(p Parts) sms.QuotaStore {
	if p.Quota == nil {
		return nil
	}
	return p.Quota
}

// NewDrainHandler builds the drain function's handler over queue and dlq;
// zero fields of dc take the drain package's defaults.
func NewDrainHandler(cfg config.Config, p Parts, q drain.Queue, dlq drain.DeadLetterer, dc drain.Config) *drain.Handler {
	d := sms.NewDeliverer(dispatcher(cfg, p), p.Ledger, sms.DelivererConfig{DefaultFrom: cfg.From, Guard: NewGuard(cfg, p.Log), Quota: quota(p)})
	return drain.NewHandler(d, q, dlq, p.Log, dc)
}

// dispatcher paces provider calls with p's limiter; a call's connection
// must be ready within the limiter's margin of its slot
// (docs/rate-limiting.md).
// The provider's opt-out refusals feed the suppression list.
func dispatcher(cfg config.Config, p Parts) *sms.Dispatcher {
	provider := p.Provider
	if p.Quota != nil {
		provider = sms.OptOuts(provider, p.Quota, p.Log)
	}
	return sms.NewDispatcher(provider, p.Limiter, p.Log, sms.DispatcherConfig{
		Refresher: p.Refresher, Warmer: p.Warmer, ReadyWithin: sms.ReadyWindow(cfg.RateMargin), RateUnit: cfg.RateUnit,
	})
}

// NewProvider returns the configured provider's client built with s.
func NewProvider(cfg config.Config, s config.Secrets, hc *http.Client) (sms.Provider, error) {
	switch cfg.Provider {
	case config.ProviderTwilio:
		return twilio.New(twilio.Credentials{
			AccountSID: s.Twilio.AccountSID, AuthToken: s.Twilio.AuthToken,
			APIKeySID: s.Twilio.APIKeySID, APIKeySecret: s.Twilio.APIKeySecret,
		}, twilio.Config{BaseURL: cfg.TwilioAPIURL, HTTPClient: hc}), nil
	case config.ProviderVonage:
		return vonage.New(vonage.Credentials{APIKey: s.Vonage.APIKey, APISecret: s.Vonage.APISecret},
			vonage.Config{BaseURL: cfg.VonageAPIURL, HTTPClient: hc}), nil
	}
	return nil, fmt.Errorf("app: SMS_PROVIDER %q has no client", cfg.Provider)
}

// HTTPClient is the one provider HTTP client of a process.
func HTTPClient() *http.Client { return httpclient.New(ProviderTimeout) }
