package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
)

// Clients are the AWS service clients of a process.
type Clients struct {
	DynamoDB       *dynamodb.Client
	SQS            *sqs.Client
	SecretsManager *secretsmanager.Client
}

// NewClients returns the clients of env, each aimed at the endpoint env
// gives its service (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL), if
// any. Building them opens no connection.
func NewClients(env *awsenv.Env) *Clients {
	return &Clients{
		DynamoDB:       dynamodb.NewFromConfig(env.Config, func(o *dynamodb.Options) { env.Apply(awsenv.DynamoDB, &o.BaseEndpoint) }),
		SQS:            sqs.NewFromConfig(env.Config, func(o *sqs.Options) { env.Apply(awsenv.SQS, &o.BaseEndpoint) }),
		SecretsManager: secretsmanager.NewFromConfig(env.Config, func(o *secretsmanager.Options) { env.Apply(awsenv.SecretsManager, &o.BaseEndpoint) }),
	}
}

// LoadAWS is the wiring of the deployed functions: it reads the
// configuration for mode, the AWS settings the Lambda runtime provides
// (awsenv: region, credentials and the AWS_ENDPOINT_URL variables), and
// builds the Service with every part of its own. Every failure names what
// is wrong and never a secret.
func LoadAWS(ctx context.Context, getenv func(string) string, mode config.Mode, log *slog.Logger, with ...AWSOption) (*Service, error) {
	cfg, err := config.Load(getenv, mode)
	if err != nil {
		return nil, err
	}
	env, err := awsenv.Load(getenv)
	if err != nil {
		return nil, err
	}
	opts := Options{Mode: mode, AWS: NewClients(env), Log: log}
	for _, o := range with {
		o(cfg, env, &opts)
	}
	return Build(ctx, cfg, opts)
}

// AWSOption adds to the Options LoadAWS builds a part only some functions
// use, so that only those link it (WithScheduler).
type AWSOption func(cfg config.Config, env *awsenv.Env, o *Options)

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
