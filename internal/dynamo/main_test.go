package dynamo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/testing/mototest"
)

// moto is the emulator every test and benchmark of the package shares.
var moto *mototest.Server

func TestMain(m *testing.M) { mototest.Main(m, &moto) }

var tableSeq atomic.Int64

// newTable creates a fresh service table on the shared emulator.
func newTable(tb testing.TB) string {
	tb.Helper()
	return moto.CreateTable(tb, fmt.Sprintf("sms-%d", tableSeq.Add(1)))
}

// writeMu serializes write requests to the emulator. moto_server answers
// requests on several threads and evaluates a write's condition and applies
// the write in separate steps without a lock, so two concurrent conditional
// updates of one item can both succeed (seen here as two grants of the same
// slot) — which DynamoDB, where writes to an item are serialized, never
// allows. Holding this lock across each write restores that atomicity
// without changing what the requests are or what they answer.
var writeMu sync.Mutex

// countingAPI is a DynamoDB client on the shared emulator that counts its
// requests and makes its writes atomic (see writeMu).
type countingAPI struct {
	*dynamodb.Client
	n atomic.Int64
}

func newCountingAPI() *countingAPI { return &countingAPI{Client: moto.DynamoDB()} }

// UpdateItem counts and forwards.
func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.n.Add(1)
	writeMu.Lock()
	defer writeMu.Unlock()
	return c.Client.UpdateItem(ctx, in, opts...)
}

// PutItem counts and forwards.
func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.n.Add(1)
	writeMu.Lock()
	defer writeMu.Unlock()
	return c.Client.PutItem(ctx, in, opts...)
}

// DeleteItem counts and forwards.
func (c *countingAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.n.Add(1)
	writeMu.Lock()
	defer writeMu.Unlock()
	return c.Client.DeleteItem(ctx, in, opts...)
}

// getItem reads one item of table (nil when absent).
func getItem(tb testing.TB, table, pk, sk string) map[string]types.AttributeValue {
	tb.Helper()
	out, err := moto.DynamoDB().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		tb.Fatalf("GetItem(%s, %s): %v", pk, sk, err)
	}
	return out.Item
}

// putItem writes item into table.
func putItem(tb testing.TB, table string, item map[string]types.AttributeValue) {
	tb.Helper()
	if _, err := moto.DynamoDB().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		tb.Fatalf("PutItem: %v", err)
	}
}
