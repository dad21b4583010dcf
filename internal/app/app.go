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

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/logging"
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
	// Provider is the first (or only) provider and Limiter its rate limit;
	// ProviderName names it in results, records and logs.
	Provider     sms.Provider
	ProviderName string
	Refresher    sms.Refresher // may be nil
	Warmer       sms.Warmer    // opens provider connections ahead of calls; may be nil
	Limiter      sms.Limiter
	// Failover are the providers tried after Provider, in SMS_PROVIDER's
	// order, each with its own limiter and default sender
	// (docs/failover.md); empty with one provider.
	Failover []sms.Route
	Ledger   sms.Ledger
	Queue    sms.Queue
	// Status keeps the messages' status records; nil when
	// SMS_STATUS_TRACKING=false.
	Status sms.StatusStore
	// Scheduler holds messages scheduled more than 15 minutes ahead; nil
	// without the scheduler settings (send times stay within 15 minutes).
	Scheduler sms.Scheduler
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
		Status:       p.Status,
		Scheduler:    p.Scheduler,
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

// NewSendHandler builds the send function's handler: POST /messaging/sms
// through the send path; GET /messaging/sms/{messageId} from the status
// records (404 for every message with SMS_STATUS_TRACKING=false) and
// DELETE of a scheduled message; the suppression list's route. Tokens are
// checked by authn, and callers named in the request log by callers.
func NewSendHandler(cfg config.Config, p Parts, authn Authenticator, callers logging.CallerHash) *apigw.Handler {
	var records apigw.Records
	if p.Status != nil {
		records = p.Status
	}
	var suppressions apigw.Unsuppressor
	if p.Quota != nil {
		suppressions = p.Quota
	}
	return apigw.NewHandler(authn, NewSender(cfg, p), p.Log, apigw.LogCallers(callers),
		apigw.ReadsStatus(records, cfg.JWTReadAllScope),
		apigw.Cancels(NewCanceler(p), cfg.JWTAdminScope),
		apigw.Suppressions(suppressions, cfg.JWTAdminScope))
}

// NewDrainHandler builds the drain function's handler over queue and dlq;
// zero fields of dc take the drain package's defaults, and the status
// records (Parts.Status) learn what became of each message, its hand-offs
// to the dead-letter queue included (the queue's redrive limit is
// SMS_MAX_RECEIVES unless dc says otherwise).
func NewDrainHandler(cfg config.Config, p Parts, q drain.Queue, dlq drain.DeadLetterer, dc drain.Config) *drain.Handler {
	d := sms.NewDeliverer(dispatcher(cfg, p), p.Ledger, sms.DelivererConfig{DefaultFrom: cfg.From, Guard: NewGuard(cfg, p.Log),
		Scheduled: transitions(p.Status), Quota: quota(p), Status: p.Status})
	if p.Status != nil && dc.Status == nil {
		dc.Status = d
	}
	if dc.MaxReceives == 0 {
		dc.MaxReceives = cfg.MaxReceives
	}
	return drain.NewHandler(d, q, dlq, p.Log, dc)
}

// dispatcher paces provider calls with p's limiter; a call's connection
// must be ready within the limiter's margin of its slot
// (docs/rate-limiting.md). With failover providers it tries them in
// order, each behind a circuit breaker of this process's
// (docs/failover.md). The providers' opt-out refusals feed the
// suppression list.
func dispatcher(cfg config.Config, p Parts) *sms.Dispatcher {
	dc := sms.DispatcherConfig{
		Refresher: p.Refresher, Warmer: p.Warmer, ReadyWithin: sms.ReadyWindow(cfg.RateMargin), Name: p.ProviderName,
		RateUnit: cfg.RateUnit,
	}
	optOuts := func(pr sms.Provider) sms.Provider {
		if p.Quota == nil {
			return pr
		}
		return sms.OptOuts(pr, p.Quota, p.Log)
	}
	provider, limiter := meterProvider(p.ProviderName, p.Provider), meteredLimiter{p.Limiter}
	if len(p.Failover) == 0 {
		return sms.NewDispatcher(optOuts(provider), limiter, p.Log, dc)
	}
	routes := append([]sms.Route{{Name: p.ProviderName, Provider: provider, Limiter: limiter, From: cfg.FromFor(p.ProviderName)}}, meterRoutes(p.Failover)...)
	for i := range routes {
		routes[i].Provider = optOuts(routes[i].Provider)
	}
	return sms.NewFailoverDispatcher(routes, p.Log, dc)
}

// NewProvider returns the client of the configured provider (the first,
// with failover) built with s. With SMS_PUBLIC_URL every message asks for
// its receipts (docs/receipts.md).
func NewProvider(cfg config.Config, s config.Secrets, hc *http.Client) (sms.Provider, error) {
	return newProvider(cfg.Provider, cfg, s, hc)
}

// newProvider returns the client of the provider named name built with s.
func newProvider(name string, cfg config.Config, s config.Secrets, hc *http.Client) (sms.Provider, error) {
	twilioCallback, vonageCallback := receiptURLs(cfg, s)
	switch name {
	case config.ProviderTwilio:
		return twilio.New(twilio.Credentials{
			AccountSID: s.Twilio.AccountSID, AuthToken: s.Twilio.AuthToken,
			APIKeySID: s.Twilio.APIKeySID, APIKeySecret: s.Twilio.APIKeySecret,
		}, twilio.Config{BaseURL: cfg.TwilioAPIURL, HTTPClient: hc, StatusCallback: twilioCallback}), nil
	case config.ProviderVonage:
		return vonage.New(vonage.Credentials{APIKey: s.Vonage.APIKey, APISecret: s.Vonage.APISecret},
			vonage.Config{BaseURL: cfg.VonageAPIURL, HTTPClient: hc, Callback: vonageCallback}), nil
	}
	return nil, fmt.Errorf("app: SMS_PROVIDER %q has no client", name)
}

// HTTPClient is the one provider HTTP client of a process.
func HTTPClient() *http.Client { return httpclient.New(ProviderTimeout) }
