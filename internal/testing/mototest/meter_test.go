package mototest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestMeterMeasuresCapacityAsDynamoDBBills(t *testing.T) {
	s := Start(t)
	table := s.CreateTable(t, "metered")
	p := NewProxy(t, s.URL)
	m := NewMeter(t, p.URL, s.URL)
	cfg := s.Config()
	cfg.BaseEndpoint = aws.String(m.URL)
	ddb := dynamodb.NewFromConfig(cfg)
	ctx := context.Background()
	str := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": str(pk), "sk": str("x")}
	}
	item := func(pk string, extra map[string]ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
		it := key(pk)
		for k, v := range extra {
			it[k] = v
		}
		return it
	}
	big := strings.Repeat("a", 1500) // with its name and keys: 2 KB started

	tests := []struct {
		name       string
		do         func() error
		wantWrite  float64
		wantRead   float64
		wantFailed bool
	}{
		{"small put", func() error {
			_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("a", nil)})
			return err
		}, 1, 0, false},
		{"put over 1 KB", func() error {
			_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("b", map[string]ddbtypes.AttributeValue{"payload": str(big)})})
			return err
		}, 2, 0, false},
		{"update shrinking a large item is billed at the larger size", func() error {
			_, err := ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("b"), UpdateExpression: aws.String("REMOVE payload")})
			return err
		}, 2, 0, false},
		{"update setting the index key writes the index too", func() error {
			_, err := ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("a"),
				UpdateExpression: aws.String("SET #i = :v"), ExpressionAttributeNames: map[string]string{"#i": StatusIndex},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": str("SM1")}})
			return err
		}, 2, 0, false},
		{"update changing the index key deletes and puts an entry", func() error {
			_, err := ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("a"),
				UpdateExpression: aws.String("SET #i = :v"), ExpressionAttributeNames: map[string]string{"#i": StatusIndex},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": str("SM2")}})
			return err
		}, 3, 0, false},
		{"failed condition still costs the item", func() error {
			_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("a", nil), ConditionExpression: aws.String("attribute_not_exists(pk)")})
			return err
		}, 1, 0, true},
		{"eventually consistent get", func() error {
			_, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("a")})
			return err
		}, 0, 0.5, false},
		{"strongly consistent get of nothing", func() error {
			_, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("none"), ConsistentRead: aws.Bool(true)})
			return err
		}, 0, 1, false},
		{"index query", func() error {
			_, err := ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String(StatusIndex),
				KeyConditionExpression: aws.String("#i = :v"), ExpressionAttributeNames: map[string]string{"#i": StatusIndex},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": str("SM2")}})
			return err
		}, 0, 0.5, false},
		{"delete of an indexed item", func() error {
			_, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key("a")})
			return err
		}, 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.Reset()
			err := tt.do()
			var ccf *ddbtypes.ConditionalCheckFailedException
			if tt.wantFailed != errors.As(err, &ccf) || (!tt.wantFailed && err != nil) {
				t.Fatalf("err = %v, want failed condition %v", err, tt.wantFailed)
			}
			got := m.Capacity()
			if got.Requests != 1 || got.WriteUnits != tt.wantWrite || got.ReadUnits != tt.wantRead {
				t.Errorf("capacity = %+v, want 1 request, %v write and %v read units", got, tt.wantWrite, tt.wantRead)
			}
		})
	}
	if c := p.Counts(); c["DynamoDB_20120810.GetItem"] != 2 {
		t.Errorf("the proxy behind counted %d GetItem, want only the 2 of the test (the meter's own reads go to moto)", c["DynamoDB_20120810.GetItem"])
	}
}

func TestItemSize(t *testing.T) {
	tests := []struct {
		item map[string]any
		want int
	}{
		{map[string]any{"pk": map[string]any{"S": "abc"}}, 5},
		{map[string]any{"n": map[string]any{"N": "12345"}}, 1 + 4},
		{map[string]any{"n": map[string]any{"N": "-0.0012"}}, 1 + 2},
		{map[string]any{"b": map[string]any{"BOOL": true}, "z": map[string]any{"NULL": true}}, 4},
		{map[string]any{"l": map[string]any{"L": []any{map[string]any{"S": "ab"}}}}, 1 + 3 + 1 + 2},
		{map[string]any{"m": map[string]any{"M": map[string]any{"k": map[string]any{"S": "ab"}}}}, 1 + 3 + 1 + 1 + 2},
		{map[string]any{"é": map[string]any{"S": "é"}}, 4},
	}
	for _, tt := range tests {
		if got := itemSize(tt.item); got != tt.want {
			t.Errorf("itemSize(%v) = %d, want %d", tt.item, got, tt.want)
		}
	}
}
