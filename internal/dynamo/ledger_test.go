package dynamo

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

func TestLedgerConformance(t *testing.T) {
	conformance.Ledger(t, func(t *testing.T, clock sms.Clock) sms.Ledger {
		return NewLedger(newCountingAPI(), newTable(t), LedgerConfig{Clock: clock})
	})
}

func TestLedgerItem(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	l := NewLedger(newCountingAPI(), table, LedgerConfig{Clock: clock})
	ctx := context.Background()
	num := func(ms int64) types.AttributeValue { return number(ms) }
	wantItem := func(want map[string]types.AttributeValue) {
		t.Helper()
		got := getItem(t, table, "ledger#caller/key-1", "ledger")
		for name, w := range want {
			if g, ok := got[name]; !ok || (w != anyToken && !attrEqual(g, w)) {
				t.Errorf("attribute %s = %v, want %v", name, show(got[name]), show(w))
			}
		}
		if len(got) != len(want) {
			t.Errorf("item has %d attributes, want %d: %v", len(got), len(want), got)
		}
	}
	if _, err := l.Claim(ctx, "caller/key-1", "fp-1", 30*time.Second); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	until := epoch.Add(30 * time.Second).UnixMilli()
	wantItem(map[string]types.AttributeValue{
		"pk": str("ledger#caller/key-1"), "sk": str("ledger"), "state": str("pending"), "fp": str("fp-1"),
		"claim": anyToken, "leaseUntil": num(until), "expiresAt": num(until), "ttl": num(until/1000 + 3600),
	})
	clock.Advance(2 * time.Second)
	if err := l.Complete(ctx, "caller/key-1", "fp-1", []byte(`{"messageId":"SM1"}`), 24*time.Hour); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	expires := epoch.Add(2*time.Second + 24*time.Hour).UnixMilli()
	wantItem(map[string]types.AttributeValue{
		"pk": str("ledger#caller/key-1"), "sk": str("ledger"), "state": str("done"), "fp": str("fp-1"),
		"leaseUntil": num(epoch.Add(2 * time.Second).UnixMilli()), "expiresAt": num(expires), "ttl": num(expires/1000 + 3600),
		"outcome": &types.AttributeValueMemberB{Value: []byte(`{"messageId":"SM1"}`)},
	})
}

// anyToken stands for the random claim token in an expected item.
var anyToken types.AttributeValue = str("<any claim token>")

func attrEqual(a, b types.AttributeValue) bool { return show(a) == show(b) }

func show(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + v.Value
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return "B:" + string(v.Value)
	case nil:
		return "absent"
	}
	return "?"
}

func TestLedgerRequests(t *testing.T) {
	table := newTable(t)
	api := newCountingAPI()
	l := NewLedger(api, table, LedgerConfig{})
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"claim fresh", func() error { return claimWant(ctx, l, "k", "a", sms.Claimed) }},
		{"claim held", func() error { return claimWant(ctx, l, "k", "a", sms.Held) }},
		{"claim mismatch", func() error { return claimWant(ctx, l, "k", "b", sms.Mismatch) }},
		{"complete", func() error { return l.Complete(ctx, "k", "a", []byte("r"), time.Hour) }},
		{"claim done", func() error { return claimWant(ctx, l, "k", "a", sms.Done) }},
		{"release done (refused)", func() error { return l.Release(ctx, "k") }},
		{"claim other", func() error { return claimWant(ctx, l, "k2", "a", sms.Claimed) }},
		{"release pending", func() error { return l.Release(ctx, "k2") }},
	}
	for _, tt := range tests {
		before := api.n.Load()
		if err := tt.call(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := api.n.Load() - before; got != 1 {
			t.Errorf("%s: requests = %d, want 1", tt.name, got)
		}
	}
}

// claimWant claims key and reports an error unless the state is want.
func claimWant(ctx context.Context, l *Ledger, key, fp string, want sms.ClaimState) error {
	c, err := l.Claim(ctx, key, fp, time.Minute)
	if err != nil {
		return err
	}
	if c.State != want {
		return fmt.Errorf("Claim(%q, %q) = %v, want %v", key, fp, c.State, want)
	}
	return nil
}

func TestLedgerReadsForeignRecords(t *testing.T) {
	table := newTable(t)
	far := number(time.Now().Add(time.Hour).UnixMilli())
	putItem(t, table, map[string]types.AttributeValue{
		"pk": str("ledger#string-outcome"), "sk": str("ledger"), "state": str("done"), "fp": str("a"),
		"leaseUntil": far, "expiresAt": far, "outcome": str(`{"status":"sent"}`),
	})
	putItem(t, table, map[string]types.AttributeValue{
		"pk": str("ledger#odd-state"), "sk": str("ledger"), "state": str("sending"), "fp": str("a"),
		"leaseUntil": far, "expiresAt": far,
	})
	l := NewLedger(newCountingAPI(), table, LedgerConfig{})
	c, err := l.Claim(context.Background(), "string-outcome", "a", time.Minute)
	if err != nil || c.State != sms.Done || string(c.Outcome) != `{"status":"sent"}` {
		t.Errorf("Claim(string-outcome) = %v %q, %v; want Done with the string", c.State, c.Outcome, err)
	}
	_, err = l.Claim(context.Background(), "odd-state", "a", time.Minute)
	if got, want := sms.KindOf(err), sms.KindInternal; got != want {
		t.Errorf("Claim(odd-state) error kind = %v, want %v (err %v)", got, want, err)
	}
}

