package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// limiterName names the rate limit of a deployment's provider in the
// table: of its only provider, or of the first with failover, so that a
// deployment that adds a provider keeps its limiter's state. Every other
// provider's limit is named LimiterName of it.
const limiterName = "sms"

// LimiterName names the rate limit of provider in the table when it is
// not a deployment's first provider: "sms#<provider>".
func LimiterName(provider string) string { return limiterName + "#" + provider }

// Authenticator checks a request's bearer token and returns the caller:
// its subject and verified scopes (apigw.Authenticator).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Caller, error)
}

// Queue is the message queue as both paths use it: the send path enqueues,
// the drain re-queues and hides records.
type Queue interface {
	sms.Queue
	drain.Queue
}

// Options are what a runtime other than the deployed functions (the local
// server, a test) runs differently. Each zero field keeps the deployed
// functions' part, so that a part added to the deployed wiring reaches
// every runtime unless it replaces that part on purpose.
type Options struct {
	// Mode is the program: config.ModeDrain verifies no tokens, so it reads
	// no JWT keys and needs none; the zero value is config.ModeSend (the
	// local server verifies tokens as the send function does).
	Mode config.Mode
	// AWS are the clients of the AWS parts; nil means none, and then every
	// part that would use them (table, queues, secrets) must be replaced.
	AWS *Clients
	// Log is the structured logger of every part; nil discards.
	Log *slog.Logger
	// Secrets replaces the secret of SMS_SECRET_ID in Secrets Manager,
	// whose rotations the provider and the token verifier follow, e.g. with
	// FixedSecrets of credentials from the environment.
	Secrets SecretLoader
	// CheckSecrets checks every value read from the secret of
	// SMS_SECRET_ID; nil means Config.SecretCheck(Mode). A JWT secret of
	// its own (JWT_SECRET_ID) is always checked with Config.CheckJWTSecrets.
	CheckSecrets func(config.Secrets) error
	// Provider replaces the client of the first provider built from the
	// secret; ProviderName names it (SMS_PROVIDER's first entry unless
	// set).
	Provider     sms.Provider
	ProviderName string
	// Failover replaces the providers tried after the first (those
	// SMS_PROVIDER lists after it), e.g. local mode's console providers
	// named after real ones. A route without a Limiter gets LimiterFor's,
	// or else the DynamoDB limiter of its name.
	Failover []sms.Route
	// LimiterFor replaces the DynamoDB limiter of each provider after the
	// first (Limiter replaces the first's).
	LimiterFor func(provider string) (sms.Limiter, error)
	// Authenticator wraps the token authenticator built from the
	// configuration. next is nil when that one has nothing to verify tokens
	// with (no jwtSecret and no JWT_JWKS_URL); the deployed functions then
	// fail to start.
	Authenticator func(next Authenticator) (Authenticator, error)
	// Limiter and Ledger replace the DynamoDB limiter and ledger in
	// SMS_TABLE_NAME.
	Limiter sms.Limiter
	Ledger  sms.Ledger
	// Scheduler holds messages scheduled more than 15 minutes ahead
	// (WithScheduler builds the EventBridge Scheduler one); nil keeps send
	// times within the queue's 15 minutes.
	Scheduler sms.Scheduler
	// Status replaces the DynamoDB status store in SMS_TABLE_NAME; with
	// SMS_STATUS_TRACKING=false there is none, and this is not used.
	Status sms.StatusStore
	// Quota replaces the DynamoDB quota store and suppression list in
	// SMS_TABLE_NAME.
	Quota QuotaStore
	// Queue replaces the SQS queue of SMS_QUEUE_URL.
	Queue Queue
	// DLQ replaces the SQS dead-letter queue of SMS_DLQ_URL.
	DLQ drain.DeadLetterer
}

// needAWS fails when part is to be built on AWS without clients.
func (o Options) needAWS(part string) error {
	if o.AWS == nil {
		return fmt.Errorf("app: %s needs AWS clients (Options.AWS) or a replacement", part)
	}
	return nil
}

