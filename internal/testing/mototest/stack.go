package mototest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The queue settings of template.yaml that StackConfig defaults to.
const (
	// DefaultVisibilityTimeout is the queue's visibility timeout: six
	// times the drain function's timeout.
	DefaultVisibilityTimeout = 360 * time.Second
	// DefaultMaxReceiveCount is the default redrive limit (the template's
	// MaxReceiveCount parameter).
	DefaultMaxReceiveCount = 10
)

// StackConfig describes a test deployment of the service's resources.
// Zero fields take template.yaml's values.
type StackConfig struct {
	// Name names the table, the queue and the secret; the dead-letter
	// queue is Name + "-dlq".
	Name string
	// TableName, QueueName, DLQName and SecretName, when set, replace the
	// names derived from Name.
	TableName, QueueName, DLQName, SecretName string
	// SecretJSON is the secret's value; empty means no secret.
	SecretJSON string
	// VisibilityTimeout is the queue's, in whole seconds; zero means
	// DefaultVisibilityTimeout.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is how many receives the queue allows before it
	// moves a message to the dead-letter queue; zero means
	// DefaultMaxReceiveCount.
	MaxReceiveCount int
	// ScheduleGroup, when set, names the schedule group instead of Name
	// (or, without Name, QueueName).
	ScheduleGroup string
}

// Stack names the resources of a test deployment: what the functions'
// SMS_TABLE_NAME, SMS_QUEUE_URL, SMS_DLQ_URL and SMS_SECRET_ID hold.
type Stack struct {
	TableName        string
	QueueURL, DLQURL string
	// SecretID is the secret's ARN; empty without StackConfig.SecretJSON.
	SecretID string
	// QueueARN, ScheduleGroup and ScheduleRoleARN are what
	// SMS_QUEUE_ARN, SMS_SCHEDULE_GROUP and SMS_SCHEDULE_ROLE_ARN hold: the
	// schedules of scheduled messages (a Firer fires them).
	QueueARN, ScheduleGroup, ScheduleRoleARN string
}

// Deploy creates on this server the resources template.yaml deploys: the
// table (pk and sk strings, on demand, TTL on ttl, the StatusIndex), the
// dead-letter queue, the queue redriving to it, the schedule group, and
// the secret. It fails
// the test on any error.
func (s *Server) Deploy(tb testing.TB, sc StackConfig) Stack {
	tb.Helper()
	st, err := DeployStack(context.Background(), s.Config(), sc)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// DeployStack is Deploy through the AWS configuration cfg, for callers
// without a testing.TB or that reach moto through a Proxy (the queue URLs
// then carry cfg's endpoint).
func DeployStack(ctx context.Context, cfg aws.Config, sc StackConfig) (Stack, error) {
	sc = sc.withDefaults()
	ddb := dynamodb.NewFromConfig(cfg)
	if err := CreateServiceTable(ctx, ddb, sc.TableName); err != nil {
		return Stack{}, err
	}
	if _, err := ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(sc.TableName),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)},
	}); err != nil {
		return Stack{}, fmt.Errorf("mototest: table %s: time to live: %w", sc.TableName, err)
	}
	st := Stack{TableName: sc.TableName}
	sq := sqs.NewFromConfig(cfg)
	var err error
	if st.DLQURL, err = createQueue(ctx, sq, sc.DLQName, nil); err != nil {
		return Stack{}, err
	}
	dlq, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(st.DLQURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return Stack{}, fmt.Errorf("mototest: queue %s: ARN: %w", sc.DLQName, err)
	}
	redrive, err := json.Marshal(map[string]string{
		"deadLetterTargetArn": dlq.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(sc.MaxReceiveCount),
	})
	if err != nil {
		return Stack{}, fmt.Errorf("mototest: redrive policy: %w", err)
	}
	if st.QueueURL, err = createQueue(ctx, sq, sc.QueueName, map[string]string{
		"VisibilityTimeout": strconv.Itoa(int(sc.VisibilityTimeout / time.Second)),
		"RedrivePolicy":     string(redrive),
	}); err != nil {
		return Stack{}, err
	}
	if err := deploySchedules(ctx, cfg, sc, &st); err != nil {
		return Stack{}, err
	}
	if sc.SecretJSON == "" {
		return st, nil
	}
	if !json.Valid([]byte(sc.SecretJSON)) {
		return Stack{}, fmt.Errorf("mototest: secret %s: the value is not JSON", sc.SecretName)
	}
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(sc.SecretName), SecretString: aws.String(sc.SecretJSON),
	})
	if err != nil {
		return Stack{}, fmt.Errorf("mototest: create secret %s: %w", sc.SecretName, err)
	}
	st.SecretID = aws.ToString(out.ARN)
	return st, nil
}

// withDefaults fills the zero fields.
func (sc StackConfig) withDefaults() StackConfig {
	for _, f := range []struct {
		dst *string
		def string
	}{{&sc.TableName, sc.Name}, {&sc.QueueName, sc.Name}, {&sc.DLQName, sc.Name + "-dlq"}, {&sc.SecretName, sc.Name}} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	if sc.VisibilityTimeout <= 0 {
		sc.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if sc.MaxReceiveCount <= 0 {
		sc.MaxReceiveCount = DefaultMaxReceiveCount
	}
	return sc
}

// createQueue creates a standard queue and returns its URL.
func createQueue(ctx context.Context, sq *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("mototest: create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
