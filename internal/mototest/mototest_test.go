package mototest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
