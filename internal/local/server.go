package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/local/esm"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// Defaults of Options.
const (
	// DefaultPort is the port on 127.0.0.1 when PORT is unset (the port
	// `sam local start-api` uses).
	DefaultPort = 3000
	// DefaultQueueCapacity bounds the in-memory queue.
	DefaultQueueCapacity = 1000
	// DefaultGrace is how long Shutdown lets the drain loop empty the
	// in-memory queue.
	DefaultGrace = 5 * time.Second
	// DrainBatchSize and DrainConcurrency are the event source mapping's
	// BatchSize and MaximumConcurrency in template.yaml.
	DrainBatchSize   = 10
	DrainConcurrency = 2
	// DrainTimeout is the drain function's timeout in template.yaml.
	DrainTimeout = 60 * time.Second
)

// SuppressionsPath is the suppression list's collection: DELETE
// SuppressionsPath/{number} takes a number off it (JWT_ADMIN_SCOPE).
const SuppressionsPath = "/messaging/sms/suppressions"

// ReceiptRoutes are the receipt routes of template.yaml, which the local
// server serves with the receipts function's handler.
var ReceiptRoutes = []struct{ Method, Path string }{
	{http.MethodPost, receipts.TwilioPath},
	{http.MethodGet, receipts.VonagePath},
	{http.MethodPost, receipts.VonagePath},
}

// EnvPort is the environment variable choosing the port.
const EnvPort = "PORT"

// Options configure a Server. Every field has a default.
type Options struct {
	// Getenv reads the configuration (README.md#configuration and PORT); nil means
	// nothing is set. The command passes os.Getenv. AWS mode reads the AWS
	// SDK's settings (region, credentials, AWS_ENDPOINT_URL) from the
	// process environment and shared config files, as the SDK does.
	Getenv func(string) string
	// Addr is the listen address; empty means 127.0.0.1:$PORT, or
	// 127.0.0.1:3000 when PORT is unset. Use port 0 for a free port.
	Addr string
	// QueueCapacity bounds the in-memory queue (DefaultQueueCapacity when
	// not positive); a full queue answers 503.
	QueueCapacity int
	// MaxReceives is the in-memory queue's redrive limit
	// (DefaultMaxReceives when not positive).
	MaxReceives int
	// Keep is how many sent messages and dead letters are kept for the
	// /_local/ endpoints (DefaultKeep when not positive).
	Keep int
	// Console receives the console provider's lines and dead-letter
	// notices; nil means io.Discard.
	Console io.Writer
	// Log is the structured JSON logger (logging.New); nil discards logs.
	Log *slog.Logger
	// Clock is the time source of the in-memory parts, the console and
	// the gateway; nil means the system clock.
	Clock sms.Clock
	// Consoles names console providers after real ones ("twilio",
	// "vonage"), in the order they are tried: with more than one, local
	// mode fails over between them as a deployment with SMS_PROVIDER set
	// to the same list would, and POST /_local/providers/{name}/down and
	// /up take one down and back up (docs/local.md#failover). Empty: one
	// console provider. SMS_PROVIDER must then be unset.
	Consoles []string
}

// lists is the configuration of the console's and the dead letters' lists.
func (o Options) lists() ListConfig { return ListConfig{Keep: o.Keep, Clock: o.Clock} }

// Server is the local development server: the send function behind a
// local HTTP API (Gateway) and the drain function behind a local event
// source mapping (esm.Poller), sharing one limiter, ledger and queue.
type Server struct {
	st      *stack
	ln      net.Listener
	srv     *http.Server
	poller  *esm.Poller
	log     *slog.Logger
	started sync.Once

	pollCancel context.CancelFunc
	pollDone   chan struct{}
	serveErr   chan error
	// drainStop ends the drain invocations in flight at the end of the
	// shutdown grace period.
	drainStop       context.Context
	drainStopCancel context.CancelFunc
	// active counts the HTTP requests being served.
	active atomic.Int64
}

