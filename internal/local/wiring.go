package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/local/esm"
	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// DefaultFrom is the default sender with the console provider when SMS_FROM
// is unset.
const DefaultFrom = "FluxKit"

// Modes of the local server.
const (
	// ModeMemory runs on the embedded in-memory limiter, queue and
	// idempotency store.
	ModeMemory = "memory"
	// ModeAWS runs on DynamoDB, SQS and (with SMS_SECRET_ID) Secrets
	// Manager, real or emulated.
	ModeAWS = "aws"
)

// startupTimeout bounds the start-up: in AWS mode the checks of the
// resources and the read of the secret.
const startupTimeout = 15 * time.Second

// memoryVisibility is the in-memory queue's visibility timeout: the
// template's queue VisibilityTimeout.
const memoryVisibility = 360 * time.Second

// stack is everything the server runs, built from the configuration.
type stack struct {
	mode string
	svc  *app.Service
	// receipts is the receipts function's handler.
	receipts *receipts.Handler
	// source feeds the drain loop's poller (nil: no queue, no drain loop).
	source esm.Source
	// memQueue is the in-memory queue (memory mode), console the console
	// provider (SMS_PROVIDER unset), deadLetters the in-memory dead-letter
	// list (unless SMS_DLQ_URL is set in AWS mode). Each may be nil.
	memQueue    *memory.Queue
	console     *Console
	deadLetters *DeadLetters
	// consoles are the console providers named after real ones
	// (Options.Consoles), in the order they are tried; empty otherwise.
	consoles []*ConsoleProvider
	// memScheduler holds the messages scheduled more than 15 minutes
	// ahead, unless EventBridge Scheduler does (AWS mode with the
	// scheduler settings).
	memScheduler *memory.Scheduler
	// events are the status events (memory mode with status tracking).
	events *Events
	// describe lists what the banner says about the parts.
	describe []string
}

// usesAWS reports whether the configuration asks for the AWS services.
func usesAWS(cfg config.Config) bool {
	return cfg.AWSEndpointURL != "" || cfg.TableName != "" || cfg.QueueURL != "" || cfg.DLQURL != "" || cfg.SecretID != ""
}

// localRules are the sender and destination rules and the quotas of local
// mode unless the environment sets them: any sender and any destination,
// no recipient limit and no daily budget (the caller limit is off by
// default everywhere), so that development is not refused by a
// deployment's guard. Setting the variables tries the guard out locally.
var localRules = map[string]string{
	config.EnvAllowedSenders:     sms.AnySender,
	config.EnvBlockedNumberTypes: config.NoBlockedNumberTypes,
	config.EnvRecipientLimit:     config.Off,
	config.EnvDailySegmentLimit:  config.Off,
}

// loadConfig reads the local configuration: config.Load in local mode
// with localRules, the console provider's default sender, and what AWS
// mode requires. With consoles (console providers named after real ones,
// in failover order) SMS_PROVIDER must be unset, and SMS_FROM may name a
// sender per console provider as it would per real one.
func loadConfig(getenv func(string) string, consoles []string) (config.Config, error) {
	if len(consoles) > 0 && strings.TrimSpace(getenv(config.EnvProvider)) != "" {
		return config.Config{}, &config.SettingError{Setting: config.EnvProvider,
			Reason: "must be unset with console providers (-console): they stand in for the real ones"}
	}
	withRules := func(k string) string {
		if v := getenv(k); strings.TrimSpace(v) != "" {
			return v
		}
		if k == config.EnvProvider && len(consoles) > 0 {
			// Read SMS_FROM as it would be read for these providers.
			return strings.Join(consoles, ",")
		}
		return localRules[k]
	}
	cfg, err := config.FromEnv(withRules)
	if err != nil {
		return config.Config{}, err
	}
	if len(consoles) > 0 {
		// The console providers stand in for these: no credentials, no
		// real provider.
		cfg.Provider, cfg.Providers = "", nil
	}
	if err := cfg.Validate(config.ModeLocal); err != nil {
		return config.Config{}, err
	}
	if cfg.Provider == "" && cfg.From == "" {
		cfg.From = DefaultFrom
	}
	if !usesAWS(cfg) {
		return cfg, nil
	}
	why := awsReason(cfg)
	var errs []error
	if cfg.TableName == "" {
		errs = append(errs, &config.SettingError{Setting: config.EnvTableName, Reason: "required when the local server uses AWS (" + why + "); unset it for the in-memory mode"})
	}
	if cfg.QueueURL == "" && cfg.QueueEnabled {
		errs = append(errs, &config.SettingError{Setting: config.EnvQueueURL, Reason: "required when the local server uses AWS (" + why + ") unless SMS_QUEUE_ENABLED=false"})
	}
	return cfg, errors.Join(errs...)
}

// awsReason names the settings that select AWS mode.
func awsReason(cfg config.Config) string {
	var set []string
	for _, s := range []struct{ name, v string }{
		{config.EnvAWSEndpointURL, cfg.AWSEndpointURL}, {config.EnvTableName, cfg.TableName},
		{config.EnvQueueURL, cfg.QueueURL}, {config.EnvDLQURL, cfg.DLQURL}, {config.EnvSecretID, cfg.SecretID},
	} {
		if s.v != "" {
			set = append(set, s.name)
		}
	}
	return strings.Join(set, ", ") + " set"
}

// withDevJWT fills, for CheckSecrets only, the JWT secret that local mode
// does not require: development tokens are verified with DevSecret, not
// with a configured secret. (DevSecret itself would fail the check, which
// refuses it everywhere else.)
func withDevJWT(s config.Secrets) config.Secrets {
	if s.JWTSecret == "" {
		s.JWTSecret = "local-mode-needs-no-configured-jwt-secret"
	}
	return s
}

// buildStack builds the parts for cfg with the service's one wiring
// (app.Build), replacing what local mode runs differently: the
// development tokens, the console provider, credentials from the
// environment, and in memory mode the limiter, ledger and queues.
func buildStack(ctx context.Context, cfg config.Config, opts Options) (*stack, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	st := &stack{}
	ao := app.Options{
		Log: opts.Log,
		Authenticator: func(next app.Authenticator) (app.Authenticator, error) {
			return newDevAuthenticator(cfg, next)
		},
	}
	if cfg.Provider == "" {
		st.console = NewConsole(opts.Console, opts.lists())
		ao.Provider, ao.ProviderName = st.console, "console"
		for i, name := range opts.Consoles {
			p := st.console.Named(name)
			st.consoles = append(st.consoles, p)
			if i == 0 {
				ao.Provider, ao.ProviderName = p, name
				continue
			}
			ao.Failover = append(ao.Failover, sms.Route{Name: name, Provider: p, From: cfg.FromFor(name)})
		}
	}
	var err error
	if usesAWS(cfg) {
		st.mode = ModeAWS
		err = st.onAWS(ctx, cfg, opts, &ao)
	} else {
		st.mode = ModeMemory
		err = st.inMemory(cfg, opts, &ao)
	}
	if err != nil {
		return nil, err
	}
	if st.svc, err = app.Build(ctx, cfg, ao); err != nil {
		return nil, err
	}
	st.svc.Parts.Provider = uncut{st.svc.Parts.Provider}
	for i, r := range st.svc.Parts.Failover {
		st.svc.Parts.Failover[i].Provider = uncut{r.Provider}
	}
	// The receipt routes, on the same secret (or credentials from the
	// environment) and status store; the console provider reports
	// deliveries straight into the store instead.
	if st.receipts, err = app.BuildReceipts(ctx, cfg, app.ReceiptsOptions{
		AWS: ao.AWS, Secrets: ao.Secrets, Status: st.svc.Parts.Status, Clock: opts.Clock,
		Log:    opts.Log.With(slog.String("function", "receipts")),
		OptOut: app.SuppressOptOuts(st.svc.Parts.Quota, opts.Log.With(slog.String("function", "receipts"))),
	}); err != nil {
		return nil, err
	}
	if st.console != nil && st.svc.Parts.Status != nil {
		st.console.Report(st.svc.Parts.Status, ReportDelay)
	}
	return st, nil
}

