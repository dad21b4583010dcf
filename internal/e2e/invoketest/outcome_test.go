package invoketest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

func TestReadExpected(t *testing.T) {
	tests := []struct {
		name    string
		f       Function
		file    string
		wantErr string
	}{
		{"send", Send, `{"statusCode": 200, "bodyStatus": "sent", "delivered": 1}`, ""},
		{"drain", Drain, `{"batchItemFailures": [], "deadLettered": 1, "reasons": ["invalid_json"]}`, ""},
		{"send without statusCode", Send, `{"delivered": 0}`, "needs statusCode"},
		{"drain without batchItemFailures", Drain, `{"delivered": 0}`, "needs batchItemFailures"},
		{"send with batchItemFailures", Send, `{"statusCode": 200, "batchItemFailures": []}`, "for drain outcomes"},
		{"drain with statusCode", Drain, `{"batchItemFailures": [], "statusCode": 200}`, "for API outcomes"},
		{"receipts", Receipts, `{"statusCode": 200, "recorded": {"6c1c9d9e-1f4a-4a5e-9a43-3f5b1b2c8d7e": "delivered"}}`, ""},
		{"receipts recording nothing", Receipts, `{"statusCode": 403, "errorCode": "invalid_signature", "recorded": {}}`, ""},
		{"receipts without recorded", Receipts, `{"statusCode": 200}`, "needs recorded"},
		{"receipts without statusCode", Receipts, `{"recorded": {}}`, "needs statusCode"},
		{"unknown field", Send, `{"statusCode": 200, "status": "sent"}`, `unknown field "status"`},
		{"deliveredTo count", Drain, `{"batchItemFailures": [], "delivered": 2, "deliveredTo": ["+14155552671"]}`, "deliveredTo lists 1"},
		{"reasons count", Drain, `{"batchItemFailures": [], "deadLettered": 0, "reasons": ["invalid_json"]}`, "reasons lists 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.expected.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadExpected(path, tt.f)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	status := func(n int) *int { return &n }
	failures := func(ids ...string) *[]string { return &ids }
	sent := `{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"messageId\":\"SM1\",\"status\":\"sent\",\"to\":\"+14155552671\"}"}`
	unauthorized := `{"statusCode":401,"headers":{"WWW-Authenticate":"Bearer error=\"invalid_token\""},"body":"{\"error\":{\"code\":\"unauthorized\",\"message\":\"missing bearer token\"}}"}`
	sqsEvent := `{"Records":[{"messageId":"m1","body":"{\"to\":1}"},{"messageId":"m2","body":"not json"}]}`
	accepted := []providertest.Accepted{{ID: "SM1", To: "+14155552671"}}

	tests := []struct {
		name  string
		f     Function
		event string
		exp   Expected
		obs   Observation
		want  []string
	}{
		{
			name: "send as expected",
			f:    Send,
			exp:  Expected{StatusCode: status(200), BodyStatus: "sent", Delivered: 1, DeliveredTo: []string{"+14155552671"}, Headers: map[string]string{"content-type": "application/json"}},
			obs:  Observation{Response: []byte(sent), Delivered: accepted},
		},
		{
			name: "send differs",
			f:    Send,
			exp:  Expected{StatusCode: status(400), ErrorCode: "invalid_to"},
			obs:  Observation{Response: []byte(sent), Delivered: accepted, Queued: []string{"{}"}},
			want: []string{
				"statusCode = 200, want 400",
				`body status = "sent", want ""`,
				`error code = "", want "invalid_to"`,
				"delivered = 1, want 0",
				"queued = 1, want 0",
			},
		},
		{
			name: "header differs",
			f:    Send,
			exp:  Expected{StatusCode: status(401), ErrorCode: "unauthorized", Headers: map[string]string{"WWW-Authenticate": `Bearer error="insufficient_scope"`}},
			obs:  Observation{Response: []byte(unauthorized)},
			want: []string{`header WWW-Authenticate = "Bearer error=\"invalid_token\"", want "Bearer error=\"insufficient_scope\""`},
		},
		{
			name: "function error",
			f:    Send,
			exp:  Expected{StatusCode: status(200)},
			obs:  Observation{Response: []byte(`{"errorMessage":"boom","errorType":"errorString"}`)},
			want: []string{"the function failed: errorString: boom"},
		},
		{
			name: "receipts as expected",
			f:    Receipts,
			exp:  Expected{StatusCode: status(200), Recorded: map[string]string{"id-1": "delivered"}},
			obs:  Observation{Response: []byte(`{"statusCode":200,"body":"{}"}`), Recorded: map[string]sms.Status{"id-1": sms.StatusDelivered}},
		},
		{
			name: "receipts recorded something else",
			f:    Receipts,
			exp:  Expected{StatusCode: status(403), ErrorCode: "invalid_signature", Recorded: map[string]string{}},
			obs: Observation{Response: []byte(`{"statusCode":200,"body":"{}"}`),
				Recorded: map[string]sms.Status{"id-1": sms.StatusFailed}},
			want: []string{"statusCode = 200, want 403", `error code = "", want "invalid_signature"`, "recorded = map[id-1:failed], want map[]"},
		},
		{
			name: "recorded not checked unless given",
			f:    Send,
			exp:  Expected{StatusCode: status(200), BodyStatus: "sent", Delivered: 1},
			obs:  Observation{Response: []byte(sent), Delivered: accepted, Recorded: map[string]sms.Status{"id-1": sms.StatusSent}},
		},
		{
			name:  "drain as expected",
			f:     Drain,
			event: sqsEvent,
			exp:   Expected{BatchItemFailures: failures(), DeadLettered: 2, Reasons: []string{"wrong_type:to", "invalid_json"}},
			obs: Observation{Response: []byte(`{"batchItemFailures":null}`), DeadLettered: []DeadLetter{
				{Body: "not json", Reason: "invalid_json"}, {Body: `{"to":1}`, Reason: "wrong_type:to"},
			}},
		},
		{
			name:  "drain differs",
			f:     Drain,
			event: sqsEvent,
			exp:   Expected{BatchItemFailures: failures(), DeadLettered: 1, Reasons: []string{"invalid_json"}},
			obs: Observation{Response: []byte(`{"batchItemFailures":[{"itemIdentifier":"m1"}]}`), DeadLettered: []DeadLetter{
				{Body: "changed", Reason: "invalid_to"},
			}},
			want: []string{
				`batchItemFailures = ["m1"], want []`,
				`dead-lettered message 0 (reason "invalid_to") is not the body of a record of the event`,
				`reasons = ["invalid_to"], want ["invalid_json"]`,
			},
		},
		{
			name:  "drain response not a batch response",
			f:     Drain,
			event: sqsEvent,
			exp:   Expected{BatchItemFailures: failures()},
			obs:   Observation{Response: []byte(`{"statusCode":200}`)},
			want:  []string{`response "{\"statusCode\":200}" is not an SQS batch response: json: unknown field "statusCode"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.f, []byte(tt.event), tt.exp, tt.obs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	write := func(t *testing.T, dir string, files ...string) {
		t.Helper()
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		files   []string
		want    []string
		wantErr string
	}{
		{
			name:  "pairs",
			files: []string{"env.json", "send/b.json", "send/b.expected.json", "send/a.json", "send/a.expected.json", "drain/c.json", "drain/c.expected.json"},
			want:  []string{"drain/c.json", "send/a.json", "send/b.json"},
		},
		{name: "event without outcome", files: []string{"send/a.json"}, wantErr: "has no expected outcome"},
		{name: "outcome without event", files: []string{"send/a.expected.json"}, wantErr: "has no event file"},
		{name: "unknown function", files: []string{"notify/a.json", "notify/a.expected.json"}, wantErr: `unknown function "notify"`},
		{name: "stray file", files: []string{"send/a.json", "send/a.expected.json", "send/notes.txt"}, wantErr: "is not an event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.files...)
			evs, err := Discover(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range evs {
				rel, _ := filepath.Rel(dir, ev.Path)
				got = append(got, rel)
				if want := strings.TrimSuffix(ev.Path, ".json") + ExpectedSuffix; ev.Expected != want {
					t.Errorf("%s: Expected = %s, want %s", rel, ev.Expected, want)
				}
				if want := filepath.Base(filepath.Dir(ev.Path)); ev.Function.Name != want {
					t.Errorf("%s: Function = %s, want %s", rel, ev.Function.Name, want)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discover = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSensitiveValues(t *testing.T) {
	event := `{"headers":{"Authorization":"Bearer aaa.bbb.ccc"},
	  "body":"{\"to\":\"+14155552671\",\"body\":\"Your code is 482901\"}",
	  "Records":[{"body":"{\"Type\":\"Notification\",\"TopicArn\":\"arn\",\"Message\":\"{\\\"to\\\":\\\"+61412345678\\\",\\\"body\\\":\\\"Delivery 1004 today\\\"}\"}"},
	             {"body":"{\"to\": \"+14155550188\", \"body\": \"Your code is 118204\""},
	             {"body":"{\"to\": 14155550199, \"body\": \"Your code is 663052\"}"}]}`
	got := sensitiveValues([]byte(event))
	want := []string{"aaa.bbb.ccc", "+14155552671", "Your code is 482901", "+61412345678", "Delivery 1004 today",
		"+14155550188", "Your code is 118204", "14155550199", "Your code is 663052"}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("sensitiveValues lacks %q; got %q", w, got)
		}
	}
}
