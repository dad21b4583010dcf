package dynamo

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

func TestStatusStoreConformance(t *testing.T) {
	conformance.StatusStore(t, func(t *testing.T, clock sms.Clock, retention time.Duration) sms.StatusStore {
		return NewStatusStore(newCountingAPI(), newTable(t), StatusConfig{Clock: clock, Retention: retention})
	})
}

// statusCounter counts a status store's requests by operation; its
// writes are atomic on the emulator (see writeMu).
type statusCounter struct {
	*countingAPI
	mu sync.Mutex
	n  map[string]int
}

func newStatusCounter() *statusCounter {
	return &statusCounter{countingAPI: newCountingAPI(), n: map[string]int{}}
}

func (c *statusCounter) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[op]++
}

// take returns the counts since the last take.
func (c *statusCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *statusCounter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.add("UpdateItem")
	return c.countingAPI.UpdateItem(ctx, in, opts...)
}

func (c *statusCounter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.add("GetItem")
	return c.countingAPI.GetItem(ctx, in, opts...)
}

func (c *statusCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.add("Query")
	return c.countingAPI.Query(ctx, in, opts...)
}

func TestStatusItem(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	s := NewStatusStore(newCountingAPI(), table, StatusConfig{Clock: clock, Retention: 48 * time.Hour})
	ctx := context.Background()
	id := sms.NewServiceID()
	ms := func(d time.Duration) types.AttributeValue { return number(epoch.Add(d).UnixMilli()) }
	m := func(kv ...any) types.AttributeValue {
		out := map[string]types.AttributeValue{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1].(types.AttributeValue)
		}
		return &types.AttributeValueMemberM{Value: out}
	}
	wantItem := func(want map[string]types.AttributeValue) {
		t.Helper()
		got := getItem(t, table, "status#"+id, "status")
		for name, w := range want {
			if g, ok := got[name]; !ok || showDeep(g) != showDeep(w) {
				t.Errorf("attribute %s = %s, want %s", name, showDeep(got[name]), showDeep(w))
			}
		}
		for name, g := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("unexpected attribute %s = %s", name, showDeep(g))
			}
		}
	}
	clock.Advance(250 * time.Millisecond)
	if _, err := s.Record(ctx, id, sms.Change{Status: sms.StatusQueued, MessageID: id, To: "+14155552671", From: "MyApp",
		Segments: 2, Encoding: sms.UCS2, CreatedAt: epoch, ExpiresAt: epoch.Add(time.Hour), Owner: sms.CallerOwner("alice")}); err != nil {
		t.Fatal(err)
	}
	queued := map[string]types.AttributeValue{
		"pk": str("status#" + id), "sk": str("status"), "status": str("queued"), "messageId": str(id),
		"to": str("+14155552671"), "from": str("MyApp"), "segments": number(2), "encoding": str("UCS-2"),
		"createdAt": ms(0), "expiresAt": ms(time.Hour), "owner": m("kind", str("caller"), "subject", str("alice")),
		"updatedAt": ms(250 * time.Millisecond), "h_queued": m("at", ms(250*time.Millisecond)),
		// 48 h after the last change, rounded up to the second.
		"ttl": number(epoch.Add(48*time.Hour).Unix() + 1),
	}
	wantItem(queued)
	clock.Advance(time.Second)
	if _, err := s.Record(ctx, id, sms.Change{Status: sms.StatusFailed, ProviderCode: "30008",
		Error: &sms.Failure{Code: "provider_error", Message: "unknown error", ProviderCode: "30008"}}); err != nil {
		t.Fatal(err)
	}
	failed := map[string]types.AttributeValue{}
	for k, v := range queued {
		failed[k] = v
	}
	failed["status"] = str("failed")
	failed["error"] = m("code", str("provider_error"), "message", str("unknown error"), "providerCode", str("30008"))
	failed["h_failed"] = m("at", ms(1250*time.Millisecond), "pc", str("30008"))
	failed["updatedAt"] = ms(1250 * time.Millisecond)
	failed["ttl"] = number(epoch.Add(48*time.Hour).Unix() + 2)
	wantItem(failed)
	// Delivered wins and clears the error; the provider id arrives with it.
	clock.Advance(time.Second)
	if _, err := s.Record(ctx, id, sms.Change{Status: sms.StatusDelivered, ProviderMessageID: "SM1", Provider: "twilio"}); err != nil {
		t.Fatal(err)
	}
	delete(failed, "error")
	failed["status"] = str("delivered")
	failed["providerMessageId"] = str("SM1")
	failed["provider"] = str("twilio")
	failed["h_delivered"] = m("at", ms(2250*time.Millisecond))
	failed["updatedAt"] = ms(2250 * time.Millisecond)
	failed["ttl"] = number(epoch.Add(48*time.Hour).Unix() + 3)
	wantItem(failed)
}