// uncut lets a provider call that has begun run to its end even when the
// invocation that made it is stopped (a drain batch at shutdown): the
// message may be out already. The provider clients bound every call with
// their own timeout (app.ProviderTimeout).
type uncut struct{ p sms.Provider }

// Send calls the provider with ctx's values but without its cancellation.
func (u uncut) Send(ctx context.Context, m sms.Message) (sms.Receipt, error) {
	return u.p.Send(context.WithoutCancel(ctx), m)
}

// envSecrets reads the credentials from the environment, dropping the
// provider credentials the console provider does not use: credentials
// lying around are not enough to send for real.
func envSecrets(cfg config.Config, getenv func(string) string) (app.SecretLoader, error) {
	s := config.SecretsFromEnv(getenv)
	if cfg.Provider == "" {
		s.Twilio, s.Vonage = config.TwilioCredentials{}, config.VonageCredentials{}
	}
	if err := cfg.CheckSecrets(withDevJWT(s)); err != nil {
		return nil, err
	}
	return app.FixedSecrets(s), nil
}

// inMemory replaces the table and the queues with the embedded in-memory
// parts, and the secret with the environment's credentials.
func (st *stack) inMemory(cfg config.Config, opts Options, ao *app.Options) error {
	secrets, err := envSecrets(cfg, opts.Getenv)
	if err != nil {
		return err
	}
	ao.Secrets = secrets
	if st.memQueue, err = memory.NewQueue(memory.QueueConfig{Capacity: opts.QueueCapacity, VisibilityTimeout: memoryVisibility, Clock: opts.Clock}); err != nil {
		return fmt.Errorf("local: queue: %w", err)
	}
	st.deadLetters = NewDeadLetters(opts.Console, opts.lists())
	if ao.Limiter, err = memory.NewLimiter(memory.LimiterConfig{Rate: cfg.RateLimit, Margin: cfg.RateMargin, Clock: opts.Clock,
		DailySegments: app.DailySegments(cfg, 0), Log: opts.Log}); err != nil {
		return fmt.Errorf("local: limiter: %w", err)
	}
	// Every other provider has a limiter of its own at the same rate, and
	// its part of the daily budget.
	ao.LimiterFor = func(name string) (sms.Limiter, error) {
		return memory.NewLimiter(memory.LimiterConfig{Rate: cfg.RateLimit, Margin: cfg.RateMargin, Clock: opts.Clock,
			DailySegments: app.DailySegments(cfg, max(slices.Index(cfg.Providers, name), 1)), Log: opts.Log})
	}
	ao.Ledger = memory.NewLedger(memory.LedgerConfig{Clock: opts.Clock})
	ao.Quota = memory.NewQuotaStore(memory.QuotaConfig{Limits: sms.QuotaLimits{Recipient: cfg.RecipientLimit, Caller: cfg.CallerLimit}, Clock: opts.Clock})
	if cfg.StatusTracking {
		st.events = NewEvents(opts.Console, opts.lists())
		ao.Status = memory.NewStatusStore(memory.StatusConfig{Retention: cfg.StatusRetention, Clock: opts.Clock, OnChange: st.events.Add})
	}
	ao.Queue, ao.DLQ = st.memQueue, st.deadLetters
	st.memScheduler = memory.NewScheduler(st.memQueue, memory.SchedulerConfig{Clock: opts.Clock, Log: opts.Log})
	ao.Scheduler = st.memScheduler
	st.source = NewMemorySource(st.memQueue, st.deadLetters, opts.MaxReceives)
	st.describe = []string{
		fmt.Sprintf("memory (in-memory limiter, idempotency store, scheduler and queue of %d messages; dead letters at GET /_local/dead-letters)", opts.QueueCapacity),
	}
	if st.events != nil {
		st.describe = append(st.describe, "status events at GET /_local/events")
	}
	return nil
}

