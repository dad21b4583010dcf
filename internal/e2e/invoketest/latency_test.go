package invoketest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/testing/rie"
)

// providerDelay is how long the Twilio fake takes to answer in
// BenchmarkWarmSendLatency: a provider's round trip, which the status
// write comes after.
const providerDelay = 200 * time.Millisecond

// BenchmarkWarmSendLatency runs the send function's real bootstrap under
// the Runtime Interface Emulator, warm, with the Twilio fake answering
// after providerDelay, and reports the round trip of a direct send
// (events/send/http-api-v2-valid.json) with status tracking on and off:
// median and 95th percentile.
func BenchmarkWarmSendLatency(b *testing.B) {
	dir := eventsDir(b)
	st := launchEvents(b, dir)
	st.Twilio.FailWhen(func(providertest.Request) bool { return true }, providertest.Fault{Delay: providerDelay})
	payload, err := os.ReadFile(filepath.Join(dir, "send", "http-api-v2-valid.json"))
	if err != nil {
		b.Fatal(err)
	}
	bin := rie.Build(b, Send.Package)
	for _, tracking := range []string{"true", "false"} {
		b.Run("tracking-"+tracking, func(b *testing.B) {
			env, err := st.Env(Send)
			if err != nil {
				b.Fatal(err)
			}
			em := rie.Start(b, bin, append(env, "SMS_STATUS_TRACKING="+tracking))
			defer em.Stop()
			invoke := func() time.Duration {
				start := time.Now()
				out, err := em.Invoke(payload)
				rt := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				var resp struct {
					StatusCode int `json:"statusCode"`
				}
				if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != 200 {
					b.Fatalf("answer %s, want 200", out)
				}
				return rt
			}
			invoke() // the cold start
			var rts []time.Duration
			for b.Loop() {
				rts = append(rts, invoke())
			}
			slices.Sort(rts)
			b.ReportMetric(ms(rts[len(rts)/2]), "p50-ms")
			b.ReportMetric(ms(rts[len(rts)*95/100]), "p95-ms")
		})
	}
}
