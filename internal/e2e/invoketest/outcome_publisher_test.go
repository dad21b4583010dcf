package invoketest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/testing/mototest"
)

func TestReadExpectedPublisher(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{"publisher", `{"batchItemFailures": [], "events": 2, "eventChanges": [">queued", "queued>sent"]}`, ""},
		{"without batchItemFailures", `{"events": 1}`, "needs batchItemFailures"},
		{"with statusCode", `{"batchItemFailures": [], "statusCode": 200}`, "for API outcomes"},
		{"eventChanges count", `{"batchItemFailures": [], "events": 2, "eventChanges": [">queued"]}`, "eventChanges lists 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.expected.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadExpected(path, Publisher)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckPublisher(t *testing.T) {
	failures := func(ids ...string) *[]string { return &ids }
	event := func(prev, st string) mototest.TappedEvent {
		d, _ := json.Marshal(map[string]string{"status": st, "previousStatus": prev})
		return mototest.TappedEvent{Source: "fluxkit.sms", DetailType: "SMS Message Status Changed", Detail: d}
	}
	tests := []struct {
		name string
		exp  Expected
		obs  Observation
		want []string
	}{
		{
			name: "as expected",
			exp:  Expected{BatchItemFailures: failures(), Events: 2, EventChanges: []string{"queued>sent", ">queued"}},
			obs:  Observation{Response: []byte(`{"batchItemFailures":[]}`), Events: []mototest.TappedEvent{event("", "queued"), event("queued", "sent")}},
		},
		{
			name: "differs",
			exp:  Expected{BatchItemFailures: failures(), Events: 1, EventChanges: []string{"sent>delivered"}},
			obs: Observation{Response: []byte(`{"batchItemFailures":[{"itemIdentifier":"42"}]}`),
				Events: []mototest.TappedEvent{event("sent", "undelivered"), {Source: "other", DetailType: "x", Detail: []byte(`{}`)}}},
			want: []string{
				`batchItemFailures = ["42"], want []`,
				`event source "other", detail-type "x"; want fluxkit.sms, SMS Message Status Changed`,
				"events = 2, want 1",
				`eventChanges = [">" "sent>undelivered"], want ["sent>delivered"]`,
			},
		},
		{
			name: "not a stream batch response",
			exp:  Expected{BatchItemFailures: failures()},
			obs:  Observation{Response: []byte(`{"statusCode":200}`)},
			want: []string{`response "{\"statusCode\":200}" is not a stream batch response: json: unknown field "statusCode"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(Publisher, nil, tt.exp, tt.obs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
