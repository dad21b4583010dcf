package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/e2e/invoketest"
	"github.com/fluxkit/sms/internal/testing/rie"
)

// TestRun runs what `make invoke` runs: the real send bootstrap through
// scripts/invoke.sh, against the stack this command starts.
func TestRun(t *testing.T) {
	root := rie.ModuleRoot(t)
	bin := rie.Build(t, invoketest.Send.Package)
	valid := filepath.Join(root, "events", "send", "http-api-v2-valid.json")
	event, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	var secret struct {
		JWTSecret string `json:"jwtSecret"`
	}
	secretJSON, err := os.ReadFile(filepath.Join(root, "events", "secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(secretJSON, &secret); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unchecked := filepath.Join(dir, "unchecked.json")
	mismatched := filepath.Join(dir, "mismatched.json")
	for path, content := range map[string]string{
		unchecked:  string(event),
		mismatched: string(event),
		filepath.Join(dir, "mismatched.expected.json"): `{"statusCode": 201, "bodyStatus": "sent", "delivered": 1}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name       string
		event      string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{
			name: "as expected", event: valid, wantCode: 0,
			wantStdout: `"statusCode":200`,
			wantStderr: []string{"INIT REPORT(durationMs:", "provider accepted: 1", "+1******2671", "outcome: as expected"},
		},
		{
			name: "no expected outcome", event: unchecked, wantCode: 0,
			wantStdout: `"statusCode":200`,
			wantStderr: []string{"provider accepted: 1", "outcome: not checked"},
		},
		{
			name: "differs from the expected outcome", event: mismatched, wantCode: 1,
			wantStdout: `"statusCode":200`,
			wantStderr: []string{"outcome: differs", "statusCode = 200, want 201"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := run(context.Background(), options{
				function:   "send",
				bootstrap:  bin,
				event:      tt.event,
				envFile:    filepath.Join(root, "events", "env.json"),
				secretFile: filepath.Join(root, "events", "secret.json"),
				script:     filepath.Join(root, "scripts", "invoke.sh"),
			}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %s, want it to contain %s", stdout.String(), tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			for _, secret := range []string{secret.JWTSecret, "+14155552671", "verification code is 482901"} {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("stderr contains %q, want no secret, full number or message body", secret)
				}
			}
		})
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	root := rie.ModuleRoot(t)
	base := options{
		function:   "send",
		bootstrap:  "/nonexistent/bootstrap",
		event:      filepath.Join(root, "events", "send", "http-api-v2-valid.json"),
		envFile:    filepath.Join(root, "events", "env.json"),
		secretFile: filepath.Join(root, "events", "secret.json"),
		script:     filepath.Join(root, "scripts", "invoke.sh"),
	}
	tests := []struct {
		name    string
		edit    func(*options)
		wantErr string
	}{
		{"unknown function", func(o *options) { o.function = "notify" }, `unknown function "notify"`},
		{"missing event", func(o *options) { o.event = filepath.Join(root, "events", "send", "nope.json") }, "no such file"},
		{"missing env file", func(o *options) { o.envFile = filepath.Join(root, "events", "nope.json") }, "env file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			var stdout, stderr bytes.Buffer
			code, err := run(context.Background(), o, &stdout, &stderr)
			if code != 2 || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run = %d, %v; want 2 and an error containing %q", code, err, tt.wantErr)
			}
		})
	}
}
