package receipts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/metrics"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// TestReceiptsAreCounted: each receipt recorded counts under its provider
// and the status it maps to, and every answer counts by its HTTP status;
// a forged receipt counts as an answer only.
func TestReceiptsAreCounted(t *testing.T) {
	r := newRig(t, receipts.Keys{TwilioAuthToken: authToken})
	id := sms.NewServiceID()
	set := metrics.NewSet("receipts-fn")
	ctx := metrics.NewContext(context.Background(), set)
	for _, req := range []receipts.Request{
		twilioRequest(authToken, callbackURL(id), twilioForm("sent", "")),
		twilioRequest(authToken, callbackURL(id), twilioForm("delivered", "")),
		twilioRequest("forged-token", callbackURL(id), twilioForm("undelivered", "30003")),
	} {
		r.h.Serve(ctx, req)
	}
	var out bytes.Buffer
	if err := set.Flush(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var root map[string]any
		if err := json.Unmarshal([]byte(line), &root); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		outcome, _ := root["Outcome"].(string)
		provider, _ := root["Provider"].(string)
		for _, name := range []string{"Receipts", "Requests"} {
			if v, ok := root[name].(float64); ok {
				got[name+"/"+provider+"/"+outcome] += v
			}
		}
	}
	for k, want := range map[string]float64{
		"Receipts/twilio/sent":      1,
		"Receipts/twilio/delivered": 1,
		"Requests//200":             2,
		"Requests//403":             1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
	if got["Receipts/twilio/undelivered"] != 0 {
		t.Error("a forged receipt was counted")
	}
}
