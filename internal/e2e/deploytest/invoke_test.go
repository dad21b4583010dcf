package deploytest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/testing/rie"
)

// TestInvokeScript runs scripts/invoke.sh (what `make invoke` calls) with the
// echo function and an env file in the `sam local invoke --env-vars` format.
// The script runs the emulator from ./.bin, where rie.Binary installs it.
func TestInvokeScript(t *testing.T) {
	root := rie.ModuleRoot(t)
	rie.Binary(t)
	bin := rie.Build(t, echoPkg)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env.json")
	writeFile(t, envFile, `{
  "Parameters": {"ECHO_GREETING": "from-parameters", "SHARED": 10},
  "SendFunction": {"ECHO_GREETING": "from-send"},
  "DrainFunction": {"OTHER": true}
}`)
	event := filepath.Join(dir, "event.json")
	writeFile(t, event, `{"to":"+14155551234","body":"hi"}`)
	crash := filepath.Join(dir, "crash.json")
	writeFile(t, crash, `"crash"`)
	emptyEnv := filepath.Join(dir, "empty.json")
	writeFile(t, emptyEnv, `{}`)

	tests := []struct {
		name      string
		fn, event string
		envFile   string
		env       []string // the calling shell's environment
		wantOut   string
		wantLog   []string
		wantFail  bool
	}{
		{
			name: "send section overrides parameters", fn: "send", event: event, envFile: envFile,
			wantOut: `{"to":"+14155551234","body":"hi"}`,
			wantLog: []string{`greeting="from-send"`, "INIT REPORT(durationMs:", "response (HTTP 200)"},
		},
		{
			name: "drain gets the parameters", fn: "drain", event: event, envFile: envFile,
			wantOut: `{"to":"+14155551234","body":"hi"}`,
			wantLog: []string{`greeting="from-parameters"`},
		},
		{
			name: "shell variables other than AWS_ are not passed", fn: "drain", event: event, envFile: emptyEnv,
			env:     []string{"ECHO_GREETING=from-shell"},
			wantOut: `{"to":"+14155551234","body":"hi"}`,
			wantLog: []string{`greeting=""`},
		},
		{
			name: "crash fails", fn: "send", event: crash, envFile: envFile,
			wantLog:  []string{"echo: crashing on request", "response (HTTP 502)"},
			wantFail: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(root, "scripts", "invoke.sh"), tt.fn, bin, tt.event, tt.envFile)
			cmd.Dir = root
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if tt.wantFail != errors.As(err, &exitErr) || (!tt.wantFail && err != nil) {
				t.Fatalf("invoke.sh error = %v, want failure %v\nstderr:\n%s", err, tt.wantFail, stderr.String())
			}
			if tt.wantOut != "" {
				if got := strings.TrimSpace(stdout.String()); got != tt.wantOut {
					t.Errorf("response = %s, want %s", got, tt.wantOut)
				}
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
