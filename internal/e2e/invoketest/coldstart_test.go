package invoketest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/testing/rie"
)

// BenchmarkColdStart starts each function's real bootstrap (host
// architecture, deployment flags) under the Runtime Interface Emulator once
// per iteration and reports the emulator's init duration (bootstrap start
// to its first request for work, with configuration and the secret loaded)
// and the first request's round trip.
func BenchmarkColdStart(b *testing.B) {
	dir := eventsDir(b)
	st := launchEvents(b, dir)
	first := map[string]string{"send": "send/http-api-v2-missing-auth.json", "drain": "drain/sqs-poison.json",
		"receipts": "receipts/http-api-v2-twilio-forged.json", "publisher": "publisher/stream-status-changes.json"}
	for _, f := range Functions() {
		bin := rie.Build(b, f.Package)
		env, err := st.Env(f)
		if err != nil {
			b.Fatal(err)
		}
		payload, err := os.ReadFile(filepath.Join(dir, first[f.Name]))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.Name, func(b *testing.B) {
			var initTotal, rtTotal time.Duration
			n := 0
			for b.Loop() {
				em := rie.Start(b, bin, env)
				start := time.Now()
				if _, err := em.Invoke(payload); err != nil {
					b.Fatal(err)
				}
				rtTotal += time.Since(start)
				d, ok := em.InitDuration()
				if !ok {
					b.Fatalf("no init duration in:\n%s", em.Log())
				}
				initTotal += d
				n++
				em.Stop()
			}
			b.ReportMetric(float64(initTotal.Microseconds())/1000/float64(n), "init-ms")
			b.ReportMetric(float64(rtTotal.Microseconds())/1000/float64(n), "first-rt-ms")
		})
	}
}
