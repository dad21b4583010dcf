package publisher

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/testing/mototest"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadNamesWhatIsMissing(t *testing.T) {
	awsVars := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"no bus", awsVars, "SMS_EVENT_BUS"},
		{"a bad bus", map[string]string{"SMS_EVENT_BUS": "a bus", "AWS_REGION": "us-east-1"}, "SMS_EVENT_BUS"},
		{"no region", map[string]string{"SMS_EVENT_BUS": "sms-events"}, "AWS_REGION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(envOf(tt.vars), nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestLoadPublishesToTheConfiguredBus: the handler Load builds puts the
// status change of a stream record on SMS_EVENT_BUS through the endpoint
// AWS_ENDPOINT_URL names, and reads no secret (none exists).
func TestLoadPublishesToTheConfiguredBus(t *testing.T) {
	moto := mototest.Start(t)
	ctx := context.Background()
	tap, err := mototest.CreateEventTap(ctx, moto.Config(), "sms-events", "sms-events-tap", mototest.StatusEventPattern)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SMS_EVENT_BUS": "sms-events", "SMS_SECRET_ID": "no-such-secret"}
	for _, kv := range moto.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	h, err := Load(envOf(vars), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.DynamoDBEvent
	if err := json.Unmarshal([]byte(streamEvent), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := h.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %v, %v; want no failure", resp.BatchItemFailures, err)
	}
	got, err := tap.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d events on the bus, want 1", len(got))
	}
	var d struct{ Status, PreviousStatus string }
	if err := json.Unmarshal(got[0].Detail, &d); err != nil || d.Status != "sent" || d.PreviousStatus != "queued" {
		t.Errorf("event detail %s (%v), want the queued>sent change", got[0].Detail, err)
	}
}

const streamEvent = `{"Records": [{
  "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
  "dynamodb": {
    "Keys": {"pk": {"S": "status#0b0f6b2a-9a41-4d35-8c1e-8f8c3f2a7d10"}, "sk": {"S": "status"}},
    "OldImage": {"pk": {"S": "status#0b0f6b2a-9a41-4d35-8c1e-8f8c3f2a7d10"}, "sk": {"S": "status"}, "status": {"S": "queued"},
      "messageId": {"S": "0b0f6b2a-9a41-4d35-8c1e-8f8c3f2a7d10"}, "updatedAt": {"N": "1772359200000"}, "h_queued": {"M": {"at": {"N": "1772359200000"}}}},
    "NewImage": {"pk": {"S": "status#0b0f6b2a-9a41-4d35-8c1e-8f8c3f2a7d10"}, "sk": {"S": "status"}, "status": {"S": "sent"},
      "messageId": {"S": "0b0f6b2a-9a41-4d35-8c1e-8f8c3f2a7d10"}, "updatedAt": {"N": "1772359201000"}, "h_queued": {"M": {"at": {"N": "1772359200000"}}},
      "h_sent": {"M": {"at": {"N": "1772359201000"}}}},
    "SequenceNumber": "100", "SizeBytes": 300, "StreamViewType": "NEW_AND_OLD_IMAGES"
  },
  "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/fluxkit-sms/stream/2026-03-01T00:00:00.000"
}]}`
