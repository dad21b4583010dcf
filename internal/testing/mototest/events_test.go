package mototest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// TestProxyRewrites: a Rewrite changes the request moto gets and the
// answer the client gets, for the operations it chooses.
func TestProxyRewrites(t *testing.T) {
	s := Start(t)
	p := NewProxy(t, s.URL)
	p.SetRewrite(func(op string, body []byte) ([]byte, func(int, []byte) (int, []byte)) {
		switch op {
		case "DynamoDB_20120810.CreateTable":
			return bytes.Replace(body, []byte(`"asked"`), []byte(`"created"`), 1), nil
		case "DynamoDB_20120810.ListTables":
			return nil, func(int, []byte) (int, []byte) { return 200, []byte(`{"TableNames":["rewritten"]}`) }
		}
		return nil, nil
	})
	cfg := s.Config()
	cfg.BaseEndpoint = aws.String(p.URL)
	ddb := dynamodb.NewFromConfig(cfg)
	ctx := context.Background()
	if err := CreateServiceTable(ctx, ddb, "asked"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DynamoDB().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("created")}); err != nil {
		t.Errorf("moto has no table %q: the request was not rewritten: %v", "created", err)
	}
	out, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || len(out.TableNames) != 1 || out.TableNames[0] != "rewritten" {
		t.Errorf("ListTables through the proxy = %v, %v; want the rewritten answer", out, err)
	}
	p.SetRewrite(nil)
	if out, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil || len(out.TableNames) != 1 || out.TableNames[0] != "created" {
		t.Errorf("ListTables without the rewrite = %v, %v; want moto's answer", out, err)
	}
}

// TestStreamAndEventTap: the stream reader hands over each write once, in
// order, in the Lambda event's form; the tap receives what a rule
// matches.
func TestStreamAndEventTap(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	ddb := s.DynamoDB()
	table := s.CreateTable(t, "streamed")
	arn, err := EnableStream(ctx, ddb, table)
	if err != nil {
		t.Fatal(err)
	}
	r := NewStreamReader(s.Config(), arn)
	put := func(v string) {
		t.Helper()
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "s"}, "v": &ddbtypes.AttributeValueMemberS{Value: v},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	put("1")
	put("2")
	recs, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].EventName != "INSERT" || recs[1].EventName != "MODIFY" ||
		recs[1].Change.OldImage["v"].String() != "1" || recs[1].Change.NewImage["v"].String() != "2" || recs[1].EventSourceArn != arn {
		t.Fatalf("records = %+v, want the insert and the modification with both images", recs)
	}
	put("3")
	if recs, err = r.Read(ctx); err != nil || len(recs) != 1 || recs[0].Change.NewImage["v"].String() != "3" {
		t.Errorf("second Read = %+v, %v; want only the new write", recs, err)
	}
	if got := Batches(make([]lambdaevents.DynamoDBEventRecord, 5), 2); len(got) != 3 || len(got[2].Records) != 1 {
		t.Errorf("Batches(5 records, 2) = %d batches, want 2, 2, 1", len(got))
	}

	tap, err := CreateEventTap(ctx, s.Config(), "bus", "bus-tap", `{"source":["fluxkit.sms"],"detail":{"status":["delivered"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.NewFromConfig(s.Config())
	var entries []ebtypes.PutEventsRequestEntry
	for _, st := range []string{"sent", "delivered"} {
		d, _ := json.Marshal(map[string]string{"status": st})
		entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("fluxkit.sms"), DetailType: aws.String("x"), Detail: aws.String(string(d)), EventBusName: aws.String("bus")})
	}
	if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries}); err != nil {
		t.Fatal(err)
	}
	got, err := tap.Take(ctx)
	if err != nil || len(got) != 1 || !bytes.Contains(got[0].Detail, []byte("delivered")) {
		t.Errorf("tapped = %+v, %v; want the one delivered event", got, err)
	}
}
