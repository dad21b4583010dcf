// Package providertest runs fake Twilio and Vonage servers for tests. They
// speak the providers' real wire formats: they check
// credentials and parameters the way the real APIs do, answer with
// realistic bodies, inject faults (HTTP errors, provider error codes,
// latency, dropped connections) on demand or at random with a seeded plan,
// and record every request they received and every message they accepted.
// Like the real services they post delivery receipts, signed, to the URL
// a message asked for (Twilio's StatusCallback, Vonage's callback or the
// account's receipt URL): sent then delivered, or a failure, duplicated
// and out of order on demand, retried on a non-2xx answer (ReceiptPlan,
// Receipts, WaitReceipts).
//
// In a test, NewTwilio and NewVonage start a fake that closes with the
// test. Outside one (a local runner, a process driving binaries),
// StartTwilio and StartVonage do the same on a given address, and Close
// stops the fake.
//
// Every method is safe for concurrent use.
package providertest

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Drop says whether and when a fault closes the connection instead of
// answering.
type Drop int

// The ways a fault can close the connection.
const (
	// NoDrop answers normally.
	NoDrop Drop = iota
	// DropBeforeProcessing reads and records the request, accepts nothing,
	// and closes the connection without an answer.
	DropBeforeProcessing
	// DropAfterAccept processes the request (a valid message is accepted
	// and appears in Accepted), then closes the connection without an
	// answer: the client cannot know that the message went out.
	DropAfterAccept
)

// Fault changes how a fake handles one request. Fields combine, applied in
// this order:
//
//  1. Delay: wait this long first. The request is then handled even if the
//     client gave up meanwhile, as a real provider that already received it
//     would.
//  2. Drop == DropBeforeProcessing: close the connection.
//  3. Body: answer Status (200 when 0) with this raw body, accepting nothing.
//  4. Status without Code: answer that HTTP status with the provider's
//     error body for it (Twilio: the error envelope, e.g. code 20429 for
//     429; Vonage: the plain-text body of a gateway error), accepting
//     nothing.
//  5. Code: the provider's own error. Twilio: answer Status (400 when 0)
//     with the error envelope for that code. Vonage: answer 200 with that
//     status for the whole message, or only for part Part (1-based) of a
//     multipart message while the other parts are accepted.
//  6. Otherwise the request is handled normally.
//  7. Drop == DropAfterAccept: close the connection instead of answering.
//
// AcceptFirst changes steps 3 to 5: the request is first handled normally
// (a valid message is accepted and appears in Accepted), and then answered
// with the fault's Body, Status or Code instead of the success. It is what
// a provider, or a gateway in front of it, does when it fails after the
// message went out: a 500, 502 or 504 that hides an accepted message.
type Fault struct {
	Status      int
	Code        int
	Message     string // the provider's error text (a default per code when empty)
	Part        int
	Delay       time.Duration
	Drop        Drop
	Body        string
	AcceptFirst bool
}

// Plan injects faults at random: each request that no FailNext or
// FailWhen fault claims gets, with probability Rate, one of Faults chosen
// uniformly. The same Seed gives the same sequence of choices.
type Plan struct {
	Seed   uint64
	Rate   float64
	Faults []Fault
}

// Auth is the authentication a request carried.
type Auth struct {
	// Scheme is "basic" (an Authorization header), "params" (Vonage
	// api_key/api_secret parameters) or "" (none).
	Scheme string
	// User is the account SID, API key SID or Vonage api_key.
	User string
	// Secret is the auth token, API key secret or Vonage api_secret.
	Secret string
}

// Request is one HTTP request a fake received.
type Request struct {
	// At is when it arrived.
	At          time.Time
	Method      string
	Path        string
	ContentType string
	UserAgent   string
	// Params are the parameters the provider reads (form, JSON or query).
	Params url.Values
	Auth   Auth
	// Fault is the fault applied to it, nil when none.
	Fault *Fault
	// Status is the HTTP status answered, 0 when the connection was
	// dropped (or the answer is still being made).
	Status int
	// Code is the provider's code in the answer: a Twilio error code, or
	// the Vonage status of the first failed part ("0" when every part was
	// accepted); empty when the answer carried none.
	Code string
}

