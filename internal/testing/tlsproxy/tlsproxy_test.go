package tlsproxy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/testing/tlsproxy"
)

func TestMain(m *testing.M) {
	if err := tlsproxy.TrustCA(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// call posts to url and reports how long the connection took to be ready.
func call(t *testing.T, hc *http.Client, url string) (connected time.Duration) {
	t.Helper()
	start := time.Now()
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected = time.Since(start) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("a=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpclient.Do(hc, req, "test")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Do = %v, %v; want 204 through the proxy", resp, err)
	}
	return connected
}

func TestProxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(target.Close)
	addr := strings.TrimPrefix(target.URL, "http://")

	t.Run("slow new connections", func(t *testing.T) {
		p := tlsproxy.Start(t, addr, tlsproxy.Config{Delay: 300 * time.Millisecond, SlowShare: 1})
		hc := httpclient.New(5 * time.Second)
		if d := call(t, hc, p.URL()); d < 300*time.Millisecond {
			t.Errorf("first connection ready after %v, want at least the 300 ms delay", d)
		}
		if d := call(t, hc, p.URL()); d > 100*time.Millisecond {
			t.Errorf("reused connection ready after %v, want at once", d)
		}
		if s := p.Stats(); s.Conns != 1 || s.Slow != 1 {
			t.Errorf("stats = %+v, want one slow connection", s)
		}
	})
	t.Run("idle connections closed", func(t *testing.T) {
		p := tlsproxy.Start(t, addr, tlsproxy.Config{CloseIdle: 30 * time.Millisecond})
		hc := httpclient.New(5 * time.Second)
		call(t, hc, p.URL())
		time.Sleep(150 * time.Millisecond)
		call(t, hc, p.URL())
		if s := p.Stats(); s.Conns != 2 || s.ClosedIdle < 1 || s.Slow != 0 {
			t.Errorf("stats = %+v, want 2 connections, the first closed for idleness", s)
		}
	})
}
