package events

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/sms"
)

// image is a stream image of a status item as StatusStore writes it, with
// the given status and history entries (status → unix ms).
func image(serviceID string, status sms.Status, history map[sms.Status]int64) map[string]lambdaevents.DynamoDBAttributeValue {
	img := map[string]lambdaevents.DynamoDBAttributeValue{
		"pk":        lambdaevents.NewStringAttribute("status#" + serviceID),
		"sk":        lambdaevents.NewStringAttribute("status"),
		"status":    lambdaevents.NewStringAttribute(string(status)),
		"messageId": lambdaevents.NewStringAttribute(serviceID),
		"to":        lambdaevents.NewStringAttribute("+14155550100"),
		"segments":  lambdaevents.NewNumberAttribute("1"),
		"updatedAt": lambdaevents.NewNumberAttribute(strconv.FormatInt(t0.UnixMilli(), 10)),
		"owner": lambdaevents.NewMapAttribute(map[string]lambdaevents.DynamoDBAttributeValue{
			"kind": lambdaevents.NewStringAttribute("caller"), "subject": lambdaevents.NewStringAttribute("app-1"),
		}),
		"ttl": lambdaevents.NewNumberAttribute("1775000000"),
	}
	for st, at := range history {
		img["h_"+string(st)] = lambdaevents.NewMapAttribute(map[string]lambdaevents.DynamoDBAttributeValue{"at": lambdaevents.NewNumberAttribute(strconv.FormatInt(at, 10))})
	}
	return img
}

func streamRecord(seq, name string, old, new map[string]lambdaevents.DynamoDBAttributeValue) lambdaevents.DynamoDBEventRecord {
	keys := new
	if keys == nil {
		keys = old
	}
	return lambdaevents.DynamoDBEventRecord{
		EventName: name, EventSource: "aws:dynamodb",
		Change: lambdaevents.DynamoDBStreamRecord{
			Keys:           map[string]lambdaevents.DynamoDBAttributeValue{"pk": keys["pk"], "sk": keys["sk"]},
			NewImage:       new,
			OldImage:       old,
			SequenceNumber: seq,
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}

func TestChangeOf(t *testing.T) {
	ms := t0.UnixMilli()
	queued := image(sampleID, sms.StatusQueued, map[sms.Status]int64{sms.StatusQueued: ms})
	sent := image(sampleID, sms.StatusSent, map[sms.Status]int64{sms.StatusQueued: ms, sms.StatusSent: ms + 1000})
	// A late queued report after sent: the history changes, the status does not.
	sentMerged := image(sampleID, sms.StatusSent, map[sms.Status]int64{sms.StatusQueued: ms - 5, sms.StatusSent: ms + 1000})
	limiter := map[string]lambdaevents.DynamoDBAttributeValue{
		"pk": lambdaevents.NewStringAttribute("limiter#sms"), "sk": lambdaevents.NewStringAttribute("shard#0"), "next": lambdaevents.NewNumberAttribute("1"),
	}
	keysOnly := map[string]lambdaevents.DynamoDBAttributeValue{"pk": queued["pk"], "sk": queued["sk"]}
	bad := image(sampleID, sms.StatusSent, nil)
	bad["h_sent"] = lambdaevents.NewStringAttribute("not a map")

	tests := []struct {
		name     string
		rec      lambdaevents.DynamoDBEventRecord
		ok       bool
		status   sms.Status
		previous sms.Status
		err      bool
	}{
		{"new record", streamRecord("1", "INSERT", nil, queued), true, sms.StatusQueued, "", false},
		{"status moved", streamRecord("2", "MODIFY", queued, sent), true, sms.StatusSent, sms.StatusQueued, false},
		{"merge without a move", streamRecord("3", "MODIFY", sent, sentMerged), false, "", "", false},
		{"deleted by the TTL", streamRecord("4", "REMOVE", sent, nil), false, "", "", false},
		{"another item", streamRecord("5", "MODIFY", limiter, limiter), false, "", "", false},
		{"created before its first update (an emulator)", streamRecord("6", "INSERT", nil, keysOnly), false, "", "", false},
		{"old image without a status", streamRecord("7", "MODIFY", keysOnly, queued), true, sms.StatusQueued, "", false},
		{"unreadable new image", streamRecord("8", "MODIFY", queued, bad), false, "", "", true},
		{"unreadable old image", streamRecord("9", "MODIFY", bad, queued), false, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, ok, err := ChangeOf(tt.rec)
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("ChangeOf = _, %v, %v; want ok %v, error %v", ok, err, tt.ok, tt.err)
			}
			if !ok {
				return
			}
			if ch.Record.Status != tt.status || ch.Previous != tt.previous {
				t.Errorf("ChangeOf = %s from %q, want %s from %q", ch.Record.Status, ch.Previous, tt.status, tt.previous)
			}
			if ch.Record.ServiceID != sampleID || ch.Record.To != "+14155550100" || ch.Record.Owner != sms.CallerOwner("app-1") || !ch.Record.UpdatedAt.Equal(t0) {
				t.Errorf("ChangeOf record = %+v, want the image's fields", ch.Record)
			}
		})
	}
}

