package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/queue"
)

// Function is everything a Lambda function needs, built once per cold
// start from the environment (awsenv: region, credentials and the
// AWS_ENDPOINT_URL variables) and the secret.
type Function struct {
	Config config.Config
	Parts  Parts
	Queue  *queue.SQS
	DLQ    *queue.DLQ
	Auth   *Authenticator
}

// LoadAWS reads the configuration for mode, loads the secret and builds
// the AWS adapters. Every failure names what is wrong and never a secret.
func LoadAWS(ctx context.Context, getenv func(string) string, mode config.Mode, log *slog.Logger) (*Function, error) {
	cfg, err := config.Load(getenv, mode)
	if err != nil {
		return nil, err
	}
	env, err := awsenv.Load(getenv)
	if err != nil {
		return nil, err
	}
	return Build(ctx, cfg, env, log)
}

// Build builds a Function from a loaded configuration.
func Build(ctx context.Context, cfg config.Config, env *awsenv.Env, log *slog.Logger) (*Function, error) {
	ddb := dynamodb.NewFromConfig(env.Config, func(o *dynamodb.Options) { env.Apply(awsenv.DynamoDB, &o.BaseEndpoint) })
	// The DynamoDB connection opens while the secret is read.
	warmed := make(chan struct{})
	go func() { defer close(warmed); warmUp(ctx, ddb, cfg.TableName) }()
	defer func() { <-warmed }()

	sm := secretsmanager.NewFromConfig(env.Config, func(o *secretsmanager.Options) { env.Apply(awsenv.SecretsManager, &o.BaseEndpoint) })
	src := config.NewSecretSource(sm, cfg.SecretID)
	src.Check = cfg.CheckSecrets
	secrets, err := src.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("app: load secret %s: %w", cfg.SecretID, err)
	}
	rot := NewRotation(src)
	provider, err := NewRotatingProvider(cfg, secrets, HTTPClient())
	if err != nil {
		return nil, err
	}
	rot.Follow(provider.Use)
	authn, err := NewAuthenticator(cfg, secrets.JWTSecrets(), rot)
	if err != nil {
		return nil, err
	}
	rot.Follow(authn.Follow)

	limiter, err := dynamo.NewLimiter(ddb, cfg.TableName, dynamo.LimiterConfig{Name: "sms", Rate: cfg.RateLimit, Margin: cfg.RateMargin})
	if err != nil {
		return nil, fmt.Errorf("app: limiter: %w", err)
	}
	sq := sqs.NewFromConfig(env.Config, func(o *sqs.Options) { env.Apply(awsenv.SQS, &o.BaseEndpoint) })
	q := queue.NewSQS(sq, cfg.QueueURL, queue.Config{})
	f := &Function{
		Config: cfg,
		Parts: Parts{
			Provider:  provider,
			Refresher: rot,
			Limiter:   limiter,
			Ledger:    dynamo.NewLedger(ddb, cfg.TableName, dynamo.LedgerConfig{}),
			Queue:     q,
			Log:       log,
		},
		Queue: q,
		Auth:  authn,
	}
	if cfg.DLQURL != "" {
		f.DLQ = queue.NewDLQ(sq, cfg.DLQURL)
	}
	return f, nil
}

// warmUp opens the connection to DynamoDB during init with one read of an
// item that does not exist. Without it the first request pays the TLS
// handshake inside its limiter call, and a slot whose answer arrives later
// than half the rate margin is given up (docs/rate-limiting.md): at low
// rates the first message after a cold start would be queued for nothing.
// Failures are ignored; the request path reports its own.
func warmUp(ctx context.Context, ddb *dynamodb.Client, table string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, _ = ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "warmup"},
			"sk": &ddbtypes.AttributeValueMemberS{Value: "warmup"},
		},
	})
}
