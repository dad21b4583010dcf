package chaos_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/e2e/chaos"
)

func TestSummarize(t *testing.T) {
	allowed := []int{200, 202, 503}
	tests := []struct {
		name  string
		fates map[string]chaos.Fate
		want  chaos.Report // Statuses and Offenders are not compared
		ok    bool
	}{
		{
			name: "sent and queued, each delivered once",
			fates: map[string]chaos.Fate{
				"a": {Status: 200, Deliveries: 1, Record: "sent"},
				"b": {Status: 202, Deliveries: 1, Record: "sent"},
			},
			want: chaos.Report{Messages: 2, Accepted: 2, Delivered: 2, Records: 2, RecordsMatched: 2},
			ok:   true,
		},
		{
			name:  "accepted, never delivered",
			fates: map[string]chaos.Fate{"a": {Status: 202}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Lost: 1},
		},
		{
			name:  "a 200 the provider never saw is lost",
			fates: map[string]chaos.Fate{"a": {Status: 200}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Lost: 1},
		},
		{
			name:  "duplicate explained by a dropped answer",
			fates: map[string]chaos.Fate{"a": {Status: 202, Deliveries: 2, Ambiguous: 1, Record: "sent"}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Delivered: 1, DuplicatedAmbiguous: 1, ExtraDeliveries: 1, Records: 1, RecordsMatched: 1},
			ok:    true,
		},
		{
			name:  "two extra deliveries, one explained",
			fates: map[string]chaos.Fate{"a": {Status: 202, Deliveries: 3, Ambiguous: 1, Record: "sent"}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Delivered: 1, DuplicatedOther: 1, ExtraDeliveries: 2, Records: 1, RecordsMatched: 1},
		},
		{
			name:  "duplicate without a dropped answer",
			fates: map[string]chaos.Fate{"a": {Status: 200, Deliveries: 2, Record: "sent"}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Delivered: 1, DuplicatedOther: 1, ExtraDeliveries: 1, Records: 1, RecordsMatched: 1},
		},
		{
			name:  "refused and not delivered",
			fates: map[string]chaos.Fate{"a": {Status: 503}},
			want:  chaos.Report{Messages: 1, Refused: 1},
			ok:    true,
		},
		{
			name:  "refused after the provider took it and dropped the answer",
			fates: map[string]chaos.Fate{"a": {Status: 503, Deliveries: 1, Ambiguous: 1}},
			want:  chaos.Report{Messages: 1, Refused: 1, RefusedDeliveredAmbiguous: 1},
			ok:    true,
		},
		{
			name:  "refused yet delivered",
			fates: map[string]chaos.Fate{"a": {Status: 503, Deliveries: 1}},
			want:  chaos.Report{Messages: 1, Refused: 1, RefusedDeliveredOther: 1},
		},
		{
			name:  "delivered, without a status record",
			fates: map[string]chaos.Fate{"a": {Status: 200, Deliveries: 1}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Delivered: 1, Records: 1, RecordsWrong: 1},
		},
		{
			name:  "delivered, the record still queued",
			fates: map[string]chaos.Fate{"a": {Status: 202, Deliveries: 1, Record: "queued"}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Delivered: 1, Records: 1, RecordsWrong: 1},
		},
		{
			name:  "delivered, the record behind a failed status write",
			fates: map[string]chaos.Fate{"a": {Status: 202, Deliveries: 1, Record: "queued", RecordWriteFailed: true}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Delivered: 1, Records: 1, RecordsExplained: 1},
			ok:    true,
		},
		{
			name: "producers' poison, dead-lettered and recorded",
			fates: map[string]chaos.Fate{
				"p1": {Poison: true, DeadLettered: true, Record: "failed", RecordCode: "dead_lettered"},
				"p2": {Poison: true, DeadLettered: true, Record: "failed", RecordCode: "provider_rejected"},
			},
			want: chaos.Report{Poison: 2, Records: 2, RecordsMatched: 1, RecordsWrong: 1},
		},
		{
			name:  "an accepted message on the DLQ records it",
			fates: map[string]chaos.Fate{"a": {Status: 202, DeadLettered: true, Record: "failed", RecordCode: "dead_lettered"}},
			want:  chaos.Report{Messages: 1, Accepted: 1, Lost: 1, Records: 1, RecordsMatched: 1},
		},
		{
			name:  "answer outside the allowed ones",
			fates: map[string]chaos.Fate{"a": {Status: 409}},
			want:  chaos.Report{Messages: 1, Unexpected: 1},
		},
		{
			name:  "a 500 that still went out",
			fates: map[string]chaos.Fate{"a": {Status: 500, Deliveries: 1}},
			want:  chaos.Report{Messages: 1, Unexpected: 1, RefusedDeliveredOther: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chaos.Summarize(tt.fates, allowed...)
			cmp := got
			cmp.Statuses, cmp.Offenders = nil, nil
			if !reflect.DeepEqual(cmp, tt.want) {
				t.Errorf("Summarize = %+v, want %+v", cmp, tt.want)
			}
			if got.OK() != tt.ok {
				t.Errorf("OK() = %v, want %v", got.OK(), tt.ok)
			}
			if got.OK() != (len(got.Offenders) == 0) {
				t.Errorf("Offenders = %q with OK() = %v", got.Offenders, got.OK())
			}
		})
	}
}

func TestSummarizeOffendersBounded(t *testing.T) {
	fates := map[string]chaos.Fate{}
	for _, k := range strings.Split("abcdefghijklmnopqrstuvwxyz", "") {
		fates[k] = chaos.Fate{Status: 202}
	}
	r := chaos.Summarize(fates, 200, 202)
	if r.Lost != 26 {
		t.Errorf("Lost = %d, want 26", r.Lost)
	}
	if got := len(r.Offenders); got != 10 {
		t.Errorf("len(Offenders) = %d, want 10", got)
	}
	if got, want := r.Offenders[0], "a: answered 202, never delivered"; got != want {
		t.Errorf("Offenders[0] = %q, want %q", got, want)
	}
	if !strings.Contains(r.String(), "lost 26") {
		t.Errorf("String() = %q, want it to state the lost count", r.String())
	}
}

func TestWantRecord(t *testing.T) {
	tests := []struct {
		name       string
		f          chaos.Fate
		status     string
		code       string
		wantRecord bool
	}{
		{"sent at once", chaos.Fate{Status: http.StatusOK, Deliveries: 1}, "sent", "", true},
		{"queued, then sent", chaos.Fate{Status: http.StatusAccepted, Deliveries: 2, Ambiguous: 1}, "sent", "", true},
		{"accepted, never delivered: lost, no record expected", chaos.Fate{Status: http.StatusAccepted}, "", "", false},
		{"refused", chaos.Fate{Status: http.StatusServiceUnavailable}, "", "", false},
		{"outcome unknown", chaos.Fate{Status: http.StatusBadGateway, Deliveries: 1, Ambiguous: 1}, "unknown", "provider_outcome_unknown", true},
		{"poison", chaos.Fate{Poison: true, DeadLettered: true}, "failed", "dead_lettered", true},
		{"dead-lettered after being accepted", chaos.Fate{Status: http.StatusAccepted, DeadLettered: true}, "failed", "dead_lettered", true},
	}
	for _, tt := range tests {
		status, code, ok := tt.f.WantRecord()
		if status != tt.status || code != tt.code || ok != tt.wantRecord {
			t.Errorf("%s: WantRecord = %q, %q, %v; want %q, %q, %v", tt.name, status, code, ok, tt.status, tt.code, tt.wantRecord)
		}
	}
}