// New reads the configuration, binds the listener and builds the server.
// It fails with the configuration's error (naming the variable), with a
// busy-port error, or, in AWS mode, when a table, queue or secret cannot
// be reached. Call Start, then Shutdown.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = DefaultQueueCapacity
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	opts.Console = writerOrDiscard(opts.Console)
	if opts.Log == nil {
		opts.Log = discardLogger()
	}
	if opts.Clock == nil {
		opts.Clock = sms.SystemClock{}
	}
	if err := checkConsoles(opts.Consoles); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(opts.Getenv, opts.Consoles)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		if addr, err = defaultAddr(opts.Getenv); err != nil {
			return nil, err
		}
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	st, err := buildStack(ctx, cfg, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{st: st, ln: ln, log: opts.Log, pollDone: make(chan struct{}), serveErr: make(chan error, 1)}
	s.drainStop, s.drainStopCancel = context.WithCancel(context.Background())

	svc := st.svc
	sendParts, drainParts := svc.Parts, svc.Parts
	sendParts.Log = opts.Log.With(slog.String("function", "send"))
	drainParts.Log = opts.Log.With(slog.String("function", "drain"))
	api := app.NewSendHandler(cfg, sendParts, svc.Auth, svc.Callers)
	gw := NewGateway(api, http.HandlerFunc(s.serveLocal), GatewayConfig{Clock: opts.Clock, Log: sendParts.Log})
	for _, r := range ReceiptRoutes {
		gw.Route(r.Method, r.Path, st.receipts)
	}
	gw.RouteParam(http.MethodDelete, SuppressionsPath+"/", "DELETE "+SuppressionsPath+"/{number}", api)
	s.srv = &http.Server{
		Handler:           s.track(gw),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
	}
	if st.source != nil {
		dh := app.NewDrainHandler(cfg, drainParts, svc.Queue, svc.DLQ, drain.Config{})
		s.poller = esm.New(st.source, s.stoppable(dh.Handle), esm.Config{
			BatchSize: DrainBatchSize, MaxConcurrency: DrainConcurrency, Timeout: DrainTimeout, FunctionName: "drain",
		}, drainParts.Log)
	}
	return s, nil
}

// track counts the requests in flight for Shutdown.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer s.active.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// stopHTTP stops accepting connections and waits for the requests in
// flight. It does not wait for connections that were opened but never
// carried a request (clients open spare ones; http.Server.Shutdown would
// wait 5 s for each): once no request is in flight they are closed. It
// reports whether requests were cut off because ctx ended first.
func (s *Server) stopHTTP(ctx context.Context) (cut bool) {
	done := make(chan error, 1)
	go func() { done <- s.srv.Shutdown(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				s.srv.Close()
				return true
			}
			return false
		case <-tick.C:
			if s.active.Load() == 0 {
				s.srv.Close()
				<-done
				return false
			}
		}
	}
}

// stoppable makes the drain handler's invocations end when shutdown's
// grace period does: records still waiting for a send slot then go back
// to the queue with a retry backoff, as in a Lambda that timed out.
func (s *Server) stoppable(h esm.Handler) esm.Handler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.drainStop, cancel)()
		return h(ctx, ev)
	}
}

// defaultAddr is 127.0.0.1:$PORT.
func defaultAddr(getenv func(string) string) (string, error) {
	port := DefaultPort
	if v := strings.TrimSpace(getenv(EnvPort)); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return "", &config.SettingError{Setting: EnvPort, Reason: fmt.Sprintf("must be a port number from 1 to 65535 (0: any free port), got %q", v)}
		}
		port = p
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// listen binds addr and explains the usual failures.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("local: %s is already in use (another local server or `sam local start-api`?): stop it, or pick another port, e.g. PORT=3001 make local: %w", addr, err)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("local: no permission to listen on %s: pick a port above 1023 with PORT: %w", addr, err)
	}
	return nil, fmt.Errorf("local: listen on %s: %w", addr, err)
}

// Start serves HTTP and runs the drain loop in the background. Failures of
// the HTTP server after the start are reported on Err.
func (s *Server) Start() {
	s.started.Do(func() {
		pollCtx, cancel := context.WithCancel(context.Background())
		s.pollCancel = cancel
		go func() {
			defer close(s.pollDone)
			if s.poller != nil {
				s.poller.Run(pollCtx)
			}
		}()
		go func() {
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.serveErr <- fmt.Errorf("local: serve: %w", err)
			}
		}()
	})
}

// Err reports a failure of the HTTP server after Start.
func (s *Server) Err() <-chan error { return s.serveErr }

// Addr is the address the server listens on, e.g. 127.0.0.1:3000.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL, e.g. http://127.0.0.1:3000.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Mode is ModeMemory or ModeAWS.
func (s *Server) Mode() string { return s.st.mode }

// Config is the configuration the server runs with.
func (s *Server) Config() config.Config { return s.st.svc.Config }

