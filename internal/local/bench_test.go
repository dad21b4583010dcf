package local

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/logging"
)

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sink discards what is written to it without being io.Discard, so that
// the console provider and the logger still format every line.
type sink struct{}

func (sink) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkLocalServer measures the local server's requests per second
// over loopback HTTP with keep-alive connections and parallel clients
// (8 per GOMAXPROCS), each sending the documented request:
//   - sent/quiet: SMS_RATE_LIMIT=1e6, so every request is really sent
//     through the console provider, which prints nowhere;
//   - sent/printing: the same with the console lines and the JSON logs
//     formatted (into a writer that drops them), as `make local` does;
//   - queued/rate=10: the default limit, so nearly every request is put on
//     the in-memory queue (202) while the drain loop delivers 10 per second.
//
// It reports req/s and the process's CPU time per request (server and
// clients together).
func BenchmarkLocalServer(b *testing.B) {
	tests := []struct {
		name     string
		rate     string
		printing bool
		allSent  bool
	}{
		{"sent/quiet", "1000000", false, true},
		{"sent/printing", "1000000", true, true},
		{"queued/rate=10", "10", false, false},
	}
	payload := []byte(curlBody)
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			s := startServer(b, map[string]string{"SMS_RATE_LIMIT": tt.rate}, func(o *Options) {
				o.QueueCapacity = 1 << 24
				if tt.printing {
					o.Console = sink{}
					o.Log = logging.New(sink{}, slog.LevelInfo)
				}
			})
			url := s.URL() + RoutePath
			auth := "Bearer " + devToken(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
			defer client.CloseIdleConnections()
			var sent, queued, other atomic.Int64

			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", auth)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
						sent.Add(1)
					case http.StatusAccepted:
						queued.Add(1)
					default:
						other.Add(1)
					}
				}
			})
			elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
			b.StopTimer()

			n := float64(sent.Load() + queued.Load() + other.Load())
			b.ReportMetric(n/elapsed.Seconds(), "req/s")
			b.ReportMetric(100*float64(queued.Load())/n, "%queued")
			// CPU time of the whole process (server and clients) per request:
			// steadier than req/s on a machine shared with other work.
			b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/req")
			if other.Load() > 0 {
				b.Errorf("%d answers were neither 200 nor 202", other.Load())
			}
			if tt.allSent && sent.Load() != int64(n) {
				b.Errorf("%d of %d requests were sent, want all", sent.Load(), int64(n))
			}
			if c := s.Console(); tt.allSent && c.Count() != int(n) {
				b.Errorf("console provider got %d messages, want %d", c.Count(), int64(n))
			}
		})
	}
}
