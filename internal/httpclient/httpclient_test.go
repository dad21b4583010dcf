package httpclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/httpclient"
	"github.com/fluxkit/sms/internal/sms"
)

func post(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("a=1"))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// hangUp closes the connection under w without answering.
func hangUp(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDoClassifiesTransportFailures(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) { hangUp(t, w) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a hang-up only after the body
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		if r.URL.Query().Has("error") {
			status = http.StatusInternalServerError
		}
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"partial":`))
		w.(http.Flusher).Flush()
		hangUp(t, w)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(mux)
	t.Cleanup(tlsSrv.Close)
	t.Cleanup(func() { close(block) }) // runs first

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		url     string
		timeout time.Duration
		want    sms.Kind
	}{
		{"connection refused", context.Background(), "http://" + closedAddr(t) + "/x", 10 * time.Second, sms.KindTransient},
		{"untrusted TLS certificate", context.Background(), tlsSrv.URL + "/slow", 10 * time.Second, sms.KindTransient},
		{"context canceled before sending", canceled, srv.URL + "/slow", 10 * time.Second, sms.KindTransient},
		{"connection closed after the request", context.Background(), srv.URL + "/hangup", 10 * time.Second, sms.KindAmbiguous},
		{"client timeout waiting for the answer", context.Background(), srv.URL + "/slow", 100 * time.Millisecond, sms.KindAmbiguous},
		{"2xx body cut short", context.Background(), srv.URL + "/cut", 10 * time.Second, sms.KindAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := httpclient.Do(httpclient.New(tt.timeout), post(t, tt.ctx, tt.url), "test: call")
			if err == nil {
				t.Fatalf("Do = HTTP %d, want an error", resp.StatusCode)
			}
			var e *sms.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *sms.Error", err)
			}
			if e.Kind != tt.want {
				t.Errorf("kind = %v, want %v (error %v)", e.Kind, tt.want, err)
			}
			// Only a request never written lets another provider send.
			if want := tt.want == sms.KindTransient; e.FailoverSafe != want {
				t.Errorf("FailoverSafe = %v, want %v", e.FailoverSafe, want)
			}
			if e.Code != "" || e.Message == "" {
				t.Errorf("code, message = %q, %q, want no narrowing code and a message", e.Code, e.Message)
			}
			if !strings.HasPrefix(e.Err.Error(), "test: call: ") {
				t.Errorf("cause = %q, want it prefixed with the operation", e.Err)
			}
			path := tt.url[strings.LastIndex(tt.url, "/"):]
			if strings.Contains(err.Error(), path) {
				t.Errorf("error %q shows the URL path %q", err, path)
			}
		})
	}
}

func TestDoCallerDeadlineAfterWriteIsAmbiguous(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := httpclient.Do(httpclient.New(time.Minute), post(t, ctx, srv.URL), "test")
	if got := sms.KindOf(err); got != sms.KindAmbiguous {
		t.Errorf("kind = %v, want %v (error %v)", got, sms.KindAmbiguous, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
}

func TestDoReturnsAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("X-Test", "yes")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"sid":"SM1"}`))
		case "/cut":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`partial`))
			w.(http.Flusher).Flush()
			hangUp(t, w)
		}
	}))
	t.Cleanup(srv.Close)
	hc := httpclient.New(10 * time.Second)

	resp, err := httpclient.Do(hc, post(t, context.Background(), srv.URL+"/ok"), "test")
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.StatusCode != 201 || string(resp.Body) != `{"sid":"SM1"}` || resp.Header.Get("X-Test") != "yes" || !resp.Success() {
		t.Errorf("response = %d %q %v, want 201 with the body", resp.StatusCode, resp.Body, resp.Header)
	}

	resp, err = httpclient.Do(hc, post(t, context.Background(), srv.URL+"/cut"), "test")
	if err != nil {
		t.Fatalf("Do on a cut 502: %v, want the answer", err)
	}
	if resp.StatusCode != 502 || string(resp.Body) != "partial" || resp.Success() {
		t.Errorf("response = %d %q, want 502 with what was read", resp.StatusCode, resp.Body)
	}
}

func TestNewDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/target", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	hc := httpclient.New(0)
	if hc.Timeout != httpclient.DefaultTimeout {
		t.Errorf("Timeout = %v, want %v", hc.Timeout, httpclient.DefaultTimeout)
	}
	resp, err := httpclient.Do(hc, post(t, context.Background(), srv.URL+"/start"), "test")
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.StatusCode != http.StatusFound || followed.Load() != 0 {
		t.Errorf("status = %d with %d follows, want 302 and none", resp.StatusCode, followed.Load())
	}
}

func TestNewReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	hc := httpclient.New(10 * time.Second)
	for range 5 {
		if _, err := httpclient.Do(hc, post(t, context.Background(), srv.URL), "test"); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("opened %d connections for 5 sequential calls, want 1", n)
	}
}

func TestUnexpected(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		want       sms.Kind
		wantRetry  time.Duration
	}{
		{200, "", sms.KindAmbiguous, 0},
		{201, "", sms.KindAmbiguous, 0},
		{429, "7", sms.KindTransient, 7 * time.Second},
		{500, "", sms.KindAmbiguous, 0},
		{502, "3", sms.KindAmbiguous, 0},
		{503, "2", sms.KindTransient, 2 * time.Second},
		{504, "", sms.KindAmbiguous, 0},
		{302, "", sms.KindProviderAccount, 0},
		{400, "", sms.KindProviderAccount, 0},
		{401, "", sms.KindProviderAccount, 0},
		{404, "", sms.KindProviderAccount, 0},
	}
	for _, tt := range tests {
		r := &httpclient.Response{StatusCode: tt.status, Header: http.Header{}, Body: []byte("<html>secret</html>")}
		if tt.retryAfter != "" {
			r.Header.Set("Retry-After", tt.retryAfter)
		}
		why := errors.New("garbled")
		e := httpclient.Unexpected("test", r, why)
		if e.Kind != tt.want || e.Code != "" || e.RetryAfter != tt.wantRetry {
			t.Errorf("Unexpected(%d) = %v %q retry %v, want %v without a narrowing code, retry %v",
				tt.status, e.Kind, e.Code, e.RetryAfter, tt.want, tt.wantRetry)
		}
		if want := tt.want != sms.KindAmbiguous; e.FailoverSafe != want {
			t.Errorf("Unexpected(%d).FailoverSafe = %v, want %v", tt.status, e.FailoverSafe, want)
		}
		if !errors.Is(e, why) || e.Message == "" || strings.Contains(e.Error(), "secret") {
			t.Errorf("Unexpected(%d) = %v, want the cause wrapped, a message, and no body", tt.status, e)
		}
		if want := http.StatusText(tt.status); !strings.Contains(e.ProviderMessage, want) {
			t.Errorf("ProviderMessage = %q, want it to name %q", e.ProviderMessage, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{"86400", 10 * time.Minute},
		{"99999999999999", 10 * time.Minute},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		if got := httpclient.RetryAfter(h); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func TestPostForm(t *testing.T) {
	form := map[string][]string{"To": {"+14155552671"}, "Body": {"a & b"}}
	tests := []struct {
		name, baseURL, want string
	}{
		{"default base URL", "", "https://api.example.test/v1/send"},
		{"configured base URL", "http://127.0.0.1:9000", "http://127.0.0.1:9000/v1/send"},
		{"trailing slash tolerated", "http://127.0.0.1:9000//", "http://127.0.0.1:9000/v1/send"},
	}
	for _, tt := range tests {
		req, err := httpclient.PostForm(context.Background(), "test: send", tt.baseURL, "https://api.example.test", "/v1/send", form)
		if err != nil {
			t.Fatalf("%s: PostForm error = %v", tt.name, err)
		}
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.URL.String() != tt.want || string(body) != "Body=a+%26+b&To=%2B14155552671" ||
			req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || req.Header.Get("Accept") != "application/json" ||
			req.Header.Get("User-Agent") != httpclient.UserAgent {
			t.Errorf("%s: PostForm = %s %s %q %v, want a JSON-accepting form POST to %s", tt.name, req.Method, req.URL, body, req.Header, tt.want)
		}
	}
	_, err := httpclient.PostForm(context.Background(), "test: send", "http://bad host", "", "/x", form)
	if got := sms.KindOf(err); got != sms.KindProviderAccount || !strings.Contains(err.Error(), "test: send: build request") {
		t.Errorf("PostForm with a malformed base URL: error %v (kind %v), want a provider-account error naming the operation", err, got)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "::1": true,
		"example.com": false, "10.0.0.1": false, "": false, "localhost.example.com": false,
	} {
		if got := httpclient.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
