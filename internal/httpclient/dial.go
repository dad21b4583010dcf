package httpclient

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// spareTTL is how long a spare connection is kept for a call before it is
// replaced: well under the idle timeouts servers apply (a minute or more),
// so that a spare handed out is still open at the other end.
const spareTTL = 20 * time.Second

// target is where the transport dials: an address, and whether the
// connection speaks TLS.
type target struct {
	addr string
	tls  bool
}

// dialer opens the transport's connections (TCP, and TLS on top for https)
// and keeps one spare, already connected and past its TLS handshake, per
// target it has dialed, once asked to warm up. A dial takes the spare when
// there is a fresh one that is still open, so a call that needs a new
// connection does not wait for DNS, TCP and TLS.
type dialer struct {
	net       net.Dialer
	tls       *tls.Config
	handshake time.Duration

	mu      sync.Mutex
	targets map[target]*spare
}

// spare is the spare connection of one target.
type spare struct {
	conn net.Conn // nil: none
	raw  net.Conn // the TCP connection under conn, for the liveness check
	at   time.Time
	// opening is closed when the spare being opened is ready (or failed);
	// nil when none is being opened.
	opening chan struct{}
}

func newDialer(connect time.Duration, cfg *tls.Config) *dialer {
	return &dialer{
		net:       net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second},
		tls:       cfg,
		handshake: connect,
		targets:   map[target]*spare{},
	}
}

// dialTCP is the transport's DialContext (plain http).
func (d *dialer) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dial(ctx, network, target{addr: addr})
}

// dialTLS is the transport's DialTLSContext (https without a proxy).
func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dial(ctx, network, target{addr: addr, tls: true})
}

func (d *dialer) dial(ctx context.Context, network string, t target) (net.Conn, error) {
	if c := d.takeSpare(t); c != nil {
		return c, nil
	}
	c, _, err := d.open(ctx, network, t)
	return c, err
}

// takeSpare hands out t's spare when it is fresh and still open (closing
// it otherwise), and remembers t as a target to warm up.
func (d *dialer) takeSpare(t target) net.Conn {
	d.mu.Lock()
	sp, ok := d.targets[t]
	if !ok {
		d.targets[t] = &spare{}
		d.mu.Unlock()
		return nil
	}
	c, raw, at := sp.conn, sp.raw, sp.at
	sp.conn, sp.raw = nil, nil
	d.mu.Unlock()
	if c == nil {
		return nil
	}
	if time.Since(at) < spareTTL && alive(raw) {
		return c
	}
	c.Close()
	return nil
}

// open connects to t: TCP, then the TLS handshake for a TLS target. raw is
// the TCP connection under conn.
func (d *dialer) open(ctx context.Context, network string, t target) (conn, raw net.Conn, err error) {
	raw, err = d.net.DialContext(ctx, network, t.addr)
	if err != nil || !t.tls {
		return raw, raw, err
	}
	cfg := d.tls.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(t.addr)
		if err != nil {
			raw.Close()
			return nil, nil, err
		}
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, d.handshake)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return tc, raw, nil
}

// Warm opens a spare connection to every target dialed so far that has no
// fresh one, and returns once each has one ready (or its opening failed)
// or ctx is done; the openings go on either way. Before the first dial it
// knows no target and returns at once.
func (d *dialer) Warm(ctx context.Context) error {
	d.mu.Lock()
	var waits []chan struct{}
	for t, sp := range d.targets {
		if sp.conn != nil && time.Since(sp.at) < spareTTL {
			continue
		}
		if sp.opening == nil {
			sp.opening = make(chan struct{})
			go d.openSpare(t, sp)
		}
		waits = append(waits, sp.opening)
	}
	d.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// openSpare opens a spare connection to t, replacing sp's old one.
func (d *dialer) openSpare(t target, sp *spare) {
	ctx, cancel := context.WithTimeout(context.Background(), d.net.Timeout+d.handshake)
	defer cancel()
	conn, raw, err := d.open(ctx, "tcp", t)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		if sp.conn != nil {
			sp.conn.Close()
		}
		sp.conn, sp.raw, sp.at = conn, raw, time.Now()
	}
	close(sp.opening)
	sp.opening = nil
}