// Console is the console provider, or nil when SMS_PROVIDER names a real
// provider.
func (s *Server) Console() *Console { return s.st.console }

// DeadLetters is the in-memory dead-letter list, or nil when SMS_DLQ_URL
// is set in AWS mode.
func (s *Server) DeadLetters() *DeadLetters { return s.st.deadLetters }

// Queued reports how many messages the in-memory queue holds (waiting, in
// flight or backing off), or -1 in AWS mode.
func (s *Server) Queued() int {
	if s.st.memQueue == nil {
		return -1
	}
	return s.st.memQueue.Len()
}

// checkConsoles checks the names of Options.Consoles: each a real
// provider's, none twice.
func checkConsoles(names []string) error {
	for i, n := range names {
		if n != config.ProviderTwilio && n != config.ProviderVonage || slices.Contains(names[:i], n) {
			return &config.SettingError{Setting: "-console", Reason: fmt.Sprintf("must name %q and %q at most once each, in the order they are tried, got %q",
				config.ProviderTwilio, config.ProviderVonage, strings.Join(names, ","))}
		}
	}
	return nil
}

// providerName names the provider in use: the console, the console
// providers named after real ones, or the real ones, in the order they
// are tried.
func (s *Server) providerName() string {
	switch {
	case len(s.st.consoles) > 0:
		return "console " + strings.Join(s.consoleNames(), ",")
	case s.st.console != nil:
		return "console"
	}
	return strings.Join(s.st.svc.Config.ProviderList(), ",")
}

// consoleNames lists the named console providers in order.
func (s *Server) consoleNames() []string {
	var out []string
	for _, p := range s.st.consoles {
		out = append(out, p.Name())
	}
	return out
}