// Service is the service wired once per process: the parts the domain
// services run on and what the two functions' handlers take besides.
type Service struct {
	Config config.Config
	Parts  Parts
	// Auth verifies the send API's bearer tokens; nil for the drain.
	Auth Authenticator
	// Queue is the queue the drain reads (Parts.Queue too); nil without
	// SMS_QUEUE_URL.
	Queue Queue
	// DLQ receives the drain's poison records; nil without SMS_DLQ_URL.
	DLQ drain.DeadLetterer
	// Callers names API callers in the send function's logs, keyed with
	// the provider secret's logKey when it has one.
	Callers logging.CallerHash
}

// Build wires the service for cfg: the secrets and what is built from them
// (Credentials), the limiter, the ledger, the status store (with
// SMS_STATUS_TRACKING), the queue and the dead-letter queue, each replaced
// when opts says so. The send function reads the JWT
// secret of JWT_SECRET_ID too when it is another secret than SMS_SECRET_ID
// and tokens are HS256; the drain never does.
func Build(ctx context.Context, cfg config.Config, opts Options) (*Service, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Limiter == nil || opts.Ledger == nil {
		if err := opts.needAWS("the table"); err != nil {
			return nil, err
		}
		// The DynamoDB connection opens while the secret is read.
		warmed := make(chan struct{})
		go func() { defer close(warmed); warmUp(ctx, opts.AWS.DynamoDB, cfg.TableName) }()
		defer func() { <-warmed }()
	}

	src := Sources{Provider: opts.Secrets, Mode: opts.Mode}
	rotates := opts.Secrets == nil
	if rotates {
		if err := opts.needAWS("the secret"); err != nil {
			return nil, err
		}
		check := opts.CheckSecrets
		if check == nil {
			check = cfg.SecretCheck(opts.Mode)
		}
		src.Provider = config.NewSecretSource(opts.AWS.SecretsManager, cfg.SecretID, config.SecretSourceConfig{Check: check})
	}
	if opts.Mode != config.ModeDrain && cfg.JWTJWKSURL == "" && cfg.SplitJWTSecret() {
		if err := opts.needAWS("the JWT secret"); err != nil {
			return nil, err
		}
		src.JWT = config.NewSecretSource(opts.AWS.SecretsManager, cfg.JWTSecretID, config.SecretSourceConfig{Check: cfg.CheckJWTSecrets})
	}
	hc := HTTPClient()
	creds, err := NewCredentials(ctx, cfg, src, hc, log)
	if err != nil {
		return nil, err
	}
	svc := &Service{Config: cfg, Parts: Parts{Provider: opts.Provider, ProviderName: opts.ProviderName, Limiter: opts.Limiter, Ledger: opts.Ledger,
		Scheduler: opts.Scheduler, Log: log}}
	svc.Callers = callerHash(ctx, creds, rotates && opts.Mode != config.ModeDrain, log)
	if svc.Parts.ProviderName == "" {
		svc.Parts.ProviderName = cfg.Provider
	}
	if svc.Parts.Provider == nil {
		if cfg.Provider == "" {
			return nil, errors.New("app: no provider: SMS_PROVIDER is not set")
		}
		svc.Parts.Provider = creds
		svc.Parts.Warmer = httpclient.Warmer(hc)
	}
	svc.Parts.Failover = slices.Clone(opts.Failover)
	if opts.Failover == nil {
		for _, name := range cfg.ProviderList()[min(1, len(cfg.ProviderList())):] {
			svc.Parts.Failover = append(svc.Parts.Failover, sms.Route{Name: name, Provider: creds.For(name), From: cfg.FromFor(name)})
			svc.Parts.Warmer = httpclient.Warmer(hc)
		}
	}
	if rotates {
		svc.Parts.Refresher = creds
	}
	if creds.verifiesTokens() {
		svc.Auth = creds
	}
	if opts.Authenticator != nil {
		if svc.Auth, err = opts.Authenticator(svc.Auth); err != nil {
			return nil, err
		}
	}
	if svc.Auth == nil && opts.Mode != config.ModeDrain {
		return nil, errors.New("app: nothing to verify tokens with: the secret has no jwtSecret and JWT_JWKS_URL is not set")
	}
	if err := svc.buildAWSParts(opts); err != nil {
		return nil, err
	}
	return svc, nil
}

