// Package httpclient is the outbound HTTP plumbing the provider clients
// share: one tuned *http.Client, and Do, which performs a request, reads the
// answer and classifies a transport failure by whether the request had been
// written when it failed. Do also enforces the readiness bound a
// dispatcher puts in the request's context (sms.ReadyBy), and Warmer opens
// connections ahead of calls.
package httpclient

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// DefaultTimeout bounds a whole provider call when New is given no timeout.
const DefaultTimeout = 10 * time.Second

// maxConnectWait caps the dial and TLS handshake timeouts: a provider that
// cannot be reached within it is better retried later than waited for.
const maxConnectWait = 5 * time.Second

// transport is the client's RoundTripper: an *http.Transport dialing
// through a dialer that can keep spare connections.
type transport struct {
	*http.Transport
	dialer *dialer
}

// New returns an HTTP client for calls to an SMS provider. timeout bounds
// each call from dialing to the last byte of the answer (DefaultTimeout
// when timeout <= 0). Connections are kept alive and reused (up to 16 idle
// per host), TLS 1.2 is the minimum, and redirects are never followed: a
// redirect is answered to the caller as the 3xx response it is.
//
// It speaks HTTP/1.1 only: each call in flight has a connection of its
// own, so that a call whose connection is not ready in time (sms.ReadyBy)
// can be abandoned, closing that connection if need be, without touching
// any other call. Warmer(client) keeps a spare connection open for calls
// that would otherwise have to dial.
func New(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	connect := min(timeout, maxConnectWait)
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	d := newDialer(connect, tlsConfig)
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.dialTCP,
		DialTLSContext:        d.dialTLS,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect, // through a proxy; DialTLSContext otherwise
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConfig,
	}
	return &http.Client{
		Transport: &transport{Transport: tr, dialer: d},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Warmer returns what opens connections ahead of calls for a client made
// by New: a spare connection, past its TLS handshake, to each address the
// client has dialed, which the client takes when a call needs a new
// connection. It returns nil for any other client.
func Warmer(hc *http.Client) sms.Warmer {
	if tr, ok := hc.Transport.(*transport); ok {
		return tr.dialer
	}
	return nil
}

// IsLoopback reports whether host (a URL's Hostname) names the local
// machine: the only kind of host a configured URL may reach over plain
// http.
func IsLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
