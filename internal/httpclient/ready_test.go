package httpclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
)

// countingServer is a test server counting the connections it accepted and
// the requests it received.
type countingServer struct {
	*httptest.Server
	conns, requests atomic.Int32
}

func newCountingServer(t *testing.T) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// slowDialClient is a client whose new connections take delay to open,
// like a cold DNS, TCP and TLS set-up to a distant provider.
func slowDialClient(delay time.Duration) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			time.Sleep(delay)
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestDoAbandonsACallWhoseConnectionIsLate(t *testing.T) {
	srv := newCountingServer(t)
	hc := slowDialClient(300 * time.Millisecond)
	ctx := sms.WithReadyBy(context.Background(), time.Now().Add(50*time.Millisecond))
	start := time.Now()
	_, err := httpclient.Do(hc, post(t, ctx, srv.URL), "test: call")
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("Do took %v, want it to give up at the readiness bound (50 ms)", took)
	}
	if got := sms.KindOf(err); got != sms.KindTransient || !errors.Is(err, sms.ErrConnNotReady) {
		t.Fatalf("Do error = %v (kind %v), want a transient error wrapping sms.ErrConnNotReady", err, got)
	}
	if !sms.AsError(err).FailoverSafe {
		t.Errorf("Do error = %v is not FailoverSafe: nothing was written", err)
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("server received %d requests, want none: nothing may be written on a late connection", n)
	}
	// The connection that was being opened goes to the idle pool: the next
	// call finds it ready.
	time.Sleep(400 * time.Millisecond)
	ctx = sms.WithReadyBy(context.Background(), time.Now().Add(50*time.Millisecond))
	if _, err := httpclient.Do(hc, post(t, ctx, srv.URL), "test: call"); err != nil {
		t.Fatalf("second Do = %v, want the pooled connection used", err)
	}
	if c, r := srv.conns.Load(), srv.requests.Load(); c != 1 || r != 1 {
		t.Errorf("server saw %d connections and %d requests, want 1 and 1", c, r)
	}
}

// TestDoNeverWritesAfterTheBound asks for calls whose bound has already
// passed while an idle connection is at hand: whichever way the transport
// resolves the race between its idle connection and the canceled context,
// nothing reaches the server.
func TestDoNeverWritesAfterTheBound(t *testing.T) {
	srv := newCountingServer(t)
	hc := httpclient.New(10 * time.Second)
	const rounds = 40
	for range rounds {
		// Put a connection in the idle pool.
		if _, err := httpclient.Do(hc, post(t, context.Background(), srv.URL), "test: prime"); err != nil {
			t.Fatalf("priming Do: %v", err)
		}
		ctx := sms.WithReadyBy(context.Background(), time.Now().Add(-time.Millisecond))
		if _, err := httpclient.Do(hc, post(t, ctx, srv.URL), "test: call"); !errors.Is(err, sms.ErrConnNotReady) {
			t.Fatalf("Do with a passed bound = %v, want sms.ErrConnNotReady", err)
		}
	}
	if n := srv.requests.Load(); n != rounds {
		t.Errorf("server received %d requests, want only the %d priming ones", n, rounds)
	}
}

func TestDoWithinTheBound(t *testing.T) {
	srv := newCountingServer(t)
	hc := httpclient.New(10 * time.Second)
	ctx := sms.WithReadyBy(context.Background(), time.Now().Add(time.Second))
	resp, err := httpclient.Do(hc, post(t, ctx, srv.URL), "test: call")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Do = %v, %v; want 200", resp, err)
	}
	// The bound does not outlive the connection's readiness: a slow answer
	// after it is still read.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
	}))
	t.Cleanup(slow.Close)
	ctx = sms.WithReadyBy(context.Background(), time.Now().Add(20*time.Millisecond))
	if _, err := httpclient.Do(hc, post(t, ctx, slow.URL), "test: call"); err != nil {
		t.Errorf("Do with an answer slower than the bound = %v, want the answer", err)
	}
}

func TestWarmerKeepsASpareConnection(t *testing.T) {
	srv := newCountingServer(t)
	hc := httpclient.New(10 * time.Second)
	w := httpclient.Warmer(hc)
	if w == nil {
		t.Fatal("Warmer(New(...)) = nil")
	}
	if httpclient.Warmer(http.DefaultClient) != nil {
		t.Error("Warmer(http.DefaultClient) != nil, want nil for a client not made by New")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Nothing dialed yet: nothing to warm.
	if err := w.Warm(ctx); err != nil || srv.conns.Load() != 0 {
		t.Fatalf("Warm before any call = %v with %d connections, want nil and none", err, srv.conns.Load())
	}
	if _, err := httpclient.Do(hc, post(t, context.Background(), srv.URL), "test"); err != nil {
		t.Fatal(err)
	}
	if err := w.Warm(ctx); err != nil {
		t.Fatalf("Warm = %v", err)
	}
	waitFor(t, func() bool { return srv.conns.Load() == 2 }, "the spare connection")
	// A call that needs a new connection takes the spare.
	hc.CloseIdleConnections()
	if _, err := httpclient.Do(hc, post(t, context.Background(), srv.URL), "test"); err != nil {
		t.Fatal(err)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("connections = %d, want 2: the call should have used the spare", n)
	}
	// A spare the server closed is not handed out.
	if err := w.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.conns.Load() == 3 }, "a new spare connection")
	srv.CloseClientConnections()
	hc.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	if _, err := httpclient.Do(hc, post(t, context.Background(), srv.URL), "test"); err != nil {
		t.Fatalf("Do after the server closed the spare = %v, want a new connection", err)
	}
	if c, r := srv.conns.Load(), srv.requests.Load(); c != 4 || r != 3 {
		t.Errorf("connections, requests = %d, %d; want 4, 3", c, r)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
