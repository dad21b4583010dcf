package invoketest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/testing/rie"
)

// firstEvent is the event each function's cold start serves: the one that
// goes all the way to the provider, so that the first round trip measures
// the whole path.
var firstEvent = map[string]string{
	Send.Name:      "http-api-v2-valid.json",
	Drain.Name:     "sqs-batch.json",
	Receipts.Name:  "http-api-v2-twilio-delivered.json",
	Publisher.Name: "stream-status-changes.json",
}

// getSecretValue is the proxy's name of the Secrets Manager read.
const getSecretValue = "secretsmanager.GetSecretValue"

// TestEventsUnderEmulator builds the real bootstrap binaries, starts moto,
// the Twilio fake, the publisher's event bus and one emulator per function configured from
// events/env.json, invokes every event file of events/ and checks each
// outcome against its .expected.json. It logs each function's init
// duration and first round trip.
func TestEventsUnderEmulator(t *testing.T) {
	dir := eventsDir(t)
	evs, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	file, err := ReadEnvFile(filepath.Join(dir, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	secret, secretJSON := readSecret(t)
	bins := map[string]string{}
	for _, f := range Functions() {
		bins[f.Name] = rie.Build(t, f.Package)
	}
	st, err := Launch(context.Background(), file, secretJSON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)

	for _, f := range Functions() {
		t.Run(f.Name, func(t *testing.T) {
			fevs := ordered(evs, f)
			if len(fevs) == 0 {
				t.Fatalf("no events for %s in %s", f.Name, dir)
			}
			env, err := st.Env(f)
			if err != nil {
				t.Fatal(err)
			}
			secretReads := st.Proxy.Counts()[getSecretValue]
			em := rie.Start(t, bins[f.Name], env)

			forbidden := []string{secret.JWTSecret, secret.AuthToken, secret.ReceiptsToken}
			var warm []time.Duration
			var first time.Duration
			for i, ev := range fevs {
				payload, err := os.ReadFile(ev.Path)
				if err != nil {
					t.Fatal(err)
				}
				payload = FreshSendAt(payload, time.Now())
				forbidden = append(forbidden, sensitiveValues(payload)...)
				exp, err := ReadExpected(ev.Expected, f)
				if err != nil {
					t.Fatal(err)
				}
				mark := st.Mark()
				start := time.Now()
				resp, err := em.Invoke(payload)
				rt := time.Since(start)
				if err != nil {
					t.Errorf("%s: invoke: %v", ev.Path, err)
					continue
				}
				obs, err := st.Observe(context.Background(), mark, resp)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range Check(f, payload, exp, obs) {
					t.Errorf("%s: %s", filepath.Base(ev.Path), p)
				}
				if i == 0 {
					first = rt
				} else {
					warm = append(warm, rt)
				}
			}

			// The secret is read once, by the cold start; no request
			// reads it again. (The forged receipt, which fails
			// verification, may ask for a re-read, but the source allows
			// none so soon after the cold start's.) The publisher reads
			// none.
			want := 1
			if f == Publisher {
				want = 0
			}
			if got := st.Proxy.Counts()[getSecretValue] - secretReads; got != want {
				t.Errorf("Secrets Manager reads = %d, want %d (at the cold start only)", got, want)
			}
			log := em.Log()
			for _, s := range forbidden {
				if strings.Contains(log, s) {
					t.Errorf("the emulator log contains %q, want no token, secret, message body or unmasked number", s)
				}
			}
			if strings.Contains(log, `"level":"ERROR"`) {
				t.Errorf("the function logged an error:\n%s", log)
			}
			initDur, ok := em.InitDuration()
			if !ok {
				t.Fatalf("no init duration in the emulator log:\n%s", log)
			}
			handler, _ := firstHandlerDuration(log)
			t.Logf("%s: init %.1f ms; first request (%s) round trip %.1f ms, handler %.1f ms; %d warm round trips, median %.1f ms",
				f.Name, ms(initDur), filepath.Base(fevs[0].Path), ms(first), ms(handler), len(warm), ms(median(warm)))
		})
	}
}

// TestSecretLoadedAtInit shows that the cold start, not the first request,
// loads the configuration and the secret: with a secret that does not
// exist the function fails during init, naming the setting, and never
// handles the request.
func TestSecretLoadedAtInit(t *testing.T) {
	dir := eventsDir(t)
	payload, err := os.ReadFile(filepath.Join(dir, "send", firstEvent[Send.Name]))
	if err != nil {
		t.Fatal(err)
	}
	bin := rie.Build(t, Send.Package)
	st := launchEvents(t, dir)
	env, err := st.Env(Send)
	if err != nil {
		t.Fatal(err)
	}
	em := rie.Start(t, bin, append(env, "SMS_SECRET_ID=fluxkit-sms-missing"))
	resp, err := em.Invoke(payload)
	var ie *rie.InvokeError
	if !errors.As(err, &ie) || ie.Status != http.StatusBadGateway {
		t.Errorf("invoke = %s, %v; want HTTP 502 (the runtime exited during init)", resp, err)
	}
	log := em.Log()
	for _, want := range []string{"INIT RTDONE(status: error)", "start-up failed", "fluxkit-sms-missing"} {
		if !strings.Contains(log, want) {
			t.Errorf("emulator log lacks %q:\n%s", want, log)
		}
	}
	if got := len(st.Twilio.Accepted()); got != 0 {
		t.Errorf("provider accepted %d messages, want 0", got)
	}
	if strings.Contains(log, `"msg":"request"`) {
		t.Errorf("the handler served the request although init failed:\n%s", log)
	}
}

// ordered returns f's events, the cold start's event first.
func ordered(evs []Event, f Function) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Function == f {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		af, bf := filepath.Base(a.Path) == firstEvent[f.Name], filepath.Base(b.Path) == firstEvent[f.Name]
		switch {
		case af && !bf:
			return -1
		case bf && !af:
			return 1
		}
		return 0
	})
	return out
}

