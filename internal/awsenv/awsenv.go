// Package awsenv builds the AWS SDK configuration from the environment the
// Lambda runtime provides (region, the function role's credentials) plus the
// SDK's endpoint variables (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>),
// without the SDK's config package: that package brings SSO, STS and IMDS
// clients a function never uses, about 2 MB of binary and cold-start time.
// The local runner, which may run with shared-config profiles, uses the
// SDK's config package instead.
package awsenv

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Service ids as the SDK spells them in AWS_ENDPOINT_URL_<SERVICE>.
const (
	DynamoDB       = "DYNAMODB"
	SQS            = "SQS"
	SecretsManager = "SECRETS_MANAGER"
	EventBridge    = "EVENTBRIDGE"
	Scheduler      = "SCHEDULER"
)

// Env is the AWS configuration of a function.
type Env struct {
	Config    aws.Config
	getenv    func(string) string
	endpoints map[string]string
}

// Load reads the region, credentials and endpoint overrides.
func Load(getenv func(string) string) (*Env, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return nil, errors.New("awsenv: AWS_REGION is not set")
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return nil, errors.New("awsenv: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (the Lambda runtime sets them)")
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))),
	}
	if ep := getenv("AWS_ENDPOINT_URL"); ep != "" && !ignored(getenv) {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return &Env{Config: cfg, getenv: getenv}, nil
}

// FromConfig wraps a configuration the SDK's config package loaded (the
// local runner's); it resolves endpoints itself, so Endpoint adds nothing.
func FromConfig(cfg aws.Config) *Env {
	return &Env{Config: cfg, getenv: func(string) string { return "" }}
}

// Endpoint returns the endpoint of a service (one of the constants above):
// AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else nil for the
// SDK's own resolution.
func (e *Env) Endpoint(service string) *string {
	if ignored(e.getenv) {
		return nil
	}
	if ep := e.getenv("AWS_ENDPOINT_URL_" + service); ep != "" {
		return aws.String(ep)
	}
	return e.Config.BaseEndpoint
}

// Apply sets a client's endpoint when Endpoint has one; use it in the
// options function of a service client's NewFromConfig.
func (e *Env) Apply(service string, baseEndpoint **string) {
	if ep := e.Endpoint(service); ep != nil {
		*baseEndpoint = ep
	}
}

// ignored reports AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, which turns the
// endpoint variables off.
func ignored(getenv func(string) string) bool {
	return strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true")
}
