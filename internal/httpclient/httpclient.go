// Package httpclient is the outbound HTTP plumbing the provider clients
// share: one tuned *http.Client, and Do, which performs a request, reads the
// answer and classifies a transport failure by whether the request had been
// written when it failed.
package httpclient

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// DefaultTimeout bounds a whole provider call when New is given no timeout.
const DefaultTimeout = 10 * time.Second

// maxConnectWait caps the dial and TLS handshake timeouts: a provider that
// cannot be reached within it is better retried later than waited for.
const maxConnectWait = 5 * time.Second

// New returns an HTTP client for calls to an SMS provider. timeout bounds
// each call from dialing to the last byte of the answer (DefaultTimeout
// when timeout <= 0). Connections are kept alive and reused (up to 16 idle
// per host), TLS 1.2 is the minimum, and redirects are never followed: a
// redirect is answered to the caller as the 3xx response it is.
func New(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	connect := min(timeout, maxConnectWait)
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   connect,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// IsLoopback reports whether host (a URL's Hostname) names the local
// machine: the only kind of host a configured URL may reach over plain
// http.
func IsLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
