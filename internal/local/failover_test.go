package local

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// TestConsoleFailoverByHand walks the failover of docs/local.md: console
// providers named twilio and vonage, twilio taken down, messages sent by
// vonage (the first five after a call to twilio, then none once its
// breaker is open), twilio brought back up.
func TestConsoleFailoverByHand(t *testing.T) {
	out := &logging.Buffer{}
	logs := &logging.Buffer{}
	s := startServer(t, map[string]string{"SMS_FROM": "twilio=+15005550006,vonage=FluxKit"}, func(o *Options) {
		o.Consoles = []string{"twilio", "vonage"}
		o.Console = out
		o.Log = logging.New(logs, 0)
	})
	tok := devToken(t)
	if r := send(t, s, tok, curlBody); r.status != 200 || r.json(t)["provider"] != "twilio" {
		t.Fatalf("first message: %d %s, want 200 sent by twilio", r.status, r.body)
	}
	if r := do(t, nil, http.MethodPost, s.URL()+"/_local/providers/twilio/down", ""); r.status != 200 || r.json(t)["down"] != true {
		t.Fatalf("POST …/twilio/down: %d %s, want 200 down", r.status, r.body)
	}
	for i := range 8 {
		r := send(t, s, tok, curlBody)
		if r.status != 200 || r.json(t)["provider"] != "vonage" {
			t.Fatalf("message %d with twilio down: %d %s, want 200 sent by vonage", i, r.status, r.body)
		}
	}
	if _, refused := s.ConsoleProvider("twilio").Down(); refused != sms.DefaultBreakerFailures {
		t.Errorf("twilio refused %d calls, want %d: then its breaker skips it", refused, sms.DefaultBreakerFailures)
	}
	var st Status
	if err := json.Unmarshal(do(t, nil, http.MethodGet, s.URL()+"/_local/status", "").body, &st); err != nil {
		t.Fatal(err)
	}
	want := []ProviderState{{Name: "twilio", Down: true, Refused: sms.DefaultBreakerFailures}, {Name: "vonage"}}
	if len(st.Providers) != 2 || st.Providers[0] != want[0] || st.Providers[1] != want[1] || st.Provider != "console twilio,vonage" {
		t.Errorf("status %+v, want providers %+v", st, want)
	}
	msgs := s.Console().Messages()
	if len(msgs) != 9 || msgs[0].Provider != "twilio" || msgs[0].From != "+15005550006" || msgs[8].Provider != "vonage" || msgs[8].From != "FluxKit" {
		t.Errorf("console kept %d messages, first %+v, last %+v: want 9, twilio's then vonage's, each from its own sender", len(msgs), msgs[0], msgs[len(msgs)-1])
	}
	if !strings.Contains(out.String(), "[sms vonage] ") {
		t.Errorf("console lines do not name vonage:\n%s", out)
	}
	for _, ev := range []string{sms.EventProviderFailover, sms.EventCircuitOpen} {
		if !strings.Contains(logs.String(), `"event":"`+ev+`"`) {
			t.Errorf("no %s event in the logs", ev)
		}
	}
	if r := do(t, nil, http.MethodPost, s.URL()+"/_local/providers/twilio/up", ""); r.status != 200 || r.json(t)["down"] != false {
		t.Errorf("POST …/twilio/up: %d %s, want 200 up", r.status, r.body)
	}
	for _, bad := range []struct{ method, path string }{
		{http.MethodPost, "/_local/providers/sinch/down"},
		{http.MethodPost, "/_local/providers/twilio/sideways"},
	} {
		if r := do(t, nil, bad.method, s.URL()+bad.path, ""); r.status != 404 {
			t.Errorf("%s %s: %d, want 404", bad.method, bad.path, r.status)
		}
	}
	if r := do(t, nil, http.MethodGet, s.URL()+"/_local/providers/twilio/down", ""); r.status != 405 {
		t.Errorf("GET …/twilio/down: %d, want 405", r.status)
	}
}

// TestConsolesNeedTheirNames: -console takes real providers' names, each
// once, and SMS_PROVIDER unset.
func TestConsolesNeedTheirNames(t *testing.T) {
	for _, tt := range []struct {
		name     string
		consoles []string
		env      map[string]string
		want     string
	}{
		{"unknown name", []string{"twilio", "sinch"}, nil, "-console"},
		{"twice", []string{"vonage", "vonage"}, nil, "-console"},
		{"with SMS_PROVIDER", []string{"twilio", "vonage"}, map[string]string{"SMS_PROVIDER": "twilio", "SMS_FROM": providertest.TwilioFrom}, "SMS_PROVIDER"},
		{"a sender for another provider", []string{"twilio"}, map[string]string{"SMS_FROM": "vonage=FluxKit"}, "SMS_FROM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), Options{Getenv: envOf(tt.env), Addr: "127.0.0.1:0", Consoles: tt.consoles})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
