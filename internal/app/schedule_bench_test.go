package app_test

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkScheduledRequestsPerMessage counts the AWS requests a scheduled
// message costs when it is accepted, through the counting proxy in front
// of moto: within 15 minutes the queue holds it (one SendMessage with a
// delay, no Scheduler call); further ahead one CreateSchedule and no SQS
// write. Both write the scheduled status record. "cancel" is what a cancel
// of a message scheduled an hour ahead costs: the record read, its
// conditional move, the DeleteSchedule.
func BenchmarkScheduledRequestsPerMessage(b *testing.B) {
	for _, p := range []struct {
		name   string
		ahead  time.Duration
		cancel bool
	}{
		{"within-15-minutes", 5 * time.Minute, false},
		{"an-hour-ahead", time.Hour, false},
		{"cancel", time.Hour, true},
	} {
		b.Run(p.name, func(b *testing.B) {
			s := newStack(b)
			h := s.sendHandler(b)
			var ids []string
			if p.cancel {
				for range 200 {
					a := post(b, h, scheduledBody(time.Now().Add(p.ahead)))
					ids = append(ids, a.body["messageId"].(string))
				}
			}
			s.proxy.Reset()
			n := 0
			for b.Loop() {
				if p.cancel {
					if a := cancelMessage(b, h, ids[n%len(ids)], nil); a.status != 200 {
						b.Fatalf("cancel: %d %s", a.status, a.raw)
					}
				} else if a := post(b, h, scheduledBody(time.Now().Add(p.ahead))); a.status != 202 {
					b.Fatalf("status %d %s, want 202", a.status, a.raw)
				}
				n++
			}
			ddb, sq := 0, 0
			for op, c := range s.proxy.Counts() {
				switch {
				case strings.HasPrefix(op, "DynamoDB"):
					ddb += c
				case strings.HasPrefix(op, "AmazonSQS"):
					sq += c
				}
			}
			calls := s.schedulerCalls()
			b.ReportMetric(float64(ddb)/float64(n), "ddb-req/msg")
			b.ReportMetric(float64(sq)/float64(n), "sqs-req/msg")
			b.ReportMetric(float64(calls["CreateSchedule"])/float64(n), "CreateSchedule/msg")
			b.ReportMetric(float64(calls["DeleteSchedule"])/float64(n), "DeleteSchedule/msg")
		})
	}
}