// failingLedgerAPI fails every request with err, standing in for DynamoDB
// failures the emulator cannot produce.
type failingLedgerAPI struct{ err error }

func (f failingLedgerAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}

func (f failingLedgerAPI) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, f.err
}

func TestLedgerErrors(t *testing.T) {
	table := newTable(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	throttled := &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	tests := []struct {
		name  string
		api   LedgerAPI
		table string
		ctx   context.Context
		kind  sms.Kind
	}{
		{"missing table (emulator)", newCountingAPI(), "no-such-table", context.Background(), sms.KindInternal},
		{"canceled context (emulator)", newCountingAPI(), table, canceled, sms.KindUnavailable},
		{"connection refused", unreachableClient(t), table, context.Background(), sms.KindUnavailable},
		{"throttled", failingLedgerAPI{throttled}, table, context.Background(), sms.KindUnavailable},
		{"missing table", failingLedgerAPI{&types.ResourceNotFoundException{Message: aws.String("no table")}}, table, context.Background(), sms.KindInternal},
	}
	for _, tt := range tests {
		l := NewLedger(tt.api, tt.table, LedgerConfig{})
		ops := map[string]func() error{
			"claim":    func() error { _, err := l.Claim(tt.ctx, "k", "a", time.Minute); return err },
			"complete": func() error { return l.Complete(tt.ctx, "k", "a", []byte("r"), time.Hour) },
			"release":  func() error { return l.Release(tt.ctx, "k") },
		}
		for op, call := range ops {
			err := call()
			if got := sms.KindOf(err); got != tt.kind {
				t.Errorf("%s: %s error kind = %v, want %v (err %v)", tt.name, op, got, tt.kind, err)
			}
			if err != nil && !strings.Contains(err.Error(), "dynamo: "+op+": ") {
				t.Errorf("%s: %s error %q does not name the operation", tt.name, op, err)
			}
		}
	}
}

// ledgerLosingFirstPutAnswer returns a ledger on a fresh table whose
// first PutItem reaches the table but answers 500, as an answer lost on
// the way back; the SDK client makes at most attempts tries.
func ledgerLosingFirstPutAnswer(t *testing.T, attempts int) (*Ledger, *mototest.Proxy) {
	t.Helper()
	table := newTable(t)
	proxy := mototest.NewProxy(t, moto.URL)
	var lost atomic.Bool
	proxy.SetFaults(func(op string) mototest.Fault {
		if op == "DynamoDB_20120810.PutItem" && lost.CompareAndSwap(false, true) {
			return mototest.FailAfter
		}
		return mototest.Pass
	})
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(proxy.URL)
	cfg.RetryMaxAttempts = attempts
	return NewLedger(dynamodb.NewFromConfig(cfg), table, LedgerConfig{}), proxy
}

// TestClaimRecognisesItsOwnRetriedWrite loses the answer to a claim's
// PutItem after the write reached the table; the SDK retries the same
// request, whose condition then fails on the record just written. The
// claim must still be the caller's, not "held by another".
func TestClaimRecognisesItsOwnRetriedWrite(t *testing.T) {
	l, proxy := ledgerLosingFirstPutAnswer(t, 3) // the SDK's default retryer, as deployed
	ctx := context.Background()
	c, err := l.Claim(ctx, "retried", "fp-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.State, sms.Claimed; got != want {
		t.Errorf("state after a retried claim = %v, want %v", got, want)
	}
	if got := proxy.Counts()["DynamoDB_20120810.PutItem"]; got != 2 {
		t.Errorf("PutItem requests = %d, want 2 (the lost answer and the SDK's retry)", got)
	}
	// Another caller still sees the claim as held.
	other, err := l.Claim(ctx, "retried", "fp-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := other.State, sms.Held; got != want {
		t.Errorf("another caller's claim = %v, want %v", got, want)
	}
}

// TestClaimWithLostAnswerDoesNotHoldTheKey loses the answer to a claim's
// write with no retry left: the claim fails, and the record it may have
// written must not hold the key against the next attempt.
func TestClaimWithLostAnswerDoesNotHoldTheKey(t *testing.T) {
	l, _ := ledgerLosingFirstPutAnswer(t, 1) // no SDK retry: the caller sees the failure
	ctx := context.Background()
	if _, err := l.Claim(ctx, "lost", "fp-1", time.Minute); sms.KindOf(err) != sms.KindUnavailable {
		t.Fatalf("claim with a lost answer: err = %v, want unavailable", err)
	}
	c, err := l.Claim(ctx, "lost", "fp-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.State, sms.Claimed; got != want {
		t.Errorf("next claim = %v, want %v (the lost write must not hold the key)", got, want)
	}
}
