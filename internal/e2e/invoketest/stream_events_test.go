package invoketest

import (
	"bytes"
	"encoding/json"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	statusevents "github.com/fluxkit/sms/internal/events"
)

// streamARNRE is the ARN of the stream of the table events/env.json names.
var streamARNRE = regexp.MustCompile(`^arn:aws:dynamodb:us-east-1:[0-9]{12}:table/fluxkit-sms/stream/[0-9T:.-]+$`)

// checkStreamEvent checks that a publisher event looks like what the
// publisher's event source mapping hands over: records of the table's
// stream that passed its filter (inserted or modified status records),
// both images, increasing sequence numbers, images the publisher reads.
func checkStreamEvent(t *testing.T, raw []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ev events.DynamoDBEvent
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("not a DynamoDB stream event: %v", err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	ids := map[string]bool{}
	prev := new(big.Int)
	for i, r := range ev.Records {
		c := r.Change
		for _, chk := range []struct{ name, got, want string }{
			{"eventSource", r.EventSource, "aws:dynamodb"},
			{"eventVersion", r.EventVersion, "1.1"},
			{"awsRegion", r.AWSRegion, "us-east-1"},
			{"StreamViewType", c.StreamViewType, "NEW_AND_OLD_IMAGES"},
			{"Keys.pk", c.Keys["pk"].String(), c.NewImage["pk"].String()},
			{"Keys.sk", c.Keys["sk"].String(), c.NewImage["sk"].String()},
		} {
			if chk.got != chk.want {
				t.Errorf("record %d: %s = %q, want %q", i, chk.name, chk.got, chk.want)
			}
		}
		if !streamARNRE.MatchString(r.EventSourceArn) {
			t.Errorf("record %d: eventSourceARN = %q, want the stream of table fluxkit-sms", i, r.EventSourceArn)
		}
		// The event source mapping's filter: inserted or modified status
		// records only.
		if r.EventName != "INSERT" && r.EventName != "MODIFY" || !strings.HasPrefix(c.Keys["pk"].String(), "status#") {
			t.Errorf("record %d: %s of %s, which the event source mapping's filter drops", i, r.EventName, c.Keys["pk"].String())
		}
		if (r.EventName == "MODIFY") != (len(c.OldImage) > 0) {
			t.Errorf("record %d: %s with %d old image attributes, want an old image exactly for MODIFY", i, r.EventName, len(c.OldImage))
		}
		if len(r.EventID) != 32 || ids[r.EventID] {
			t.Errorf("record %d: eventID %q, want 32 hex digits, unique", i, r.EventID)
		}
		ids[r.EventID] = true
		seq, ok := new(big.Int).SetString(c.SequenceNumber, 10)
		if !ok || seq.Cmp(prev) <= 0 {
			t.Errorf("record %d: SequenceNumber %q, want a number above the previous record's", i, c.SequenceNumber)
		} else {
			prev = seq
		}
		if _, _, err := statusevents.ChangeOf(r); err != nil {
			t.Errorf("record %d: the publisher cannot read it: %v", i, err)
			continue
		}
		if upd, err := c.NewImage["updatedAt"].Int64(); err != nil || c.ApproximateCreationDateTime.Unix() != upd/1000 {
			t.Errorf("record %d: ApproximateCreationDateTime %v, want the second of updatedAt %v", i, c.ApproximateCreationDateTime.Unix(), upd)
		}
	}
}