// Accepted is a message a fake accepted for delivery.
type Accepted struct {
	// ID is the provider's id: the Twilio SID, or the first accepted
	// part's Vonage message-id.
	ID string
	// PartIDs are the ids of every accepted part (Vonage).
	PartIDs []string
	// At is when it was accepted.
	At                  time.Time
	To, From, Body      string
	MessagingServiceSID string // Twilio
	ClientRef           string // Vonage
	// Parts is how many SMS parts the message takes as sent.
	Parts int
	// FailedParts is how many of them the provider refused (Vonage partial
	// failure).
	FailedParts int
	// Encoding is "GSM-7" or "UCS-2", as the message was sent.
	Encoding string
	// Validity is how long the provider was asked to try to deliver the
	// message (Twilio ValidityPeriod, Vonage ttl); zero when it was not.
	Validity time.Duration
	// Mangled is set when the body needed UCS-2 but was submitted as GSM-7
	// text (Vonage without type=unicode): the handset would show it
	// garbled. Vonage accepts such a message, so the fake does too and
	// marks it here for tests to catch.
	Mangled bool
	// Fates are how the receipts the fake posts for the message end, one
	// per part (one for Twilio); nil when it posts none (ReceiptPlan).
	Fates []Fate
}

// Option configures a fake. Options about one provider are ignored by
// the other's fake.
type Option func(*config)

type config struct {
	clock sms.Clock
	plan  Plan

	twilioAccountSID, twilioAuthToken string
	twilioKeySID, twilioKeySecret     string
	twilioSenders                     []string

	vonageKey, vonageSecret string
	vonageBalance           float64

	receipts                         ReceiptPlan
	vonageDLRURL, vonageDLRFormat    string
	vonageSigSecret, vonageSigMethod string
}

func newConfig(opts []Option) config {
	c := config{
		clock:            sms.SystemClock{},
		twilioAccountSID: TwilioAccountSID,
		twilioAuthToken:  TwilioAuthToken,
		twilioKeySID:     TwilioAPIKeySID,
		twilioKeySecret:  TwilioAPIKeySecret,
		vonageKey:        VonageAPIKey,
		vonageSecret:     VonageAPISecret,
		vonageBalance:    VonageBalance,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithClock sets the fake's clock (sms.SystemClock by default).
func WithClock(clock sms.Clock) Option {
	return func(c *config) { c.clock = clock }
}

// WithPlan starts the fake with a random fault plan (see SetPlan).
func WithPlan(p Plan) Option {
	return func(c *config) { c.plan = p }
}

// core is what both fakes share: the server, the fault queue and plan, and
// the records.
type core struct {
	cfg     config
	srv     *httptest.Server
	closing chan struct{}
	close   sync.Once

	mu       sync.Mutex
	requests []Request
	accepted []Accepted
	next     []Fault
	rules    []rule
	plan     Plan
	rng      *rand.Rand
	rs       receiptState
}

type rule struct {
	match func(Request) bool
	fault Fault
}

// answer is what a provider handler decided to send back.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	code     string
	accepted *Accepted
}

// provider is the wire format of one fake.
type provider interface {
	// parse reads the request into a record (params, auth).
	parse(r *http.Request, rec *Request)
	// handle decides the answer, given the fault (nil for none).
	handle(rec *Request, f *Fault) answer
	// receipts returns what makes the receipts of a message the request
	// had accepted: one sequence of posts per part, nil for none.
	receipts(rec *Request) func(a Accepted, fates []Fate) [][]post
}

// listen makes the fake's core on addr; the caller starts its server once
// the provider can serve.
func listen(addr string, cfg config, p provider) (*core, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("providertest: listen on %s: %w", addr, err)
	}
	c := &core{cfg: cfg, closing: make(chan struct{})}
	c.setPlan(cfg.plan)
	c.setReceipts(cfg.receipts)
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, p)
	}))
	c.srv.Listener.Close()
	c.srv.Listener = l
	return c, nil
}

// URL is the fake's base URL, e.g. http://127.0.0.1:41234.
func (c *core) URL() string { return c.srv.URL }

// Close stops the fake, cutting short any fault delay under way. It is
// safe to call more than once.
func (c *core) Close() {
	c.close.Do(func() {
		close(c.closing)
		c.srv.Close()
	})
}

