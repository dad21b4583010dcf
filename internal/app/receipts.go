package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// receiptURLs are the receipt URLs the provider clients send with each
// message (docs/receipts.md): Twilio's StatusCallback route whenever
// SMS_PUBLIC_URL is set, and Vonage's callback only when its receipts are
// signed (a signature secret): without one, the operator sets the
// account's receipt URL with the token instead.
func receiptURLs(cfg config.Config, s config.Secrets) (twilioCallback, vonageCallback string) {
	if cfg.PublicURL == "" {
		return "", ""
	}
	twilioCallback = cfg.PublicURL + receipts.TwilioPath
	if s.Vonage.SignatureSecret != "" {
		vonageCallback = cfg.PublicURL + receipts.VonagePath
	}
	return twilioCallback, vonageCallback
}

// ReceiptsOptions are what a runtime other than the receipts function
// (the local server, a test) runs differently; each zero field keeps the
// function's part.
type ReceiptsOptions struct {
	// AWS are the clients of the secret and the table; nil means none, and
	// then Secrets and, with status tracking, Status must be set.
	AWS *Clients
	// Log receives the handler's logs; nil discards.
	Log *slog.Logger
	// Secrets replaces the secret of SMS_SECRET_ID.
	Secrets SecretLoader
	// Status replaces the DynamoDB status store in SMS_TABLE_NAME; with
	// SMS_STATUS_TRACKING=false there is none.
	Status sms.StatusStore
	// Clock is the handler's time source; nil means the system clock.
	Clock sms.Clock
	// OptOut hears of receipts saying the recipient opted out; nil puts
	// the recipient on the DynamoDB suppression list in SMS_TABLE_NAME
	// (SuppressOptOuts).
	OptOut receipts.OptOutHook
}

// LoadReceipts is the wiring of the receipts function: the configuration
// for config.ModeReceipts, the AWS settings of the Lambda environment, and
// the handler over the secret and the table (BuildReceipts).
func LoadReceipts(ctx context.Context, getenv func(string) string, log *slog.Logger) (*receipts.Handler, error) {
	cfg, err := config.Load(getenv, config.ModeReceipts)
	if err != nil {
		return nil, err
	}
	env, err := awsenv.Load(getenv)
	if err != nil {
		return nil, err
	}
	return BuildReceipts(ctx, cfg, ReceiptsOptions{AWS: NewClients(env), Log: log})
}

// BuildReceipts builds the receipts handler for cfg: the keys from the
// secret of SMS_SECRET_ID (read now, checked with
// Config.CheckReceiptSecrets, re-read when a receipt fails verification),
// the status store (none with SMS_STATUS_TRACKING=false), and
// SMS_PUBLIC_URL. It reads no JWT keys and touches no queue or limiter. It
// logs why the configured provider's receipts will be refused, if they
// will.
func BuildReceipts(ctx context.Context, cfg config.Config, opts ReceiptsOptions) (*receipts.Handler, error) {
	src := opts.Secrets
	if src == nil {
		if opts.AWS == nil {
			return nil, fmt.Errorf("app: the receipts' secret needs AWS clients (ReceiptsOptions.AWS) or a replacement")
		}
		src = config.NewSecretSource(opts.AWS.SecretsManager, cfg.SecretID, config.SecretSourceConfig{Check: cfg.SecretCheck(config.ModeReceipts)})
	}
	var store receipts.Recorder
	if cfg.StatusTracking {
		switch {
		case opts.Status != nil:
			store = opts.Status
		case opts.AWS != nil:
			store = dynamo.NewStatusStore(opts.AWS.DynamoDB, cfg.TableName, dynamo.StatusConfig{Retention: cfg.StatusRetention})
		default:
			return nil, fmt.Errorf("app: the receipts' status store needs AWS clients (ReceiptsOptions.AWS) or a replacement")
		}
	}
	optOut := opts.OptOut
	if optOut == nil && opts.AWS != nil && cfg.TableName != "" {
		optOut = SuppressOptOuts(dynamo.NewQuotaStore(opts.AWS.DynamoDB, cfg.TableName, dynamo.QuotaConfig{Limits: quotaLimits(cfg)}), opts.Log)
	}
	h := receipts.NewHandler(store, receiptKeys{src}, opts.Log, receipts.Config{PublicURL: cfg.PublicURL, Clock: opts.Clock, OptOut: optOut})
	var providers []string
	if cfg.Provider != "" {
		providers = append(providers, cfg.Provider)
	}
	if err := h.Start(ctx, providers...); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return h, nil
}

// receiptKeys reads the receipts' keys from the secret.
type receiptKeys struct{ src SecretLoader }

func (k receiptKeys) Keys(ctx context.Context) (receipts.Keys, error) {
	s, err := k.src.Load(ctx)
	return keysOf(s), err
}

func (k receiptKeys) Refresh(ctx context.Context) (receipts.Keys, bool, error) {
	s, changed, err := k.src.Refresh(ctx)
	if err != nil {
		return receipts.Keys{}, false, err
	}
	return keysOf(s), changed, nil
}

func keysOf(s config.Secrets) receipts.Keys {
	return receipts.Keys{
		TwilioAuthToken:       s.Twilio.AuthToken,
		VonageSignatureSecret: s.Vonage.SignatureSecret,
		VonageSignatureMethod: s.Vonage.SignatureMethod,
		VonageReceiptsToken:   s.Vonage.ReceiptsToken,
	}
}

// SuppressOptOuts is the receipts' opt-out hook that puts the recipient
// on list, the suppression list: later messages to it are refused without
// a provider call (docs/architecture.md#quotas-and-the-suppression-list).
// A failure is logged; the receipt itself is recorded already.
func SuppressOptOuts(list sms.Suppressor, log *slog.Logger) receipts.OptOutHook {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, o receipts.OptOut) {
		attrs := []slog.Attr{slog.String("event", "recipient_suppressed"), slog.String("provider", o.Provider),
			slog.String("providerCode", o.ProviderCode), slog.String("region", receipts.Region(o.To)), slog.String("to", sms.MaskNumber(o.To))}
		if err := list.Suppress(ctx, o.To); err != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "could not add an opted-out recipient to the suppression list", append(attrs, slog.String("error", err.Error()))...)
			return
		}
		log.LogAttrs(ctx, slog.LevelInfo, "recipient opted out; added to the suppression list", attrs...)
	}
}