// stubPutter fails the changes of the given service ids and records the
// changes it was given.
type stubPutter struct {
	fail map[string]bool
	got  []Change
}

func (s *stubPutter) Publish(_ context.Context, changes []Change) []int {
	s.got = append(s.got, changes...)
	var failed []int
	for i, ch := range changes {
		if s.fail[ch.Record.ServiceID] {
			failed = append(failed, i)
		}
	}
	return failed
}

// TestHandle: each status change is published once; what cannot be read
// or published is reported by its stream record's sequence number, and
// nothing else is.
func TestHandle(t *testing.T) {
	ms := t0.UnixMilli()
	a, b, c := "6f1c2b7e-4d5a-4c3b-9a8e-000000000001", "6f1c2b7e-4d5a-4c3b-9a8e-000000000002", "6f1c2b7e-4d5a-4c3b-9a8e-000000000003"
	qa := image(a, sms.StatusQueued, map[sms.Status]int64{sms.StatusQueued: ms})
	sa := image(a, sms.StatusSent, map[sms.Status]int64{sms.StatusQueued: ms, sms.StatusSent: ms + 1})
	db := image(b, sms.StatusDelivered, map[sms.Status]int64{sms.StatusDelivered: ms})
	sc := image(c, sms.StatusSent, map[sms.Status]int64{sms.StatusSent: ms})
	bad := image(c, sms.StatusSent, nil)
	bad["createdAt"] = lambdaevents.NewStringAttribute("yesterday")
	ev := lambdaevents.DynamoDBEvent{Records: []lambdaevents.DynamoDBEventRecord{
		streamRecord("100", "INSERT", nil, qa),
		streamRecord("101", "MODIFY", qa, sa),
		streamRecord("102", "MODIFY", sa, sa), // nothing moved
		streamRecord("103", "INSERT", nil, db),
		streamRecord("104", "INSERT", nil, bad),
		streamRecord("105", "INSERT", nil, sc),
	}}
	put := &stubPutter{fail: map[string]bool{b: true}}
	resp, err := NewHandler(put, nil).Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle error = %v, want nil (failures are batch item failures)", err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if want := []string{"104", "103"}; !reflect.DeepEqual(got, want) {
		t.Errorf("batch item failures = %v, want %v (the unreadable record, the failed event)", got, want)
	}
	var published []string
	for _, ch := range put.got {
		published = append(published, string(ch.Previous)+">"+string(ch.Record.Status))
	}
	if want := []string{">queued", "queued>sent", ">delivered", ">sent"}; !reflect.DeepEqual(published, want) {
		t.Errorf("changes published = %v, want %v", published, want)
	}

	// A batch without failures answers an empty list, not null.
	resp, _ = NewHandler(&stubPutter{}, nil).Handle(context.Background(), lambdaevents.DynamoDBEvent{Records: ev.Records[:2]})
	if resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures = %#v, want an empty list", resp.BatchItemFailures)
	}
}