// showDeep renders an attribute value, maps included, for comparisons.
func showDeep(v types.AttributeValue) string {
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		return show(v)
	}
	keys := make([]string, 0, len(m.Value))
	for k := range m.Value {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("M{")
	for _, k := range keys {
		b.WriteString(k + ":" + showDeep(m.Value[k]) + " ")
	}
	b.WriteString("}")
	return b.String()
}

// TestStatusRequests counts the requests of each kind of write and
// lookup: the costs docs/status.md quotes.
func TestStatusRequests(t *testing.T) {
	table := newTable(t)
	api := newStatusCounter()
	clock := conformance.NewClock(epoch)
	s := NewStatusStore(api, table, StatusConfig{Clock: clock})
	ctx := context.Background()
	direct, queued, receiptFirst := sms.NewServiceID(), sms.NewServiceID(), sms.NewServiceID()
	producer := sms.ServiceIDForProducer("order-7")
	sendPath := func(st sms.Status, msgID string) sms.Change {
		return sms.Change{Status: st, MessageID: msgID, To: "+14155552671", From: "MyApp", Segments: 1,
			Encoding: sms.GSM7, CreatedAt: epoch, Owner: sms.CallerOwner("alice")}
	}
	record := func(id string, ch sms.Change) func() error {
		return func() error { _, err := s.Record(ctx, id, ch); return err }
	}
	get := func(id, want string) func() error {
		return func() error {
			r, err := s.Get(ctx, id)
			if err == nil && r.ServiceID != want {
				t.Errorf("Get(%s) = %s, want %s", id, r.ServiceID, want)
			}
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		want map[string]int
	}{
		{"direct send: sent (creates)", record(direct, withProvider(sendPath(sms.StatusSent, "SMd"), "SMd")), map[string]int{"UpdateItem": 1}},
		{"receipt sent after sent (duplicate)", record(direct, sms.Change{Status: sms.StatusSent, At: epoch.Add(time.Second), ProviderCode: "sent", ProviderMessageID: "SMd"}), map[string]int{"UpdateItem": 1}},
		{"receipt delivered", record(direct, sms.Change{Status: sms.StatusDelivered, ProviderCode: "delivered", ProviderMessageID: "SMd"}), map[string]int{"UpdateItem": 1}},
		{"receipt delivered again", record(direct, sms.Change{Status: sms.StatusDelivered, ProviderCode: "delivered", ProviderMessageID: "SMd"}), map[string]int{"UpdateItem": 1}},
		{"send path: queued (creates)", record(queued, sendPath(sms.StatusQueued, queued)), map[string]int{"UpdateItem": 1}},
		{"drain: sent", record(queued, sms.Change{Status: sms.StatusSent, ProviderMessageID: "SMq", Provider: "twilio"}), map[string]int{"UpdateItem": 1}},
		{"receipt outruns the send path (creates)", record(receiptFirst, sms.Change{Status: sms.StatusDelivered, ProviderMessageID: "SMr"}), map[string]int{"UpdateItem": 1}},
		{"late send-path write merges its fields", record(receiptFirst, withProvider(sendPath(sms.StatusSent, "SMr"), "SMr")), map[string]int{"UpdateItem": 2}},
		{"drain: failed, dead-lettered (producer)", record(producer, sms.Change{Status: sms.StatusFailed, ProducerID: "order-7", Owner: sms.ProducerOwner(""), Error: &sms.Failure{Code: sms.CodeDeadLettered, Message: "daily_budget"}}), map[string]int{"UpdateItem": 1}},
		{"drain: sent after a redrive", record(producer, sms.Change{Status: sms.StatusSent, ProviderMessageID: "SMp"}), map[string]int{"UpdateItem": 1}},
		{"get by service id", get(queued, queued), map[string]int{"GetItem": 1}},
		{"get by producer id", get("order-7", producer), map[string]int{"GetItem": 1}},
		{"get by provider id", get("SMq", queued), map[string]int{"GetItem": 2, "Query": 1}},
	}
	for _, tt := range tests {
		clock.Advance(time.Second)
		api.take()
		if err := tt.call(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := api.take(); !equalCounts(got, tt.want) {
			t.Errorf("%s: requests = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func withProvider(ch sms.Change, id string) sms.Change {
	ch.ProviderMessageID, ch.Provider = id, "twilio"
	return ch
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestStatusItemFitsOneWriteUnit sizes the largest realistic record by
// DynamoDB's rules: under 1 KB, every write of it costs one write unit
// (plus one for the index when it sets providerMessageId).
func TestStatusItemFitsOneWriteUnit(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(epoch)
	s := NewStatusStore(newCountingAPI(), table, StatusConfig{Clock: clock})
	ctx := context.Background()
	id := sms.NewServiceID()
	subject := strings.Repeat("s", 64) // a long token subject
	first := sms.Change{Status: sms.StatusScheduled, MessageID: id, ProducerID: strings.Repeat("p", 64),
		To: "+447700900123", From: "+14155550100", Segments: 10, Encoding: sms.UCS2, CreatedAt: epoch,
		ExpiresAt: epoch.Add(10 * time.Hour), Owner: sms.CallerOwner(subject)}
	writes := []sms.Change{first}
	for _, st := range sms.RecordStatuses[1:] {
		ch := sms.Change{Status: st, ProviderCode: "30036", ProviderMessageID: "SM0123456789abcdef0123456789abcdef", Provider: "twilio"}
		if st.Final() && st != sms.StatusDelivered {
			ch.Error = &sms.Failure{Code: "provider_outcome_unknown", Message: strings.Repeat("m", 120), ProviderCode: "30036"}
		}
		writes = append(writes, ch)
	}
	// Failed (a rival final status) lands before delivered, keeping its error.
	for _, ch := range writes {
		clock.Advance(time.Second)
		if _, err := s.Record(ctx, id, ch); err != nil {
			t.Fatal(err)
		}
	}
	item := getItem(t, table, "status#"+id, "status")
	size := itemSize(item)
	t.Logf("largest realistic status item: %d bytes, %d attributes", size, len(item))
	if size >= 1024 {
		t.Errorf("status item is %d bytes, want under 1024 (one write unit per write)", size)
	}
}

// itemSize is an item's size as DynamoDB bills it: attribute names plus
// values (strings in UTF-8 bytes, numbers about one byte per two digits
// plus one, maps 3 bytes plus one per element).
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		digits := len(strings.TrimLeft(strings.TrimPrefix(v.Value, "-"), "0"))
		return int(math.Ceil(float64(digits)/2)) + 1
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += len(k) + valueSize(e) + 1
		}
		return n
	}
	return 1
}

// TestStatusTableHasTheIndex checks that the emulator's table, created as
// template.yaml declares it, has the index the store queries.
func TestStatusTableHasTheIndex(t *testing.T) {
	out, err := moto.DynamoDB().DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(newTable(t))})
	if err != nil {
		t.Fatal(err)
	}
	if mototest.StatusIndex != StatusIndex {
		t.Errorf("mototest.StatusIndex = %q, want %q", mototest.StatusIndex, StatusIndex)
	}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		if aws.ToString(g.IndexName) != StatusIndex {
			continue
		}
		if len(g.KeySchema) != 1 || aws.ToString(g.KeySchema[0].AttributeName) != attrProviderID || g.KeySchema[0].KeyType != types.KeyTypeHash {
			t.Errorf("index key schema = %+v, want %s as the only (hash) key", g.KeySchema, attrProviderID)
		}
		if g.Projection == nil || g.Projection.ProjectionType != types.ProjectionTypeKeysOnly {
			t.Errorf("index projection = %+v, want KEYS_ONLY", g.Projection)
		}
		return
	}
	t.Errorf("table has no index %s: %+v", StatusIndex, out.Table.GlobalSecondaryIndexes)
}

