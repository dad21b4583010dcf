// Package tlsproxy is a TLS-terminating TCP proxy for tests whose new
// connections can be slow: it holds back the TLS handshake of a share of
// the connections it accepts, as a cold DNS lookup, TCP and TLS set-up to
// a distant provider or a stale keep-alive would, then relays plain TCP to
// a target (a provider fake). A client sees such a connection become
// ready late, before it has written anything.
//
// The proxy's certificates are signed by a test CA; TrustCA makes the
// process trust it through SSL_CERT_FILE, so clients that verify against
// the system roots (httpclient.New) accept the proxy as they would a
// provider.
package tlsproxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Config shapes a Proxy's faults.
type Config struct {
	// Delay is how long the handshake of a slow connection is held back.
	Delay time.Duration
	// SlowShare is the share of new connections that are slow, picked at
	// random from Seed; 1 makes every one slow.
	SlowShare float64
	Seed      uint64
	// CloseIdle closes a connection once it has carried data both ways and
	// then been idle for that long, as servers close keep-alive
	// connections, so that clients keep needing new ones; zero never.
	// Connections that never carried data are left open.
	CloseIdle time.Duration
}

// Proxy is a running proxy.
type Proxy struct {
	ln     net.Listener
	target string
	cfg    Config
	tls    *tls.Config

	mu     sync.Mutex
	rng    *mrand.Rand
	active map[net.Conn]bool // open connections, both sides

	conns, slow, closedIdle atomic.Int64
	wg                      sync.WaitGroup
	closing                 atomic.Bool
}

// Stats counts what a Proxy did.
type Stats struct {
	// Conns is how many connections it accepted, Slow how many of them it
	// held back, ClosedIdle how many it closed for being idle.
	Conns, Slow, ClosedIdle int64
}

// Start runs a proxy to target (host:port) on a loopback port until the
// test ends. Its URL is https://127.0.0.1:<port>; TrustCA must have run.
func Start(t testing.TB, target string, cfg Config) *Proxy {
	t.Helper()
	p, err := Listen(target, cfg)
	if err != nil {
		t.Fatalf("tlsproxy: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Listen runs a proxy to target until Close.
func Listen(target string, cfg Config) (*Proxy, error) {
	c, err := theCA()
	if err != nil {
		return nil, err
	}
	cert, err := c.leaf()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		ln: ln, target: target, cfg: cfg,
		tls:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		rng:    mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		active: map[net.Conn]bool{},
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "https://" + p.ln.Addr().String() }

// Stats reports what the proxy did so far.
func (p *Proxy) Stats() Stats {
	return Stats{Conns: p.conns.Load(), Slow: p.slow.Load(), ClosedIdle: p.closedIdle.Load()}
}

// Close stops accepting, closes every connection and waits for the relays
// to end.
func (p *Proxy) Close() {
	p.closing.Store(true)
	p.ln.Close()
	p.mu.Lock()
	for c := range p.active {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track records c as open until the returned func runs; false when the
// proxy is closing.
func (p *Proxy) track(c net.Conn) (func(), bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return nil, false
	}
	p.active[c] = true
	return func() {
		p.mu.Lock()
		delete(p.active, c)
		p.mu.Unlock()
		c.Close()
	}, true
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.mu.Lock()
		slow := p.cfg.SlowShare > 0 && p.rng.Float64() < p.cfg.SlowShare
		p.mu.Unlock()
		if slow {
			p.slow.Add(1)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.relay(c, slow)
		}()
	}
}

// relay terminates TLS on c (after the delay when slow) and relays it to
// the target.
func (p *Proxy) relay(c net.Conn, slow bool) {
	untrack, ok := p.track(c)
	if !ok {
		c.Close()
		return
	}
	defer untrack()
	if slow {
		time.Sleep(p.cfg.Delay)
	}
	tc := tls.Server(c, p.tls)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return
	}
	tc.SetDeadline(time.Time{})
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	untrackUp, ok := p.track(up)
	if !ok {
		up.Close()
		return
	}
	defer untrackUp()

	var (
		last       atomic.Int64 // unix ns of the last byte either way
		sent, back atomic.Bool
		upDone     = make(chan struct{})
		downDone   = make(chan struct{})
	)
	last.Store(time.Now().UnixNano())
	// pipe copies src to dst until src ends, then half-closes dst.
	pipe := func(dst, src net.Conn, moved *atomic.Bool, done chan struct{}) {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				moved.Store(true)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if hc, ok := dst.(interface{ CloseWrite() error }); ok {
					hc.CloseWrite()
				}
				return
			}
		}
	}
	go pipe(up, tc, &sent, upDone)
	go pipe(tc, up, &back, downDone)
	var tick <-chan time.Time
	if p.cfg.CloseIdle > 0 {
		t := time.NewTicker(min(p.cfg.CloseIdle/4+time.Millisecond, 50*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-downDone:
			// The target is done with the connection: so is the client.
			return
		case <-upDone:
			// The client stopped sending; the answer may still come.
			upDone = nil
		case <-tick:
			idle := time.Since(time.Unix(0, last.Load()))
			if sent.Load() && back.Load() && idle >= p.cfg.CloseIdle {
				p.closedIdle.Add(1)
				return
			}
		}
	}
}

// ca is the test CA that signs the proxies' certificates.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var theCA = sync.OnceValues(func() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsproxy test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
})

// leaf issues a server certificate for 127.0.0.1 and localhost.
func (c *ca) leaf() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// TrustCA makes this process trust the proxies' CA instead of the system
// roots, through SSL_CERT_FILE. Go reads the system roots once per
// process, at the first certificate verification, so TrustCA must run
// before any (from TestMain); it forces that reading itself.
func TrustCA() error {
	c, err := theCA()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tlsproxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(file, c.pem, 0o600); err != nil {
		return err
	}
	if err := os.Setenv("SSL_CERT_FILE", file); err != nil {
		return err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return fmt.Errorf("tlsproxy: system roots: %w", err)
	}
	if _, err := c.cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		return fmt.Errorf("tlsproxy: the system roots were read before TrustCA: %w", err)
	}
	return nil
}
