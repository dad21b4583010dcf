package mototest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
)

// Rewrite changes a request the proxy passes on and its answer, to
// simulate answers moto never gives (EventBridge's PutEvents reporting
// failed entries, say). It gets the operation name and the request's
// body, and returns the body to forward (nil: unchanged) and a function
// that turns moto's answer (HTTP status and body) into the one the client
// gets (nil: unchanged). moto does not check signatures, so a changed body
// passes.
type Rewrite func(op string, body []byte) (forward []byte, answer func(status int, body []byte) (int, []byte))

// SetRewrite installs rw for the requests the fault function passes; nil
// removes it.
func (p *Proxy) SetRewrite(rw Rewrite) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rw = rw
}

// serveRewritten forwards r through rp with rw applied.
func serveRewritten(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy, op string, rw Rewrite) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		awsError(w, http.StatusInternalServerError, "InternalServerError", "proxy: read the request")
		return
	}
	forward, answer := rw(op, body)
	if forward == nil {
		forward = body
	}
	r.Body = io.NopCloser(bytes.NewReader(forward))
	r.ContentLength = int64(len(forward))
	r.Header.Set("Content-Length", strconv.Itoa(len(forward)))
	if answer == nil {
		rp.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, r)
	status, out := answer(rec.Code, rec.Body.Bytes())
	for k, vs := range rec.Header() {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