// FailNext makes the next n requests (after any already queued by
// FailNext) fail with f.
func (c *core) FailNext(n int, f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.next = append(c.next, f)
	}
}

// FailWhen makes every request for which match reports true fail with f,
// unless a FailNext fault claims it first. Rules are tried in the order
// they were added. match sees the request as parsed (Params, Auth).
func (c *core) FailWhen(match func(Request) bool, f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rules = append(c.rules, rule{match, f})
}

// SetPlan replaces the random fault plan; a zero Plan turns it off.
func (c *core) SetPlan(p Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setPlan(p)
}

func (c *core) setPlan(p Plan) {
	p.Faults = slices.Clone(p.Faults)
	c.plan = p
	c.rng = rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))
}

// ClearFaults drops queued FailNext faults, FailWhen rules and the plan.
func (c *core) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next, c.rules = nil, nil
	c.setPlan(Plan{})
}

// Requests returns a copy of every request received so far, in order of
// arrival.
func (c *core) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Request, len(c.requests))
	for i, r := range c.requests {
		r.Params = cloneValues(r.Params)
		out[i] = r
	}
	return out
}

// Count is the number of requests received so far.
func (c *core) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

// Accepted returns a copy of every message accepted so far, in order.
func (c *core) Accepted() []Accepted {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Accepted, len(c.accepted))
	for i, a := range c.accepted {
		a.PartIDs = slices.Clone(a.PartIDs)
		a.Fates = slices.Clone(a.Fates)
		out[i] = a
	}
	return out
}

// Reset forgets the requests and messages recorded so far (faults stay).
func (c *core) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests, c.accepted = nil, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// pick chooses the fault for a request and records the request. It
// returns the record's index.
func (c *core) pick(rec Request) (int, *Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var f *Fault
	switch {
	case len(c.next) > 0:
		f = &c.next[0]
		c.next = c.next[1:]
	default:
		for _, r := range c.rules {
			if r.match(rec) {
				f = &r.fault
				break
			}
		}
		if f == nil && len(c.plan.Faults) > 0 && c.rng.Float64() < c.plan.Rate {
			f = &c.plan.Faults[c.rng.IntN(len(c.plan.Faults))]
		}
	}
	if f != nil {
		cp := *f
		f = &cp
	}
	rec.Fault = f
	c.requests = append(c.requests, rec)
	return len(c.requests) - 1, f
}

// finish records the answer to request i and the message it accepted.
func (c *core) finish(i int, status int, code string, a *Accepted) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests[i].Status = status
	c.requests[i].Code = code
	if a != nil {
		c.accepted = append(c.accepted, *a)
	}
}

func (c *core) serve(w http.ResponseWriter, r *http.Request, p provider) {
	rec := Request{
		At:          c.cfg.clock.Now(),
		Method:      r.Method,
		Path:        r.URL.Path,
		ContentType: r.Header.Get("Content-Type"),
		UserAgent:   r.UserAgent(),
	}
	p.parse(r, &rec)
	i, f := c.pick(rec)

	if f != nil && f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-c.closing:
			t.Stop()
		}
	}
	if f != nil && f.Drop == DropBeforeProcessing {
		c.finish(i, 0, "", nil)
		hangUp(w)
		return
	}
	var accepted *Accepted
	if f != nil && f.AcceptFirst {
		accepted = p.handle(&rec, nil).accepted
	}
	var ans answer
	if f != nil && f.Body != "" {
		ans = answer{status: f.Status, body: []byte(f.Body)}
		if ans.status == 0 {
			ans.status = http.StatusOK
		}
	} else {
		ans = p.handle(&rec, f)
	}
	if f != nil && f.AcceptFirst {
		ans.accepted = accepted
	}
	if ans.accepted != nil {
		// The provider has the message: its receipts will come, whatever
		// becomes of the answer.
		c.planReceipts(ans.accepted, p.receipts(&rec))
	}
	if f != nil && f.Drop == DropAfterAccept {
		c.finish(i, 0, ans.code, ans.accepted)
		hangUp(w)
		return
	}
	c.finish(i, ans.status, ans.code, ans.accepted)
	for k, vs := range ans.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

// hangUp closes the connection under w without writing an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("providertest: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(fmt.Sprintf("providertest: hijack: %v", err))
	}
	conn.Close()
}

// randomHex returns n random bytes as lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
