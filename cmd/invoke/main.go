// Command invoke runs one Lambda function on one sample event under the
// AWS Lambda Runtime Interface Emulator, as `sam local invoke` does but
// without Docker, against services it starts on loopback: moto (DynamoDB,
// SQS, Secrets Manager, EventBridge, with the resources events/env.json
// names and the test-only secret of events/secret.json) and the Twilio
// fake.
//
// `make invoke FUNCTION=send EVENT=events/send/<event>.json` builds the
// bootstrap for this machine and runs
//
//	go run ./cmd/invoke -function send \
//	    -bootstrap build/host/send/bootstrap -event events/send/<event>.json
//
// which writes env.json with the placeholder endpoints replaced by the real
// ports, runs scripts/invoke.sh with it (the emulator's log goes to stderr,
// the function's response to stdout), then reports on stderr what the
// invocation did — messages the provider accepted, dead-lettered and queued,
// status records created or moved, status events put on the bus — and, when
// the event has an .expected.json beside it, whether the outcome matches.
// The exit status is non-zero when the invocation failed or the outcome
// differs.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fluxkit/sms/internal/e2e/invoketest"
	"github.com/fluxkit/sms/internal/sms"
)

func main() {
	var o options
	flag.StringVar(&o.function, "function", "", "the function: send, drain, receipts or publisher")
	flag.StringVar(&o.bootstrap, "bootstrap", "", "the function's bootstrap, built for this machine (make invoke builds it)")
	flag.StringVar(&o.event, "event", "", "the event file, e.g. events/send/http-api-v2-valid.json")
	flag.StringVar(&o.envFile, "env-file", "events/env.json", "the `sam local invoke --env-vars` file")
	flag.StringVar(&o.secretFile, "secret", "events/secret.json", "the secret's JSON, stored in moto under SMS_SECRET_ID")
	flag.StringVar(&o.script, "script", "scripts/invoke.sh", "the script that runs the emulator")
	flag.Parse()
	if o.function == "" || o.bootstrap == "" || o.event == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: invoke -function send|drain|receipts|publisher -bootstrap PATH -event EVENT.json [-env-file events/env.json]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
	}
	os.Exit(code)
}

type options struct {
	function, bootstrap, event, envFile, secretFile, script string
}

// run does the invocation and returns the exit status.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (int, error) {
	f, err := invoketest.FunctionNamed(o.function)
	if err != nil {
		return 2, err
	}
	payload, err := os.ReadFile(o.event)
	if err != nil {
		return 2, err
	}
	// A scheduled event's sendAt is moved to an hour from now (events/README.md).
	payload = invoketest.FreshSendAt(payload, time.Now())
	file, err := invoketest.ReadEnvFile(o.envFile)
	if err != nil {
		return 2, err
	}
	secret, err := os.ReadFile(o.secretFile)
	if err != nil {
		return 2, err
	}
	expectedPath := strings.TrimSuffix(o.event, ".json") + invoketest.ExpectedSuffix
	var expected *invoketest.Expected
	if _, err := os.Stat(expectedPath); err == nil {
		e, err := invoketest.ReadExpected(expectedPath, f)
		if err != nil {
			return 2, err
		}
		expected = &e
	}

	st, err := invoketest.Launch(ctx, file, secret)
	if err != nil {
		return 1, err
	}
	defer st.Close()
	resolved, err := st.ResolvedFile(f)
	if err != nil {
		return 2, err
	}
	tmp, err := os.CreateTemp("", "invoke-env-*.json")
	if err != nil {
		return 1, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(resolved); err != nil {
		return 1, err
	}
	if err := tmp.Close(); err != nil {
		return 1, err
	}
	fmt.Fprintf(stderr, "invoke: moto on %s (behind %s), Twilio fake on %s\n", st.Moto.URL, st.Proxy.URL, st.Twilio.URL())

	mark := st.Mark()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, o.script, f.Name, o.bootstrap, o.event, tmp.Name())
	// Only what the function needs: the env file carries the AWS
	// settings, so none of the shell's AWS_* variables (a real account's
	// credentials) reach it.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if d := os.Getenv("TMPDIR"); d != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+d)
	}
	cmd.Stdout = io.MultiWriter(stdout, &out)
	cmd.Stderr = stderr
	// On interrupt the script stops the emulator itself.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return 130, errors.New("interrupted")
	}

	obs, err := st.Observe(context.WithoutCancel(ctx), mark, bytes.TrimSpace(out.Bytes()))
	if err != nil {
		return 1, err
	}
	report(stderr, f, obs)

	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(runErr, &exitErr):
		code = exitErr.ExitCode()
	case runErr != nil:
		return 1, fmt.Errorf("run %s: %w", o.script, runErr)
	}
	if expected == nil {
		fmt.Fprintf(stderr, "outcome: not checked (no %s)\n", expectedPath)
		return code, nil
	}
	problems := invoketest.Check(f, payload, *expected, obs)
	if len(problems) == 0 {
		fmt.Fprintf(stderr, "outcome: as expected (%s)\n", expectedPath)
		return code, nil
	}
	fmt.Fprintf(stderr, "outcome: differs from %s:\n", expectedPath)
	for _, p := range problems {
		fmt.Fprintln(stderr, "  -", p)
	}
	return max(code, 1), nil
}

// report prints what the invocation did, numbers masked and bodies left
// out.
func report(w io.Writer, f invoketest.Function, obs invoketest.Observation) {
	fmt.Fprintf(w, "----- %s: what the invocation did -----\n", f.Logical)
	fmt.Fprintf(w, "provider accepted: %d\n", len(obs.Delivered))
	for _, a := range obs.Delivered {
		from := a.From
		if from == "" {
			from = a.MessagingServiceSID
		}
		fmt.Fprintf(w, "  %s to %s from %s, %d part(s), %s\n", a.ID, sms.MaskNumber(a.To), from, a.Parts, a.Encoding)
	}
	fmt.Fprintf(w, "dead-lettered: %d\n", len(obs.DeadLettered))
	for _, d := range obs.DeadLettered {
		fmt.Fprintf(w, "  reason %s\n", d.Reason)
	}
	fmt.Fprintf(w, "queued: %d\n", len(obs.Queued))
	fmt.Fprintf(w, "status records created or moved: %d\n", len(obs.Recorded))
	ids := make([]string, 0, len(obs.Recorded))
	for id := range obs.Recorded {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "  %s %s\n", id, obs.Recorded[id])
	}
	fmt.Fprintf(w, "status events: %d\n", len(obs.Events))
	for _, ev := range obs.Events {
		var d struct{ ServiceID, Status, PreviousStatus string }
		_ = json.Unmarshal(ev.Detail, &d)
		fmt.Fprintf(w, "  %s %s -> %s\n", d.ServiceID, or(d.PreviousStatus, "(new)"), d.Status)
	}
}

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
