package mototest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func TestStartCreatesResources(t *testing.T) {
	s := Start(t)
	table := s.CreateTable(t, "t1")
	out, err := s.DynamoDB().DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("describe table: %v", err)
	}
	if got, want := len(out.Table.KeySchema), 2; got != want {
		t.Fatalf("key schema elements = %d, want %d", got, want)
	}
	if got := s.CreateQueue(t, "q1", nil); got == "" {
		t.Fatal("queue URL is empty")
	}
	if got := s.CreateSecret(t, "s1", `{"a":"b"}`); got == "" {
		t.Fatal("secret ARN is empty")
	}
}

func TestProxyCountsAndInjectsFaults(t *testing.T) {
	s := Start(t)
	table := s.CreateTable(t, "proxied")
	p := NewProxy(t, s.URL)
	cfg := s.Config()
	cfg.BaseEndpoint = aws.String(p.URL)
	ddb := dynamodb.NewFromConfig(cfg)
	ctx := context.Background()
	put := func(pk string) error {
		_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: "x"},
		}})
		return err
	}
	exists := func(pk string) bool {
		out, err := s.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: "x"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Item) > 0
	}
	tests := []struct {
		fault     Fault
		wantErr   bool
		wantWrite bool
	}{
		{Pass, false, true},
		{FailBefore, true, false},
		{FailAfter, true, true},
		{Throttle, true, false},
	}
	for i, tt := range tests {
		p.SetFaults(func(string) Fault { return tt.fault })
		pk := fmt.Sprint("item-", i)
		if err := put(pk); (err != nil) != tt.wantErr {
			t.Errorf("fault %d: err = %v, want error %v", tt.fault, err, tt.wantErr)
		}
		if got := exists(pk); got != tt.wantWrite {
			t.Errorf("fault %d: item written = %v, want %v", tt.fault, got, tt.wantWrite)
		}
	}
	if got, want := p.Counts()["DynamoDB_20120810.PutItem"], len(tests); got != want {
		t.Errorf("PutItem count = %d, want %d", got, want)
	}
	p.Reset()
	if got := len(p.Counts()); got != 0 {
		t.Errorf("counts after Reset = %d operations, want 0", got)
	}
}

func TestDeployCreatesTheTemplateStack(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	st := s.Deploy(t, StackConfig{Name: "fluxkit", SecretJSON: `{"jwtSecret":"x"}`, VisibilityTimeout: 30 * time.Second})
	if st.TableName != "fluxkit" || !strings.HasSuffix(st.QueueURL, "/fluxkit") || !strings.HasSuffix(st.DLQURL, "/fluxkit-dlq") {
		t.Errorf("stack = %+v, want table fluxkit, queues fluxkit and fluxkit-dlq", st)
	}
	ttl, err := s.DynamoDB().DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(st.TableName)})
	if err != nil {
		t.Fatalf("describe time to live: %v", err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "ttl" {
		t.Errorf("time to live = %s on %q, want ENABLED on ttl", d.TimeToLiveStatus, aws.ToString(d.AttributeName))
	}
	arn := func(url string) string {
		t.Helper()
		out, err := s.SQS().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatalf("queue attributes of %s: %v", url, err)
		}
		if url == st.QueueURL {
			if got, want := out.Attributes["VisibilityTimeout"], "30"; got != want {
				t.Errorf("VisibilityTimeout = %s, want %s", got, want)
			}
			var redrive struct {
				DeadLetterTargetArn string `json:"deadLetterTargetArn"`
				MaxReceiveCount     any    `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &redrive); err != nil {
				t.Fatalf("RedrivePolicy %q: %v", out.Attributes["RedrivePolicy"], err)
			}
			if got := fmt.Sprint(redrive.MaxReceiveCount); got != "10" {
				t.Errorf("maxReceiveCount = %s, want 10", got)
			}
			return redrive.DeadLetterTargetArn
		}
		return out.Attributes["QueueArn"]
	}
	if target, dlq := arn(st.QueueURL), arn(st.DLQURL); target == "" || target != dlq {
		t.Errorf("queue redrives to %q, want the dead-letter queue %q", target, dlq)
	}
	secret, err := s.SecretsManager().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(st.SecretID)})
	if err != nil {
		t.Fatalf("secret %q: %v", st.SecretID, err)
	}
	if got, want := aws.ToString(secret.SecretString), `{"jwtSecret":"x"}`; got != want {
		t.Errorf("secret = %s, want %s", got, want)
	}
}
