package invoketest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnvFileVars(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		logical string
		want    map[string]string
		wantErr string
	}{
		{
			name:    "function section over parameters",
			file:    `{"Parameters": {"A": "p", "B": "p"}, "SendFunction": {"B": "s"}, "DrainFunction": {"B": "d"}}`,
			logical: "SendFunction",
			want:    map[string]string{"A": "p", "B": "s"},
		},
		{
			name:    "non-strings as JSON text, null left out",
			file:    `{"DrainFunction": {"N": 10, "F": 0.05, "T": true, "Z": null, "O": {"k": [1, 2]}}}`,
			logical: "DrainFunction",
			want:    map[string]string{"N": "10", "F": "0.05", "T": "true", "O": `{"k":[1,2]}`},
		},
		{
			name:    "other sections ignored",
			file:    `{"OtherFunction": {"A": "x"}}`,
			logical: "SendFunction",
			want:    map[string]string{},
		},
		{
			name:    "name with =",
			file:    `{"SendFunction": {"A=B": "x"}}`,
			logical: "SendFunction",
			wantErr: "invalid variable name",
		},
		{
			name:    "value with NUL",
			file:    `{"SendFunction": {"A": "x\u0000y"}}`,
			logical: "SendFunction",
			wantErr: "NUL",
		},
		{
			name:    "section not an object",
			file:    `{"SendFunction": ["A"]}`,
			logical: "SendFunction",
			wantErr: "must be an object of objects",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "env.json")
			if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readVars(path, tt.logical)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Vars = %v, want %v", got, tt.want)
			}
		})
	}
}

func readVars(path, logical string) (map[string]string, error) {
	f, err := ReadEnvFile(path)
	if err != nil {
		return nil, err
	}
	return f.Vars(logical)
}

func TestSubstitute(t *testing.T) {
	endpoints := map[string]string{MotoPlaceholder: "http://127.0.0.1:41001", TwilioPlaceholder: "http://127.0.0.1:41002"}
	tests := []struct {
		in, want string
	}{
		{"http://127.0.0.1:5000", "http://127.0.0.1:41001"},
		{"http://127.0.0.1:5000/123456789012/fluxkit-sms-queue", "http://127.0.0.1:41001/123456789012/fluxkit-sms-queue"},
		{"http://127.0.0.1:5001", "http://127.0.0.1:41002"},
		{"http://127.0.0.1:50001", "http://127.0.0.1:50001"},
		{"http://127.0.0.1:5000.example", "http://127.0.0.1:5000.example"},
		{"a http://127.0.0.1:5000,http://127.0.0.1:5001 b", "a http://127.0.0.1:41001,http://127.0.0.1:41002 b"},
		{"fluxkit-sms", "fluxkit-sms"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Substitute(tt.in, endpoints); got != tt.want {
			t.Errorf("Substitute(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestEnvFileOfEvents checks events/env.json: every function gets every
// setting the functions need, with the placeholder endpoints, and the same
// resources; the publisher gets its event bus too.
func TestEnvFileOfEvents(t *testing.T) {
	file, err := ReadEnvFile(filepath.Join(eventsDir(t), "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SMS_PROVIDER":     "twilio",
		"SMS_FROM":         "+15005550006",
		"TWILIO_API_URL":   TwilioPlaceholder,
		"AWS_ENDPOINT_URL": MotoPlaceholder,
	}
	for _, f := range Functions() {
		vars, err := file.Vars(f.Logical)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got := vars[k]; got != v {
				t.Errorf("%s: %s = %q, want %q", f.Logical, k, got, v)
			}
		}
		for _, k := range []string{envTableName, envQueueURL, envDLQURL, envSecretID, "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if vars[k] == "" {
				t.Errorf("%s: %s is not set", f.Logical, k)
			}
		}
		for _, k := range []string{envQueueURL, envDLQURL} {
			if !strings.HasPrefix(vars[k], MotoPlaceholder+"/") {
				t.Errorf("%s: %s = %q, want a queue URL under %s", f.Logical, k, vars[k], MotoPlaceholder)
			}
		}
	}
	if pub, _ := file.Vars(Publisher.Logical); pub[envEventBus] == "" {
		t.Errorf("%s: %s is not set", Publisher.Logical, envEventBus)
	}
	send, _ := file.Vars(Send.Logical)
	drain, _ := file.Vars(Drain.Logical)
	if !reflect.DeepEqual(send, drain) {
		t.Errorf("SendFunction and DrainFunction differ:\n%v\n%v\nwant the same settings (one deployment)", send, drain)
	}
	// The receipts function has them too, and the public URL its Twilio
	// events are signed over.
	receipts, _ := file.Vars(Receipts.Logical)
	if !strings.HasPrefix(receipts["SMS_PUBLIC_URL"], "https://") {
		t.Errorf("ReceiptsFunction: SMS_PUBLIC_URL = %q, want an https URL", receipts["SMS_PUBLIC_URL"])
	}
	delete(receipts, "SMS_PUBLIC_URL")
	if !reflect.DeepEqual(send, receipts) {
		t.Errorf("SendFunction and ReceiptsFunction differ beyond SMS_PUBLIC_URL:\n%v\n%v", send, receipts)
	}
}
