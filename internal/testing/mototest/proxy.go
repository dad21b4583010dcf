package mototest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Fault says what a Proxy does with one AWS request.
type Fault int

// The faults a Proxy can inject.
const (
	// Pass forwards the request and returns the answer.
	Pass Fault = iota
	// FailBefore answers 500 InternalServerError without forwarding: the
	// write never happened.
	FailBefore
	// FailAfter forwards the request (the write happens) and then answers
	// 500 instead of the real answer: the caller cannot know it succeeded.
	FailAfter
	// Throttle answers 400 with the service's throttling error without
	// forwarding.
	Throttle
)

// Proxy sits between the AWS SDK and moto: it counts requests per API
// operation (from the X-Amz-Target header, e.g.
// "DynamoDB_20120810.UpdateItem") and injects faults.
//
// It also forwards DynamoDB requests one at a time: moto does not hold a
// lock between checking a write's condition and applying it, so two
// concurrent conditional writes to one item can both succeed, which real
// DynamoDB never allows. Serialising them restores that guarantee.
type Proxy struct {
	URL string

	mu     sync.Mutex
	ddb    sync.Mutex // serialises DynamoDB requests (see above)
	counts map[string]int
	decide func(op string) Fault
	rw     Rewrite
	srv    *httptest.Server
}

// NewProxy starts a proxy in front of target (a moto URL) that stops with
// the test.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p := StartProxy(target)
	tb.Cleanup(p.Close)
	return p
}

// StartProxy starts a proxy in front of target; the caller must Close it.
func StartProxy(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil {
		panic("mototest: proxy target: " + err.Error())
	}
	p := &Proxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		if op == "" {
			op = r.Method + " " + r.URL.Path
		}
		p.mu.Lock()
		p.counts[op]++
		decide, rw := p.decide, p.rw
		p.mu.Unlock()
		f := Pass
		if decide != nil {
			f = decide(op)
		}
		if strings.HasPrefix(op, "DynamoDB_") {
			p.ddb.Lock()
			defer p.ddb.Unlock()
		}
		switch f {
		case FailBefore:
			io.Copy(io.Discard, r.Body)
			awsError(w, http.StatusInternalServerError, "InternalServerError", "injected failure")
		case Throttle:
			io.Copy(io.Discard, r.Body)
			awsError(w, http.StatusBadRequest, "ThrottlingException", "injected throttling")
		case FailAfter:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			awsError(w, http.StatusInternalServerError, "InternalServerError", "injected failure after the write")
		default:
			if rw != nil {
				serveRewritten(w, r, rp, op, rw)
				return
			}
			rp.ServeHTTP(w, r)
		}
	}))
	p.URL = p.srv.URL
	return p
}

func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", code+";Receiver")
	w.WriteHeader(status)
	var b bytes.Buffer
	b.WriteString(`{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"` + msg + `"}`)
	w.Write(b.Bytes())
}

// SetFaults installs decide, called for every request with its operation
// name; nil removes it.
func (p *Proxy) SetFaults(decide func(op string) Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decide = decide
}

// Counts returns how many requests each operation received.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// Reset zeroes the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }
