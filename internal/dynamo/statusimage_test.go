package dynamo

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
)

// TestDecodeStatusImage: an item as StatusStore wrote it decodes to the
// record Get returns; items of other kinds, and a status item without a
// status, are not records; a status item that cannot be read is an error.
func TestDecodeStatusImage(t *testing.T) {
	table := newTable(t)
	store := NewStatusStore(newCountingAPI(), table, StatusConfig{})
	ctx := context.Background()
	id := sms.NewServiceID()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, ch := range []sms.Change{
		{Status: sms.StatusQueued, At: at, MessageID: id, To: "+14155550100", From: "FluxKit", Segments: 1, Encoding: sms.GSM7, CreatedAt: at, Owner: sms.CallerOwner("app-1")},
		{Status: sms.StatusUndelivered, At: at.Add(time.Minute), ProviderCode: "30003", ProviderMessageID: "SM123", Provider: "twilio",
			Error: &sms.Failure{Code: "undelivered", Message: "unreachable handset", ProviderCode: "30003"}},
	} {
		if _, err := store.Record(ctx, id, ch); err != nil {
			t.Fatalf("Record(%s): %v", ch.Status, err)
		}
	}
	want, err := store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := DecodeStatusImage(getItem(t, table, StatusKeyPrefix+id, statusSK))
	if err != nil || !ok {
		t.Fatalf("DecodeStatusImage(stored item) = _, %v, %v; want a record", ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeStatusImage(stored item) =\n  %+v\nwant the record Get returns\n  %+v", got, want)
	}

	for _, tt := range []struct {
		name    string
		item    map[string]types.AttributeValue
		ok, err bool
	}{
		{"limiter shard", map[string]types.AttributeValue{"pk": str("limiter#sms"), "sk": str("shard#0"), "next": number(1)}, false, false},
		{"ledger entry", map[string]types.AttributeValue{"pk": str("ledger#msg#x"), "sk": str("ledger"), "status": str("done")}, false, false},
		{"status item without a status", map[string]types.AttributeValue{"pk": str(StatusKeyPrefix + id), "sk": str(statusSK)}, false, false},
		{"no key", map[string]types.AttributeValue{"status": str("sent")}, false, false},
		{"status of the wrong type", map[string]types.AttributeValue{"pk": str(StatusKeyPrefix + id), "sk": str(statusSK), "status": number(4)}, false, true},
		{"bad history entry", map[string]types.AttributeValue{"pk": str(StatusKeyPrefix + id), "sk": str(statusSK), "status": str("sent"), "h_sent": str("x")}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := DecodeStatusImage(tt.item)
			if ok != tt.ok || (err != nil) != tt.err {
				t.Errorf("DecodeStatusImage = _, %v, %v; want ok %v, error %v", ok, err, tt.ok, tt.err)
			}
			if err != nil && sms.KindOf(err) != sms.KindInternal {
				t.Errorf("error kind = %v, want internal", sms.KindOf(err))
			}
		})
	}
}
