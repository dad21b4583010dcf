package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/local"
	"github.com/fluxkit/sms/internal/logging"
)

func envOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestTokenFlagPrintsOnlyAToken(t *testing.T) {
	var stdout, stderr logging.Buffer
	if code := run([]string{"-token"}, envOf(nil), &stdout, &stderr, nil); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr %s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stdout = %q, want exactly one line", out)
	}
	if stderr.String() != "" {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
	v, err := auth.NewVerifier(auth.Config{Secrets: [][]byte{[]byte(local.DevSecret)}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), "Bearer "+strings.TrimSpace(out))
	if err != nil || c.Subject != local.DevSubject {
		t.Errorf("token verifies to %+v, %v; want subject %s", c, err, local.DevSubject)
	}
}

func TestExitStatus(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStderr []string
	}{
		{"unknown flag", []string{"-nope"}, nil, 2, []string{"flag provided but not defined"}},
		{"stray argument", []string{"serve"}, nil, 2, []string{"unexpected arguments"}},
		{"bad log level", []string{"-log-level", "loud"}, nil, 2, []string{"-log-level"}},
		{"bad configuration", nil, map[string]string{"SMS_RATE_LIMIT": "abc"}, 1, []string{"bad configuration", "SMS_RATE_LIMIT", `"abc"`}},
		{"two bad settings", nil, map[string]string{"SMS_RATE_LIMIT": "0", "SMS_QUEUE_ENABLED": "maybe"}, 1, []string{"SMS_RATE_LIMIT", "SMS_QUEUE_ENABLED"}},
		{"token with bad configuration", []string{"-token"}, map[string]string{"JWT_REQUIRED_SCOPE": "a b"}, 1, []string{"JWT_REQUIRED_SCOPE"}},
		{"busy port", nil, map[string]string{"PORT": busyPort}, 1, []string{"cannot start", "already in use", "127.0.0.1:" + busyPort}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr logging.Buffer
			code := run(tt.args, envOf(tt.env), &stdout, &stderr, nil)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d; stderr %s", code, tt.wantCode, stderr.String())
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), want)
				}
			}
			if stdout.String() != "" {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// TestRunServesUntilInterrupted runs the command: it prints the banner
// with a ready-to-paste curl, serves the documented request, logs JSON
// without the message body, and stops cleanly on SIGINT with a report.
func TestRunServesUntilInterrupted(t *testing.T) {
	var stdout, stderr logging.Buffer
	sig := make(chan os.Signal, 2)
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-grace", "1s"}, envOf(map[string]string{"PORT": "0"}), &stdout, &stderr, sig)
	}()

	listening := regexp.MustCompile(`listening +http://(127\.0\.0\.1:\d+)`)
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening address in the banner: %s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, port, _ := net.SplitHostPort(addr)
	wantCurl := `curl -X POST http://localhost:` + port + `/messaging/sms -H "Content-Type: application/json" -H "Authorization: Bearer $(make -s token)" -d '{"to":"+14155551234","body":"Your verification code is 482901"}'`
	if !strings.Contains(stderr.String(), wantCurl) {
		t.Errorf("banner %q lacks the ready-to-paste request %q", stderr.String(), wantCurl)
	}

	var tok logging.Buffer
	if code := run([]string{"-token"}, envOf(nil), &tok, &stderr, nil); code != 0 {
		t.Fatal("-token failed")
	}
	body := `{"to":"+14155551234","body":"Your verification code is 482901"}`
	req, _ := http.NewRequest("POST", "http://"+addr+"/messaging/sms", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || got["status"] != "sent" || got["to"] != "+14155551234" || got["channel"] != "sms" {
		t.Fatalf("answer %d %v (%v), want 200 sent", resp.StatusCode, got, err)
	}

	sig <- os.Interrupt
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit status after SIGINT = %d, want 0", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("command did not stop after SIGINT")
	}
	if want := "stopped: 1 message sent by the console provider; the in-memory queue is empty"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks the report %q", stderr.String(), want)
	}
	if !strings.Contains(stderr.String(), `"Your verification code is 482901"`) {
		t.Errorf("console line with the body missing from stderr")
	}
	logs := stdout.String()
	if !strings.Contains(logs, `"requestId"`) || !strings.Contains(logs, `"status":200`) {
		t.Errorf("JSON logs %q lack the request's record with its request id", logs)
	}
	for _, secret := range []string{"482901", "4155551234", strings.TrimSpace(tok.String())} {
		if strings.Contains(logs, secret) {
			t.Errorf("JSON logs contain %q, want bodies, full numbers and tokens kept out", secret)
		}
	}
}