func TestStatusReadsForeignItems(t *testing.T) {
	table := newTable(t)
	s := NewStatusStore(newCountingAPI(), table, StatusConfig{})
	ctx := context.Background()
	now := number(time.Now().UnixMilli())
	odd, broken := sms.NewServiceID(), sms.NewServiceID()
	putItem(t, table, map[string]types.AttributeValue{"pk": str("status#" + odd), "sk": str("status"), "status": str("sending"), "updatedAt": now})
	putItem(t, table, map[string]types.AttributeValue{"pk": str("status#" + broken), "sk": str("status"), "status": str("sent"), "updatedAt": now, "segments": str("two")})
	// An unknown status gives way to any record status.
	changed, err := s.Record(ctx, odd, sms.Change{Status: sms.StatusQueued})
	if err != nil || !changed {
		t.Errorf("Record over an unknown status = %v, %v; want a change", changed, err)
	}
	if r, err := s.Get(ctx, odd); err != nil || r.Status != sms.StatusQueued {
		t.Errorf("Get = %s, %v; want queued", r.Status, err)
	}
	if _, err := s.Get(ctx, broken); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Get(malformed item) error = %v, want kind internal", err)
	}
	if _, err := s.Record(ctx, broken, sms.Change{Status: sms.StatusSent, To: "+1"}); sms.KindOf(err) != sms.KindInternal {
		t.Errorf("Record(malformed item) error = %v, want kind internal", err)
	}
}

