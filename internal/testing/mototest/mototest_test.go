package mototest

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