// sensitiveValues returns what must never appear in a log from an event:
// bearer tokens, message bodies and recipients' full numbers, found at any
// depth, including inside JSON carried in strings (an API Gateway body, an
// SQS body, an SNS Message).
func sensitiveValues(event []byte) []string {
	var out []string
	var walk func(v any)
	// walkString looks into a string that may carry JSON; it reports
	// whether it did.
	walkString := func(s string) bool {
		var inner any
		if err := json.Unmarshal([]byte(s), &inner); err == nil {
			switch inner.(type) {
			case map[string]any, []any:
				walk(inner)
				return true
			}
			return false
		}
		// Not JSON (a poison record): pick the fields out of the text.
		for _, m := range looseFieldRE.FindAllStringSubmatch(s, -1) {
			out = append(out, m[2])
		}
		return false
	}
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				s, isString := x.(string)
				switch {
				case strings.EqualFold(k, "authorization") && isString:
					out = append(out, strings.TrimSpace(strings.TrimPrefix(s, "Bearer")))
				case (k == "body" || k == "to") && isString:
					if !walkString(s) {
						out = append(out, s)
					}
				case k == "to":
					switch x := x.(type) {
					case float64:
						out = append(out, strconv.FormatFloat(x, 'f', -1, 64))
					case map[string]any: // a DynamoDB attribute value, {"S": "+1..."}
						if s, ok := x["S"].(string); ok {
							out = append(out, s)
						}
					}
				case isString:
					walkString(s)
				default:
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var root any
	if err := json.Unmarshal(event, &root); err == nil {
		walk(root)
	}
	out = append(out, receiptValues(event)...)
	return slices.DeleteFunc(out, func(s string) bool { return len(s) < 8 })
}

// receiptValues returns what must never appear in a log from a receipt
// event: the recipient's number (To, msisdn, in the form, the query or
// the JSON body), the token and the signatures.
func receiptValues(event []byte) []string {
	var ev events.APIGatewayV2HTTPRequest
	if json.Unmarshal(event, &ev) != nil || !strings.Contains(ev.RouteKey, "/receipts/") {
		return nil
	}
	params, _ := url.ParseQuery(ev.RawQueryString)
	if body, err := receiptBody(ev); err == nil {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range form {
				params[k] = append(params[k], v...)
			}
		}
		obj := map[string]string{}
		if json.Unmarshal(body, &obj) == nil {
			for k, v := range obj {
				params.Add(k, v)
			}
		}
	}
	var out []string
	for _, k := range []string{"To", "msisdn", "token"} {
		out = append(out, params[k]...)
	}
	for _, n := range params["msisdn"] {
		out = append(out, "+"+n)
	}
	return append(out, ev.Headers["x-twilio-signature"])
}

// looseFieldRE finds "to" and "body" string fields in text that is not
// valid JSON.
var looseFieldRE = regexp.MustCompile(`"(to|body)"\s*:\s*"((?:[^"\\]|\\.)*)"`)

var invokeDoneRE = regexp.MustCompile(`INVOKE RTDONE\(status: [a-z]+, produced bytes: [0-9]+, duration: ([0-9.]+)ms\)`)

// firstHandlerDuration is how long the function took over its first
// request, from the emulator's INVOKE RTDONE line (the REPORT line's
// Duration of a cold invocation includes the init).
func firstHandlerDuration(log string) (time.Duration, bool) {
	m := invokeDoneRE.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
