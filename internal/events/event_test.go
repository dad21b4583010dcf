package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

var (
	t0       = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	sampleID = "6f1c2b7e-4d5a-4c3b-9a8e-1f2d3c4b5a69"
)

// sampleRecord is a record with every field set.
func sampleRecord() sms.Record {
	return sms.Record{
		ServiceID: sampleID, MessageID: "SM0123456789abcdef0123456789abcdef", ProducerID: "order-42",
		ProviderMessageID: "SM0123456789abcdef0123456789abcdef", Provider: "twilio",
		Status: sms.StatusUndelivered, To: "+14155550100", From: "FluxKit", Segments: 2, Encoding: sms.GSM7,
		CreatedAt: t0, UpdatedAt: t0.Add(90*time.Second + 123*time.Millisecond), ExpiresAt: t0.Add(time.Hour),
		Error: &sms.Failure{Code: "undelivered", Message: "unreachable handset", ProviderCode: "30003"},
		History: []sms.HistoryEntry{
			{Status: sms.StatusSent, At: t0.Add(time.Second)},
			{Status: sms.StatusUndelivered, At: t0.Add(90 * time.Second), ProviderCode: "30003"},
		},
		Owner: sms.CallerOwner("app-1"),
	}
}

// TestDetailJSON pins the detail's wire form: the record's fields with
// their JSON names, times in RFC 3339 UTC with milliseconds, and neither
// the history nor the owner.
func TestDetailJSON(t *testing.T) {
	b, err := json.Marshal(NewDetail(Change{Record: sampleRecord(), Previous: sms.StatusSent}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"channel":"sms","serviceId":"6f1c2b7e-4d5a-4c3b-9a8e-1f2d3c4b5a69","messageId":"SM0123456789abcdef0123456789abcdef",` +
		`"producerId":"order-42","providerMessageId":"SM0123456789abcdef0123456789abcdef","provider":"twilio",` +
		`"status":"undelivered","previousStatus":"sent","to":"+14155550100","from":"FluxKit","segments":2,"encoding":"GSM-7",` +
		`"createdAt":"2026-03-01T10:00:00.000Z","updatedAt":"2026-03-01T10:01:30.123Z","expiresAt":"2026-03-01T11:00:00.000Z",` +
		`"error":{"code":"undelivered","message":"unreachable handset","providerCode":"30003"}}`
	if string(b) != want {
		t.Errorf("detail =\n  %s\nwant\n  %s", b, want)
	}
	for _, leak := range []string{"history", "owner", "app-1"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("detail contains %q", leak)
		}
	}
}

func TestNewDetail(t *testing.T) {
	minimal := sms.Record{ServiceID: sampleID, Status: sms.StatusQueued, UpdatedAt: t0}
	tests := []struct {
		name string
		ch   Change
		want Detail
	}{
		{"new record", Change{Record: minimal},
			Detail{Channel: "sms", ServiceID: sampleID, MessageID: sampleID, Status: sms.StatusQueued, UpdatedAt: "2026-03-01T10:00:00.000Z"}},
		{"messageId from the record", Change{Record: withRecord(minimal, func(r *sms.Record) { r.MessageID = "m-1"; r.ProviderMessageID = "SM1" }), Previous: sms.StatusScheduled},
			Detail{Channel: "sms", ServiceID: sampleID, MessageID: "m-1", ProviderMessageID: "SM1", Status: sms.StatusQueued, PreviousStatus: sms.StatusScheduled, UpdatedAt: "2026-03-01T10:00:00.000Z"}},
		{"receipt before the send path: the provider's id", Change{Record: withRecord(minimal, func(r *sms.Record) { r.Status = sms.StatusDelivered; r.ProviderMessageID = "SM1" })},
			Detail{Channel: "sms", ServiceID: sampleID, MessageID: "SM1", ProviderMessageID: "SM1", Status: sms.StatusDelivered, UpdatedAt: "2026-03-01T10:00:00.000Z"}},
		{"times in UTC", Change{Record: withRecord(minimal, func(r *sms.Record) { r.UpdatedAt = time.Date(2026, 3, 1, 11, 0, 0, 5e6, time.FixedZone("CET", 3600)) })},
			Detail{Channel: "sms", ServiceID: sampleID, MessageID: sampleID, Status: sms.StatusQueued, UpdatedAt: "2026-03-01T10:00:00.005Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewDetail(tt.ch); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NewDetail =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
	// The detail has its own copy of the error.
	r := sampleRecord()
	d := NewDetail(Change{Record: r})
	r.Error.Code = "changed"
	if d.Error.Code != "undelivered" {
		t.Errorf("the detail's error follows the record's: %q", d.Error.Code)
	}
}

func TestNewEvent(t *testing.T) {
	ev := NewEvent(Change{Record: sampleRecord(), Previous: sms.StatusSent})
	if ev.Source != "fluxkit.sms" || ev.DetailType != "SMS Message Status Changed" || !ev.Time.Equal(sampleRecord().UpdatedAt) {
		t.Errorf("NewEvent = %s / %s / %v, want fluxkit.sms / SMS Message Status Changed / the record's updatedAt", ev.Source, ev.DetailType, ev.Time)
	}
	if ev.Detail.Status != sms.StatusUndelivered || ev.Detail.PreviousStatus != sms.StatusSent {
		t.Errorf("NewEvent detail status = %s from %s, want undelivered from sent", ev.Detail.Status, ev.Detail.PreviousStatus)
	}
}

func withRecord(r sms.Record, f func(*sms.Record)) sms.Record {
	r = r.Clone()
	f(&r)
	return r
}
