package events

import (
	"context"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// BenchmarkEventsPerMessage writes the status changes of b.N messages
// through the DynamoDB store on moto, then hands the table's stream to the
// publisher in the event source mapping's batches of 100 records, and
// reports per message: the stream records, the events on the bus and the
// PutEvents requests; and the entries per PutEvents request.
//
//   - direct: a direct send (sent) and its two receipts, Twilio's "sent"
//     (no change) and "delivered": 2 status changes.
//   - queued: queued, the drain's sent, a delivered receipt: 3 changes.
func BenchmarkEventsPerMessage(b *testing.B) {
	for _, path := range []struct {
		name  string
		write func(b *testing.B, r *rig, id string, at time.Time)
	}{
		{"direct+2receipts", func(b *testing.B, r *rig, id string, at time.Time) {
			r.record(b, id, sms.Change{Status: sms.StatusSent, At: at, MessageID: "SM" + id, ProviderMessageID: "SM" + id, Provider: "twilio",
				To: "+14155550100", From: "+15005550006", Segments: 1, Encoding: sms.GSM7, CreatedAt: at, Owner: sms.CallerOwner("bench")})
			r.record(b, id, sms.Change{Status: sms.StatusSent, At: at.Add(time.Second), ProviderCode: "sent"})
			r.record(b, id, sms.Change{Status: sms.StatusDelivered, At: at.Add(2 * time.Second), ProviderCode: "delivered"})
		}},
		{"queued+receipt", func(b *testing.B, r *rig, id string, at time.Time) {
			r.record(b, id, sms.Change{Status: sms.StatusQueued, At: at, MessageID: id,
				To: "+14155550100", From: "+15005550006", Segments: 1, Encoding: sms.GSM7, CreatedAt: at, Owner: sms.CallerOwner("bench")})
			r.record(b, id, sms.Change{Status: sms.StatusSent, At: at.Add(time.Second), ProviderMessageID: "SM" + id, Provider: "twilio"})
			r.record(b, id, sms.Change{Status: sms.StatusDelivered, At: at.Add(2 * time.Second), ProviderCode: "delivered"})
		}},
	} {
		b.Run(path.name, func(b *testing.B) {
			r := newRig(b)
			at := time.Now().UTC().Add(-time.Minute)
			b.ResetTimer()
			for range b.N {
				path.write(b, r, sms.NewServiceID(), at)
			}
			_, failures := r.pump(b)
			b.StopTimer()
			if len(failures) != 0 {
				b.Fatalf("batch item failures: %v", failures)
			}
			evs, err := r.tap.Take(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			calls := r.proxy.Counts()[putEventsOp]
			n := float64(b.N)
			b.ReportMetric(float64(len(evs))/n, "events/msg")
			b.ReportMetric(float64(calls)/n, "PutEvents/msg")
			b.ReportMetric(float64(len(evs))/float64(max(calls, 1)), "entries/PutEvents")
		})
	}
}