// onAWS points the wiring at DynamoDB, SQS and Secrets Manager, reached
// with the AWS SDK's own configuration chain (environment, shared config
// and credentials files, AWS_ENDPOINT_URL for an emulator), after checking
// that the table and queues exist. Without SMS_SECRET_ID the credentials
// come from the environment, and without SMS_DLQ_URL dead letters go to
// the in-memory list.
func (st *stack) onAWS(ctx context.Context, cfg config.Config, opts Options, ao *app.Options) error {
	ac, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("local: AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return &config.SettingError{Setting: "AWS_REGION", Reason: "required when the local server uses AWS (" + awsReason(cfg) + ")"}
	}
	env := awsenv.FromConfig(ac)
	clients := app.NewClients(env)
	ao.AWS = clients

	if _, err := clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.TableName)}); err != nil {
		return fmt.Errorf("local: %s %q: %w", config.EnvTableName, cfg.TableName, err)
	}
	queueARN := ""
	if cfg.QueueURL != "" {
		if queueARN, err = queueArn(ctx, clients.SQS, cfg.QueueURL); err != nil {
			return fmt.Errorf("local: %s %q: %w", config.EnvQueueURL, cfg.QueueURL, err)
		}
	}
	if cfg.DLQURL != "" {
		if _, err := queueArn(ctx, clients.SQS, cfg.DLQURL); err != nil {
			return fmt.Errorf("local: %s %q: %w", config.EnvDLQURL, cfg.DLQURL, err)
		}
	}

	secretDesc := "credentials from the environment"
	if cfg.SecretID != "" {
		ao.CheckSecrets = func(s config.Secrets) error { return cfg.CheckSecrets(withDevJWT(s)) }
		secretDesc = "secret " + cfg.SecretID
	} else if ao.Secrets, err = envSecrets(cfg, opts.Getenv); err != nil {
		return err
	}
	dlqDesc := "dead letters at GET /_local/dead-letters"
	if cfg.DLQURL != "" {
		dlqDesc = "dead letters to " + cfg.DLQURL
	} else {
		st.deadLetters = NewDeadLetters(opts.Console, opts.lists())
		ao.DLQ = st.deadLetters
	}
	queueDesc := "no queue (SMS_QUEUE_ENABLED=false)"
	if cfg.QueueURL != "" {
		st.source = esm.NewSQSSource(clients.SQS, cfg.QueueURL, esm.SQSSourceConfig{ARN: queueARN, Region: ac.Region, WaitSeconds: 20})
		queueDesc = "queue " + cfg.QueueURL
		// Messages scheduled more than 15 minutes ahead: in the schedule
		// group when the scheduler settings are given, else in memory.
		if cfg.Schedules() {
			ao.Scheduler = app.NewScheduler(cfg, env)
			queueDesc += ", schedules in group " + cfg.ScheduleGroup
		} else {
			st.memScheduler = memory.NewScheduler(queue.NewSQS(clients.SQS, cfg.QueueURL, queue.Config{Clock: opts.Clock}),
				memory.SchedulerConfig{Clock: opts.Clock, Log: opts.Log})
			ao.Scheduler = st.memScheduler
			queueDesc += ", schedules in memory"
		}
	}
	endpoint := "AWS"
	if ep := env.Endpoint(awsenv.DynamoDB); ep != nil {
		endpoint = *ep
	}
	st.describe = []string{
		fmt.Sprintf("aws via %s (region %s): table %s, %s, %s, %s", endpoint, ac.Region, cfg.TableName, queueDesc, dlqDesc, secretDesc),
	}
	return nil
}

// queueArn checks that a queue exists and returns its ARN.
func queueArn(ctx context.Context, api *sqs.Client, queueURL string) (string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", err
	}
	if arn := out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]; arn != "" {
		return arn, nil
	}
	// An emulator may leave it out: build it from the URL's path.
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", err
	}
	return "arn:aws:sqs:local:" + strings.TrimPrefix(strings.ReplaceAll(u.Path, "/", ":"), ":"), nil
}

// discardLogger is the logger of a server given none.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// writerOrDiscard returns w, or io.Discard when w is nil.
func writerOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
