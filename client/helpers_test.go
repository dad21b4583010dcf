package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/auth"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/local"
)

// localAPI is the service as `make local` runs it, in this process: the
// real send handler behind the local API Gateway, the in-memory limiter,
// queue and idempotency store, and the console provider, which records
// every message it is given.
type localAPI struct {
	URL   string
	Token string
	srv   *local.Server
}

// startLocal starts the local server on a free loopback port with env as
// its environment; stop shuts it down.
func startLocal(env map[string]string) (api *localAPI, stop func(), err error) {
	s, err := local.New(context.Background(), local.Options{
		Getenv: func(k string) string { return env[k] },
		Addr:   "127.0.0.1:0",
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start the local server: %w", err)
	}
	s.Start()
	tok, err := local.DevToken(s.Config(), time.Now())
	if err != nil {
		return nil, nil, err
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx, 0)
	}
	return &localAPI{URL: s.URL(), Token: tok, srv: s}, stop, nil
}

// mustStartLocal is startLocal for examples, which have no *testing.T.
func mustStartLocal() (*localAPI, func()) {
	api, stop, err := startLocal(nil)
	if err != nil {
		panic(err)
	}
	return api, stop
}

// newLocal starts the local server for a test.
func newLocal(t *testing.T, env map[string]string) *localAPI {
	t.Helper()
	api, stop, err := startLocal(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return api
}

// Config is the configuration the local server runs with.
func (a *localAPI) Config() config.Config { return a.srv.Config() }

// tokenFor returns a token the local server accepts (signed with
// local.DevSecret, valid for an hour) for the caller sub, carrying the
// scope the server requires and scopes.
func (a *localAPI) tokenFor(t *testing.T, sub string, scopes ...string) string {
	t.Helper()
	cfg := a.srv.Config()
	now := time.Now()
	claims := map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if cfg.JWTIssuer != "" {
		claims["iss"] = cfg.JWTIssuer
	}
	if cfg.JWTAudience != "" {
		claims["aud"] = cfg.JWTAudience
	}
	if cfg.JWTRequiredScope != "" {
		scopes = append(scopes, cfg.JWTRequiredScope)
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	tok, err := auth.Sign([]byte(local.DevSecret), claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sentCount is how many messages the console provider was given.
func (a *localAPI) sentCount() int { return a.srv.Console().Count() }

// exchange is one request a transport saw and the answer it got (or not).
type exchange struct {
	method, path, key, auth string
	status                  int
	body                    string
	dropped                 bool
}

// recordingTransport passes requests on to the default transport and
// records them. The first `drop` answers are read in full, so that the
// service has carried the request out, and then thrown away: the client
// sees a connection reset, as when the network loses an answer.
type recordingTransport struct {
	drop int

	mu  sync.Mutex
	log []exchange
}

func (tr *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	ex := exchange{method: r.Method, path: r.URL.EscapedPath(), key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization")}
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ex.status, ex.body = resp.StatusCode, string(b)
		resp.Body = io.NopCloser(stringsReader(ex.body))
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err == nil && tr.drop > 0 {
		tr.drop--
		ex.dropped = true
		tr.log = append(tr.log, ex)
		return nil, fmt.Errorf("read tcp: connection reset by peer (answer %d dropped by the test)", ex.status)
	}
	tr.log = append(tr.log, ex)
	return resp, err
}

func (tr *recordingTransport) exchanges() []exchange {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]exchange(nil), tr.log...)
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