// ConsoleProvider returns the console provider named name, or nil.
func (s *Server) ConsoleProvider(name string) *ConsoleProvider {
	for _, p := range s.st.consoles {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Banner is what the command prints at start: where the server listens,
// its mode, provider and rate limit, a ready-to-paste request, and what
// Ctrl-C does with the shutdown grace period given.
func (s *Server) Banner(grace time.Duration) string {
	cfg := s.st.svc.Config
	_, port, _ := net.SplitHostPort(s.Addr())
	var b strings.Builder
	fmt.Fprintf(&b, "FluxKit SMS local server\n")
	fmt.Fprintf(&b, "  listening   %s  (POST %s; GET %s/{messageId}; receipts at %s/{twilio,vonage}; GET /_local/status)\n", s.URL(), RoutePath, RoutePath, strings.TrimSuffix(receipts.TwilioPath, "/twilio"))
	fmt.Fprintf(&b, "  mode        %s\n", strings.Join(s.st.describe, "; "))
	switch {
	case len(s.st.consoles) > 0:
		fmt.Fprintf(&b, "  providers   console providers named %s, tried in this order (failover): messages are printed here and kept at GET /_local/messages;\n", strings.Join(s.consoleNames(), ", "))
		fmt.Fprintf(&b, "              take one down with POST /_local/providers/{name}/down, back with /up\n")
	case s.st.console != nil:
		fmt.Fprintf(&b, "  provider    console: messages are printed here and kept at GET /_local/messages (SMS_PROVIDER=twilio|vonage sends for real)\n")
	default:
		var from []string
		for _, p := range cfg.ProviderList() {
			from = append(from, p+" from "+cfg.FromFor(p))
		}
		fmt.Fprintf(&b, "  provider    %s: messages are REALLY SENT\n", strings.Join(from, ", then "))
	}
	queueing := "over the limit messages are queued (202)"
	if !cfg.QueueEnabled {
		queueing = "over the limit requests get 429 (SMS_QUEUE_ENABLED=false)"
	}
	fmt.Fprintf(&b, "  rate limit  %s/s (SMS_RATE_LIMIT); %s\n", strconv.FormatFloat(cfg.RateLimit, 'g', -1, 64), queueing)
	fmt.Fprintf(&b, "  tokens      make -s token  (HS256 with the local development secret, sub %q, valid %g h)\n", DevSubject, DevTokenTTL.Hours())
	if cfg.JWTJWKSURL != "" {
		fmt.Fprintf(&b, "              tokens from the JWKS at %s are accepted too\n", cfg.JWTJWKSURL)
	}
	fmt.Fprintf(&b, "\nTry it:\n  curl -X POST http://localhost:%s%s -H \"Content-Type: application/json\" -H \"Authorization: Bearer $(make -s token)\" -d '{\"to\":\"+14155551234\",\"body\":\"Your verification code is 482901\"}'\n", port, RoutePath)
	if cfg.StatusTracking {
		fmt.Fprintf(&b, "  curl http://localhost:%s%s/<messageId> -H \"Authorization: Bearer $(make -s token)\"   # its status\n", port, RoutePath)
	}
	b.WriteString("\n")
	if s.st.memQueue != nil {
		fmt.Fprintf(&b, "Ctrl-C stops: in-flight requests finish, queued messages get %v to drain, the rest are reported (a second Ctrl-C quits at once).\n", grace)
	} else {
		fmt.Fprintf(&b, "Ctrl-C stops: in-flight requests finish, drain batches get %v; queued messages stay in SQS (a second Ctrl-C quits at once).\n", grace)
	}
	return b.String()
}

// Report is the outcome of Shutdown.
type Report struct {
	// Mode is ModeMemory or ModeAWS.
	Mode string
	// Queued is how many messages were left in the in-memory queue, and so
	// dropped (-1 in AWS mode, where SQS keeps them).
	Queued int
	// Sent is how many messages the console provider accepted in this run
	// (-1 with a real provider).
	Sent int
	// DeadLetters is how many records went to the in-memory dead-letter
	// list (-1 when SMS_DLQ_URL is used).
	DeadLetters int
	// Scheduled is how many messages scheduled more than 15 minutes ahead
	// the in-memory scheduler still held, and so dropped.
	Scheduled int
	// DrainStopped reports whether the drain loop finished its in-flight
	// batch before Shutdown's context ended.
	DrainStopped bool
	// RequestsCut reports whether requests in flight were cut off because
	// Shutdown's context ended first.
	RequestsCut bool
}

// String describes the report in a sentence or two.
func (r Report) String() string {
	var parts []string
	if r.Sent >= 0 {
		parts = append(parts, fmt.Sprintf("%d %s sent by the console provider", r.Sent, plural(r.Sent, "message")))
	}
	if r.DeadLetters > 0 {
		parts = append(parts, fmt.Sprintf("%d dead-lettered", r.DeadLetters))
	}
	switch {
	case r.Mode == ModeAWS:
		parts = append(parts, "messages still queued stay in SQS")
	case r.Queued == 0:
		parts = append(parts, "the in-memory queue is empty")
	default:
		parts = append(parts, fmt.Sprintf("%d queued %s could not be delivered in time and are dropped (the in-memory queue is not saved)", r.Queued, plural(r.Queued, "message")))
	}
	if r.Scheduled > 0 {
		parts = append(parts, fmt.Sprintf("%d scheduled %s not due yet are dropped (the in-memory scheduler is not saved)", r.Scheduled, plural(r.Scheduled, "message")))
	}
	if r.RequestsCut {
		parts = append(parts, "requests still in flight were cut off")
	}
	if !r.DrainStopped {
		parts = append(parts, "the drain loop was still sending")
	}
	return "stopped: " + strings.Join(parts, "; ")
}

// Shutdown stops the server. It stops accepting connections and lets the
// requests in flight finish. Then the drain loop gets the grace period: in
// memory mode it keeps delivering until the queue is empty; it takes no
// new batch after that, and when the grace period ends the batches in
// flight are stopped: their records still waiting for a send slot stay
// queued (dropped with the process in memory mode, kept by SQS in AWS
// mode) and are counted in the Report. A provider call under way is never
// cut short. ctx bounds the whole: when it ends, Shutdown stops waiting
// and reports what was left.
func (s *Server) Shutdown(ctx context.Context, grace time.Duration) Report {
	s.Start() // a server never started still stops cleanly
	r := Report{Mode: s.st.mode, Queued: -1, Sent: -1, DeadLetters: -1}
	r.RequestsCut = s.stopHTTP(ctx)
	graceCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if s.st.memQueue != nil && s.poller != nil {
		s.waitEmpty(graceCtx)
	}
	s.pollCancel()
	select {
	case <-s.pollDone:
	case <-graceCtx.Done():
	}
	s.drainStopCancel()
	select {
	case <-s.pollDone:
		r.DrainStopped = true
	case <-ctx.Done():
	}
	if q := s.st.memQueue; q != nil {
		r.Queued = q.Len()
	}
	if sc := s.st.memScheduler; sc != nil {
		r.Scheduled = sc.Len()
		sc.Close()
	}
	if c := s.st.console; c != nil {
		r.Sent = c.Count()
	}
	if d := s.st.deadLetters; d != nil {
		r.DeadLetters = d.Count()
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "local server stopped", slog.Int("queuedLeft", r.Queued), slog.Bool("drainStopped", r.DrainStopped))
	return r
}

// waitEmpty waits until the in-memory queue is empty or ctx is done.
func (s *Server) waitEmpty(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.st.memQueue.Len() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// serveLocal answers the /_local/ endpoints.
func (s *Server) serveLocal(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, providersPath) {
		s.serveProvider(w, r)
		return
	}
	switch r.URL.Path {
	case "/_local/messages", "/_local/dead-letters", "/_local/events", "/_local/status":
	default:
		writeMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeMessage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	var v any
	switch r.URL.Path {
	case "/_local/messages":
		if s.st.console == nil {
			writeMessage(w, http.StatusNotFound, "no console provider: SMS_PROVIDER="+s.st.svc.Config.Provider+" sends for real")
			return
		}
		v = map[string]any{"count": s.st.console.Count(), "messages": s.st.console.Messages()}
	case "/_local/dead-letters":
		if s.st.deadLetters == nil {
			writeMessage(w, http.StatusNotFound, "dead letters go to "+s.st.svc.Config.DLQURL)
			return
		}
		v = map[string]any{"count": s.st.deadLetters.Count(), "deadLetters": s.st.deadLetters.List()}
	case "/_local/events":
		if s.st.events == nil {
			writeMessage(w, http.StatusNotFound, "no status events: they need the in-memory status store (memory mode, SMS_STATUS_TRACKING not false)")
			return
		}
		v = map[string]any{"count": s.st.events.Count(), "events": s.st.events.List()}
	default:
		v = s.status()
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

// providersPath is the prefix of the endpoints that take a console
// provider down and up.
const providersPath = "/_local/providers/"

// ProviderState is what GET /_local/status and the /_local/providers/
// endpoints say about a console provider named after a real one.
type ProviderState struct {
	Name string `json:"name"`
	Down bool   `json:"down"`
	// Refused counts the calls it refused while down.
	Refused int `json:"refused"`
}

// serveProvider answers POST /_local/providers/{name}/down and /up: the
// console provider named name is taken down (it answers every call as an
// unavailable provider would) or brought back up.
func (s *Server) serveProvider(w http.ResponseWriter, r *http.Request) {
	name, action, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, providersPath), "/")
	p := s.ConsoleProvider(name)
	if p == nil || (action != "down" && action != "up") {
		writeMessage(w, http.StatusNotFound, "Not Found: POST /_local/providers/{name}/down or /up, for a console provider named with -console")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeMessage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	p.SetDown(action == "down")
	down, refused := p.Down()
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "console provider "+action, slog.String("provider", name))
	b, _ := json.Marshal(ProviderState{Name: name, Down: down, Refused: refused})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// Status is the body of GET /_local/status.
type Status struct {
	Mode         string  `json:"mode"`
	Provider     string  `json:"provider"`
	RateLimit    float64 `json:"rateLimit"`
	QueueEnabled bool    `json:"queueEnabled"`
	// Queued is the in-memory queue's length (absent in AWS mode).
	Queued *int `json:"queued,omitempty"`
	// Sent counts the console provider's messages (absent with a real
	// provider).
	Sent *int `json:"sent,omitempty"`
	// DeadLetters counts the in-memory dead letters (absent with
	// SMS_DLQ_URL).
	DeadLetters *int `json:"deadLetters,omitempty"`
	// Providers are the console providers named after real ones, in the
	// order they are tried (absent without them).
	Providers []ProviderState `json:"providers,omitempty"`
}

func (s *Server) status() Status {
	st := Status{Mode: s.st.mode, Provider: s.providerName(), RateLimit: s.st.svc.Config.RateLimit, QueueEnabled: s.st.svc.Config.QueueEnabled}
	if q := s.st.memQueue; q != nil {
		n := q.Len()
		st.Queued = &n
	}
	if c := s.st.console; c != nil {
		n := c.Count()
		st.Sent = &n
	}
	if d := s.st.deadLetters; d != nil {
		n := d.Count()
		st.DeadLetters = &n
	}
	for _, p := range s.st.consoles {
		down, refused := p.Down()
		st.Providers = append(st.Providers, ProviderState{Name: p.Name(), Down: down, Refused: refused})
	}
	return st
}