// buildAWSParts builds the table and queue parts that opts does not
// replace.
func (svc *Service) buildAWSParts(opts Options) error {
	cfg := svc.Config
	if svc.Parts.Limiter == nil {
		limiter, err := dynamo.NewLimiter(opts.AWS.DynamoDB, cfg.TableName, dynamo.LimiterConfig{
			Name: limiterName, Rate: cfg.RateLimit, Margin: cfg.RateMargin,
			DailySegments: DailySegments(cfg, 0), Log: svc.Parts.Log,
		})
		if err != nil {
			return fmt.Errorf("app: limiter: %w", err)
		}
		svc.Parts.Limiter = limiter
	}
	for i, r := range svc.Parts.Failover {
		if r.Limiter != nil {
			continue
		}
		var err error
		switch {
		case opts.LimiterFor != nil:
			r.Limiter, err = opts.LimiterFor(r.Name)
		case opts.AWS == nil:
			err = opts.needAWS("the limiter of " + r.Name)
		default:
			r.Limiter, err = dynamo.NewLimiter(opts.AWS.DynamoDB, cfg.TableName, dynamo.LimiterConfig{
				Name: LimiterName(r.Name), Rate: cfg.RateLimit, Margin: cfg.RateMargin,
				DailySegments: DailySegments(cfg, i+1), Log: svc.Parts.Log,
			})
		}
		if err != nil {
			return fmt.Errorf("app: limiter of %s: %w", r.Name, err)
		}
		svc.Parts.Failover[i] = r
	}
	if svc.Parts.Ledger == nil {
		svc.Parts.Ledger = dynamo.NewLedger(opts.AWS.DynamoDB, cfg.TableName, dynamo.LedgerConfig{})
	}
	// The suppression list is always kept; the limits count only when on.
	svc.Parts.Quota = opts.Quota
	if svc.Parts.Quota == nil {
		if err := opts.needAWS("the quota store"); err != nil {
			return err
		}
		svc.Parts.Quota = dynamo.NewQuotaStore(opts.AWS.DynamoDB, cfg.TableName, dynamo.QuotaConfig{Limits: quotaLimits(cfg)})
	}
	if cfg.StatusTracking {
		svc.Parts.Status = opts.Status
		if svc.Parts.Status == nil {
			if err := opts.needAWS("the status store"); err != nil {
				return err
			}
			svc.Parts.Status = dynamo.NewStatusStore(opts.AWS.DynamoDB, cfg.TableName, dynamo.StatusConfig{Retention: cfg.StatusRetention})
		}
	}
	svc.Queue, svc.DLQ = opts.Queue, opts.DLQ
	if svc.Queue == nil && cfg.QueueURL != "" {
		if err := opts.needAWS("the queue"); err != nil {
			return err
		}
		svc.Queue = queue.NewSQS(opts.AWS.SQS, cfg.QueueURL, queue.Config{})
	}
	if svc.DLQ == nil && cfg.DLQURL != "" {
		if err := opts.needAWS("the dead-letter queue"); err != nil {
			return err
		}
		svc.DLQ = queue.NewDLQ(opts.AWS.SQS, cfg.DLQURL)
	}
	if svc.Queue != nil {
		svc.Parts.Queue = svc.Queue
	}
	return nil
}

// quotaLimits are the recipient and caller limits of cfg.
func quotaLimits(cfg config.Config) sms.QuotaLimits {
	return sms.QuotaLimits{Recipient: cfg.RecipientLimit, Caller: cfg.CallerLimit}
}

// DailySegments is the part of SMS_DAILY_SEGMENT_LIMIT the limiter of the
// i-th provider (0: the first) counts: the budget split evenly over the
// providers, the first taking what does not divide, so that the parts add
// up to the budget; each part is at least one segment. Zero: no budget.
func DailySegments(cfg config.Config, i int) int64 {
	n := int64(len(cfg.Providers))
	total := cfg.DailySegmentLimit
	if total <= 0 || n <= 1 {
		return total
	}
	part := total / n
	if i == 0 {
		part = total - part*(n-1)
	}
	return max(part, 1)
}