// failingStatusAPI fails every request with err, standing in for
// DynamoDB failures the emulator cannot produce.
type failingStatusAPI struct{ err error }

func (f failingStatusAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}

func (f failingStatusAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}

func (f failingStatusAPI) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, f.err
}

func TestStatusErrors(t *testing.T) {
	table := newTable(t)
	throttled := &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	tests := []struct {
		name  string
		api   StatusAPI
		table string
		kind  sms.Kind
	}{
		{"missing table (emulator)", newCountingAPI(), "no-such-table", sms.KindInternal},
		{"connection refused", unreachableClient(t), table, sms.KindUnavailable},
		{"throttled", failingStatusAPI{throttled}, table, sms.KindUnavailable},
		{"access denied", failingStatusAPI{&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}}, table, sms.KindInternal},
		{"no answer", failingStatusAPI{errors.New("connection reset")}, table, sms.KindUnavailable},
	}
	for _, tt := range tests {
		s := NewStatusStore(tt.api, tt.table, StatusConfig{})
		_, err := s.Record(context.Background(), sms.NewServiceID(), sms.Change{Status: sms.StatusSent})
		if got := sms.KindOf(err); got != tt.kind || !strings.Contains(err.Error(), "dynamo: status record: ") {
			t.Errorf("%s: Record error = %v (kind %v), want kind %v naming the operation", tt.name, err, got, tt.kind)
		}
		_, err = s.Get(context.Background(), "SM1")
		if got := sms.KindOf(err); got != tt.kind || !strings.Contains(err.Error(), "dynamo: status get: ") {
			t.Errorf("%s: Get error = %v (kind %v), want kind %v naming the operation", tt.name, err, got, tt.kind)
		}
	}
}

// contendedAPI fails every write's condition, returning the same stored
// record each time, as if other writers kept changing it.
type contendedAPI struct {
	failingStatusAPI
	writes int
}

func (c *contendedAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.writes++
	return nil, &types.ConditionalCheckFailedException{Item: map[string]types.AttributeValue{
		"pk": str("status#" + sms.ServiceIDForProducer("x")), "sk": str("status"), "status": str("queued"),
	}}
}

func TestStatusRecordGivesUpUnderContention(t *testing.T) {
	api := &contendedAPI{}
	s := NewStatusStore(api, "t", StatusConfig{})
	_, err := s.Record(context.Background(), sms.ServiceIDForProducer("x"), sms.Change{Status: sms.StatusSent})
	if got := sms.KindOf(err); got != sms.KindUnavailable {
		t.Errorf("Record under endless contention: error = %v, want kind %v", err, sms.KindUnavailable)
	}
	if api.writes != maxStatusAttempts {
		t.Errorf("writes = %d, want %d", api.writes, maxStatusAttempts)
	}
}
