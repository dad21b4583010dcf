package chaos_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/local/memory"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/providertest"
	"github.com/fluxkit/sms/internal/testing/tlsproxy"
	"github.com/fluxkit/sms/internal/twilio"
)

// readinessRun is what a run of TestSlowConnectionsKeepTheLimit measured.
type readinessRun struct {
	sent, queued, failed int
	peak                 int // most provider requests in a 1-s window
	requests             int
	proxy                tlsproxy.Stats
	notReady             int // calls abandoned for a late connection
}

// runSlowConnections sends messages from workers callers through the send
// path (sms.Sender) for d at rate 10/s (margin 0.05) to the Twilio fake
// behind a TLS proxy that holds back a third of the new connections for
// 1.5 s and closes connections idle for 30 ms, so that calls keep needing
// new ones. readiness says whether the dispatcher bounds the readiness of
// connections (and warms them) as the deployed wiring does.
func runSlowConnections(t *testing.T, readiness bool, workers int, d time.Duration) readinessRun {
	t.Helper()
	const (
		rate   = 10
		margin = sms.DefaultMargin
	)
	fake := providertest.NewTwilio(t)
	proxy := tlsproxy.Start(t, strings.TrimPrefix(fake.URL(), "http://"), tlsproxy.Config{
		Delay: 1500 * time.Millisecond, SlowShare: 1.0 / 3, Seed: 11, CloseIdle: 30 * time.Millisecond,
	})
	hc := httpclient.New(5 * time.Second)
	provider := twilio.New(twilio.Credentials{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken},
		twilio.Config{BaseURL: proxy.URL(), HTTPClient: hc})
	limiter, err := memory.NewLimiter(memory.LimiterConfig{Rate: rate, Margin: margin})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logging.Buffer{}
	log := logging.New(logs, -4)
	cfg := sms.DispatcherConfig{}
	if readiness {
		cfg.ReadyWithin, cfg.Warmer = sms.ReadyWindow(margin), httpclient.Warmer(hc)
	}
	queue, err := memory.NewQueue(memory.QueueConfig{Capacity: 10000})
	if err != nil {
		t.Fatal(err)
	}
	sender := sms.NewSender(sms.NewDispatcher(provider, limiter, log, cfg), queue, nil, sms.SenderConfig{
		DefaultFrom: providertest.TwilioFrom, QueueEnabled: true, MaxWait: time.Second,
	})

	var (
		mu  sync.Mutex
		run readinessRun
		wg  sync.WaitGroup
	)
	end := time.Now().Add(d)
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				res, err := sender.Send(context.Background(), sms.SendRequest{To: recipient, Body: fmt.Sprintf("slow connection %d-%d", w, i)})
				mu.Lock()
				switch {
				case err != nil:
					run.failed++
				case res.Status == sms.StatusSent:
					run.sent++
				default:
					run.queued++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var at []time.Time
	for _, q := range fake.Requests() {
		at = append(at, q.At)
	}
	run.requests = len(at)
	run.peak = conformance.MaxInWindow(at, time.Second)
	run.proxy = proxy.Stats()
	run.notReady = bytes.Count(logs.Bytes(), []byte(`"event":"connection_not_ready"`))
	return run
}

// TestSlowConnectionsKeepTheLimit puts the provider behind connections
// that are sometimes slow to open (1.5 s, far past the 50 ms margin): a
// call whose connection is not ready within the margin of its slot must
// not go out on that slot, so the provider never sees more than the limit
// in any 1-second window.
func TestSlowConnectionsKeepTheLimit(t *testing.T) {
	run := runSlowConnections(t, true, 8, 5*time.Second)
	t.Logf("rate 10/s, margin 0.05, a third of new connections 1.5 s late: %d provider requests, peak %d in 1 s; "+
		"sent %d, queued %d, failed %d; proxy %+v; %d calls abandoned for a late connection",
		run.requests, run.peak, run.sent, run.queued, run.failed, run.proxy, run.notReady)
	if run.peak > 10 {
		t.Errorf("peak provider requests in a 1 s window = %d, want at most the limit, 10", run.peak)
	}
	if run.proxy.Slow == 0 || run.notReady == 0 {
		t.Errorf("slow connections %d, calls abandoned %d: the run did not exercise the readiness bound", run.proxy.Slow, run.notReady)
	}
	if run.sent < 20 {
		t.Errorf("sent %d messages in 5 s at 10/s, want the limit mostly used (at least 20)", run.sent)
	}
	if run.failed != 0 {
		t.Errorf("%d sends failed, want none (queued instead)", run.failed)
	}
}
